//! A context scenario on one backend: for each length (ascending), needle spec, depth and
//! repetition, one request with an exact-length haystack; speed from the usual clocks,
//! recall from RULER's string_match_all. Summaries per length, then the effective context
//! length over all lengths.

use super::RunCtx;
use super::request::{CaseOutcome, Prepared, Window, hash_index, to_measured};
use super::summary::{Measured, summarize_case};
use crate::backend::{Backend, BackendFacts, Prompt, Request};
use crate::error::{Error, Result};
use crate::measure::stats::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_mean_ci};
use crate::results::{SampleRow, SummaryRow};
use crate::scenario::context::Context;
use crate::scenario::{Case, Scenario};
use crate::score::recall::{effective_length, string_match_all};
use crate::workload::haystack::{self, SentenceTokens};
use crate::workload::prompt;

/// Token counts of the filler sentences, measured with the backend's tokenizer.
async fn sentence_weights(backend: &Backend) -> SentenceTokens {
    let mut w: SentenceTokens = [5, 5, 5, 4, 5];
    for (i, s) in haystack::filler_sentences().iter().enumerate() {
        if let Some(n) = backend.count_text_tokens(&format!(" {s}")).await {
            w[i] = n.max(1);
        }
    }
    w
}

pub(crate) async fn run_context(
    ctx: &RunCtx,
    backend: &Backend,
    facts: &BackendFacts,
    device: &str,
    scenario: &Scenario,
    c: &Context,
) -> Result<CaseOutcome> {
    let lengths = c
        .lengths
        .resolve(facts.n_ctx)
        .map_err(|m| Error::Usage(format!("{}: {m}", scenario.path.display())))?;
    let per_length = c.needles.len() * c.depths.len() * c.repetitions as usize;
    ctx.progress.add_total((lengths.len() * per_length) as u64);
    let mut warnings = Vec::new();
    if let Some(max) = facts.n_ctx {
        if let Some(l) = lengths.iter().find(|&&l| l as u64 > max) {
            warnings.push(format!("{} / {}: length {l} exceeds the backend's context of {max} tokens; those requests will fail", facts.name, scenario.name));
        }
    }
    let weights = sentence_weights(backend).await;
    let endpoint = backend.endpoint();
    let label = format!("{} {}", backend.name(), scenario.name);

    let make = async |length: u32,
                      spec_i: usize,
                      depth: u32,
                      i: usize|
           -> std::result::Result<
        (Prepared, haystack::Plan, haystack::Haystack),
        crate::backend::RequestError,
    > {
        let salt = prompt::salt(ctx.nonce, hash_index(&format!("{label} {length}"), i));
        let seed = c.seed
            ^ (length as u64).rotate_left(20)
            ^ (depth as u64).rotate_left(40)
            ^ ((spec_i as u64) << 8)
            ^ i as u64;
        let plan = haystack::plan(&c.needles[spec_i], depth, seed, salt);
        let target = length - c.max_tokens;
        let h = haystack::exact(&plan, target, &weights, async |text: &str| {
            backend
                .count_prompt_tokens(&Prompt::user(endpoint, text.to_string()))
                .await
        })
        .await?;
        Ok((
            Prepared {
                prompt: Prompt::user(endpoint, h.text.clone()),
                tokens: h.tokens,
            },
            plan,
            h,
        ))
    };
    let request = |p: &Prepared| Request {
        prompt: p.prompt.clone(),
        max_tokens: c.max_tokens,
        temperature: c.sampling.temperature,
        top_p: c.sampling.top_p,
        seed: Some(c.seed),
        ignore_eos: c.sampling.ignore_eos,
        allow_prefix_cache: false,
        tools: Default::default(),
    };

    // Warm-up at the shortest length: the first requests after a model load are slower.
    let shortest = *lengths.iter().min().unwrap_or(&1024);
    for w in 0..c.warmup as usize {
        if let Ok((p, _, _)) = make(shortest, 0, 50, usize::MAX - w).await {
            backend.generate(&request(&p)).await;
        }
    }

    let mut summary = Vec::new();
    let mut total = 0;
    let mut failed = 0;
    let mut recall_by_length = Vec::new();
    for &length in &lengths {
        let case = Case {
            id: format!("ctx{length}"),
            scenario: scenario.name.clone(),
            prompt_tokens: length - c.max_tokens,
            max_tokens: c.max_tokens,
            concurrency: 1,
            warmup: c.warmup,
            repetitions: per_length as u32,
            seed: c.seed,
            sampling: c.sampling.clone(),
            duration_s: None,
            pp_tg: None,
        };
        let base = SampleRow {
            run_id: ctx.run_id.clone(),
            backend: backend.name().to_string(),
            model: facts.model.clone().unwrap_or_default(),
            device: device.to_string(),
            scenario: scenario.name.clone(),
            case_id: case.id.clone(),
            kind: scenario.kind().to_string(),
            concurrency: 1,
            prompt_tokens_requested: case.prompt_tokens,
            max_tokens: c.max_tokens,
            ..Default::default()
        };
        let key = (
            backend.name().to_string(),
            scenario.name.clone(),
            case.id.clone(),
        );
        if let Some(done) = ctx.resume.finished(&key) {
            if let Some(r) = done.summary.iter().find(|r| r.metric == "recall") {
                recall_by_length.push((length, r.mean));
            }
            total += done.total;
            failed += done.failed;
            summary.extend(done.summary);
            continue;
        }
        let done_rows = ctx.resume.take_rows(&key);
        if !done_rows.is_empty() {
            ctx.resumed_cases.borrow_mut().insert(key.clone());
        }
        let done_reps: std::collections::HashSet<u32> =
            done_rows.iter().map(|r| r.repetition).collect();
        let mut measured: Vec<Measured> = done_rows.into_iter().map(Measured::from_row).collect();
        // Haystacks are built between requests: only time with a request out counts.
        let window = Window::default();
        let mut i = 0;
        for (spec_i, spec) in c.needles.iter().enumerate() {
            for &depth in &c.depths {
                for _ in 0..c.repetitions {
                    if done_reps.contains(&(i as u32)) {
                        i += 1;
                        continue;
                    }
                    let started_at = crate::results::manifest::now_rfc3339();
                    let mut m = match make(length, spec_i, depth, i).await {
                        Ok((p, plan, h)) => {
                            let resp = backend.generate(&request(&p)).await;
                            window.add(resp.sent_at, std::time::Instant::now());
                            let mut m = to_measured(backend, &base, &p, &resp).await;
                            m.row.depth_pct = h
                                .needles
                                .iter()
                                .find(|n| {
                                    n.key == plan.key && Some(&n.value) == plan.expected.first()
                                })
                                .map(|n| (n.depth_pct * 100.0).round() / 100.0);
                            if m.row.error_category.is_none() {
                                m.row.recall = Some(string_match_all(&resp.text, &h.expected));
                                m.row.output_head = Some(resp.text.chars().take(200).collect());
                            }
                            m
                        }
                        Err(e) => {
                            let mut row = base.clone();
                            row.error_category = Some(e.category.as_str().into());
                            row.error_message = Some(e.message);
                            Measured {
                                row,
                                itl: Vec::new(),
                                burst_fraction: None,
                            }
                        }
                    };
                    m.row.needle = Some(spec.label());
                    m.row.repetition = i as u32;
                    m.row.started_at = started_at;
                    ctx.samples.borrow_mut().append(&m.row)?;
                    ctx.progress.request_done(
                        &format!("{} {}", backend.name(), case.id),
                        m.row.decode_tok_s,
                    );
                    measured.push(m);
                    i += 1;
                }
            }
        }
        let (mut rows, w) = summarize_case(
            ctx,
            facts,
            device,
            scenario,
            &case,
            &measured,
            window.seconds(),
        );
        warnings.extend(w);
        let recalls: Vec<f64> = measured.iter().filter_map(|m| m.row.recall).collect();
        if let Some(template) = rows.first().cloned() {
            if let Some(s) = crate::measure::summarize(&recalls) {
                let (lo, hi) = bootstrap_mean_ci(&recalls, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
                recall_by_length.push((length, s.mean));
                rows.push(SummaryRow {
                    metric: "recall".into(),
                    unit: "fraction".into(),
                    n: s.n,
                    mean: s.mean,
                    stddev: s.stddev,
                    min: s.min,
                    p50: s.p50,
                    p90: s.p90,
                    p99: s.p99,
                    max: s.max,
                    // For recall the interval is the bootstrap CI of the mean.
                    ci_low: lo,
                    ci_high: hi,
                    ..template
                });
            }
        }
        // In-process engines: the process's peak resident memory once this length has run
        // (lengths ascend, so the high-water mark belongs to the longest context so far).
        if facts.kind == "llamacpp" || facts.kind == "onnx" {
            if let (Some(template), Some(peak)) = (
                rows.first().cloned(),
                crate::results::manifest::peak_rss_bytes(),
            ) {
                let mb = peak as f64 / (1024.0 * 1024.0);
                rows.push(SummaryRow {
                    metric: "peak_rss_mb".into(),
                    unit: "MiB".into(),
                    n: 1,
                    mean: mb,
                    stddev: 0.0,
                    min: mb,
                    p50: mb,
                    p90: mb,
                    p99: mb,
                    max: mb,
                    ci_low: mb,
                    ci_high: mb,
                    ..template
                });
            }
        }
        ctx.summary.borrow_mut().append_all(&rows)?;
        let errors = measured
            .iter()
            .filter(|m| m.row.error_category.is_some())
            .count();
        ctx.progress.note(&super::table::context_line(
            backend.name(),
            length,
            &rows,
            errors,
            measured.len(),
        ));
        total += measured.len();
        failed += errors;
        summary.extend(rows);
    }
    // The effective context length over all tested lengths (kept as it was if a resumed
    // run had already written it).
    let all_key = (
        backend.name().to_string(),
        scenario.name.clone(),
        "all".to_string(),
    );
    if let Some(done) = ctx.resume.finished(&all_key) {
        summary.extend(done.summary);
        return Ok(CaseOutcome {
            total,
            failed,
            summary,
            warnings,
        });
    }
    let eff = effective_length(&recall_by_length, c.threshold);
    let value = eff.map_or(0.0, f64::from);
    let row = SummaryRow {
        run_id: ctx.run_id.clone(),
        backend: facts.name.clone(),
        model: facts.model.clone().unwrap_or_default(),
        device: device.to_string(),
        scenario: scenario.name.clone(),
        case_id: "all".into(),
        kind: scenario.kind().to_string(),
        max_tokens: c.max_tokens,
        concurrency: 1,
        metric: "effective_context_length".into(),
        unit: "tokens".into(),
        n: recall_by_length.len(),
        mean: value,
        min: value,
        p50: value,
        p90: value,
        p99: value,
        max: value,
        ci_low: value,
        ci_high: value,
        errors: failed,
        flags: if eff.is_none() {
            "no_length_passed".into()
        } else {
            format!("threshold={}", c.threshold)
        },
        ..Default::default()
    };
    ctx.summary.borrow_mut().append(&row)?;
    summary.push(row);
    Ok(CaseOutcome {
        total,
        failed,
        summary,
        warnings,
    })
}
