//! The CI gate: baseline run against candidate run, per case and metric.
//!
//! For every case present in both runs and every chosen metric, the ratio of medians
//! r = median(candidate) / median(baseline) over the successful requests' per-request values
//! (samples.csv), with its seeded bootstrap 95% CI (see [`crate::measure::ratio`]).
//! With threshold t (5% by default) and the metric's direction:
//!
//! | direction | regressed | improved |
//! |---|---|---|
//! | higher is better (tok/s) | CI high < 1 − t | CI low > 1 + t |
//! | lower is better (ms) | CI low > 1 + t | CI high < 1 − t |
//!
//! Anything else is *within noise*: the data cannot tell a change larger than t from noise.
//! A case with fewer than [`MIN_SAMPLES`] successful requests on either side gets
//! *too few samples*, which is reported but does not fail the gate (a single request has a
//! zero-width interval and would turn every wobble into a verdict).

use std::path::PathBuf;

use super::key::CompKey;
use super::load::{self, Dataset};
use super::metric::{self, Direction, Metric};
use crate::error::{Error, Result};
use crate::measure::ratio::{median_ci, median_ratio_ci, MedianCi, RatioCi};

/// Fewest successful requests per side for a verdict.
pub const MIN_SAMPLES: usize = 3;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub baseline: PathBuf,
    pub candidate: PathBuf,
    /// As a fraction: 0.05 for 5%.
    pub threshold: f64,
    pub metrics: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    WithinNoise,
    TooFewSamples,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::WithinNoise => "within noise",
            Verdict::TooFewSamples => "too few samples",
        }
    }
}

/// The verdict for a ratio CI (candidate ÷ baseline) of a metric with `direction`.
pub fn verdict(direction: Direction, ci: &RatioCi, threshold: f64) -> Verdict {
    if ci.low.is_nan() || ci.high.is_nan() {
        return Verdict::TooFewSamples;
    }
    let (worse, better) = match direction {
        Direction::HigherIsBetter => (ci.high < 1.0 - threshold, ci.low > 1.0 + threshold),
        Direction::LowerIsBetter => (ci.low > 1.0 + threshold, ci.high < 1.0 - threshold),
    };
    if worse {
        Verdict::Regressed
    } else if better {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    }
}

/// Parses `5%`, `5` (percent, for numbers ≥ 1) or `0.05` (a fraction) into a fraction.
pub fn parse_threshold(s: &str) -> Result<f64> {
    let t = s.trim();
    let bad = || Error::Usage(format!("--threshold `{s}`: expected a percentage such as 5% (or a fraction such as 0.05) between 0 and 100%"));
    let (num, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let frac = if percent || v >= 1.0 { v / 100.0 } else { v };
    if !frac.is_finite() || !(0.0..1.0).contains(&frac) {
        return Err(bad());
    }
    Ok(frac)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// `backend` (or `baseline backend → candidate backend` when they are named differently).
    pub backend: String,
    pub scenario: String,
    pub case_id: String,
    pub metric: &'static str,
    pub unit: &'static str,
    pub direction: Direction,
    pub baseline: MedianCi,
    pub candidate: MedianCi,
    pub ratio: RatioCi,
    pub verdict: Verdict,
}

impl Row {
    /// The case as one name: `backend / scenario / case`.
    pub fn case_name(&self) -> String {
        format!("{} / {} / {}", self.backend, self.scenario, self.case_id)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub candidate: String,
    pub threshold: f64,
    pub rows: Vec<Row>,
    /// Comparability-key differences, failed requests, unmatched cases, reader notes.
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == v).count()
    }

    /// 1 when anything regressed, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.count(Verdict::Regressed) > 0)
    }
}

pub fn compare(opts: &CompareOptions) -> Result<Comparison> {
    let metrics = metric::parse_list(&opts.metrics)?;
    let base = load::load(std::slice::from_ref(&opts.baseline))?;
    let cand = load::load(std::slice::from_ref(&opts.candidate))?;
    Ok(compare_datasets(&base, &cand, &metrics, opts.threshold, &opts.baseline.display().to_string(), &opts.candidate.display().to_string()))
}

