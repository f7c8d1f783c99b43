//! One serving case on one backend: prepare, warm up, measure, write rows, summarise.

use std::time::Instant;

use futures_util::future::join_all;

use super::RunCtx;
use super::request::{CaseOutcome, Prepared, Window, hash_index, prepare, request, to_measured};
use super::summary::{Measured, summarize_case};
use crate::backend::{Backend, BackendFacts, Request, RequestError};
use crate::error::Result;
use crate::results::SampleRow;
use crate::scenario::{Case, Scenario};
use crate::workload::prompt;

pub(crate) async fn run_case(
    ctx: &RunCtx,
    backend: &Backend,
    facts: &BackendFacts,
    device: &str,
    scenario: &Scenario,
    case: &Case,
) -> Result<CaseOutcome> {
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
