//! Clocks to metrics, and metrics to statistics. Pure: no I/O, no backend.

pub mod ratio;
pub mod proportion;
pub mod request;
pub mod stats;

pub use ratio::{median_ci, median_ratio_ci, median_ratio_ci_runs, MedianCi, RatioCi};
pub use request::{RequestMetrics, Timeline};
pub use stats::{Summary, bootstrap_median_ci, summarize};
