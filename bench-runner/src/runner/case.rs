//! One case on one backend: prepare, warm up, measure, write rows, summarise.

use std::time::Instant;

use futures_util::future::join_all;

use super::RunCtx;
use super::summary::{Measured, summarize_case};
use crate::backend::{
    Backend, BackendFacts, ErrorCategory, Prompt, Request, RequestError, Response,
};
use crate::error::Result;
use crate::measure::request::{Timeline, compute};
use crate::measure::stats::percentile_sorted;
use crate::results::SampleRow;
use crate::results::SummaryRow;
use crate::scenario::{Case, Scenario};
use crate::workload::prompt;

pub(crate) struct CaseOutcome {
    pub total: usize,
    pub failed: usize,
    pub summary: Vec<SummaryRow>,
    pub warnings: Vec<String>,
}

/// A prepared request: prompt and the token count the backend will process.
pub(super) struct Prepared {
    pub prompt: Prompt,
    pub tokens: Option<u32>,
}

pub(super) async fn prepare(
    backend: &Backend,
    target: u32,
    salt: String,
    seed: u64,
    guess: &mut Option<usize>,
) -> std::result::Result<Prepared, RequestError> {
    let endpoint = backend.endpoint();
    let e = prompt::exact(target, &salt, seed, *guess, async |text: &str| {
        backend
            .count_prompt_tokens(&Prompt::user(endpoint, text.to_string()))
            .await
    })
    .await?;
    *guess = Some(e.words);
    Ok(Prepared {
        prompt: Prompt::user(endpoint, e.text),
        tokens: e.tokens,
    })
}

