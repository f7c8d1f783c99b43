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
//!
//! A gate must never pass what it could not check: a candidate whose server is broken
//! produces no successful request, hence no ratio, hence no *regressed* verdict. So the gate
//! also fails (exit 1, the reason in the summary and as a JUnit failure) when
//! - a case × metric has fewer than [`MIN_SAMPLES`] successful requests on a side
//!   (*too few samples*: a single request has a zero-width interval and would turn every
//!   wobble into a verdict, and no request at all says nothing);
//! - a baseline case is missing from the candidate, or nothing could be compared at all;
//! - the candidate failed a larger share of a case's requests than the baseline did.
//!
//! [`GateRules`] (`--allow-missing`, `--allow-errors`) turn the first two or the last into
//! reported, non-failing findings, for those who want the gate to judge only speed.

use std::path::PathBuf;

use super::key::CompKey;
use super::load::{self, Cell, Dataset};
use super::metric::{self, Direction, Metric};
use crate::error::{Error, Result};
use crate::measure::ratio::{MedianCi, RatioCi, median_ci, median_ratio_ci_runs};

/// Fewest successful requests per side for a verdict.
pub const MIN_SAMPLES: usize = 3;

/// What the gate may let pass although it could not judge it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GateRules {
    /// `--allow-missing`: baseline cases the candidate lacks, cases × metrics with too few
    /// successful requests, and a comparison of nothing are reported but do not fail.
    pub allow_missing: bool,
    /// `--allow-errors`: candidate requests that failed more often than the baseline's are
    /// reported but do not fail.
    pub allow_errors: bool,
}

#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// One or more baseline runs (the same build run repeatedly measures between-run noise).
    pub baseline: Vec<PathBuf>,
    /// One or more candidate runs.
    pub candidate: Vec<PathBuf>,
    /// As a fraction: 0.05 for 5%.
    pub threshold: f64,
    pub metrics: Vec<String>,
    pub rules: GateRules,
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

/// Why the gate could not judge something (beyond the per-metric *too few samples*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A baseline case the candidate does not have.
    Missing,
    /// The candidate failed a larger share of a case's requests than the baseline.
    NewErrors,
    /// No case and metric could be compared at all.
    NothingCompared,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::NewErrors => "new_errors",
            ProblemKind::NothingCompared => "nothing_compared",
        }
    }

    /// The flag that lets this kind pass.
    pub fn allow_flag(self) -> &'static str {
        match self {
            ProblemKind::Missing | ProblemKind::NothingCompared => "--allow-missing",
            ProblemKind::NewErrors => "--allow-errors",
        }
    }
}