/// Pairs the cases of two datasets and judges every metric (pure: no I/O).
pub fn compare_datasets(base: &Dataset, cand: &Dataset, metrics: &[&'static Metric], threshold: f64, base_name: &str, cand_name: &str) -> Comparison {
    let mut warnings: Vec<String> = Vec::new();
    for w in base.warnings.iter().chain(&cand.warnings) {
        warnings.push(w.clone());
    }
    // With one backend on each side, cases pair by scenario and case alone, so a candidate
    // backend may be named differently (`llama-server` vs `llama-server-patched`).
    let single = base.series.len() == 1 && cand.series.len() == 1;
    let mut rows = Vec::new();
    let mut matched_base = vec![false; base.cells.len()];
    for cc in &cand.cells {
        let cs = &cand.series[cc.series];
        let found = base.cells.iter().enumerate().find(|(_, bc)| {
            bc.case == cc.case && (single || base.series[bc.series].id.backend == cs.id.backend)
        });
        let Some((bi, bc)) = found else {
            warnings.push(format!("{} / {} / {}: only in the candidate, not compared", cs.id.backend, cc.case.scenario, cc.case.case_id));
            continue;
        };
        matched_base[bi] = true;
        let bs = &base.series[bc.series];
        let backend = if bs.id.backend == cs.id.backend { cs.id.backend.clone() } else { format!("{} → {}", bs.id.backend, cs.id.backend) };
        let where_ = format!("{backend} / {} / {}", cc.case.scenario, cc.case.case_id);
        let kb = CompKey::of(base.manifest_of(bc.series), &bs.id.backend, &bs.id.model, &bc.case.scenario);
        let kc = CompKey::of(cand.manifest_of(cc.series), &cs.id.backend, &cs.id.model, &cc.case.scenario);
        for d in kb.differences(&kc) {
            warnings.push(format!("{where_}: not like for like: {d}"));
        }
        for (side, cell) in [("baseline", bc), ("candidate", cc)] {
            if cell.failed() > 0 {
                warnings.push(format!("{where_}: {} of {} {side} requests failed and are left out", cell.failed(), cell.requests.len()));
            }
        }
        for m in metrics {
            let (vb, vc) = (bc.values(m.slot), cc.values(m.slot));
            let (Some(mb), Some(mc)) = (median_ci(&vb), median_ci(&vc)) else {
                continue; // not measured by this backend (e.g. no server timings)
            };
            let Some(ratio) = median_ratio_ci(&vb, &vc) else {
                warnings.push(format!("{where_} / {}: baseline median is zero, no ratio", m.name));
                continue;
            };
            let v = if vb.len() < MIN_SAMPLES || vc.len() < MIN_SAMPLES { Verdict::TooFewSamples } else { verdict(m.direction, &ratio, threshold) };
            rows.push(Row {
                backend: backend.clone(),
                scenario: cc.case.scenario.clone(),
                case_id: cc.case.case_id.clone(),
                metric: m.name,
                unit: m.unit,
                direction: m.direction,
                baseline: mb,
                candidate: mc,
                ratio,
                verdict: v,
            });
        }
    }
    for (bc, matched) in base.cells.iter().zip(matched_base) {
        if !matched {
            warnings.push(format!("{} / {} / {}: only in the baseline, not compared", base.series[bc.series].id.backend, bc.case.scenario, bc.case.case_id));
        }
    }
    if rows.is_empty() {
        warnings.push("no case and metric could be compared: the gate checks nothing".into());
    }
    warnings.dedup();
    Comparison { baseline: base_name.into(), candidate: cand_name.into(), threshold, rows, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(low: f64, high: f64) -> RatioCi {
        RatioCi { ratio: (low + high) / 2.0, low, high }
    }

    #[test]
    fn verdicts_follow_direction_and_threshold() {
        use Direction::*;
        // tok/s: 20% slower, CI entirely below 0.95.
        assert_eq!(verdict(HigherIsBetter, &ci(0.75, 0.85), 0.05), Verdict::Regressed);
        assert_eq!(verdict(HigherIsBetter, &ci(1.10, 1.30), 0.05), Verdict::Improved);
        // CI straddles the threshold: not enough evidence.
        assert_eq!(verdict(HigherIsBetter, &ci(0.90, 0.97), 0.05), Verdict::WithinNoise);
        assert_eq!(verdict(HigherIsBetter, &ci(0.97, 1.02), 0.05), Verdict::WithinNoise);
        // ms: higher ratio is worse.
        assert_eq!(verdict(LowerIsBetter, &ci(1.10, 1.30), 0.05), Verdict::Regressed);
        assert_eq!(verdict(LowerIsBetter, &ci(0.75, 0.85), 0.05), Verdict::Improved);
        assert_eq!(verdict(LowerIsBetter, &ci(f64::NAN, f64::NAN), 0.05), Verdict::TooFewSamples);
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!(parse_threshold("5%").unwrap(), 0.05);
        assert_eq!(parse_threshold("5").unwrap(), 0.05);
        assert_eq!(parse_threshold("0.05").unwrap(), 0.05);
        assert_eq!(parse_threshold(" 12.5 % ").unwrap(), 0.125);
        assert!(parse_threshold("abc").is_err());
        assert!(parse_threshold("-5%").is_err());
        assert!(parse_threshold("150%").is_err());
    }
}