pub(crate) async fn run_case(
    ctx: &RunCtx,
    backend: &Backend,
    facts: &BackendFacts,
    device: &str,
    scenario: &Scenario,
    case: &Case,
) -> Result<CaseOutcome> {
    if case.pp_tg.is_some() {
        return super::pp_tg::run_case(ctx, backend, facts, device, scenario, case).await;
    }
    // --resume: a case with summary rows is done; one with some samples runs only the rest.
    let key = (
        backend.name().to_string(),
        scenario.name.clone(),
        case.id.clone(),
    );
    if let Some(done) = ctx.resume.finished(&key) {
        return Ok(done);
    }
    let done_rows = ctx.resume.take_rows(&key);
    if !done_rows.is_empty() {
        ctx.resumed_cases.borrow_mut().insert(key.clone());
    }
    let n_streams = case.concurrency as usize;
    // A sustained case prepares each measured prompt just before it is sent (untimed), since
    // how many fit the duration is not known in advance. A resumed sustained case keeps what
    // it measured: another slice of time would be another experiment.
    let sustained = case.duration_s.filter(|_| done_rows.is_empty());
    let reps = if case.duration_s.is_some() {
        0
    } else {
        case.repetitions as usize
    };
    let n_warm = if case.duration_s.is_some() && !done_rows.is_empty() {
        0
    } else {
        case.warmup as usize * n_streams
    };
    let n_measured = (n_streams * reps).saturating_sub(done_rows.len());
    let already = done_rows.len();
    let label = format!("{} {}", backend.name(), case.id);

    // 1) Prompts, outside any timed region. Salts are unique per request of the whole run.
    let mut guess = None;
    // Capacities are capped: the vectors grow as needed, and a size the user wrote never
    // becomes one huge allocation up front (`scenario::plan` refuses plans that cannot fit).
    let mut prepared = Vec::with_capacity((n_warm + n_measured).min(1024));
    let mut prep_error: Option<RequestError> = None;
    for i in 0..n_warm + n_measured {
        let salt = prompt::salt(ctx.nonce, hash_index(&label, i));
        match prepare(backend, case.prompt_tokens, salt, case.seed, &mut guess).await {
            Ok(p) => prepared.push(p),
            Err(e) => {
                prep_error = Some(e);
                break;
            }
        }
    }

    let base_row = SampleRow {
        run_id: ctx.run_id.clone(),
        backend: backend.name().to_string(),
        model: facts.model.clone().unwrap_or_default(),
        device: device.to_string(),
        scenario: scenario.name.clone(),
        case_id: case.id.clone(),
        kind: scenario.kind().to_string(),
        concurrency: case.concurrency,
        prompt_tokens_requested: case.prompt_tokens,
        max_tokens: case.max_tokens,
        ..Default::default()
    };

    let mut measured: Vec<Measured> = Vec::with_capacity(n_measured.min(1024));
    // The aggregate window (out tok/s, req/s): from the first measured request sent to the
    // last measured response received (see `Window`). Warm-ups stay outside it.
    let window = Window::default();
    if let Some(err) = prep_error {
        // The backend cannot even prepare: every request of the case is an error row.
        let missing = if sustained.is_some() { 1 } else { n_measured };
        for r in 0..missing {
            let mut row = base_row.clone();
            row.repetition = (already + r) as u32;
            row.stream = (r % n_streams) as u32;
            row.started_at = crate::results::manifest::now_rfc3339();
            row.error_category = Some(err.category.as_str().into());
            row.error_message = Some(err.message.clone());
            ctx.samples.borrow_mut().append(&row)?;
            ctx.progress.request_done(&label, None);
            measured.push(Measured {
                row,
                itl: Vec::new(),
                burst_fraction: None,
            });
        }
    } else {
        let mut prepared = prepared.into_iter();
        // 2) Warm-up rounds, `concurrency` requests at a time, discarded.
        for _ in 0..case.warmup {
            let round: Vec<Prepared> = prepared.by_ref().take(n_streams).collect();
            let reqs: Vec<Request> = round.iter().map(|p| request(case, p)).collect();
            join_all(reqs.iter().map(|r| backend.generate(r))).await;
        }
        // 3) Measured: `concurrency` streams, each making `repetitions` requests in turn.
        let mut per_stream: Vec<Vec<Prepared>> = (0..n_streams)
            .map(|_| Vec::with_capacity(reps.min(1024)))
            .collect();
        for (i, p) in prepared.enumerate() {
            per_stream[i % n_streams].push(p);
        }
        let results = std::cell::RefCell::new(Vec::with_capacity(n_measured.min(1024)));
        let written: std::cell::RefCell<Result<()>> = std::cell::RefCell::new(Ok(()));
        let next_rep = std::cell::Cell::new(already as u32);
        let deadline = sustained.map(|d| Instant::now() + std::time::Duration::from_secs_f64(d));
        join_all(per_stream.iter().enumerate().map(|(stream, prompts)| {
            let base_row = &base_row;
            let results = &results;
            let written = &written;
            let next_rep = &next_rep;
            let window = &window;
            let label = &label;
            let mut guess = guess;
            async move {
                let mut k = 0usize;
                loop {
                    let owned;
                    let p: &Prepared = match deadline {
                        None => match prompts.get(k) {
                            Some(p) => p,
                            None => break,
                        },
                        Some(deadline) => {
                            if Instant::now() >= deadline {
                                break;
                            }
                            // Indices after the warm-ups, unique per stream and request.
                            let salt = prompt::salt(
                                ctx.nonce,
                                hash_index(label, n_warm + stream + k * n_streams),
                            );
                            match prepare(backend, case.prompt_tokens, salt, case.seed, &mut guess)
                                .await
                            {
                                Ok(p) => {
                                    owned = p;
                                    &owned
                                }
                                Err(e) => {
                                    // Cannot prepare: one error row, and this stream stops.
                                    let mut row = base_row.clone();
                                    row.stream = stream as u32;
                                    row.repetition = next_rep.get();
                                    next_rep.set(next_rep.get() + 1);
                                    row.started_at = crate::results::manifest::now_rfc3339();
                                    row.error_category = Some(e.category.as_str().into());
                                    row.error_message = Some(e.message);
                                    if let Err(e) = ctx.samples.borrow_mut().append(&row) {
                                        *written.borrow_mut() = Err(e);
                                    }
                                    results.borrow_mut().push(Measured {
                                        row,
                                        itl: Vec::new(),
                                        burst_fraction: None,
                                    });
                                    break;
                                }
                            }
                        }
                    };
                    k += 1;
                    let started_at = crate::results::manifest::now_rfc3339();
                    let resp = backend.generate(&request(case, p)).await;
                    window.add(resp.sent_at, Instant::now());
                    let mut m = to_measured(backend, base_row, p, &resp).await;
                    m.row.stream = stream as u32;
                    m.row.started_at = started_at;
                    m.row.repetition = next_rep.get();
                    next_rep.set(next_rep.get() + 1);
                    // Written and flushed now: a crash loses at most the requests in flight.
                    if let Err(e) = ctx.samples.borrow_mut().append(&m.row) {
                        *written.borrow_mut() = Err(e);
                    }
                    ctx.progress.request_done(label, m.row.decode_tok_s);
                    results.borrow_mut().push(m);
                }
            }
        }))
        .await;
        written.into_inner()?;
        measured = results.into_inner();
    }
    let wall_s = window.seconds();
    // Rows measured before a resume join the new ones, in their original order.
    let mut all: Vec<Measured> = done_rows.into_iter().map(Measured::from_row).collect();
    all.append(&mut measured);
    let measured = all;

    let failed = measured
        .iter()
        .filter(|m| m.row.error_category.is_some())
        .count();
    let n_measured = measured.len();
    let (summary, warnings) = summarize_case(ctx, facts, device, scenario, case, &measured, wall_s);
    ctx.summary.borrow_mut().append_all(&summary)?;
    if !ctx.quiet {
        ctx.progress.note(&super::table::case_line(
            backend.name(),
            case,
            &summary,
            failed,
            n_measured,
        ));
    }
    Ok(CaseOutcome {
        total: n_measured,
        failed,
        summary,
        warnings,
    })
}

