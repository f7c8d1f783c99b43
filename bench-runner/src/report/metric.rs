//! The metrics a report or a comparison can be about: their unit, which way is better, and
//! how to read one per-request value from a samples.csv row.

use crate::results::SampleRow;

/// Which way is better. Tok/s: higher; milliseconds: lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

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

/// Every per-request metric, in the order of `Request::values`.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "decode_tok_s",
        unit: "tok/s",
        direction: Direction::HigherIsBetter,
        title: "decode tok/s",
        slot: 0,
        read: |r| r.decode_tok_s,
    },
    Metric {
        name: "prefill_tok_s",
        unit: "tok/s",
        direction: Direction::HigherIsBetter,
        title: "prefill tok/s",
        slot: 1,
        read: |r| r.prefill_tok_s,
    },
    Metric {
        name: "ttft_ms",
        unit: "ms",
        direction: Direction::LowerIsBetter,
        title: "TTFT ms",
        slot: 2,
        read: |r| r.ttft_ms,
    },
    Metric {
        name: "tpot_ms",
        unit: "ms",
        direction: Direction::LowerIsBetter,
        title: "TPOT ms",
        slot: 3,
        read: |r| r.tpot_ms,
    },
    Metric {
        name: "e2e_ms",
        unit: "ms",
        direction: Direction::LowerIsBetter,
        title: "E2E latency ms",
        slot: 4,
        read: |r| r.e2e_ms,
    },
    Metric {
        name: "itl_p50_ms",
        unit: "ms",
        direction: Direction::LowerIsBetter,
        title: "per-request median ITL ms",
        slot: 5,
        read: |r| r.itl_p50_ms,
    },
    Metric {
        name: "itl_p99_ms",
        unit: "ms",
        direction: Direction::LowerIsBetter,
        title: "per-request p99 ITL ms",
        slot: 6,
        read: |r| r.itl_p99_ms,
    },
    Metric {
        name: "server_decode_tok_s",
        unit: "tok/s",
        direction: Direction::HigherIsBetter,
        title: "server-reported decode tok/s",
        slot: 7,
        read: |r| r.server_decode_tok_s,
    },
    Metric {
        name: "server_prefill_tok_s",
        unit: "tok/s",
        direction: Direction::HigherIsBetter,
        title: "server-reported prefill tok/s",
        slot: 8,
        read: |r| r.server_prefill_tok_s,
    },
    // Context scenarios: needle recall per request, and where the needle sat.
    Metric {
        name: "recall",
        unit: "fraction",
        direction: Direction::HigherIsBetter,
        title: "needle recall",
        slot: 9,
        read: |r| r.recall,
    },
    Metric {
        name: "depth_pct",
        unit: "%",
        direction: Direction::HigherIsBetter,
        title: "needle depth %",
        slot: 10,
        read: |r| r.depth_pct,
    },
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

/// Parses `--metric` values (repeatable, or comma-separated); empty means the defaults.
pub fn parse_list(names: &[String]) -> crate::Result<Vec<&'static Metric>> {
    let names: Vec<&str> = names
        .iter()
        .flat_map(|n| n.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let names = if names.is_empty() {
        DEFAULT_METRICS.to_vec()
    } else {
        names
    };
    let mut out: Vec<&'static Metric> = Vec::new();
    for n in names {
        let m = by_name(n).ok_or_else(|| {
            crate::Error::Usage(format!(
                "unknown metric `{n}`; known: {}",
                METRICS
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if !out.iter().any(|o| o.name == m.name) {
            out.push(m);
        }
    }
    Ok(out)
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
        assert!(parse_list(&["decode_tok_s,ttft_ms".into()]).unwrap().len() == 2);
        assert!(parse_list(&["nope".into()]).is_err());
    }
}
