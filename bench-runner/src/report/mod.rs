//! Reports, device-to-device comparisons and the CI gate.
pub mod chart;
pub mod compare;
pub mod key;
pub mod load;
pub mod metric;
pub mod pivot;
pub mod sustained;
