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
//!
//! Either side may be several runs of the same build: the CI is then a hierarchical
//! bootstrap over runs and requests ([`median_ratio_ci_runs`]), so that drift between runs
//! (other jobs on the machine, heat) widens the interval instead of turning into a verdict.
//! With one run per side only the noise between requests is known, and a machine whose
//! speed drifts between runs will see false alarms: `scripts/aa-noise` measures how often.
//! A case with fewer than [`MIN_SAMPLES`] successful requests on either side gets
//! *too few samples*, which is reported but does not fail the gate (a single request has a
//! zero-width interval and would turn every wobble into a verdict).

use std::path::PathBuf;

use super::key::CompKey;
use super::load::{self, Cell, Dataset};
use super::metric::{self, Direction, Metric};
use crate::error::{Error, Result};
use crate::measure::ratio::{MedianCi, RatioCi, median_ci, median_ratio_ci_runs};

/// Fewest successful requests per side for a verdict.
pub const MIN_SAMPLES: usize = 3;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// One or more baseline runs (the same build run repeatedly measures between-run noise).
    pub baseline: Vec<PathBuf>,
    /// One or more candidate runs.
    pub candidate: Vec<PathBuf>,
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
    let bad = || {
        Error::Usage(format!(
            "--threshold `{s}`: expected a percentage such as 5% (or a fraction such as 0.05) between 0 and 100%"
        ))
    };
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
    if opts.baseline.is_empty() || opts.candidate.is_empty() {
        return Err(Error::Usage(
            "compare needs at least one --baseline and one --candidate run".into(),
        ));
    }
    let load_all = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| load::load(std::slice::from_ref(p)))
            .collect::<Result<Vec<Dataset>>>()
    };
    let base = load_all(&opts.baseline)?;
    let cand = load_all(&opts.candidate)?;
    let name = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    Ok(compare_datasets(
        &base,
        &cand,
        &metrics,
        opts.threshold,
        &name(&opts.baseline),
        &name(&opts.candidate),
    ))
}

/// One case of one side: the matching cell of every run of that side.
struct Side<'a> {
    cells: Vec<(&'a Dataset, &'a Cell)>,
}

impl Side<'_> {
    fn values(&self, slot: usize) -> Vec<Vec<f64>> {
        self.cells.iter().map(|(_, c)| c.values(slot)).collect()
    }

    fn first(&self) -> (&Dataset, &Cell) {
        self.cells[0]
    }
}

/// (backend or "" when pairing ignores it, scenario, case id) and where a side has that case:
/// (run index, cell index) per run.
type SideIndex = Vec<((String, String, String), Vec<(usize, usize)>)>;

