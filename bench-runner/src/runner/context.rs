//! A context scenario on one backend: for each length (ascending), needle spec, depth and
//! repetition, one request with an exact-length haystack; speed from the usual clocks,
//! recall from RULER's string_match_all. Summaries per length, then the effective context
//! length over all lengths.

use futures_util::future::LocalBoxFuture;

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use super::request::{Prepared, Window, hash_index, to_measured};
use super::summary::{Measured, summarize_case};
use crate::backend::{Backend, Prompt, Request, RequestError};
use crate::error::{Error, Result};
use crate::measure::stats::{BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_mean_ci};
use crate::results::SummaryRow;
use crate::scenario::context::Context;
use crate::scenario::{Case, ScenarioBody};
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

/// The kind runner (see `runner::KindRunner`): the whole scenario is one unit (its lengths
/// depend on the backend, and the effective length is computed over all of them).
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    _cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let ScenarioBody::Context(c) = &s.scenario.body else {
            return Err(Error::Usage(format!(
                "internal: a {} scenario reached the context runner",
                s.scenario.kind()
            )));
        };
        Ok(vec![run_context(s, c).await?])
    })
}

/// One context scenario on one backend, and what it shares across its lengths.
struct ContextRun<'a, 'b> {
    s: &'a ScenarioRun<'b>,
    c: &'a Context,
    weights: SentenceTokens,
    label: String,
}

/// The lengths' outcomes so far, and the recall per length for the effective length.
#[derive(Default)]
struct Totals {
    outcome: Vec<SummaryRow>,
    total: usize,
    failed: usize,
    recall_by_length: Vec<(u32, f64)>,
}

async fn run_context(s: &ScenarioRun<'_>, c: &Context) -> Result<CaseOutcome> {
    let (ctx, facts) = (s.ctx, s.facts);
    let lengths = c
        .lengths
        .resolve(facts.n_ctx)
        .map_err(|message| Error::ContextLengths {
            path: s.scenario.path.clone(),
            message,
        })?;
    let per_length = c.needles.len() * c.depths.len() * c.repetitions as usize;
    ctx.progress.add_total((lengths.len() * per_length) as u64);
    let mut warnings = Vec::new();
    if let Some(max) = facts.n_ctx
        && let Some(l) = lengths.iter().find(|&&l| l as u64 > max)
    {
        warnings.push(format!("{} / {}: length {l} exceeds the backend's context of {max} tokens; those requests will fail", facts.name, s.scenario.name));
    }
    let run = ContextRun {
        s,
        c,
        weights: sentence_weights(s.backend).await,
        label: s.label(&s.scenario.name),
    };

    // Warm-up at the shortest length: the first requests after a model load are slower.
    let shortest = *lengths.iter().min().unwrap_or(&1024);
    for w in 0..c.warmup as usize {
        if let Ok((p, _, _)) = run.make(shortest, 0, 50, usize::MAX - w).await {
            s.backend.generate(&run.request(&p)).await;
        }
    }

    let mut t = Totals::default();
    for &length in &lengths {
        let case = Case {
            id: format!("ctx{length}"),
            scenario: s.scenario.name.clone(),
            prompt_tokens: length - c.max_tokens,
            max_tokens: c.max_tokens,
            concurrency: 1,
            warmup: c.warmup,
            repetitions: per_length as u32,
            seed: c.seed,
            sampling: c.sampling.clone(),
            duration_s: None,
            pp_tg: None,
            batched: None,
        };
        if let Some(done) = ctx.resume.finished(&s.key(&case.id)) {
            if let Some(r) = done.summary.iter().find(|r| r.metric == "recall") {
                t.recall_by_length.push((length, r.mean));
            }
            t.total += done.total;
            t.failed += done.failed;
            t.outcome.extend(done.summary);
            continue;
        }
        let (rows, w) = run.length(&case, length, &mut t).await?;
        warnings.extend(w);
        t.outcome.extend(rows);
    }
    // The effective context length over all tested lengths (kept as it was if a resumed
    // run had already written it).
    if let Some(done) = ctx.resume.finished(&s.key("all")) {
        t.outcome.extend(done.summary);
    } else {
        let row = run.effective_length_row(&t);
        ctx.rec.summary(std::slice::from_ref(&row))?;
        t.outcome.push(row);
    }
    Ok(CaseOutcome {
        total: t.total,
        failed: t.failed,
        summary: t.outcome,
        warnings,
    })
}

