//! A sweep (`mode = "sweep"`) on one backend: for each prompt × output length of the
//! scenario, find the **maximum sustainable rate** — the highest offered request rate at which
//! at least `slo_target` of the requests meet the SLO — with `measure::sweep`'s planner.
//!
//! Runs, each a request-rate case of the scenario's `requests` (or `duration`), each with its
//! own case id and rows, in this order:
//! 1. `<point>_sweep_sync`: one request at a time (all due at once, one slot): the synchronous
//!    rate and its SLO counts;
//! 2. `<point>_sweep_sat`: as many in flight as the server takes (`max_concurrency`, else the
//!    server's slots, else 16): the saturated throughput;
//! 3. `<point>_sweep_r<rate>` (a repeat of a rate: `…_r<rate>_run2`): the planner's grid, then
//!    its bisection and confirmation, at the rates it asks for.
//!
//! The answer is the summary row `max_sustainable_rate` of case `<point>_sweep` (value and
//! `ci_low` = the highest passing rate, `ci_high` = the lowest failing one, NaN when none
//! failed; flags `converged` or `not_converged`), an entry in sweep.json (the rates run, each
//! with its good and total counts, and the answer as one sentence), and that sentence on the
//! terminal: "srv on local: 3.4 req/s [3.2, 3.6] at TTFT ≤ 2000 ms for 95% of requests,
//! prompt 512 / output 128".
//!
//! Resume: every run is a rate case, finished or run whole (see `open_loop.rs`). The planner
//! is deterministic given what the runs gave, so a resumed sweep asks for the same rates again,
//! finds them finished, and goes on where it stopped.

use futures_util::future::LocalBoxFuture;
use serde_json::json;

use super::ctx::ScenarioRun;
use super::open_loop::{Offered, RateRun, case_of, run_rate_case, throughput};
use super::outcome::CaseOutcome;
use crate::error::{Error, Result};
use crate::measure::slo::{Bound, Slo};
use crate::measure::sweep::{Answer, Sweep, SweepConfig};
use crate::results::SummaryRow;
use crate::results::metric;
use crate::results::summary::value_row;
use crate::scenario::open_loop::{Load, MAX_RATE, OpenLoop, RateCase, rate_label};
use crate::scenario::{Case, Throughput};
use crate::workload::arrival::Extent;
use crate::workload::lengths::LengthDist;

/// In-flight requests of the saturating run when neither the scenario nor the server says.
const DEFAULT_SATURATION: u32 = 16;

/// The kind runner (see `runner::KindRunner`): the whole scenario is one unit; `cases` is
/// empty (a sweep's cases are chosen as it runs).
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    _cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let t = throughput(s.scenario)?;
        let Load::Sweep { sweep, open } = t.load.as_ref() else {
            return Err(Error::Usage(format!(
                "internal: scenario {} is not a sweep",
                s.scenario.name
            )));
        };
        let Some(slo) = t.slo else {
            return Err(Error::Usage(format!(
                "scenario {}: a sweep needs `slo`",
                s.scenario.name
            )));
        };
        let prompts: Vec<Option<&LengthDist>> = if t.prompts.is_some() {
            vec![None]
        } else {
            t.prompt_lengths.iter().map(Some).collect()
        };
        let mut out = Vec::new();
        for p in &prompts {
            for g in &t.output_lengths {
                let point = Point {
                    id: format!(
                        "pp{}_tg{}_sweep",
                        p.map_or_else(|| "file".into(), LengthDist::label),
                        g.label()
                    ),
                    prompt: p.cloned(),
                    output: g.clone(),
                };
                out.extend(sweep_point(s, t, &point, *sweep, open, &slo).await?);
            }
        }
        Ok(out)
    })
}

/// One prompt × output length of the sweep.
struct Point {
    /// `pp512_tg128_sweep`: the answer's case id and the prefix of its runs' ids.
    id: String,
    prompt: Option<LengthDist>,
    output: LengthDist,
}

impl Point {
    fn rate_case(&self, id: String, rate: f64, open: &OpenLoop, cap: Option<u32>) -> RateCase {
        RateCase {
            id,
            prompt_tokens: self.prompt.clone(),
            max_tokens: self.output.clone(),
            rate,
            open: OpenLoop {
                max_concurrency: cap,
                ..open.clone()
            },
        }
    }