/// Pairs the cases of the two sides and judges every metric (pure: no I/O).
pub fn compare_datasets(
    base: &[Dataset],
    cand: &[Dataset],
    metrics: &[&'static Metric],
    threshold: f64,
    base_name: &str,
    cand_name: &str,
) -> Comparison {
    let mut warnings: Vec<String> = Vec::new();
    for ds in base.iter().chain(cand) {
        warnings.extend(ds.warnings.iter().cloned());
    }
    // With one backend in every run, cases pair by scenario and case alone, so a candidate
    // backend may be named differently (`llama-server` vs `llama-server-patched`).
    let single = base.iter().chain(cand).all(|d| d.series.len() == 1);
    let key = |ds: &Dataset, c: &Cell| -> (String, String, String) {
        let backend = if single {
            String::new()
        } else {
            ds.series[c.series].id.backend.clone()
        };
        (backend, c.case.scenario.clone(), c.case.case_id.clone())
    };
    let side_of = |runs: &[Dataset]| -> SideIndex {
        let mut out: SideIndex = Vec::new();
        for (ri, ds) in runs.iter().enumerate() {
            for (ci, c) in ds.cells.iter().enumerate() {
                let k = key(ds, c);
                match out.iter_mut().find(|(kk, _)| *kk == k) {
                    Some((_, v)) => v.push((ri, ci)),
                    None => out.push((k, vec![(ri, ci)])),
                }
            }
        }
        out
    };
    let (bside, cside) = (side_of(base), side_of(cand));
    let mut rows = Vec::new();
    for (k, cidx) in &cside {
        let c = Side {
            cells: cidx
                .iter()
                .map(|&(r, i)| (&cand[r], &cand[r].cells[i]))
                .collect(),
        };
        let (cds, cc) = c.first();
        let cs = &cds.series[cc.series];
        let Some((_, bidx)) = bside.iter().find(|(bk, _)| bk == k) else {
            warnings.push(format!(
                "{} / {} / {}: only in the candidate, not compared",
                cs.id.backend, cc.case.scenario, cc.case.case_id
            ));
            continue;
        };
        let b = Side {
            cells: bidx
                .iter()
                .map(|&(r, i)| (&base[r], &base[r].cells[i]))
                .collect(),
        };
        let (bds, bc) = b.first();
        let bs = &bds.series[bc.series];
        let backend = if bs.id.backend == cs.id.backend {
            cs.id.backend.clone()
        } else {
            format!("{} → {}", bs.id.backend, cs.id.backend)
        };
        let where_ = format!("{backend} / {} / {}", cc.case.scenario, cc.case.case_id);
        let kb = CompKey::of(
            bds.manifest_of(bc.series),
            &bs.id.backend,
            &bs.id.model,
            &bc.case.scenario,
        );
        for (ds, cell) in b.cells.iter().skip(1).chain(c.cells.iter()) {
            let s = &ds.series[cell.series];
            for d in kb.differences(&CompKey::of(
                ds.manifest_of(cell.series),
                &s.id.backend,
                &s.id.model,
                &cell.case.scenario,
            )) {
                let w = format!("{where_}: not like for like: {d}");
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
        }
        for (side, s) in [("baseline", &b), ("candidate", &c)] {
            let failed: usize = s.cells.iter().map(|(_, c)| c.failed()).sum();
            let total: usize = s.cells.iter().map(|(_, c)| c.requests.len()).sum();
            if failed > 0 {
                warnings.push(format!(
                    "{where_}: {failed} of {total} {side} requests failed and are left out"
                ));
            }
        }
        for m in metrics {
            let (vb, vc) = (b.values(m.slot), c.values(m.slot));
            let (pb, pc): (Vec<f64>, Vec<f64>) = (vb.concat(), vc.concat());
            let (Some(mb), Some(mc)) = (median_ci(&pb), median_ci(&pc)) else {
                continue; // not measured by this backend (e.g. no server timings)
            };
            let Some(ratio) = median_ratio_ci_runs(&vb, &vc) else {
                warnings.push(format!(
                    "{where_} / {}: baseline median is zero, no ratio",
                    m.name
                ));
                continue;
            };
            let v = if pb.len() < MIN_SAMPLES || pc.len() < MIN_SAMPLES {
                Verdict::TooFewSamples
            } else {
                verdict(m.direction, &ratio, threshold)
            };
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
    for (k, bidx) in &bside {
        if !cside.iter().any(|(ck, _)| ck == k) {
            let (r, i) = bidx[0];
            let bc = &base[r].cells[i];
            warnings.push(format!(
                "{} / {} / {}: only in the baseline, not compared",
                base[r].series[bc.series].id.backend, bc.case.scenario, bc.case.case_id
            ));
        }
    }
    if rows.is_empty() {
        warnings.push("no case and metric could be compared: the gate checks nothing".into());
    }
    Comparison {
        baseline: base_name.into(),
        candidate: cand_name.into(),
        threshold,
        rows,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(low: f64, high: f64) -> RatioCi {
        RatioCi {
            ratio: (low + high) / 2.0,
            low,
            high,
        }
    }

    #[test]
    fn verdicts_follow_direction_and_threshold() {
        use Direction::*;
        // tok/s: 20% slower, CI entirely below 0.95.
        assert_eq!(
            verdict(HigherIsBetter, &ci(0.75, 0.85), 0.05),
            Verdict::Regressed
        );
        assert_eq!(
            verdict(HigherIsBetter, &ci(1.10, 1.30), 0.05),
            Verdict::Improved
        );
        // CI straddles the threshold: not enough evidence.
        assert_eq!(
            verdict(HigherIsBetter, &ci(0.90, 0.97), 0.05),
            Verdict::WithinNoise
        );
        assert_eq!(
            verdict(HigherIsBetter, &ci(0.97, 1.02), 0.05),
            Verdict::WithinNoise
        );
        // ms: higher ratio is worse.
        assert_eq!(
            verdict(LowerIsBetter, &ci(1.10, 1.30), 0.05),
            Verdict::Regressed
        );
        assert_eq!(
            verdict(LowerIsBetter, &ci(0.75, 0.85), 0.05),
            Verdict::Improved
        );
        assert_eq!(
            verdict(LowerIsBetter, &ci(f64::NAN, f64::NAN), 0.05),
            Verdict::TooFewSamples
        );
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
