//! A request-rate case (`request_rate = [...]`) on one backend: requests sent on a seeded
//! schedule made up front, whatever the server's pace (an open loop), optionally capped at
//! `max_concurrency` in flight.
//!
//! Order of work: the schedule (`workload::arrival`), then every prompt of the case prepared
//! (salted, token-exact, lengths drawn from the case's distributions or picked from the
//! user's prompts file), then the warm-ups (sent together, `max_concurrency` at a time, and
//! discarded), then the measured schedule. Preparing everything first keeps the send path
//! cheap: at its scheduled time a request only waits for a slot (with `max_concurrency`) and
//! is handed to the backend. The runtime is single-threaded, so each request is a future that
//! sleeps until its offset on tokio's monotonic clock.
//!
//! Each row records `scheduled_ms` (the schedule's offset), `sent_ms` (when it was handed to
//! the backend), `send_lag_ms` (how late the client woke for it: a client that could not keep
//! up must not be mistaken for a slow server) and `queue_wait_ms` (the wait for a free slot,
//! which is not part of TTFT). The measured window runs from the schedule's start to the last
//! completion; output tok/s, the achieved request rate and goodput are over it.
//!
//! Resume: a rate case is measured whole. A case with summary rows is done; one without has
//! its partial rows moved to attempts.csv by the resume and runs again from its start.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::{LocalBoxFuture, join_all};

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use super::request::{Lengths, Planned, plan_requests, to_measured};
use super::summary::{Measured, summarize_case};
use crate::backend::RequestError;
use crate::error::{Error, Result};
use crate::measure::stats::summarize;
use crate::results::metric;
use crate::results::summary::{push_summary, value_row};
use crate::results::{SampleRow, SummaryRow};
use crate::scenario::open_loop::RateCase;
use crate::scenario::{Case, Scenario, ScenarioBody, Throughput};
use crate::workload::arrival::{self, Extent};
use crate::workload::lengths::sub_seed;

/// 99th percentile of the schedule lag above which the case is flagged `schedule_lag`.
const LAG_FLAG_MS: f64 = 10.0;

/// The kind runner (see `runner::KindRunner`): each rate case given, in turn.
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let t = throughput(s.scenario)?;
        let rate_cases = t.rate_cases();
        let mut out = Vec::with_capacity(cases.len());
        for case in cases {
            let Some(rc) = rate_cases.iter().find(|r| r.id == case.id) else {
                return Err(Error::Usage(format!(
                    "internal: request-rate case {} is not in scenario {}",
                    case.id, s.scenario.name
                )));
            };
            out.push(run_rate_case(s, t, rc, case, Offered::Rate).await?.outcome);
        }
        Ok(out)
    })
}

/// The throughput body of a scenario this runner was given.
pub(super) fn throughput(scenario: &Scenario) -> Result<&Throughput> {
    match &scenario.body {
        ScenarioBody::Throughput(t) => Ok(t),
        _ => Err(Error::Usage(format!(
            "internal: scenario {} is not a throughput scenario",
            scenario.name
        ))),
    }
}

/// The `Case` a rate case runs as (rows and resume keys are built from it): the fixed
/// lengths where the case has them (0 for a distribution or the user's prompts; each row
/// records its own), `concurrency` = `max_concurrency` (0: uncapped), `repetitions` = the
/// requests of a count-bounded schedule.
pub(super) fn case_of(scenario: &Scenario, t: &Throughput, rc: &RateCase) -> Case {
    use crate::workload::lengths::LengthDist;
    let fixed = |d: Option<&LengthDist>| match d {
        Some(LengthDist::Fixed(n)) => *n,
        _ => 0,
    };
    let (repetitions, duration_s) = match rc.open.extent {
        Extent::Requests(n) => (n, None),
        Extent::Seconds(d) => (0, Some(d)),
    };
    Case {
        id: rc.id.clone(),
        scenario: scenario.name.clone(),
        prompt_tokens: fixed(rc.prompt_tokens.as_ref()),
        max_tokens: fixed(Some(&rc.max_tokens)),
        concurrency: rc.open.max_concurrency.unwrap_or(0),
        warmup: t.warmup,
        repetitions,
        seed: t.seed,
        sampling: t.sampling.clone(),
        duration_s,
        pp_tg: None,
        batched: None,
    }
}