    /// A bounding run: everything due at once, `cap` in flight. A count-bounded sweep sends
    /// its `requests`; a duration-bounded one 4 per slot (at least 16), since its rate is what
    /// the run is to find.
    fn bounding_case(&self, id: String, open: &OpenLoop, cap: u32) -> RateCase {
        let extent = match open.extent {
            Extent::Requests(n) => Extent::Requests(n),
            Extent::Seconds(_) => Extent::Requests(4 * cap.max(4)),
        };
        let open = OpenLoop {
            extent,
            ..open.clone()
        };
        self.rate_case(id, MAX_RATE, &open, Some(cap))
    }
}

/// Runs one rate case of the sweep and adds its outcome to `out`.
async fn one_run(
    s: &ScenarioRun<'_>,
    t: &Throughput,
    rc: &RateCase,
    offered: Offered,
    out: &mut Vec<CaseOutcome>,
) -> Result<(usize, usize, f64)> {
    let case = case_of(s.scenario, t, rc);
    let RateRun {
        outcome,
        good,
        requests,
        achieved,
    } = run_rate_case(s, t, rc, &case, offered).await?;
    out.push(outcome);
    Ok((good, requests, achieved))
}

// Stays whole: the sweep's steps in order (bounding runs, planner loop, answer), each short.
async fn sweep_point(
    s: &ScenarioRun<'_>,
    t: &Throughput,
    point: &Point,
    cfg: SweepConfig,
    open: &OpenLoop,
    slo: &Slo,
) -> Result<Vec<CaseOutcome>> {
    let mut out = Vec::new();
    // A sweep finished before a resume is walked again: its runs all come back finished (the
    // planner asks for the same rates), so their rows count in the run's totals, and its
    // answer row is not written twice.
    let done = s.ctx.resume.finished(&s.key(&point.id));
    // 1. One at a time: everything due at once, one slot.
    let sync = point.bounding_case(format!("{}_sync", point.id), open, 1);
    let (sync_good, sync_n, sync_rate) = one_run(s, t, &sync, Offered::AllAtOnce, &mut out).await?;
    // 2. As many in flight as the server takes.
    let cap = open
        .max_concurrency
        .or(s.facts.slots)
        .unwrap_or(DEFAULT_SATURATION)
        .max(1);
    let sat = point.bounding_case(format!("{}_sat", point.id), open, cap);
    let (_, _, sat_rate) = one_run(s, t, &sat, Offered::AllAtOnce, &mut out).await?;
    let mut planner = Sweep::new(cfg, sync_rate, sync_good, sync_n, sat_rate).map_err(|e| {
        Error::Backend {
            backend: s.backend.name().to_string(),
            message: format!(
                "{}: the sweep cannot be planned ({e}): the bounding runs measured no completed request",
                point.id
            ),
        }
    })?;
    // 3. The planner's rates, each a rate case of its own.
    let mut runs_of: Vec<(f64, u32)> = Vec::new();
    while let Some(rate) = planner.next_rate() {
        let k = match runs_of.iter_mut().find(|(r, _)| *r == rate) {
            Some((_, k)) => {
                *k += 1;
                *k
            }
            None => {
                runs_of.push((rate, 1));
                1
            }
        };
        let id = match k {
            1 => format!("{}_r{}", point.id, rate_label(rate)),
            k => format!("{}_r{}_run{k}", point.id, rate_label(rate)),
        };
        let rc = point.rate_case(id, rate, open, open.max_concurrency);
        let (good, n, _) = one_run(s, t, &rc, Offered::Rate, &mut out).await?;
        planner.record(rate, good, n);
    }
    let answer = planner.answer();
    let line = answer_line(s, t, point, &answer, slo, cfg.target);
    if let Some(done) = done {
        out.push(done);
        return Ok(out);
    }
    let mut row = answer_row(s, t, point, &answer);
    row.flags = if answer.converged {
        "converged"
    } else {
        "not_converged"
    }
    .into();
    s.ctx.rec.sweep(json!({
        "backend": s.backend.name(),
        "scenario": s.scenario.name,
        "case_id": point.id,
        "answer": line,
        "max_sustainable_rate": answer.last_pass.map(|r| r.rate),
        "lowest_failing_rate": answer.first_fail.map(|r| r.rate),
        "converged": answer.converged,
        "target": cfg.target,
        "tolerance": cfg.tolerance,
        "slo": Bound::ALL.iter().filter_map(|b| slo.bound(*b).map(|v| (b.key(), v))).collect::<std::collections::BTreeMap<_, _>>(),
        "synchronous_rate": sync_rate,
        "saturated_rate": sat_rate,
        "saturation_concurrency": cap,
        "rates": planner.results().iter().map(|r| json!({
            "rate": r.rate,
            "good": r.good,
            "requests": r.requests,
            "runs": r.runs,
            "passed_runs": r.passed_runs,
            "passes": r.passes(),
        })).collect::<Vec<_>>(),
    }))?;
    s.ctx.rec.summary(std::slice::from_ref(&row))?;
    // The answer is the sweep's one line, printed whatever `--quiet` says about case lines.
    if s.ctx.quiet {
        eprintln!("{}", crate::secret::scrub(&line));
    } else {
        s.ctx.progress.note(&line);
    }
    out.push(CaseOutcome {
        total: 0,
        failed: 0,
        summary: vec![row],
        warnings: Vec::new(),
    });
    Ok(out)
}

