//! The metrics a report or a comparison can be about: which columns of the catalogue in
//! `results::metric` (name, unit, which way is better, reader), with a title and a slot.

use crate::results::SampleRow;
pub use crate::results::metric::Direction;
use crate::results::metric::{self as col, Column};

#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// The name used on the command line and in summary.csv's `metric` column.
    pub name: &'static str,
    pub unit: &'static str,
    pub direction: Direction,
    /// What a reader sees in tables and figure titles.
    pub title: &'static str,
    /// Index into [`crate::report::load::Request::values`].
    pub slot: usize,
    read: fn(&SampleRow) -> Option<f64>,
}

impl Metric {
    pub fn read(&self, row: &SampleRow) -> Option<f64> {
        (self.read)(row)
    }
}

/// A report metric over a column of the catalogue in `results::metric`; name, unit, direction
/// and reader come from there.
const fn metric(c: Column, title: &'static str, slot: usize) -> Metric {
    let direction = match c.direction {
        Some(d) => d,
        None => panic!("a report metric needs a direction"),
    };
    Metric {
        name: c.name,
        unit: c.unit,
        direction,
        title,
        slot,
        read: c.reader(),
    }
}

/// Every per-request metric, in the order of `Request::values`.
pub const METRICS: &[Metric] = &[
    metric(col::DECODE_TOK_S, "decode tok/s", 0),
    metric(col::PREFILL_TOK_S, "prefill tok/s", 1),
    metric(col::TTFT_MS, "TTFT ms", 2),
    metric(col::TPOT_MS, "TPOT ms", 3),
    metric(col::E2E_MS, "E2E latency ms", 4),
    metric(col::ITL_P50_MS, "per-request median ITL ms", 5),
    metric(col::ITL_P99_MS, "per-request p99 ITL ms", 6),
    metric(col::SERVER_DECODE_TOK_S, "server-reported decode tok/s", 7),
    metric(
        col::SERVER_PREFILL_TOK_S,
        "server-reported prefill tok/s",
        8,
    ),
    // Context scenarios: needle recall per request, and where the needle sat.
    metric(col::RECALL, "needle recall", 9),
    metric(col::DEPTH_PCT, "needle depth %", 10),
];

/// Number of per-request values a loaded request carries.
pub const N_METRICS: usize = 11;

/// The metrics `compare` and `report` use when `--metric` is not given.
pub const DEFAULT_METRICS: &[&str] = &["decode_tok_s", "prefill_tok_s", "ttft_ms"];

pub fn by_name(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

pub fn get(name: &'static str) -> &'static Metric {
    // Only called with names from this file; a typo is caught by the unit test below.
    by_name(name).unwrap_or(&METRICS[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_dense_and_defaults_exist() {
        for (i, m) in METRICS.iter().enumerate() {
            assert_eq!(m.slot, i, "{}", m.name);
        }
        assert_eq!(METRICS.len(), N_METRICS);
        for d in DEFAULT_METRICS {
            assert!(by_name(d).is_some());
        }
    }
}