/// What a case offers: its schedule's rate (an `offered_rate` row), or everything at once
/// under its `max_concurrency` cap (a sweep's bounding runs: no offered rate to report).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Offered {
    Rate,
    AllAtOnce,
}

/// What a rate case gave: its outcome, and what a sweep needs of it.
pub(super) struct RateRun {
    pub outcome: CaseOutcome,
    /// Good requests under the scenario's SLO, and requests judged.
    pub good: usize,
    pub requests: usize,
    /// Achieved request rate over the measured window (`requests_per_s`), 0 when none.
    pub achieved: f64,
}

impl RateRun {
    /// A run from its summary rows (also a case finished before a resume): the good count
    /// from `slo_good_share`, the achieved rate from `requests_per_s`.
    fn from_outcome(outcome: CaseOutcome) -> Self {
        let (good, requests) =
            slo_counts(&outcome.summary).unwrap_or((outcome.total - outcome.failed, outcome.total));
        let achieved = outcome
            .summary
            .iter()
            .find(|r| r.metric == metric::REQUESTS_PER_S.name)
            .map_or(0.0, |r| r.mean);
        RateRun {
            outcome,
            good,
            requests,
            achieved,
        }
    }
}

/// (good, requests) from a case's `slo_good_share` row.
pub(super) fn slo_counts(summary: &[SummaryRow]) -> Option<(usize, usize)> {
    let r = summary
        .iter()
        .find(|r| r.metric == metric::SLO_GOOD_SHARE.name)?;
    Some(((r.mean * r.n as f64).round() as usize, r.n))
}

/// Runs one rate case (or finds it finished by an earlier sitting).
pub(super) async fn run_rate_case(
    s: &ScenarioRun<'_>,
    t: &Throughput,
    rc: &RateCase,
    case: &Case,
    offered: Offered,
) -> Result<RateRun> {
    let ctx = s.ctx;
    let key = s.key(&case.id);
    if let Some(done) = ctx.resume.finished(&key) {
        return Ok(RateRun::from_outcome(done));
    }
    // The resume moved an unfinished rate case's rows to attempts.csv: it runs whole.
    let _ = ctx.resume.take_rows(&key);
    let label = s.label(&case.id);
    let schedule = arrival::schedule(
        rc.rate,
        rc.open.arrival,
        sub_seed(t.seed, "arrival"),
        rc.open.extent,
    )
    .map_err(|e| Error::Usage(format!("{label}: {e}")))?;
    ctx.progress.add_total(schedule.len() as u64);
    // An in-process engine makes room for `max_concurrency` streams (0, uncapped: its default).
    s.backend.reserve_streams(case.concurrency).await;
    let n_warm = t.warmup as usize;
    let base_row = SampleRow {
        concurrency: case.concurrency,
        ..s.sample_base(case)
    };
    let lengths = Lengths {
        prompt: rc.prompt_tokens.as_ref(),
        file: t.prompts.as_deref(),
        output: &rc.max_tokens,
        seed: t.seed,
    };
    let n = n_warm + schedule.len();
    let planned = plan_requests(s, &lengths, case, &label, 0..n, &mut HashMap::new()).await;
    let measured = match planned {
        Err(e) => prep_failed(s, &label, &base_row, &schedule, &e)?,
        Ok(mut planned) => {
            let measured_part = planned.split_off(n_warm.min(planned.len()));
            // Warm-ups together, `max_concurrency` at a time.
            let at_once = rc.open.max_concurrency.map_or(usize::MAX, |c| c as usize);
            for part in planned.chunks(at_once.clamp(1, planned.len().max(1))) {
                join_all(part.iter().map(|p| s.backend.generate(&p.request))).await;
            }
            let sent = Sender {
                s,
                label: &label,
                base_row: &base_row,
                slots: rc
                    .open
                    .max_concurrency
                    .map(|c| tokio::sync::Semaphore::new(c as usize)),
                results: RefCell::new(Vec::with_capacity(schedule.len().min(1 << 16))),
                written: RefCell::new(Ok(())),
                last_done: Cell::new(None),
                spin: rc.rate > 0.0 && 1.0 / rc.rate <= SPIN_BELOW_GAP_S,
            };
            let start = Instant::now();
            join_all(
                measured_part
                    .iter()
                    .zip(&schedule)
                    .enumerate()
                    .map(|(i, (p, &at))| sent.send(i, p, start, at)),
            )
            .await;
            sent.written.into_inner()?;
            let wall = sent.last_done.get().map_or(0.0, |d: Instant| {
                d.saturating_duration_since(start).as_secs_f64()
            });
            let mut rows = sent.results.into_inner();
            rows.sort_by_key(|m| m.row.repetition);
            return finish(s, rc, case, rows, wall, offered);
        }
    };
    finish(s, rc, case, measured, 0.0, offered)
}