/// The `max_sustainable_rate` row of the sweep's case.
fn answer_row(s: &ScenarioRun<'_>, t: &Throughput, point: &Point, a: &Answer) -> SummaryRow {
    let rc = point.rate_case(point.id.clone(), 1.0, &default_open(), None);
    let base = s.summary_base(&case_of(s.scenario, t, &rc));
    let lo = a.last_pass.map_or(f64::NAN, |r| r.rate);
    let hi = a.first_fail.map_or(f64::NAN, |r| r.rate);
    SummaryRow {
        ci_low: lo,
        ci_high: hi,
        ..value_row(&base, &metric::MAX_SUSTAINABLE_RATE, a.runs as usize, lo)
    }
}

fn default_open() -> OpenLoop {
    OpenLoop {
        arrival: crate::workload::arrival::Arrival::Poisson,
        max_concurrency: None,
        extent: Extent::Requests(1),
    }
}

/// "srv on local: 3.4 req/s [3.2, 3.6] at TTFT ≤ 2000 ms, TPOT ≤ 100 ms for 95% of requests,
/// prompt 512 / output 128".
fn answer_line(
    s: &ScenarioRun<'_>,
    t: &Throughput,
    point: &Point,
    a: &Answer,
    slo: &Slo,
    target: f64,
) -> String {
    let bounds: Vec<String> = Bound::ALL
        .iter()
        .filter_map(|b| {
            let v = slo.bound(*b)?;
            let name = match b {
                Bound::Ttft => "TTFT",
                Bound::Tpot => "TPOT",
                Bound::Itl => "ITL",
                Bound::E2e => "E2E",
            };
            Some(format!("{name} ≤ {v} ms"))
        })
        .collect();
    let lengths = format!(
        "prompt {} / output {}",
        match &point.prompt {
            Some(d) => d.label(),
            None => format!(
                "from {}",
                t.prompts
                    .as_ref()
                    .and_then(|p| p.path.file_name())
                    .map_or_else(
                        || "the prompts file".into(),
                        |n| n.to_string_lossy().into_owned()
                    )
            ),
        },
        point.output.label()
    );
    let who = format!("{} on {}", s.backend.name(), s.device);
    let at = format!(
        "at {} for {}% of requests, {lengths}",
        bounds.join(", "),
        (target * 100.0).round()
    );
    let unfinished = if a.converged {
        ""
    } else {
        " (not converged: the sweep's run budget ran out)"
    };
    match (a.last_pass, a.first_fail) {
        (Some(p), Some(f)) => format!(
            "{who}: {:.3} req/s [{:.3}, {:.3}] {at}{unfinished}",
            p.rate, p.rate, f.rate
        ),
        (Some(p), None) => format!(
            "{who}: at least {:.3} req/s (met up to the saturated throughput; no offered rate failed) {at}{unfinished}",
            p.rate
        ),
        (None, Some(f)) => format!(
            "{who}: no sustainable rate: even one request at a time ({:.3} req/s) misses the SLO {at}",
            f.rate
        ),
        (None, None) => format!("{who}: no answer (no run completed) {at}"),
    }
}
