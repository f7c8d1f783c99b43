//! Quality × speed: joins the leaderboard with measured speed from edgebench runs
//! (`summary.csv`), per device, and finds the Pareto frontier of rating against tok/s.
//!
//! A leaderboard model matches a summary row when the names are equal, or the row's backend
//! name equals it, or they are equal once a `.gguf` extension is dropped. Speed per
//! (device, model) is the median, over the run's single-stream cases (concurrency 1; all
//! cases when there are none), of each case's p50 decode tok/s and p50 TTFT.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::row::Row;
use crate::error::{Error, Result};
use crate::results::reader::read_summary;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpeedRow {
    pub device: String,
    pub model: String,
    pub rating: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub decode_tok_s: Option<f64>,
    pub ttft_ms: Option<f64>,
    /// Cases the figures are the median of.
    pub cases: usize,
    /// On the Pareto frontier of this device: no other model is at least as fast and rated
    /// higher, or faster and rated at least as high.
    pub pareto: bool,
}

pub const SPEED_COLUMNS: &[&str] = &[
    "device",
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "decode_tok_s",
    "ttft_ms",
    "cases",
    "pareto",
];

/// Whether a leaderboard model `name` and a run's model `label` are the same model.
pub fn same(name: &str, label: &str) -> bool {
    let strip = |s: &str| s.strip_suffix(".gguf").unwrap_or(s).to_string();
    name == label || strip(name) == strip(label)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(crate::measure::stats::percentile_sorted(&v, 50.0))
}

fn summary_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("summary.csv")
    } else {
        p.to_path_buf()
    }
}

/// Joins the rows with speed from run folders or summary.csv files.
pub fn join(rows: &[Row], inputs: &[PathBuf]) -> Result<(Vec<SpeedRow>, Vec<String>)> {
    let mut warnings = Vec::new();
    // (device, model) → (case → (decode p50, ttft p50, concurrency))
    type Cases = BTreeMap<String, (Option<f64>, Option<f64>, u32)>;
    let mut found: BTreeMap<(String, String), Cases> = BTreeMap::new();
    for p in inputs {
        let path = summary_path(p);
        if !path.exists() {
            return Err(Error::file(
                &path,
                "no summary.csv here (give a run folder or its summary.csv)",
            ));
        }
        let s = read_summary(&path)?;
        warnings.extend(s.warnings);
        for r in s.rows {
            let Some(row) = rows
                .iter()
                .find(|x| same(&x.model, &r.model) || x.model == r.backend)
            else {
                continue;
            };
            let case = format!("{}:{}:{}", r.run_id, r.scenario, r.case_id);
            let e = found
                .entry((r.device.clone(), row.model.clone()))
                .or_default()
                .entry(case)
                .or_insert((None, None, r.concurrency));
            match r.metric.as_str() {
                "decode_tok_s" => e.0 = Some(r.p50),
                "ttft_ms" => e.1 = Some(r.p50),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for ((device, model), cases) in found {
        let single: Vec<_> = cases.values().filter(|c| c.2 == 1).collect();
        let use_: Vec<_> = if single.is_empty() {
            cases.values().collect()
        } else {
            single
        };
        let decode = median(use_.iter().filter_map(|c| c.0).collect());
        let ttft = median(use_.iter().filter_map(|c| c.1).collect());
        let Some(r) = rows.iter().find(|x| x.model == model) else {
            continue;
        };
        out.push(SpeedRow {
            device,
            model,
            rating: r.rating,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            decode_tok_s: decode,
            ttft_ms: ttft,
            cases: use_.len(),
            pareto: false,
        });
    }
    for r in rows {
        if !out.iter().any(|s| s.model == r.model) {
            warnings.push(format!(
                "no speed measured for `{}` in the given results",
                r.model
            ));
        }
    }
    mark_pareto(&mut out);
    Ok((out, warnings))
}

/// Marks, per device, the models no other model dominates.
pub fn mark_pareto(rows: &mut [SpeedRow]) {
    let snapshot = rows.to_vec();
    for r in rows.iter_mut() {
        let Some(v) = r.decode_tok_s else { continue };
        r.pareto = !snapshot.iter().any(|o| {
            o.device == r.device
                && o.model != r.model
                && o.decode_tok_s.is_some_and(|ov| {
                    (ov >= v && o.rating > r.rating) || (ov > v && o.rating >= r.rating)
                })
        });
    }
}

/// Per device: the highest-rated model whose decode speed is at least `min_tok_s`.
pub fn best_at(rows: &[SpeedRow], min_tok_s: f64) -> Vec<(String, Option<String>)> {
    let mut devices: Vec<&str> = rows.iter().map(|r| r.device.as_str()).collect();
    devices.sort();
    devices.dedup();
    devices
        .into_iter()
        .map(|d| {
            let best = rows
                .iter()
                .filter(|r| r.device == d && r.decode_tok_s.is_some_and(|v| v >= min_tok_s))
                .max_by(|a, b| a.rating.total_cmp(&b.rating))
                .map(|r| r.model.clone());
            (d.to_string(), best)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(device: &str, model: &str, rating: f64, tok_s: f64) -> SpeedRow {
        SpeedRow {
            device: device.into(),
            model: model.into(),
            rating,
            ci_low: rating,
            ci_high: rating,
            decode_tok_s: Some(tok_s),
            ttft_ms: None,
            cases: 1,
            pareto: false,
        }
    }

    #[test]
    fn frontier_and_best_at_speed() {
        let mut v = vec![
            row("phone", "big", 1100.0, 8.0),
            row("phone", "mid", 1050.0, 25.0),
            row("phone", "slowbad", 1000.0, 20.0),
            row("phone", "tiny", 900.0, 60.0),
        ];
        mark_pareto(&mut v);
        let on: Vec<&str> = v
            .iter()
            .filter(|r| r.pareto)
            .map(|r| r.model.as_str())
            .collect();
        assert_eq!(on, vec!["big", "mid", "tiny"]);
        assert_eq!(
            best_at(&v, 20.0),
            vec![("phone".to_string(), Some("mid".to_string()))]
        );
        assert_eq!(best_at(&v, 100.0), vec![("phone".to_string(), None)]);
        assert!(same("gemma.gguf", "gemma"));
    }
}