/// Something the gate could not check, with the reason in words.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    /// `backend / scenario / case`, or empty for the comparison as a whole.
    pub case: String,
    pub kind: ProblemKind,
    pub message: String,
    /// Let pass by [`GateRules`]: reported, not failing.
    pub allowed: bool,
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
    pub rules: GateRules,
    pub rows: Vec<Row>,
    /// What could not be checked: failing the gate unless `allowed`.
    pub problems: Vec<Problem>,
    /// Comparability-key differences, failed requests that fail nothing (baseline failures,
    /// candidate failures no more frequent than the baseline's), candidate-only cases, reader
    /// notes.
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == v).count()
    }

    /// Whether a row fails the gate: regressed, or judged on too few samples (unless allowed).
    pub fn row_fails(&self, r: &Row) -> bool {
        match r.verdict {
            Verdict::Regressed => true,
            Verdict::TooFewSamples => !self.rules.allow_missing,
            Verdict::Improved | Verdict::WithinNoise => false,
        }
    }

    /// Problems that fail the gate, of one kind.
    pub fn failing(&self, kind: ProblemKind) -> usize {
        self.problems
            .iter()
            .filter(|p| p.kind == kind && !p.allowed)
            .count()
    }

    /// Whether the gate passes: nothing regressed and nothing it could not check went unallowed.
    pub fn passed(&self) -> bool {
        !self.rows.iter().any(|r| self.row_fails(r)) && self.problems.iter().all(|p| p.allowed)
    }

    /// Why the gate failed, one short clause per reason (empty when it passed).
    pub fn failure_reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        let reg = self.count(Verdict::Regressed);
        if reg > 0 {
            out.push(format!(
                "{reg} regression(s) beyond the {:.1}% threshold",
                self.threshold * 100.0
            ));
        }
        let few = self.count(Verdict::TooFewSamples);
        if few > 0 && !self.rules.allow_missing {
            out.push(format!(
                "{few} case × metric with too few samples (fewer than {MIN_SAMPLES} successful requests on a side)"
            ));
        }
        let missing = self.failing(ProblemKind::Missing);
        if missing > 0 {
            out.push(format!(
                "{missing} baseline case(s) missing from the candidate"
            ));
        }
        let errors = self.failing(ProblemKind::NewErrors);
        if errors > 0 {
            out.push(format!(
                "{errors} case(s) where the candidate failed requests the baseline did not"
            ));
        }
        if self.failing(ProblemKind::NothingCompared) > 0 {
            out.push("nothing could be compared: the gate checks nothing".into());
        }
        out
    }

    /// 0 when the gate passed, 1 when it failed (a regression, or something it could not
    /// check and was not allowed to let pass).
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.passed())
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
        opts.rules,
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

    fn failed(&self) -> usize {
        self.cells.iter().map(|(_, c)| c.failed()).sum()
    }

    fn total(&self) -> usize {
        self.cells.iter().map(|(_, c)| c.requests.len()).sum()
    }

    fn succeeded(&self) -> usize {
        self.total() - self.failed()
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
    rules: GateRules,
    base_name: &str,
    cand_name: &str,
) -> Comparison {
    let mut warnings: Vec<String> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
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
        let (bf, bt) = (b.failed(), b.total());
        let (cf, ct) = (c.failed(), c.total());
        if bf > 0 {
            warnings.push(format!(
                "{where_}: {bf} of {bt} baseline requests failed and are left out"
            ));
        }
        // More failures than the baseline's share: what breaking the server looks like. The
        // shares are compared (cross-multiplied) because the sides may hold different numbers
        // of requests (several runs, a shorter repetition count).
        if cf * bt > bf * ct {
            problems.push(Problem {
                case: where_.clone(),
                kind: ProblemKind::NewErrors,
                message: format!(
                    "{where_}: {cf} of {ct} candidate requests failed, against {bf} of {bt} in the baseline (error_category in the candidate's samples.csv says why)"
                ),
                allowed: rules.allow_errors,
            });
        } else if cf > 0 {
            warnings.push(format!(
                "{where_}: {cf} of {ct} candidate requests failed and are left out (the baseline had {bf} of {bt})"
            ));
        }
        for m in metrics {
            let (vb, vc) = (b.values(m.slot), c.values(m.slot));
            let (pb, pc): (Vec<f64>, Vec<f64>) = (vb.concat(), vc.concat());
            if pb.is_empty() && pc.is_empty() && b.succeeded() > 0 && c.succeeded() > 0 {
                continue; // not measured by this backend (e.g. no server timings)
            }
            let unjudged = MedianCi {
                n: 0,
                median: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            };
            let mb = median_ci(&pb).unwrap_or(unjudged);
            let mc = median_ci(&pc).unwrap_or(unjudged);
            let ratio = if pb.is_empty() || pc.is_empty() {
                None
            } else {
                median_ratio_ci_runs(&vb, &vc)
            };
            let v = if pb.len() < MIN_SAMPLES || pc.len() < MIN_SAMPLES {
                Verdict::TooFewSamples
            } else if let Some(r) = &ratio {
                verdict(m.direction, r, threshold)
            } else {
                warnings.push(format!(
                    "{where_} / {}: baseline median is zero, no ratio",
                    m.name
                ));
                continue;
            };
            let ratio = ratio.unwrap_or(RatioCi {
                ratio: f64::NAN,
                low: f64::NAN,
                high: f64::NAN,
            });
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
    let mut shared = 0;
    for (k, bidx) in &bside {
        if cside.iter().any(|(ck, _)| ck == k) {
            shared += 1;
            continue;
        }
        let (r, i) = bidx[0];
        let bc = &base[r].cells[i];
        let case = format!(
            "{} / {} / {}",
            base[r].series[bc.series].id.backend, bc.case.scenario, bc.case.case_id
        );
        problems.push(Problem {
            message: format!("{case}: in the baseline but not in the candidate, not compared"),
            case,
            kind: ProblemKind::Missing,
            allowed: rules.allow_missing,
        });
    }
    if rows.is_empty() {
        let message = if shared == 0 {
            "the baseline and the candidate share no case (scenario and case id): nothing was compared, the gate checks nothing"
        } else {
            "no metric was measured on both sides: nothing was compared, the gate checks nothing"
        };
        problems.push(Problem {
            case: String::new(),
            kind: ProblemKind::NothingCompared,
            message: message.into(),
            allowed: rules.allow_missing,
        });
    }
    Comparison {
        baseline: base_name.into(),
        candidate: cand_name.into(),
        threshold,
        rules,
        rows,
        problems,
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

    use crate::report::load::{CaseId, CaseShape, Request, Series, SeriesId};
    use crate::report::metric::{N_METRICS, get};

    /// One run of one backend: per case, its requests' decode tok/s (`None`: a failed request).
    fn run(backend: &str, cases: &[(&str, &[Option<f64>])]) -> Dataset {
        let mut ds = Dataset::default();
        ds.series.push(Series {
            id: SeriesId {
                run: 0,
                run_id: "r".into(),
                device: "d".into(),
                backend: backend.into(),
                model: "m".into(),
            },
            label: format!("d/{backend}"),
        });
        for (case, values) in cases {
            let requests = values
                .iter()
                .map(|v| {
                    let mut values = [f64::NAN; N_METRICS];
                    if let Some(v) = v {
                        values[get("decode_tok_s").slot] = *v;
                    }
                    Request {
                        t_ms: None,
                        ok: v.is_some(),
                        values,
                    }
                })
                .collect();
            ds.cells.push(Cell {
                series: 0,
                case: CaseId {
                    scenario: "s".into(),
                    case_id: (*case).into(),
                },
                shape: CaseShape::default(),
                requests,
                summary: Vec::new(),
            });
        }
        ds
    }

    const GOOD: &[Option<f64>] = &[Some(50.0), Some(51.0), Some(49.0), Some(50.5)];

    fn gate(base: Dataset, cand: Dataset, rules: GateRules) -> Comparison {
        let decode = get("decode_tok_s");
        compare_datasets(&[base], &[cand], &[decode], 0.05, rules, "b", "c")
    }

    const STRICT: GateRules = GateRules {
        allow_missing: false,
        allow_errors: false,
    };

    #[test]
    fn equal_runs_pass_the_gate() {
        let c = gate(run("a", &[("x", GOOD)]), run("a", &[("x", GOOD)]), STRICT);
        assert!(c.passed(), "{c:?}");
        assert_eq!(c.exit_code(), 0);
        assert_eq!(c.count(Verdict::WithinNoise), 1);
        assert!(c.problems.is_empty() && c.failure_reasons().is_empty());
    }

    #[test]
    fn a_candidate_whose_every_request_failed_fails_the_gate() {
        let broken: &[Option<f64>] = &[None, None, None, None];
        let c = gate(run("a", &[("x", GOOD)]), run("b", &[("x", broken)]), STRICT);
        assert_eq!(c.exit_code(), 1, "{c:?}");
        // The metric is judged unjudgeable (no successful candidate request), not dropped.
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.rows[0].verdict, Verdict::TooFewSamples);
        assert_eq!(c.rows[0].candidate.n, 0);
        assert!(c.rows[0].ratio.ratio.is_nan());
        assert_eq!(c.failing(ProblemKind::NewErrors), 1);
        assert!(
            c.problems[0]
                .message
                .contains("4 of 4 candidate requests failed, against 0 of 4")
        );
        let reasons = c.failure_reasons().join("; ");
        assert!(
            reasons.contains("too few samples")
                && reasons.contains("failed requests the baseline did not"),
            "{reasons}"
        );

        // Both allowances give back the old behaviour: reported, not failing.
        let lax = GateRules {
            allow_missing: true,
            allow_errors: true,
        };
        let c = gate(run("a", &[("x", GOOD)]), run("b", &[("x", broken)]), lax);
        assert_eq!(c.exit_code(), 0, "{c:?}");
        assert!(c.problems.iter().all(|p| p.allowed));
        // One allowance alone is not enough: no successful request is still missing data.
        let errors_only = GateRules {
            allow_missing: false,
            allow_errors: true,
        };
        let c = gate(
            run("a", &[("x", GOOD)]),
            run("b", &[("x", broken)]),
            errors_only,
        );
        assert_eq!(c.exit_code(), 1);
        assert_eq!(c.failure_reasons().len(), 1, "{:?}", c.failure_reasons());
    }

    #[test]
    fn new_failures_fail_the_gate_even_when_speed_is_unchanged() {
        let one_failed: &[Option<f64>] = &[Some(50.0), Some(51.0), Some(49.0), Some(50.5), None];
        let c = gate(
            run("a", &[("x", GOOD)]),
            run("a", &[("x", one_failed)]),
            STRICT,
        );
        assert_eq!(c.count(Verdict::WithinNoise), 1);
        assert_eq!(c.exit_code(), 1, "{c:?}");
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].kind, ProblemKind::NewErrors);
        assert_eq!(c.problems[0].case, "a / s / x");
        let c = gate(
            run("a", &[("x", GOOD)]),
            run("a", &[("x", one_failed)]),
            GateRules {
                allow_missing: false,
                allow_errors: true,
            },
        );
        assert_eq!(c.exit_code(), 0, "{c:?}");
        // The same share of failures on both sides is not new: a warning, not a failure.
        let c = gate(
            run("a", &[("x", one_failed)]),
            run("a", &[("x", one_failed)]),
            STRICT,
        );
        assert_eq!(c.exit_code(), 0, "{c:?}");
        assert!(c.problems.is_empty());
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("1 of 5 candidate requests failed"))
        );
    }

    #[test]
    fn sides_without_a_shared_case_fail_the_gate() {
        let c = gate(run("a", &[("x", GOOD)]), run("a", &[("y", GOOD)]), STRICT);
        assert!(c.rows.is_empty());
        assert_eq!(c.exit_code(), 1);
        assert_eq!(c.failing(ProblemKind::Missing), 1);
        assert_eq!(c.failing(ProblemKind::NothingCompared), 1);
        assert!(
            c.failure_reasons()
                .join(";")
                .contains("the gate checks nothing")
        );
        // A candidate-only case is new, not lost: a warning.
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("only in the candidate"))
        );
        let lax = GateRules {
            allow_missing: true,
            allow_errors: false,
        };
        let c = gate(run("a", &[("x", GOOD)]), run("a", &[("y", GOOD)]), lax);
        assert_eq!(c.exit_code(), 0);
    }

    #[test]
    fn a_lost_baseline_case_fails_the_gate_while_the_rest_is_judged() {
        let c = gate(
            run("a", &[("x", GOOD), ("z", GOOD)]),
            run("a", &[("x", GOOD)]),
            STRICT,
        );
        assert_eq!(c.count(Verdict::WithinNoise), 1);
        assert_eq!(c.exit_code(), 1);
        assert_eq!(c.problems.len(), 1);
        assert!(
            c.problems[0]
                .message
                .contains("a / s / z: in the baseline but not in the candidate")
        );
    }

    #[test]
    fn too_few_successful_requests_fail_the_gate_unless_allowed() {
        let two: &[Option<f64>] = &[Some(50.0), Some(50.0)];
        let c = gate(run("a", &[("x", two)]), run("a", &[("x", GOOD)]), STRICT);
        assert_eq!(c.count(Verdict::TooFewSamples), 1);
        assert!(c.problems.is_empty());
        assert_eq!(c.exit_code(), 1);
        let lax = GateRules {
            allow_missing: true,
            allow_errors: false,
        };
        let c = gate(run("a", &[("x", two)]), run("a", &[("x", GOOD)]), lax);
        assert_eq!(c.exit_code(), 0);
    }

    #[test]
    fn a_metric_no_side_measures_is_left_out_and_a_regression_still_fails() {
        // Successful requests without server timings on either side: nothing to judge there.
        let server = get("server_decode_tok_s");
        let decode = get("decode_tok_s");
        let slow: &[Option<f64>] = &[Some(30.0), Some(31.0), Some(29.0), Some(30.5)];
        let c = compare_datasets(
            &[run("a", &[("x", GOOD)])],
            &[run("a", &[("x", slow)])],
            &[decode, server],
            0.05,
            STRICT,
            "b",
            "c",
        );
        assert_eq!(c.rows.len(), 1, "{c:?}");
        assert_eq!(c.count(Verdict::Regressed), 1);
        assert_eq!(c.exit_code(), 1);
        assert!(c.failure_reasons()[0].contains("1 regression(s)"));
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