/// The time during which at least one measured request was in flight: the union of the
/// intervals from each request's send to its last byte. With the client keeping the server
/// busy this is the span from the first send to the last completion; a gap where no measured
/// request is out (a context haystack being built, a sustained stream preparing its next
/// prompt) is left out, as are warm-ups, which are never added.
#[derive(Default)]
pub(super) struct Window {
    busy: std::cell::RefCell<Vec<(Instant, Instant)>>,
}

impl Window {
    /// One measured request, sent at `sent` and received in full at `done`.
    pub fn add(&self, sent: Instant, done: Instant) {
        self.busy.borrow_mut().push((sent, done.max(sent)));
    }

    /// Seconds covered by the union of the intervals; 0 when nothing was sent.
    pub fn seconds(&self) -> f64 {
        let mut v = self.busy.borrow().clone();
        v.sort_by_key(|&(a, _)| a);
        let mut total = std::time::Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for (a, b) in v {
            current = match current {
                Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
                Some((ca, cb)) => {
                    total += cb - ca;
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((ca, cb)) = current {
            total += cb - ca;
        }
        total.as_secs_f64()
    }
}

pub(super) fn request(case: &Case, p: &Prepared) -> Request {
    Request {
        prompt: p.prompt.clone(),
        max_tokens: case.max_tokens,
        temperature: case.sampling.temperature,
        top_p: case.sampling.top_p,
        seed: Some(case.seed),
        ignore_eos: case.sampling.ignore_eos,
        allow_prefix_cache: false,
        tools: Default::default(),
    }
}

/// A stable per-request index for the salt generator.
pub(super) fn hash_index(label: &str, i: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Turns a response into a sample row plus the raw ITL values the case summary pools.
pub(super) async fn to_measured(
    backend: &Backend,
    base: &SampleRow,
    p: &Prepared,
    resp: &Response,
) -> Measured {
    measure_response(backend, base, p.tokens.map(u64::from), resp).await
}

/// Every request's row, whatever the scenario kind: server counts and timings beside our
/// clocks, metrics per DESIGN.md, and no speed for a request that failed part-way.
/// `exact_prompt_tokens` is our own count where we made the prompt token-exact.
pub(crate) async fn measure_response(
    backend: &Backend,
    base: &SampleRow,
    exact_prompt_tokens: Option<u64>,
    resp: &Response,
) -> Measured {
    let mut row = base.clone();
    let usage = resp.usage.unwrap_or_default();
    let timings = resp.timings.unwrap_or_default();
    row.prompt_tokens_server = usage.prompt_tokens;
    row.prompt_tokens = exact_prompt_tokens
        .or(usage.prompt_tokens)
        .or(timings.prompt_n);
    row.finish_reason = resp.finish_reason.clone();
    row.retries = resp.retries;
    row.server_prompt_n = timings.prompt_n;
    row.server_prompt_ms = timings.prompt_ms;
    row.server_prefill_tok_s = timings.prompt_per_second;
    row.server_predicted_n = timings.predicted_n;
    row.server_predicted_ms = timings.predicted_ms;
    row.server_decode_tok_s = timings.predicted_per_second;
    row.cached_tokens = usage.cached_tokens.or(timings.cache_n);
    let mut output = usage.completion_tokens.or(timings.predicted_n);
    if output.is_none() && !resp.text.is_empty() {
        output = backend.count_text_tokens(&resp.text).await.map(u64::from);
    }
    row.output_tokens = output;
    let timeline = Timeline {
        reads: resp
            .content
            .iter()
            .map(|c| {
                (
                    c.at.saturating_duration_since(resp.sent_at).as_secs_f64() * 1000.0,
                    c.tokens.unwrap_or(1),
                )
            })
            .collect(),
    };
    let m = compute(&timeline, row.prompt_tokens, output);
    row.ttft_ms = m.ttft_ms;
    row.tpot_ms = m.tpot_ms;
    row.e2e_ms = m.e2e_ms;
    row.prefill_tok_s = m.prefill_tok_s;
    row.decode_tok_s = m.decode_tok_s;
    row.content_reads = Some(m.content_reads);
    row.tokens_per_read = m.tokens_per_read;
    if !m.itl_ms.is_empty() {
        let mut s = m.itl_ms.clone();
        s.sort_by(f64::total_cmp);
        row.itl_mean_ms = Some(s.iter().sum::<f64>() / s.len() as f64);
        row.itl_p50_ms = Some(percentile_sorted(&s, 50.0));
        row.itl_p90_ms = Some(percentile_sorted(&s, 90.0));
        row.itl_p99_ms = Some(percentile_sorted(&s, 99.0));
        row.itl_max_ms = s.last().copied();
        row.itl_exact = Some(m.itl_exact);
    }
    if let Some(e) = resp.error.clone() {
        row.error_category = Some(e.category.as_str().into());
        row.error_message = Some(e.message);
        // A broken stream's partial timings must not be mistaken for a whole request's.
        if e.category != ErrorCategory::EmptyResponse {
            row.decode_tok_s = None;
            row.tpot_ms = None;
            row.e2e_ms = None;
        }
    }
    row.burst_fraction = m.burst_fraction;
    row.itl_list_ms = super::summary::itl_list(&m.itl_ms);
    Measured {
        row,
        itl: m.itl_ms,
        burst_fraction: m.burst_fraction,
    }
}

#[cfg(test)]
mod tests {
    use super::Window;
    use std::time::{Duration, Instant};

    #[test]
    fn window_is_the_union_of_busy_intervals() {
        let t = Instant::now();
        let ms = |v: u64| t + Duration::from_millis(v);
        let w = Window::default();
        assert_eq!(w.seconds(), 0.0);
        // Two overlapping streams 0–100 and 50–150, then a gap, then 200–250.
        w.add(ms(50), ms(150));
        w.add(ms(0), ms(100));
        w.add(ms(200), ms(250));
        assert!((w.seconds() - 0.2).abs() < 1e-9, "{}", w.seconds());
    }
}
