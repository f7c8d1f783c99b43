//! llama-batched-bench's grid (`mode = "batched"`) on one backend: in process on llamacpp only.
//!
//! Each case is one cell (npp, ntg, npl); the engine runs it `repetitions` times as
//! llama-batched-bench does (see `backend/llamacpp/batched.rs`) and reports T_PP and T_TG per
//! repetition. A repetition is one sample row, with llama-batched-bench's columns:
//!
//! | llama-batched-bench | samples.csv |
//! |---|---|
//! | PP, TG, B | `prompt_tokens_requested`, `max_tokens`, `concurrency` |
//! | N_KV | `n_kv` |
//! | T_PP, S_PP | `ttft_ms`, `prefill_tok_s` = `prompt_tokens` / T_PP |
//! | T_TG, S_TG | `tg_ms`, `decode_tok_s` = `output_tokens` / T_TG |
//! | T, S | `e2e_ms` (and `test_ns`), `test_tok_s` = (`prompt_tokens` + `output_tokens`) / T |
//!
//! `prompt_tokens` is what the timed prompt phase decoded (B·PP, or PP with a shared prompt),
//! `output_tokens` what the decode steps generated (B·TG): the numerators of S_PP and S_TG.

use futures_util::future::LocalBoxFuture;

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use crate::backend::bench::{Batched, BenchSample, BenchTest};
use crate::backend::{BackendConfig, BackendKind, ErrorCategory, InProcess};
use crate::error::{Error, Result};
use crate::results::SampleRow;
use crate::results::summary::batched_summary;
use crate::scenario::{BatchedCell, Case, Scenario, ScenarioBody};

/// The kind runner (see `runner::KindRunner`): each case given, in turn.
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let mut out = Vec::with_capacity(cases.len());
        for case in cases {
            out.push(run_case(s, case).await?);
        }
        Ok(out)
    })
}

/// Refuses, before anything runs, a batched scenario on a backend that is not llamacpp,
/// pointing at its `mode` line.
pub(super) fn check_backends(scenarios: &[Scenario], backends: &[BackendConfig]) -> Result<()> {
    for s in scenarios {
        let ScenarioBody::Throughput(t) = &s.body else {
            continue;
        };
        let Some(b) = &t.batched else { continue };
        if let Some(bc) = backends
            .iter()
            .find(|bc| !matches!(bc.kind, BackendKind::LlamaCpp(_)))
        {
            return Err(Error::Input {
                path: s.path.clone(),
                line: b.mode_at.0,
                col: b.mode_at.1,
                message: format!(
                    "mode batched runs llama-batched-bench's loop in process, on a `llamacpp` backend only; backend `{}` is `{}`",
                    bc.name,
                    bc.kind.name()
                ),
            });
        }
    }
    Ok(())
}

async fn run_case(s: &ScenarioRun<'_>, case: &Case) -> Result<CaseOutcome> {
    let Some(cell) = case.batched else {
        return Ok(CaseOutcome {
            total: 0,
            failed: 0,
            summary: Vec::new(),
            warnings: Vec::new(),
        });
    };
    let (ctx, backend) = (s.ctx, s.backend);
    // --resume: a cell with summary rows is done; one with some rows runs only the rest.
    let key = s.key(&case.id);
    if let Some(done) = ctx.resume.finished(&key) {
        return Ok(done);
    }
    let done_rows = ctx.resume.take_rows(&key);
    if !done_rows.is_empty() {
        ctx.resumed_cases.borrow_mut().insert(key.clone());
    }
    let first = done_rows.len() as u32;
    let missing = case.repetitions.saturating_sub(first);
    let label = s.label(&case.id);
    let base = SampleRow {
        test: Some(cell.name()),
        n_kv: Some(cell.n_kv()),
        prompt_tokens: Some(cell.prompt_tokens()),
        output_tokens: Some(cell.output_tokens()),
        ..s.sample_base(case)
    };
    let test = BenchTest {
        n_prompt: cell.npp,
        n_gen: cell.ntg,
        n_depth: 0,
        repetitions: missing,
        warmup: case.warmup > 0,
        seed: case.seed,
        batched: Some(Batched {
            n_parallel: cell.npl,
            shared_prompt: cell.shared_prompt,
            n_seq_max: cell.n_seq_max,
            n_ctx: cell.n_ctx,
        }),
    };
    let started_at = crate::results::manifest::now_rfc3339();
    let result = match backend.in_process() {
        _ if missing == 0 => Ok(Vec::new()),
        Some(engine @ InProcess::LlamaCpp(_)) => engine.bench(test).await.map_err(|e| e.message),
        _ => Err(format!(
            "mode batched runs in process on a llamacpp backend only; `{}` is not one",
            backend.name()
        )),
    };
    let rows: Vec<SampleRow> = match result {
        Ok(samples) => samples
            .iter()
            .enumerate()
            .map(|(i, smp)| row(&base, &cell, first + i as u32, &started_at, smp))
            .collect(),
        Err(e) => (first..case.repetitions)
            .map(|i| {
                let mut row = SampleRow {
                    repetition: i,
                    started_at: started_at.clone(),
                    ..base.clone()
                };
                row.mark_failed(ErrorCategory::Engine.as_str(), e.clone());
                row
            })
            .collect(),
    };
    let mut failed = 0;
    for row in &rows {
        ctx.rec.sample(row)?;
        ctx.progress.request_done(&label, row.test_tok_s);
        failed += usize::from(row.error_category.is_some());
    }
    let all: Vec<SampleRow> = done_rows.into_iter().chain(rows.iter().cloned()).collect();
    let (summary, warnings) = batched_summary(&s.summary_base(case), &all);
    ctx.rec.summary(&summary)?;
    if !ctx.quiet {
        let get = |m: &str| summary.iter().find(|r| r.metric == m).map(|r| r.p50);
        let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        ctx.progress.note(&format!(
            "{} {}: S_PP {} t/s, S_TG {} t/s, S {} t/s (medians), {}/{} ok",
            backend.name(),
            cell.name(),
            fmt(get("prefill_tok_s")),
            fmt(get("decode_tok_s")),
            fmt(get("test_tok_s")),
            rows.len() - failed,
            rows.len()
        ));
    }
    let failed = all.iter().filter(|r| r.error_category.is_some()).count();
    Ok(CaseOutcome {
        total: all.len(),
        failed,
        summary,
        warnings,
    })
}

/// One repetition as a sample row (see the module comment for the columns).
fn row(
    base: &SampleRow,
    cell: &BatchedCell,
    rep: u32,
    started_at: &str,
    s: &BenchSample,
) -> SampleRow {
    let pp_ns = s.pp_ns.unwrap_or(0).min(s.ns);
    let tg_ns = s.ns - pp_ns;
    let (pp, out) = (cell.prompt_tokens() as f64, cell.output_tokens() as f64);
    let per_s = |n: f64, ns: u64| (ns > 0).then(|| n * 1e9 / ns as f64);
    let tg_ms = tg_ns as f64 / 1e6;
    SampleRow {
        repetition: rep,
        started_at: started_at.to_string(),
        ttft_ms: Some(pp_ns as f64 / 1e6),
        tg_ms: Some(tg_ms),
        e2e_ms: Some(s.ns as f64 / 1e6),
        prefill_tok_s: per_s(pp, pp_ns),
        decode_tok_s: per_s(out, tg_ns),
        tpot_ms: (cell.ntg > 0).then(|| tg_ms / cell.ntg as f64),
        test_ns: Some(s.ns),
        test_tok_s: per_s(pp + out, s.ns),
        ..base.clone()
    }
}
