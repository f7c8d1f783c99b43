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
//!
//! Shares of items (`--metric accuracy`, `accuracy:<category>`, `compliance`, from
//! items.csv) are judged by their difference in percentage points instead of a ratio: the
//! Newcombe 95% interval of candidate − baseline against ±t ([`difference_verdict`]).
//!
//! Files: [`verdict`] judges one interval, [`pair`] pairs the cases of the two sides and
//! makes the rows; this file holds what a comparison is and says.

mod pair;
#[cfg(test)]
mod tests;
pub mod verdict;

use std::path::PathBuf;

pub use pair::compare_datasets;
pub use verdict::{DiffCi, Verdict, difference_verdict, parse_threshold, verdict};

use super::choice;
use super::load::{self, Dataset};
use super::metric::Direction;
use crate::error::{Error, Result};
use crate::measure::ratio::{MedianCi, RatioCi};

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

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// `backend` (or `baseline backend → candidate backend` when they are named differently).
    pub backend: String,
    pub scenario: String,
    pub case_id: String,
    pub metric: String,
    pub unit: &'static str,
    pub direction: Direction,
    /// Median [CI] of the requests; for a share of items, the share [Wilson CI] and n items.
    pub baseline: MedianCi,
    pub candidate: MedianCi,
    /// Candidate ÷ baseline; NaN for a share of items, which is judged by `difference`.
    pub ratio: RatioCi,
    /// Shares of items: candidate − baseline with its Newcombe interval.
    pub difference: Option<DiffCi>,
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
    let metrics = choice::parse_list(&opts.metrics)?;
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
