//! The effective context length per series (device / backend / model) and scenario, with
//! the recall at every tested length beside it — the figures behind the needle-recall
//! heatmaps, as a table. The run's own judgement is used where summary.csv holds it (the
//! `effective_context_length` row of case `all`, its `threshold=` flag, and each length's
//! `recall` row); a run read from samples.csv alone gets the same rule applied here: the
//! longest length whose mean recall reaches the threshold ([`effective_length`], RULER's
//! 0.85 by default).

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::fmt_num;
use super::load::{Cell, Dataset};
use super::metric::get;
use crate::measure::stats::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_mean_ci};
use crate::score::recall::effective_length;

/// RULER's threshold, where a run recorded none.
const DEFAULT_THRESHOLD: f64 = 0.85;

#[derive(Debug, Clone, Default, Serialize)]
pub struct EffectiveSection {
    /// Every tested length over all rows, ascending: the columns of the table.
    pub lengths: Vec<u32>,
    pub rows: Vec<EffectiveRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EffectiveRow {
    pub device: String,
    pub backend: String,
    pub model: String,
    pub series: String,
    pub scenario: String,
    /// Tokens, or `none` when no tested length reached the threshold.
    pub effective: String,
    /// `-` where the run judged but did not record its threshold (no length passed).
    pub threshold: String,
    /// Mean recall [95% CI] (n) per entry of `lengths`; `-` where not tested.
    pub recall: Vec<String>,
}

/// Recall at one length: mean, CI of the mean, n.
struct AtLength {
    mean: f64,
    low: f64,
    high: f64,
    n: usize,
}

/// The context length of a cell: prompt plus answer.
fn length(c: &Cell) -> u32 {
    c.shape.prompt_tokens + c.shape.max_tokens
}

fn at_length(c: &Cell) -> Option<AtLength> {
    if let Some(r) = c.summary_row("recall") {
        return Some(AtLength {
            mean: r.mean,
            low: r.ci_low,
            high: r.ci_high,
            n: r.n,
        });
    }
    let v = c.values(get("recall").slot);
    if v.is_empty() {
        return None;
    }
    let (low, high) = bootstrap_mean_ci(&v, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
    Some(AtLength {
        mean: v.iter().sum::<f64>() / v.len() as f64,
        low,
        high,
        n: v.len(),
    })
}

pub fn build(ds: &Dataset) -> EffectiveSection {
    // (series, scenario) → length → recall; and the run's own verdict where it wrote one.
    let mut groups: BTreeMap<(usize, String), BTreeMap<u32, AtLength>> = BTreeMap::new();
    let mut judged: BTreeMap<(usize, String), (f64, Option<f64>)> = BTreeMap::new();
    for c in ds.cells.iter().filter(|c| c.shape.kind == "context") {
        let key = (c.series, c.case.scenario.clone());
        if let Some(r) = c.summary_row("effective_context_length") {
            let threshold = r
                .flags
                .strip_prefix("threshold=")
                .and_then(|t| t.parse().ok());
            judged.insert(key.clone(), (r.mean, threshold));
            continue;
        }
        if let Some(a) = at_length(c) {
            groups.entry(key).or_default().insert(length(c), a);
        }
    }
    let mut lengths: Vec<u32> = groups.values().flat_map(|g| g.keys().copied()).collect();
    lengths.sort_unstable();
    lengths.dedup();
    let mut rows = Vec::new();
    for ((si, scenario), per_length) in &groups {
        let s = &ds.series[*si];
        let recorded = judged.get(&(*si, scenario.clone()));
        // A run that judged but wrote no threshold (`no_length_passed`) keeps it unknown.
        let threshold = match recorded {
            Some((_, t)) => *t,
            None => Some(DEFAULT_THRESHOLD),
        };
        let effective = match recorded {
            // The runner writes 0 with the flag `no_length_passed` when none passed.
            Some((v, _)) => (*v > 0.0).then_some(*v as u32),
            None => {
                let means: Vec<(u32, f64)> = per_length.iter().map(|(l, a)| (*l, a.mean)).collect();
                effective_length(&means, DEFAULT_THRESHOLD)
            }
        };
        rows.push(EffectiveRow {
            device: s.id.device.clone(),
            backend: s.id.backend.clone(),
            model: s.id.model.clone(),
            series: s.label.clone(),
            scenario: scenario.clone(),
            effective: effective.map_or("none".into(), |l| l.to_string()),
            threshold: threshold.map_or("-".into(), |t| t.to_string()),
            recall: lengths
                .iter()
                .map(|l| {
                    per_length.get(l).map_or("-".into(), |a| {
                        format!(
                            "{} [{}, {}] (n={})",
                            fmt_num(a.mean),
                            fmt_num(a.low),
                            fmt_num(a.high),
                            a.n
                        )
                    })
                })
                .collect(),
        });
    }
    EffectiveSection { lengths, rows }
}
