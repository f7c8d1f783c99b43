//! A throughput case in closed loop on one backend: `concurrency` streams, each sending its
//! next request as soon as the previous one is answered (for `repetitions` requests, or for
//! `duration_s` seconds). Prepare, warm up, measure, write rows, summarise.
//!
//! Lengths come from the case's grid point: fixed counts, distributions (the k-th request
//! after the warm-ups gets the k-th draw, also across a resume) or the user's prompts file
//! (see `request::plan_requests`, shared with request-rate cases).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Instant;

use futures_util::future::{LocalBoxFuture, join_all};

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use super::request::{Lengths, Planned, Window, plan_requests, to_measured};
use super::summary::{Measured, summarize_case};
use crate::backend::RequestError;
use crate::error::{Error, Result};
use crate::results::SampleRow;
use crate::scenario::Case;

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

/// How many requests a case still has to make, and of which kind.
struct Plan {
    n_streams: usize,
    n_warm: usize,
    n_measured: usize,
    /// Rows measured before a resume.
    already: usize,
    /// A sustained case (`duration_s`) that measures afresh.
    sustained: Option<f64>,
    label: String,
}

impl Plan {
    fn new(s: &ScenarioRun<'_>, case: &Case, done: usize) -> Self {
        let n_streams = case.concurrency as usize;
        // A resumed sustained case keeps what it measured: another slice of time would be
        // another experiment.
        let sustained = case.duration_s.filter(|_| done == 0);
        let reps = if case.duration_s.is_some() {
            0
        } else {
            case.repetitions as usize
        };
        let n_warm = if case.duration_s.is_some() && done > 0 {
            0
        } else {
            case.warmup as usize * n_streams
        };
        Plan {
            n_streams,
            n_warm,
            n_measured: (n_streams * reps).saturating_sub(done),
            already: done,
            sustained,
            label: s.label(&case.id),
        }
    }
}

async fn run_case(s: &ScenarioRun<'_>, case: &Case) -> Result<CaseOutcome> {
    let ctx = s.ctx;
    // --resume: a case with summary rows is done; one with some samples runs only the rest.
    let key = s.key(&case.id);
    if let Some(done) = ctx.resume.finished(&key) {
        return Ok(done);
    }
    let done_rows = ctx.resume.take_rows(&key);
    if !done_rows.is_empty() {
        ctx.resumed_cases.borrow_mut().insert(key.clone());
    }
    let plan = Plan::new(s, case, done_rows.len());
    // An in-process engine makes room for the case's streams (one sequence each).
    s.backend.reserve_streams(case.concurrency).await;
    let t = super::open_loop::throughput(s.scenario)?;
    let Some((prompt, output)) = t.closed_lengths(&case.id) else {
        return Err(Error::Usage(format!(
            "internal: case {} is not in scenario {}",
            case.id, s.scenario.name
        )));
    };
    let lengths = Lengths {
        prompt,
        file: t.prompts.as_deref(),
        output,
        seed: case.seed,
    };
    let base_row = s.sample_base(case);
    let window = Window::default();
    let mut guesses = HashMap::new();
    let measured = match prepare_all(s, case, &plan, &lengths, &mut guesses).await {
        // The backend cannot even prepare: every request of the case is an error row.
        Err(err) => prep_failed(s, &plan, &base_row, &err)?,
        Ok(planned) => {
            let streams = Streams {
                s,
                case,
                plan: &plan,
                lengths: &lengths,
                base_row: &base_row,
                window: &window,
                // Set after the warm-ups (see `measure`).
                deadline: None,
                results: RefCell::new(Vec::with_capacity(plan.n_measured.min(1024))),
                written: RefCell::new(Ok(())),
                next_rep: Cell::new(plan.already as u32),
            };
            measure(streams, planned, &guesses).await?
        }
    };
    // Rows measured before a resume join the new ones, in their original order.
    let mut all: Vec<Measured> = done_rows.into_iter().map(Measured::from_row).collect();
    all.extend(measured);
    finish_case(s, case, &all, window.seconds())
}

/// The requests of the warm-ups and the measured ones, outside any timed region (a sustained
/// case prepares its measured prompts as it goes). Salts are unique per request of the whole
/// run; a resumed case skips the draws of the requests it has (warm-ups draw first).
async fn prepare_all(
    s: &ScenarioRun<'_>,
    case: &Case,
    plan: &Plan,
    lengths: &Lengths<'_>,
    guesses: &mut HashMap<u32, usize>,
) -> std::result::Result<Vec<Planned>, RequestError> {
    let mut planned = plan_requests(s, lengths, case, &plan.label, 0..plan.n_warm, guesses).await?;
    let first = plan.n_warm + plan.already;
    let measured = first..first + plan.n_measured;
    planned.extend(plan_requests(s, lengths, case, &plan.label, measured, guesses).await?);
    Ok(planned)
}

/// Every missing request of a case whose prompts cannot be prepared becomes an error row.
fn prep_failed(
    s: &ScenarioRun<'_>,
    plan: &Plan,
    base_row: &SampleRow,
    err: &RequestError,
) -> Result<Vec<Measured>> {
    let missing = if plan.sustained.is_some() {
        1
    } else {
        plan.n_measured
    };
    let mut measured = Vec::with_capacity(missing.min(1024));
    for r in 0..missing {
        let mut row = ScenarioRun::failed_row(base_row, err);
        row.repetition = (plan.already + r) as u32;
        row.stream = (r % plan.n_streams) as u32;
        s.ctx.rec.sample(&row)?;
        s.ctx.progress.request_done(&plan.label, None);
        measured.push(Measured::failed(row));
    }
    Ok(measured)
}

