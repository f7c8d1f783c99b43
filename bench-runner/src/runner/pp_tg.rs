//! llama-bench's tests (`mode = "pp_tg"`) on one backend.
//!
//! In process (`llamacpp`, `onnx`), the engine runs the test exactly as llama-bench does (random tokens, prompt
//! batches or single-token decodes, timed as a whole, after a warm-up run) and reports one
//! time per repetition; t/s = (pp + tg) · 10⁹ / ns.
//!
//! Over HTTP the same test becomes requests, so a served model can be set beside the engine:
//! - pp P: a prompt of exactly P tokens and `max_tokens = 1`; the test time is the TTFT, and
//!   t/s is the tokens the server processed (its `prompt_n`, else P) per second of TTFT;
//! - tg G: a minimal prompt (16 tokens asked; in practice the shortest the salt and the chat
//!   template allow) and G generated tokens (ignore_eos); the test time is
//!   E2E − TTFT, the G − 1 decode steps after the first token, and t/s is the decode rate;
//! - depth D: before each measured request a request of D tokens fills the server's prefix
//!   cache, and the measured prompt extends it (same salt and filler), with caching allowed,
//!   so only the new tokens are processed. The server's `cache_n` shows what it reused.

use futures_util::future::LocalBoxFuture;

use super::ctx::{RunCtx, ScenarioRun};
use super::outcome::CaseOutcome;
use super::request::{Prepared, hash_index, prepare, to_measured};
use super::summary::pp_tg_summary;
use crate::backend::bench::{BenchSample, BenchTest, timings};
use crate::backend::{Backend, Request};
use crate::error::Result;
use crate::results::SampleRow;
use crate::scenario::{Case, PpTgTest};
use crate::workload::prompt;

/// The prompt length a tg test asks for over HTTP; the salt and the template make it longer.
const TG_PROMPT_TOKENS: u32 = 16;

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

async fn run_case(s: &ScenarioRun<'_>, case: &Case) -> Result<CaseOutcome> {
    let Some(test) = case.pp_tg else {
        return Ok(CaseOutcome {
            total: 0,
            failed: 0,
            summary: Vec::new(),
            warnings: Vec::new(),
        });
    };
    let (ctx, backend) = (s.ctx, s.backend);
    let label = s.label(&case.id);
    let base = SampleRow {
        depth: Some(test.n_depth),
        test: Some(test.name()),
        ..s.sample_base(case)
    };
    let rows = match backend.in_process() {
        Some(engine) => {
            let bt = BenchTest {
                n_prompt: test.n_prompt,
                n_gen: test.n_gen,
                n_depth: test.n_depth,
                repetitions: case.repetitions,
                warmup: case.warmup > 0,
                seed: case.seed,
                batched: None,
            };
            let started_at = crate::results::manifest::now_rfc3339();
            match engine.bench(bt).await {
                Ok(samples) => samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| in_process_row(&base, test, i as u32, &started_at, s))
                    .collect(),
                Err(e) => (0..case.repetitions)
                    .map(|i| {
                        let mut row = SampleRow {
                            repetition: i,
                            started_at: started_at.clone(),
                            ..base.clone()
                        };
                        row.mark_failed(e.category.as_str(), e.message.clone());
                        row
                    })
                    .collect(),
            }
        }
        None => over_http(ctx, backend, &base, case, test, &label).await,
    };
    let mut failed = 0;
    for row in &rows {
        ctx.rec.sample(row)?;
        ctx.progress.request_done(&label, row.test_tok_s);
        failed += usize::from(row.error_category.is_some());
    }
    let summary_base = crate::results::SummaryRow {
        depth: Some(test.n_depth),
        ..s.summary_base(case)
    };
    let (summary, warnings) = pp_tg_summary(&summary_base, &rows);
    ctx.rec.summary(&summary)?;
    if !ctx.quiet {
        let ts = summary.iter().find(|r| r.metric == "test_tok_s");
        ctx.progress.note(&format!(
            "{} {}: {} t/s, {}/{} ok",
            backend.name(),
            test.name(),
            ts.map_or_else(
                || "-".into(),
                |r| format!("{:.2} ± {:.2}", r.mean, r.stddev)
            ),
            rows.len() - failed,
            rows.len()
        ));
    }
    Ok(CaseOutcome {
        total: rows.len(),
        failed,
        summary,
        warnings,
    })
}

