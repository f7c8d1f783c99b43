//! Clocks to metrics, and metrics to statistics. Pure: no I/O, no backend.

pub mod proportion;
pub mod request;
pub mod stats;

pub use request::{RequestMetrics, Timeline};
pub use stats::{Summary, bootstrap_median_ci, summarize};
