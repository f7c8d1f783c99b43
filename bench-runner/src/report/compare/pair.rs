//! Pairs the cases of the two sides and judges every chosen metric of every pair (pure: no
//! I/O). What fails the gate besides a verdict — lost cases, new failed requests, nothing
//! compared — is collected here as [`Problem`]s.

use super::verdict::{DiffCi, Verdict, difference_verdict, verdict};
use super::{Comparison, GateRules, MIN_SAMPLES, Problem, ProblemKind, Row};
use crate::measure::proportion::newcombe_difference;
use crate::measure::ratio::{MedianCi, RatioCi, median_ci, median_ratio_ci_runs};
use crate::report::choice::Chosen;
use crate::report::item_metric::ItemMetric;
use crate::report::key::CompKey;
use crate::report::load::{Cell, Dataset};
use crate::report::metric::{Direction, Metric};

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

/// What the pairing collects besides the rows.
#[derive(Default)]
struct Findings {
    warnings: Vec<String>,
    problems: Vec<Problem>,
}

/// Pairs the cases of the two sides and judges every metric (pure: no I/O).
pub fn compare_datasets(
    base: &[Dataset],
    cand: &[Dataset],
    metrics: &[Chosen],
    threshold: f64,
    rules: GateRules,
    base_name: &str,
    cand_name: &str,
) -> Comparison {
    let mut f = Findings::default();
    for ds in base.iter().chain(cand) {
        f.warnings.extend(ds.warnings.iter().cloned());
    }
    // With one backend in every run, cases pair by scenario and case alone, so a candidate
    // backend may be named differently (`llama-server` vs `llama-server-patched`).
    let single = base.iter().chain(cand).all(|d| d.series.len() == 1);
    let (bside, cside) = (side_of(base, single), side_of(cand, single));
    let mut rows = Vec::new();
    for (k, cidx) in &cside {
        let c = side(cand, cidx);
        let Some((_, bidx)) = bside.iter().find(|(bk, _)| bk == k) else {
            let (cds, cc) = c.first();
            f.warnings.push(format!(
                "{} / {} / {}: only in the candidate, not compared",
                cds.series[cc.series].id.backend, cc.case.scenario, cc.case.case_id
            ));
            continue;
        };
        let b = side(base, bidx);
        judge_case(&b, &c, metrics, threshold, rules, &mut f, &mut rows);
    }
    let shared = missing_cases(base, &bside, &cside, rules, &mut f);
    if rows.is_empty() {
        let message = if shared == 0 {
            "the baseline and the candidate share no case (scenario and case id): nothing was compared, the gate checks nothing"
        } else {
            "no metric was measured on both sides: nothing was compared, the gate checks nothing"
        };
        f.problems.push(Problem {
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
        problems: f.problems,
        warnings: f.warnings,
    }
}

fn side_of(runs: &[Dataset], single: bool) -> SideIndex {
    let mut out: SideIndex = Vec::new();
    for (ri, ds) in runs.iter().enumerate() {
        for (ci, c) in ds.cells.iter().enumerate() {
            let backend = if single {
                String::new()
            } else {
                ds.series[c.series].id.backend.clone()
            };
            let k = (backend, c.case.scenario.clone(), c.case.case_id.clone());
            match out.iter_mut().find(|(kk, _)| *kk == k) {
                Some((_, v)) => v.push((ri, ci)),
                None => out.push((k, vec![(ri, ci)])),
            }
        }
    }
    out
}

fn side<'a>(runs: &'a [Dataset], idx: &[(usize, usize)]) -> Side<'a> {
    Side {
        cells: idx
            .iter()
            .map(|&(r, i)| (&runs[r], &runs[r].cells[i]))
            .collect(),
    }
}

/// Baseline cases the candidate lacks become problems; returns how many cases are shared.
fn missing_cases(
    base: &[Dataset],
    bside: &SideIndex,
    cside: &SideIndex,
    rules: GateRules,
    f: &mut Findings,
) -> usize {
    let mut shared = 0;
    for (k, bidx) in bside {
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
        f.problems.push(Problem {
            message: format!("{case}: in the baseline but not in the candidate, not compared"),
            case,
            kind: ProblemKind::Missing,
            allowed: rules.allow_missing,
        });
    }
    shared
}

/// Everything said about one paired case: comparability, failed requests, one row per metric.
fn judge_case(
    b: &Side,
    c: &Side,
    metrics: &[Chosen],
    threshold: f64,
    rules: GateRules,
    f: &mut Findings,
    rows: &mut Vec<Row>,
) {
    let (bds, bc) = b.first();
    let (cds, cc) = c.first();
    let (bs, cs) = (&bds.series[bc.series], &cds.series[cc.series]);
    let backend = if bs.id.backend == cs.id.backend {
        cs.id.backend.clone()
    } else {
        format!("{} → {}", bs.id.backend, cs.id.backend)
    };
    let where_ = format!("{backend} / {} / {}", cc.case.scenario, cc.case.case_id);
    let key = |ds: &Dataset, cell: &Cell| {
        let s = &ds.series[cell.series];
        CompKey::of(
            ds.manifest_of(cell.series),
            &s.id.backend,
            &s.id.model,
            &cell.case.scenario,
        )
    };
    let kb = key(bds, bc);
    for (ds, cell) in b.cells.iter().skip(1).chain(c.cells.iter()) {
        for d in kb.differences(&key(ds, cell)) {
            let w = format!("{where_}: not like for like: {d}");
            if !f.warnings.contains(&w) {
                f.warnings.push(w);
            }
        }
    }
    failed_requests(b, c, &where_, rules, f);
    for m in metrics {
        let row = match m {
            Chosen::Request(m) => request_row(b, c, m, threshold, &where_, f),
            Chosen::Items(m) => item_row(b, c, m, threshold),
        };
        if let Some(j) = row {
            rows.push(Row {
                backend: backend.clone(),
                scenario: cc.case.scenario.clone(),
                case_id: cc.case.case_id.clone(),
                metric: j.metric,
                unit: j.unit,
                direction: j.direction,
                baseline: j.baseline,
                candidate: j.candidate,
                ratio: j.ratio,
                difference: j.difference,
                verdict: j.verdict,
            });
        }
    }
}