/// Every scheduled request of a case whose prompts cannot be prepared becomes an error row.
fn prep_failed(
    s: &ScenarioRun<'_>,
    label: &str,
    base_row: &SampleRow,
    schedule: &[f64],
    err: &RequestError,
) -> Result<Vec<Measured>> {
    let mut out = Vec::with_capacity(schedule.len().min(1 << 16));
    for (i, &at) in schedule.iter().enumerate() {
        let mut row = ScenarioRun::failed_row(base_row, err);
        row.repetition = i as u32;
        row.scheduled_ms = Some(at * 1000.0);
        s.ctx.rec.sample(&row)?;
        s.ctx.progress.request_done(label, None);
        out.push(Measured::failed(row));
    }
    Ok(out)
}

/// What the measured requests of a case share while they are sent.
struct Sender<'a, 'b> {
    s: &'a ScenarioRun<'b>,
    label: &'a str,
    base_row: &'a SampleRow,
    /// `max_concurrency` slots, if capped.
    slots: Option<tokio::sync::Semaphore>,
    results: RefCell<Vec<Measured>>,
    /// The first failure to write a row (the others go on; the case then fails).
    written: RefCell<Result<()>>,
    last_done: Cell<Option<Instant>>,
    /// Finish each wait by spinning (see [`wake_at`]): the schedule is dense.
    spin: bool,
}

/// A request-rate case whose requests come at least this often (10 req/s and more) ends
/// each wait by spinning; a sparser one sleeps to the instant and may wake up to ~2 ms late,
/// which is small against its gaps.
const SPIN_BELOW_GAP_S: f64 = 0.1;
/// How long before its instant a spinning wait stops sleeping: tokio's timer works in whole
/// milliseconds and rounds up, so a sleep ends 0–2 ms after its instant.
const SPIN_MARGIN: Duration = Duration::from_millis(2);

/// Waits until `due`. With `spin`, sleeps until `SPIN_MARGIN` before it and then yields to
/// the runtime until the instant has come, so a request is sent within microseconds of its
/// scheduled time instead of up to ~2 ms after. Yielding (not a bare spin) keeps the other
/// requests' streams served meanwhile; the spin costs at most `SPIN_MARGIN` of CPU per
/// request.
async fn wake_at(due: Instant, spin: bool) {
    if !spin {
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        return;
    }
    if let Some(early) = due.checked_sub(SPIN_MARGIN) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(early)).await;
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

