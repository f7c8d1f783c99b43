//! Drift scenarios on one backend (the candidate): the reference backend the scenario names
//! is connected beside it, both score the same shared texts, and each position's
//! distributions are compared (`measure::drift`). Holding both at once keeps full-vocabulary
//! distributions in memory for one sequence only, never on disk; the two never run at the
//! same time (one request after the other). When the run reaches the reference itself as a
//! backend, there is nothing to compare and it is skipped.
//!
//! Cases: `forced_{length}` (teacher-forced; `forced.rs`) and `free` (greedy continuations).
//! Rows: summary.csv (per case and metric) and drift.csv (per position or prompt), both
//! written at the end of a case, so a case cut short leaves no rows and runs again on resume.

mod comparable;
mod forced;
mod texts;

use futures_util::future::LocalBoxFuture;

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use crate::backend::scoring::TokenId;
use crate::backend::{Backend, Config, RequestError};
use crate::error::{Error, Result};
use crate::measure::drift::first_divergence;
use crate::measure::proportion::wilson;
use crate::measure::summarize;
use crate::results::SummaryRow;
use crate::results::drift::DriftRow;
use crate::results::summary::{row, share_row};
use crate::scenario::drift::Drift;
use crate::scenario::{Case, Scenario, ScenarioBody};