fn in_process_row(
    base: &SampleRow,
    test: PpTgTest,
    rep: u32,
    started_at: &str,
    s: &BenchSample,
) -> SampleRow {
    let n_tokens = (test.n_prompt + test.n_gen) as f64;
    // Exactly llama-bench's arithmetic: 1e9 * n_tokens / t.
    let ts = 1e9 * n_tokens / s.ns as f64;
    let ms = s.ns as f64 / 1e6;
    // llama.cpp reports at least one prompt and one generated token; keep only the test's own.
    let mut perf = s.perf;
    if test.n_prompt == 0 {
        (perf.prompt_n, perf.prompt_ms) = (0, 0.0);
    }
    if test.n_gen == 0 {
        (perf.eval_n, perf.eval_ms) = (0, 0.0);
    }
    let t = timings(&perf);
    SampleRow {
        repetition: rep,
        started_at: started_at.to_string(),
        prompt_tokens: Some(test.n_prompt as u64),
        output_tokens: Some(test.n_gen as u64),
        e2e_ms: Some(ms),
        prefill_tok_s: (test.n_prompt > 0 && test.n_gen == 0).then_some(ts),
        decode_tok_s: (test.n_gen > 0 && test.n_prompt == 0).then_some(ts),
        tpot_ms: (test.n_gen > 0 && test.n_prompt == 0).then(|| ms / test.n_gen as f64),
        server_prompt_n: t.prompt_n,
        server_prompt_ms: t.prompt_ms,
        server_prefill_tok_s: t.prompt_per_second,
        server_predicted_n: t.predicted_n,
        server_predicted_ms: t.predicted_ms,
        server_decode_tok_s: t.predicted_per_second,
        cached_tokens: Some(test.n_depth as u64),
        test_ns: Some(s.ns),
        test_tok_s: Some(ts),
        ..base.clone()
    }
}

/// The HTTP form of a test (see the module comment).
async fn over_http(
    ctx: &RunCtx,
    backend: &Backend,
    base: &SampleRow,
    case: &Case,
    test: PpTgTest,
    label: &str,
) -> Vec<SampleRow> {
    let is_pp = test.n_prompt > 0;
    let new_tokens = if is_pp {
        test.n_prompt
    } else {
        TG_PROMPT_TOKENS
    };
    let max_tokens = if is_pp { 1 } else { test.n_gen };
    let rounds = case.warmup.min(1) + case.repetitions;
    let mut rows = Vec::with_capacity((case.repetitions as usize).min(1024));
    let (mut guess_depth, mut guess_full) = (None, None);
    for round in 0..rounds {
        let measured = round >= case.warmup.min(1);
        let salt = prompt::salt(ctx.nonce, hash_index(label, round as usize));
        let started_at = crate::results::manifest::now_rfc3339();
        let mut row = SampleRow {
            repetition: round.saturating_sub(case.warmup.min(1)),
            started_at,
            ..base.clone()
        };
        // 1) The depth: a prompt of D tokens that leaves its prefix in the server's cache.
        if test.n_depth > 0 {
            match prepare(
                backend,
                test.n_depth,
                salt.clone(),
                case.seed,
                &mut guess_depth,
            )
            .await
            {
                Ok(p) => {
                    let r = backend.generate(&make_request(case, &p, 1, true)).await;
                    if let Some(e) = r.error {
                        row.mark_failed(
                            e.category.as_str(),
                            format!("filling depth: {}", e.message),
                        );
                    }
                }
                Err(e) => row.mark_failed(e.category.as_str(), e.message),
            }
        }
        // 2) The test request: the depth's prompt extended by the test's tokens.
        if row.error_category.is_none() {
            match prepare(
                backend,
                test.n_depth + new_tokens,
                salt,
                case.seed,
                &mut guess_full,
            )
            .await
            {
                Ok(p) => {
                    let resp = backend
                        .generate(&make_request(case, &p, max_tokens, test.n_depth > 0))
                        .await;
                    let m = to_measured(backend, &row, &p, &resp).await;
                    row = m.row;
                    if row.error_category.is_none() {
                        fill_http_test(&mut row, test);
                    }
                }
                Err(e) => row.mark_failed(e.category.as_str(), e.message),
            }
        }
        if measured {
            rows.push(row);
        }
    }
    rows
}

fn make_request(case: &Case, p: &Prepared, max_tokens: u32, allow_prefix_cache: bool) -> Request {
    Request {
        max_tokens,
        allow_prefix_cache,
        ..super::request::request(case, p)
    }
}

/// The test time and t/s of an HTTP request, as the module comment defines them.
fn fill_http_test(row: &mut SampleRow, test: PpTgTest) {
    if test.n_prompt > 0 {
        let processed = row.server_prompt_n.unwrap_or(test.n_prompt as u64);
        if let Some(ttft) = row.ttft_ms.filter(|t| *t > 0.0) {
            row.test_ns = Some((ttft * 1e6).round() as u64);
            row.test_tok_s = Some(processed as f64 * 1000.0 / ttft);
        }
    } else if let (Some(ttft), Some(e2e), Some(out)) = (row.ttft_ms, row.e2e_ms, row.output_tokens)
        && e2e > ttft
        && out >= 2
    {
        row.test_ns = Some(((e2e - ttft) * 1e6).round() as u64);
        row.test_tok_s = Some((out - 1) as f64 * 1000.0 / (e2e - ttft));
    }
}