impl Sender<'_, '_> {
    /// Request `i`: sleeps until its scheduled offset `at` (seconds after `start`), waits for
    /// a slot, sends, and records its row.
    async fn send(&self, i: usize, p: &Planned, start: Instant, at: f64) {
        let due = start + Duration::from_secs_f64(at);
        wake_at(due, self.spin).await;
        let woke = Instant::now();
        let _slot = match &self.slots {
            Some(sem) => sem.acquire().await.ok(),
            None => None,
        };
        let sending = Instant::now();
        let started_at = crate::results::manifest::now_rfc3339();
        let resp = self.s.backend.generate(&p.request).await;
        let done = Instant::now();
        drop(_slot);
        if self.last_done.get().is_none_or(|d| done > d) {
            self.last_done.set(Some(done));
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let base = p.base_row(self.base_row);
        let mut m = to_measured(self.s.backend, &base, &p.prepared, &resp).await;
        m.row.repetition = i as u32;
        m.row.started_at = started_at;
        m.row.scheduled_ms = Some(at * 1000.0);
        m.row.sent_ms = Some(ms(sending.saturating_duration_since(start)));
        m.row.send_lag_ms = Some(ms(woke.saturating_duration_since(due)));
        m.row.queue_wait_ms = self
            .slots
            .as_ref()
            .map(|_| ms(sending.saturating_duration_since(woke)));
        self.s
            .ctx
            .progress
            .request_done(self.label, m.row.decode_tok_s);
        if let Err(e) = self.s.ctx.rec.sample(&m.row) {
            *self.written.borrow_mut() = Err(e);
        }
        self.results.borrow_mut().push(m);
    }
}

/// The case's summary rows (written), its progress line, and its outcome: the throughput
/// case's rows (latencies, output tok/s and achieved req/s over the window, goodput), then
/// the offered rate, completed and failed requests, schedule lag and slot waits.
fn finish(
    s: &ScenarioRun<'_>,
    rc: &RateCase,
    case: &Case,
    measured: Vec<Measured>,
    wall_s: f64,
    offered: Offered,
) -> Result<RateRun> {
    let failed = measured
        .iter()
        .filter(|m| m.row.error_category.is_some())
        .count();
    let (mut summary, mut warnings) = summarize_case(s, case, &measured, wall_s);
    let lag: Vec<f64> = measured.iter().filter_map(|m| m.row.send_lag_ms).collect();
    let lagged = summarize(&lag).is_some_and(|l| l.p99 > LAG_FLAG_MS);
    let mut base = summary.first().map_or_else(
        || s.summary_base(case),
        |r| SummaryRow {
            metric: String::new(),
            ..r.clone()
        },
    );
    if lagged {
        let mut flags: Vec<&str> = base.flags.split(';').filter(|f| !f.is_empty()).collect();
        flags.push("schedule_lag");
        flags.sort();
        let flags = flags.join(";");
        for r in &mut summary {
            r.flags.clone_from(&flags);
        }
        base.flags = flags;
        warnings.push(format!(
            "{} / {} / {}: the client sent requests late (p99 schedule lag above {LAG_FLAG_MS} ms): it could not keep up with the offered rate, so latencies reflect the client too",
            s.facts.name, s.scenario.name, case.id
        ));
    }
    let n = measured.len();
    if offered == Offered::Rate {
        summary.push(value_row(&base, &metric::OFFERED_RATE, n, rc.rate));
    }
    summary.push(value_row(
        &base,
        &metric::REQUESTS_COMPLETED,
        n,
        (n - failed) as f64,
    ));
    summary.push(value_row(&base, &metric::REQUESTS_FAILED, n, failed as f64));
    for column in metric::RATE_SUMMARY {
        let values: Vec<f64> = measured
            .iter()
            .filter_map(|m| column.read(&m.row))
            .collect();
        push_summary(&mut summary, &base, column, &values);
    }
    s.ctx.rec.summary(&summary)?;
    if !s.ctx.quiet {
        s.ctx.progress.note(&super::table::case_line(
            s.backend.name(),
            case,
            &summary,
            failed,
            n,
        ));
    }
    Ok(RateRun::from_outcome(CaseOutcome {
        total: n,
        failed,
        summary,
        warnings,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    /// A spinning wait never ends early, and it yields: other tasks (the streams of requests
    /// in flight) keep running while it waits for the instant.
    #[test]
    fn a_spinning_wait_ends_at_its_instant_and_lets_others_run() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            for spin in [false, true] {
                let due = Instant::now() + Duration::from_millis(20);
                let polls = Cell::new(0u32);
                let other = async {
                    while Instant::now() < due {
                        polls.set(polls.get() + 1);
                        tokio::task::yield_now().await;
                    }
                };
                let wait = async {
                    wake_at(due, spin).await;
                    assert!(Instant::now() >= due, "spin {spin}: woke early");
                };
                tokio::join!(wait, other);
                assert!(polls.get() > 1, "spin {spin}: the other task was starved");
            }
        });
    }
}