fn failed_requests(b: &Side, c: &Side, where_: &str, rules: GateRules, f: &mut Findings) {
    let (bf, bt) = (b.failed(), b.total());
    let (cf, ct) = (c.failed(), c.total());
    if bf > 0 {
        f.warnings.push(format!(
            "{where_}: {bf} of {bt} baseline requests failed and are left out"
        ));
    }
    // More failures than the baseline's share: what breaking the server looks like. The
    // shares are compared (cross-multiplied) because the sides may hold different numbers
    // of requests (several runs, a shorter repetition count).
    if cf * bt > bf * ct {
        f.problems.push(Problem {
            case: where_.to_string(),
            kind: ProblemKind::NewErrors,
            message: format!(
                "{where_}: {cf} of {ct} candidate requests failed, against {bf} of {bt} in the baseline (error_category in the candidate's samples.csv says why)"
            ),
            allowed: rules.allow_errors,
        });
    } else if cf > 0 {
        f.warnings.push(format!(
            "{where_}: {cf} of {ct} candidate requests failed and are left out (the baseline had {bf} of {bt})"
        ));
    }
}

/// The parts of a row that depend on the metric.
struct Judged {
    metric: String,
    unit: &'static str,
    direction: Direction,
    baseline: MedianCi,
    candidate: MedianCi,
    ratio: RatioCi,
    difference: Option<DiffCi>,
    verdict: Verdict,
}

const UNJUDGED: MedianCi = MedianCi {
    n: 0,
    median: f64::NAN,
    low: f64::NAN,
    high: f64::NAN,
};

const NO_RATIO: RatioCi = RatioCi {
    ratio: f64::NAN,
    low: f64::NAN,
    high: f64::NAN,
};

/// A per-request metric: the ratio of medians with its (hierarchical) bootstrap CI.
fn request_row(
    b: &Side,
    c: &Side,
    m: &'static Metric,
    threshold: f64,
    where_: &str,
    f: &mut Findings,
) -> Option<Judged> {
    let (vb, vc) = (b.values(m.slot), c.values(m.slot));
    let (pb, pc): (Vec<f64>, Vec<f64>) = (vb.concat(), vc.concat());
    if pb.is_empty() && pc.is_empty() && b.succeeded() > 0 && c.succeeded() > 0 {
        return None; // not measured by this backend (e.g. no server timings)
    }
    let mb = median_ci(&pb).unwrap_or(UNJUDGED);
    let mc = median_ci(&pc).unwrap_or(UNJUDGED);
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
        f.warnings.push(format!(
            "{where_} / {}: baseline median is zero, no ratio",
            m.name
        ));
        return None;
    };
    Some(Judged {
        metric: m.name.to_string(),
        unit: m.unit,
        direction: m.direction,
        baseline: mb,
        candidate: mc,
        ratio: ratio.unwrap_or(NO_RATIO),
        difference: None,
        verdict: v,
    })
}

/// A share of items: the difference in points with its Newcombe interval. Fewer than
/// [`MIN_SAMPLES`] items on a side is *too few samples*, as for requests.
fn item_row(b: &Side, c: &Side, m: &ItemMetric, threshold: f64) -> Option<Judged> {
    let sb = m.share(b.cells.iter().map(|(_, c)| *c));
    let sc = m.share(c.cells.iter().map(|(_, c)| *c));
    if sb.is_none() && sc.is_none() {
        return None; // no item of this kind or category in the case
    }
    let ci = |s: Option<crate::report::item_metric::Share>| {
        s.map_or(UNJUDGED, |s| MedianCi {
            n: s.n,
            median: s.p,
            low: s.low,
            high: s.high,
        })
    };
    let (mb, mc) = (ci(sb), ci(sc));
    let (difference, v) = match (sb, sc) {
        (Some(x), Some(y)) if x.n >= MIN_SAMPLES && y.n >= MIN_SAMPLES => {
            let (diff, low, high) = newcombe_difference(x.p, x.n as f64, y.p, y.n as f64);
            let d = DiffCi { diff, low, high };
            (Some(d), difference_verdict(&d, threshold))
        }
        _ => (None, Verdict::TooFewSamples),
    };
    Some(Judged {
        metric: m.name.clone(),
        unit: "ratio",
        direction: Direction::HigherIsBetter,
        baseline: mb,
        candidate: mc,
        ratio: NO_RATIO,
        difference,
        verdict: v,
    })
}