/// Warm-up rounds (discarded), then the measured streams. Each row is written as soon as it
/// is measured: a crash loses at most the requests in flight.
async fn measure(
    mut shared: Streams<'_, '_>,
    planned: Vec<Planned>,
    guesses: &HashMap<u32, usize>,
) -> Result<Vec<Measured>> {
    let (s, plan) = (shared.s, shared.plan);
    let mut planned = planned.into_iter();
    // Warm-up rounds, `concurrency` requests at a time.
    for _ in 0..shared.case.warmup {
        let round: Vec<Planned> = planned.by_ref().take(plan.n_streams).collect();
        join_all(round.iter().map(|p| s.backend.generate(&p.request))).await;
    }
    // Measured: `concurrency` streams, each making `repetitions` requests in turn.
    shared.deadline = plan
        .sustained
        .map(|d| Instant::now() + std::time::Duration::from_secs_f64(d));
    let reps = plan.n_measured.div_ceil(plan.n_streams.max(1));
    let mut per_stream: Vec<Vec<Planned>> = (0..plan.n_streams)
        .map(|_| Vec::with_capacity(reps.min(1024)))
        .collect();
    for (i, p) in planned.enumerate() {
        per_stream[i % plan.n_streams].push(p);
    }
    join_all(
        per_stream
            .iter()
            .enumerate()
            .map(|(stream, prompts)| shared.stream(stream, prompts, guesses.clone())),
    )
    .await;
    shared.written.into_inner()?;
    Ok(shared.results.into_inner())
}

/// What the measured streams of a case share.
struct Streams<'a, 'b> {
    s: &'a ScenarioRun<'b>,
    case: &'a Case,
    plan: &'a Plan,
    lengths: &'a Lengths<'a>,
    base_row: &'a SampleRow,
    window: &'a Window,
    deadline: Option<Instant>,
    results: RefCell<Vec<Measured>>,
    /// The first failure to write a row (the streams go on; the case then fails).
    written: RefCell<Result<()>>,
    /// Repetition numbers in completion order.
    next_rep: Cell<u32>,
}

impl Streams<'_, '_> {
    fn next_rep(&self) -> u32 {
        let r = self.next_rep.get();
        self.next_rep.set(r + 1);
        r
    }

    fn record(&self, m: Measured) {
        if let Err(e) = self.s.ctx.rec.sample(&m.row) {
            *self.written.borrow_mut() = Err(e);
        }
        self.results.borrow_mut().push(m);
    }

    /// One stream: its prepared prompts in turn, or (sustained) prompts prepared just before
    /// they are sent (untimed) until the deadline.
    async fn stream(&self, stream: usize, prompts: &[Planned], mut guesses: HashMap<u32, usize>) {
        let (s, case, plan) = (self.s, self.case, self.plan);
        let mut k = 0usize;
        loop {
            let owned;
            let p: &Planned = match self.deadline {
                None => match prompts.get(k) {
                    Some(p) => p,
                    None => break,
                },
                Some(deadline) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    // Indices after the warm-ups, unique per stream and request.
                    // (Drawing request i replays the i draws before it: cheap beside a request.)
                    let i = plan.n_warm + stream + k * plan.n_streams;
                    let one =
                        plan_requests(s, self.lengths, case, &plan.label, i..i + 1, &mut guesses);
                    match one.await {
                        Ok(mut p) if !p.is_empty() => {
                            owned = p.remove(0);
                            &owned
                        }
                        Ok(_) => break,
                        Err(e) => {
                            // Cannot prepare: one error row, and this stream stops.
                            let mut row = ScenarioRun::failed_row(self.base_row, &e);
                            row.stream = stream as u32;
                            row.repetition = self.next_rep();
                            self.record(Measured::failed(row));
                            break;
                        }
                    }
                }
            };
            k += 1;
            let started_at = crate::results::manifest::now_rfc3339();
            let resp = s.backend.generate(&p.request).await;
            self.window.add(resp.sent_at, Instant::now());
            let base = p.base_row(self.base_row);
            let mut m = to_measured(s.backend, &base, &p.prepared, &resp).await;
            m.row.stream = stream as u32;
            m.row.started_at = started_at;
            m.row.repetition = self.next_rep();
            s.ctx.progress.request_done(&plan.label, m.row.decode_tok_s);
            self.record(m);
        }
    }
}

/// The case's summary rows (written), its progress line, and its outcome.
fn finish_case(
    s: &ScenarioRun<'_>,
    case: &Case,
    measured: &[Measured],
    wall_s: f64,
) -> Result<CaseOutcome> {
    let failed = measured
        .iter()
        .filter(|m| m.row.error_category.is_some())
        .count();
    let (summary, warnings) = summarize_case(s, case, measured, wall_s);
    s.ctx.rec.summary(&summary)?;
    if !s.ctx.quiet {
        s.ctx.progress.note(&super::table::case_line(
            s.backend.name(),
            case,
            &summary,
            failed,
            measured.len(),
        ));
    }
    Ok(CaseOutcome {
        total: measured.len(),
        failed,
        summary,
        warnings,
    })
}
