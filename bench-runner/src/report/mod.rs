//! Reports, device-to-device comparisons and the CI gate.
pub mod key;
pub mod load;
pub mod metric;