impl ContextRun<'_, '_> {
    /// The prompt of request `i` at `length`: a haystack with needle spec `spec_i` at `depth`.
    async fn make(
        &self,
        length: u32,
        spec_i: usize,
        depth: u32,
        i: usize,
    ) -> std::result::Result<(Prepared, haystack::Plan, haystack::Haystack), RequestError> {
        let (s, c) = (self.s, self.c);
        let endpoint = s.backend.endpoint();
        let salt = prompt::salt(
            s.ctx.nonce,
            hash_index(&format!("{} {length}", self.label), i),
        );
        let seed = c.seed
            ^ (length as u64).rotate_left(20)
            ^ (depth as u64).rotate_left(40)
            ^ ((spec_i as u64) << 8)
            ^ i as u64;
        let plan = haystack::plan(&c.needles[spec_i], depth, seed, salt);
        let target = length - c.max_tokens;
        let h = haystack::exact(&plan, target, &self.weights, async |text: &str| {
            s.backend
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
    }

    fn request(&self, p: &Prepared) -> Request {
        let c = self.c;
        Request {
            prompt: p.prompt.clone(),
            max_tokens: c.max_tokens,
            temperature: c.sampling.temperature,
            top_p: c.sampling.top_p,
            seed: Some(c.seed),
            ignore_eos: c.sampling.ignore_eos,
            allow_prefix_cache: false,
            tools: Default::default(),
        }
    }

    /// One length: its missing requests, then its summary rows (written); adds to `t`.
    async fn length(
        &self,
        case: &Case,
        length: u32,
        t: &mut Totals,
    ) -> Result<(Vec<SummaryRow>, Vec<String>)> {
        let (s, c) = (self.s, self.c);
        let key = s.key(&case.id);
        let done_rows = s.ctx.resume.take_rows(&key);
        if !done_rows.is_empty() {
            s.ctx.resumed_cases.borrow_mut().insert(key);
        }
        let done_reps: std::collections::HashSet<u32> =
            done_rows.iter().map(|r| r.repetition).collect();
        let mut measured: Vec<Measured> = done_rows.into_iter().map(Measured::from_row).collect();
        // Haystacks are built between requests: only time with a request out counts.
        let window = Window::default();
        let base = s.sample_base(case);
        let mut i = 0;
        for (spec_i, spec) in c.needles.iter().enumerate() {
            for &depth in &c.depths {
                for _ in 0..c.repetitions {
                    if !done_reps.contains(&(i as u32)) {
                        let started_at = crate::results::manifest::now_rfc3339();
                        let mut m = match self.make(length, spec_i, depth, i).await {
                            Ok((p, plan, h)) => {
                                let resp = s.backend.generate(&self.request(&p)).await;
                                window.add(resp.sent_at, std::time::Instant::now());
                                let mut m = to_measured(s.backend, &base, &p, &resp).await;
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
                            Err(e) => Measured::failed(ScenarioRun::failed_row(&base, &e)),
                        };
                        m.row.needle = Some(spec.label());
                        m.row.repetition = i as u32;
                        m.row.started_at = started_at;
                        s.ctx.rec.sample(&m.row)?;
                        s.ctx
                            .progress
                            .request_done(&s.label(&case.id), m.row.decode_tok_s);
                        measured.push(m);
                    }
                    i += 1;
                }
            }
        }
        let (mut rows, warnings) = summarize_case(s, case, &measured, window.seconds());
        self.add_recall(&mut rows, &measured, length, t);
        self.add_peak_memory(&mut rows);
        s.ctx.rec.summary(&rows)?;
        let errors = measured
            .iter()
            .filter(|m| m.row.error_category.is_some())
            .count();
        s.ctx.progress.note(&super::table::context_line(
            s.backend.name(),
            length,
            &rows,
            errors,
            measured.len(),
        ));
        t.total += measured.len();
        t.failed += errors;
        Ok((rows, warnings))
    }

    /// The length's `recall` row: its mean with the bootstrap CI of the mean.
    fn add_recall(
        &self,
        rows: &mut Vec<SummaryRow>,
        measured: &[Measured],
        length: u32,
        t: &mut Totals,
    ) {
        let recalls: Vec<f64> = measured.iter().filter_map(|m| m.row.recall).collect();
        let (Some(template), Some(s)) =
            (rows.first().cloned(), crate::measure::summarize(&recalls))
        else {
            return;
        };
        let (lo, hi) = bootstrap_mean_ci(&recalls, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED);
        t.recall_by_length.push((length, s.mean));
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

    /// In-process engines: the process's peak resident memory once this length has run
    /// (lengths ascend, so the high-water mark belongs to the longest context so far).
    fn add_peak_memory(&self, rows: &mut Vec<SummaryRow>) {
        let kind = self.s.facts.kind.as_str();
        if kind != "llamacpp" && kind != "onnx" {
            return;
        }
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

    /// The scenario's `effective_context_length` row (case `all`).
    fn effective_length_row(&self, t: &Totals) -> SummaryRow {
        let (s, c) = (self.s, self.c);
        let eff = effective_length(&t.recall_by_length, c.threshold);
        let value = eff.map_or(0.0, f64::from);
        SummaryRow {
            run_id: s.ctx.run_id.clone(),
            backend: s.facts.name.clone(),
            model: s.facts.model.clone().unwrap_or_default(),
            device: s.device.to_string(),
            scenario: s.scenario.name.clone(),
            case_id: "all".into(),
            kind: s.scenario.kind().to_string(),
            max_tokens: c.max_tokens,
            concurrency: 1,
            metric: "effective_context_length".into(),
            unit: "tokens".into(),
            n: t.recall_by_length.len(),
            mean: value,
            min: value,
            p50: value,
            p90: value,
            p99: value,
            max: value,
            ci_low: value,
            ci_high: value,
            errors: t.failed,
            flags: if eff.is_none() {
                "no_length_passed".into()
            } else {
                format!("threshold={}", c.threshold)
            },
            ..Default::default()
        }
    }
}
