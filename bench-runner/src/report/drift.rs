//! The drift part of a report, from each run's `drift.csv` (and the `drift_comparable` rows of
//! its summary.csv): per candidate, reference and case, the mean KL divergence with its 95%
//! interval, top-1 agreement, each side's perplexity and their ratio (teacher-forced cases),
//! and the share of identical greedy continuations with the median first divergence (the
//! `free` case). Figures: `chart/drift.rs`. The maths is `measure::drift`, the same the runner
//! used for summary.csv.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::fmt_num;
use super::load::Dataset;
use crate::measure::drift::{MeanSe, perplexity, perplexity_ratio};
use crate::measure::proportion::wilson;
use crate::measure::stats::median_in_place;
use crate::results::drift::{DriftRow, read_drift};
use crate::results::reader::read_summary;

#[derive(Debug, Clone, Default, Serialize)]
pub struct DriftSection {
    pub forced: Vec<ForcedView>,
    pub free: Vec<FreeView>,
    /// Candidates found not comparable with their reference, said once each.
    pub not_comparable: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForcedView {
    pub candidate: String,
    pub reference: String,
    pub case: String,
    /// How each side was scored, `reference / candidate`.
    pub scored: String,
    pub positions: usize,
    /// `KL` or `KL (top-k shared support)`.
    pub kl_kind: String,
    pub kl: String,
    pub top1: String,
    pub ppl_reference: String,
    pub ppl_candidate: String,
    pub ppl_ratio: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FreeView {
    pub candidate: String,
    pub reference: String,
    pub prompts: usize,
    pub identical: String,
    pub first_divergence_median: String,
}

/// KL values are small: four significant figures.
pub fn fmt_small(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() < 0.01 {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Every run's drift rows, with the label of the run's candidate series where the dataset
/// has one (`device/backend`), else the backend name.
pub fn rows(ds: &Dataset) -> (Vec<(String, DriftRow)>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, run) in ds.runs.iter().enumerate() {
        let p = run.source.join("drift.csv");
        if !p.is_file() {
            continue;
        }
        match read_drift(&p) {
            Ok(r) => {
                warnings.extend(r.warnings);
                for row in r.rows {
                    let label = ds
                        .series
                        .iter()
                        .find(|s| s.id.run == i && s.id.backend == row.backend)
                        .map_or_else(|| row.backend.clone(), |s| s.label.clone());
                    out.push((label, row));
                }
            }
            Err(e) => warnings.push(format!("{e}")),
        }
    }
    (out, warnings)
}

fn not_comparable(ds: &Dataset) -> Vec<String> {
    let mut out = Vec::new();
    for run in &ds.runs {
        let Ok(s) = read_summary(&run.source.join("summary.csv")) else {
            continue;
        };
        for r in s.rows {
            if r.metric == "drift_comparable" && r.mean == 0.0 {
                let line = format!(
                    "{} is not comparable with its reference ({}): different model family or vocabulary; no drift is reported for it",
                    r.backend,
                    r.flags
                        .split(';')
                        .find_map(|f| f.strip_prefix("reference="))
                        .unwrap_or("?")
                );
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    out
}

pub fn build(ds: &Dataset) -> (DriftSection, Vec<String>) {
    let (rows, warnings) = rows(ds);
    // (candidate, reference, case) → rows, in file order of the first row.
    let mut groups: BTreeMap<(String, String, String), Vec<&DriftRow>> = BTreeMap::new();
    for (label, r) in &rows {
        groups
            .entry((label.clone(), r.reference.clone(), r.case_id.clone()))
            .or_default()
            .push(r);
    }
    let mut section = DriftSection {
        not_comparable: not_comparable(ds),
        ..Default::default()
    };
    for ((candidate, reference, case), g) in groups {
        if case == "free" {
            let identical = g.iter().filter(|r| r.identical == Some(true)).count();
            let mut firsts: Vec<f64> = g
                .iter()
                .filter_map(|r| r.first_divergence.map(f64::from))
                .collect();
            section.free.push(FreeView {
                candidate,
                reference,
                prompts: g.len(),
                identical: wilson(identical, g.len()).map_or("-".into(), |p| {
                    format!(
                        "{} [{}, {}]",
                        fmt_num(p.p),
                        fmt_num(p.ci_low),
                        fmt_num(p.ci_high)
                    )
                }),
                first_divergence_median: if firsts.is_empty() {
                    "-".into()
                } else {
                    fmt_num(median_in_place(&mut firsts))
                },
            });
            continue;
        }
        let kls: Vec<f64> = g.iter().filter_map(|r| r.kl).collect();
        let top_k = g.iter().any(|r| r.kl_top_k_only == Some(true));
        let same = g.iter().filter(|r| r.same_top == Some(true)).count();
        let ref_lp: Vec<f64> = g.iter().filter_map(|r| r.reference_logprob).collect();
        let cand_lp: Vec<f64> = g.iter().filter_map(|r| r.candidate_logprob).collect();
        let pairs: Vec<(f64, f64)> = g
            .iter()
            .filter_map(|r| r.reference_logprob.zip(r.candidate_logprob))
            .collect();
        let first = g[0];
        section.forced.push(ForcedView {
            candidate,
            reference,
            case,
            scored: format!("{} / {}", first.reference_scored, first.candidate_scored),
            positions: g.len(),
            kl_kind: if top_k {
                "KL on the shared top-k (renormalised)".into()
            } else {
                "KL".into()
            },
            kl: MeanSe::of(&kls).map_or("-".into(), |m| {
                let (lo, hi) = m.ci95();
                format!(
                    "{} [{}, {}]",
                    fmt_small(m.mean),
                    fmt_small(lo),
                    fmt_small(hi)
                )
            }),
            top1: wilson(same, g.len()).map_or("-".into(), |p| {
                format!(
                    "{} [{}, {}]",
                    fmt_num(p.p),
                    fmt_num(p.ci_low),
                    fmt_num(p.ci_high)
                )
            }),
            ppl_reference: perplexity(&ref_lp).map_or("-".into(), fmt_num),
            ppl_candidate: perplexity(&cand_lp).map_or("-".into(), fmt_num),
            ppl_ratio: perplexity_ratio(&pairs).map_or("-".into(), |(r, lo, hi)| {
                format!("{r:.4} [{lo:.4}, {hi:.4}]")
            }),
        });
    }
    // Cases by length (`forced_64` before `forced_256`), not as strings sort.
    let length = |c: &str| {
        c.trim_start_matches("forced_")
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    };
    section.forced.sort_by(|a, b| {
        (&a.candidate, &a.reference, length(&a.case)).cmp(&(
            &b.candidate,
            &b.reference,
            length(&b.case),
        ))
    });
    (section, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_keep_their_digits() {
        assert_eq!(fmt_small(0.0038752), "3.875e-3");
        assert_eq!(fmt_small(0.25), "0.2500");
        assert_eq!(fmt_small(0.0), "0");
    }
}
