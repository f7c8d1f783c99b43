//! Clocks to metrics, and metrics to statistics. Pure: no I/O, no backend.

pub mod drift;
pub mod proportion;
pub mod ratio;
pub mod request;
pub mod slo;
pub mod stats;
pub mod sweep;

pub use ratio::{MedianCi, RatioCi, median_ci, median_ratio_ci, median_ratio_ci_runs};
pub use request::{RequestMetrics, Timeline};
pub use stats::{Summary, bootstrap_median_ci, summarize};