/// Refuses a run whose drift scenario names a reference the config does not have, at the
/// scenario's `reference` key (before anything starts).
pub(super) fn check_references(scenarios: &[Scenario], config: &Config) -> Result<()> {
    for s in scenarios {
        let ScenarioBody::Drift(d) = &s.body else {
            continue;
        };
        let name = d.reference.get_ref();
        match config.backends.get(name) {
            Some(bc) => bc.check_inputs()?,
            None => {
                let text = crate::source::read(&s.path)?;
                let known: Vec<&str> = config.backends.keys().map(String::as_str).collect();
                return Err(crate::source::error_at(
                    &s.path,
                    &text,
                    Some(d.reference.span()),
                    format!(
                        "reference backend `{name}` is not in {}; expected one of: {}",
                        config.path.display(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The kind runner (see `runner::KindRunner`): the whole scenario is one unit, so the
/// reference is connected once per candidate.
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let ScenarioBody::Drift(d) = &s.scenario.body else {
            return Err(Error::Usage(format!(
                "internal: a {} scenario reached the drift runner",
                s.scenario.kind()
            )));
        };
        run_scenario(s, d, cases).await
    })
}

/// The candidate and its reference, connected, and what was found about comparing them.
pub(super) struct Pair<'a, 'b> {
    s: &'a ScenarioRun<'b>,
    d: &'a Drift,
    reference: Backend,
    /// The vocabulary sizes the facts tell (reference, candidate), where they do.
    facts_vocab: (Option<u64>, Option<u64>),
    verdict: comparable::Verdict,
}

async fn run_scenario(s: &ScenarioRun<'_>, d: &Drift, cases: &[Case]) -> Result<Vec<CaseOutcome>> {
    let name = d.reference.get_ref();
    if s.backend.name() == name {
        s.ctx.progress.note(&format!(
            "{}: {name} is the drift reference; it is scored beside each candidate",
            s.scenario.name
        ));
        return Ok(Vec::new());
    }
    let mut outcomes = Vec::new();
    let mut pending = Vec::new();
    for case in cases {
        match s.ctx.resume.finished(&s.key(&case.id)) {
            Some(done) => outcomes.push(done),
            None => pending.push(case),
        }
    }
    if pending.is_empty() {
        return Ok(outcomes);
    }
    let bc =
        s.ctx.config.backends.get(name).ok_or_else(|| {
            Error::Usage(format!("reference backend `{name}` is not in the config"))
        })?;
    let mut reference = Backend::connect(bc, s.ctx.rec.dir()).await?;
    let ref_facts = reference.probe().await?;
    let verdict = comparable::check(&ref_facts, s.facts);
    let pair = Pair {
        s,
        d,
        reference,
        facts_vocab: (
            comparable::n_vocab(&ref_facts),
            comparable::n_vocab(s.facts),
        ),
        verdict,
    };
    let mut warnings: Vec<String> = pair
        .verdict
        .warnings
        .iter()
        .chain(&pair.verdict.not_comparable)
        .map(|w| format!("{}: {w}", s.scenario.name))
        .collect();
    for case in pending {
        let mut out = if case.id == "free" {
            pair.free(case).await?
        } else {
            pair.forced(case).await?
        };
        warnings.append(&mut out.warnings);
        outcomes.push(out);
    }
    if let Some(first) = outcomes.first_mut() {
        first.warnings.extend(warnings);
    }
    Ok(outcomes)
}

/// One shared text tokenized on both sides and cut to `len` tokens; `Err` with the first
/// index where the token ids differ (different vocabularies), or a request error.
pub(super) enum Tokens {
    Same(Vec<TokenId>),
    Differ(usize),
}

impl Pair<'_, '_> {
    fn ref_name(&self) -> &str {
        self.d.reference.get_ref()
    }

    async fn tokens(&self, text: &str, len: u32) -> std::result::Result<Tokens, RequestError> {
        let mut r = self.reference.tokenize(text).await?;
        let mut c = self.s.backend.tokenize(text).await?;
        r.truncate(len as usize);
        c.truncate(len as usize);
        Ok(match comparable::token_mismatch(&r, &c) {
            None => Tokens::Same(r),
            Some(i) => Tokens::Differ(i),
        })
    }

    /// The base of a case's summary rows: the reference named in `flags`, and
    /// `not_comparable` where the facts say so.
    fn summary_base(&self, case: &Case, extra: &[String]) -> SummaryRow {
        let mut flags = vec![format!("reference={}", self.ref_name())];
        if !self.verdict.not_comparable.is_empty() {
            flags.push("not_comparable".into());
        }
        flags.extend(extra.iter().cloned());
        SummaryRow {
            flags: flags.join(";"),
            ..self.s.summary_base(case)
        }
    }

    fn drift_row(&self, case: &Case, sequence: u32, kind: &str) -> DriftRow {
        DriftRow {
            run_id: self.s.ctx.run_id.clone(),
            scenario: self.s.scenario.name.clone(),
            case_id: case.id.clone(),
            backend: self.s.backend.name().to_string(),
            reference: self.ref_name().to_string(),
            sequence,
            text_kind: kind.to_string(),
            ..Default::default()
        }
    }

    /// The warning for texts the two sides tokenize differently.
    fn mismatch_warning(&self, case: &Case, mismatches: &[(u32, usize)]) -> Option<String> {
        let (seq, at) = mismatches.first()?;
        Some(format!(
            "{}: case {} on {}: the reference {} tokenizes the shared text differently ({} of the texts; the first differs at token {at} of text {seq}): not the same vocabulary, so the two are not comparable and no drift is reported",
            self.s.scenario.name,
            case.id,
            self.s.backend.name(),
            self.ref_name(),
            mismatches.len()
        ))
    }

    /// Free-running: greedy continuations of `prompts` prompts on both sides.
    async fn free(&self, case: &Case) -> Result<CaseOutcome> {
        let d = self.d;
        let mut drift_rows = Vec::new();
        let mut diverged = Vec::new();
        let mut identical = 0usize;
        let (mut failed, mut mismatches, mut errors) = (0usize, Vec::new(), Vec::new());
        for j in 0..d.prompts {
            let kind = d.mix[j as usize % d.mix.len()];
            let text = texts::text(kind, d.seed ^ 0xF4EE, j, d.prompt_tokens as usize * 8);
            let one = async {
                let tokens = match self.tokens(&text, d.prompt_tokens).await? {
                    Tokens::Same(t) => t,
                    Tokens::Differ(i) => return Ok(Err(i)),
                };
                let a = self
                    .reference
                    .greedy_tokens(&tokens, d.continuation_tokens)
                    .await?;
                let b = self
                    .s
                    .backend
                    .greedy_tokens(&tokens, d.continuation_tokens)
                    .await?;
                Ok::<_, RequestError>(Ok((a, b)))
            };
            let (a, b) = match one.await {
                Ok(Ok(x)) => x,
                Ok(Err(i)) => {
                    mismatches.push((j, i));
                    continue;
                }
                Err(e) => {
                    failed += 1;
                    errors.push(e.message);
                    continue;
                }
            };
            self.s
                .ctx
                .progress
                .request_done(&self.s.label(&case.id), None);
            let at = first_divergence(&a.tokens, a.ended, &b.tokens, b.ended);
            match at {
                None => identical += 1,
                Some(i) => diverged.push(i as f64),
            }
            drift_rows.push(DriftRow {
                identical: Some(at.is_none()),
                first_divergence: at.map(|i| i as u32),
                ..self.drift_row(case, j, kind.as_str())
            });
        }
        let mut warnings: Vec<String> = self
            .mismatch_warning(case, &mismatches)
            .into_iter()
            .collect();
        let mut extra = Vec::new();
        if !mismatches.is_empty() {
            extra.push("not_comparable".to_string());
        }
        let mut base = self.summary_base(case, &extra);
        base.errors = failed;
        let mut summary = Vec::new();
        if mismatches.is_empty()
            && let Some(p) = wilson(identical, identical + diverged.len())
        {
            summary.push(share_row(&base, "drift_same_continuation", &p));
            if let Some(st) = summarize(&diverged) {
                summary.push(row(&base, "drift_first_divergence", "tokens", &st));
            }
        }
        if summary.is_empty() && mismatches.is_empty() && failed > 0 {
            summary.push(crate::results::summary::failed_case_row(&base));
        } else if summary.is_empty() {
            summary.push(row_value(&base, "drift_comparable", "bool", 0, 0.0));
        }
        if let Some(e) = errors.first() {
            warnings.push(format!(
                "{}: case {} on {}: {failed} prompt(s) failed: {e}",
                self.s.scenario.name,
                case.id,
                self.s.backend.name()
            ));
        }
        self.s.ctx.rec.drift(&drift_rows)?;
        self.s.ctx.rec.summary(&summary)?;
        Ok(CaseOutcome {
            total: d.prompts as usize,
            failed,
            summary,
            warnings,
        })
    }
}

/// A row of one value (with its interval equal to it).
pub(super) fn row_value(
    base: &SummaryRow,
    metric: &str,
    unit: &str,
    n: usize,
    v: f64,
) -> SummaryRow {
    SummaryRow {
        metric: metric.into(),
        unit: unit.into(),
        n,
        mean: v,
        stddev: 0.0,
        min: v,
        p50: v,
        p90: v,
        p99: v,
        max: v,
        ci_low: v,
        ci_high: v,
        ..base.clone()
    }
}
