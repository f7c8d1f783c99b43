//! Executes scenarios: for each backend (one at a time, so servers never compete for the
//! machine), for each case: prepare the salted exact prompts, make the warm-up requests,
//! then the measured ones with `concurrency` streams in flight, writing each sample row as
//! soon as it is measured and a summary per case at its end.
//!
//! A run is planned (`plan.rs`: resume, checks, run folder, run.json), executed backend by
//! backend (`execute`) and finished (`finish`: run.json's status). Every scenario kind has a
//! runner of the same signature ([`KindRunner`]), chosen in one table ([`units`]): throughput
//! cases in closed loop (`closed_loop.rs`), at request rates (`open_loop.rs`), as a sweep to
//! the maximum sustainable rate (`sweep.rs`) or as llama-bench tests (`pp_tg.rs`), `context.rs`,
//! `tools/` (tool calls and structured output) and `multimodal/`. Runners build their rows from
//! `ctx::ScenarioRun` and write them through `ctx::Recorder`, the one owner of the run's files.

mod batched;
mod closed_loop;
mod context;
pub(crate) mod ctx;
mod drift;
mod multimodal;
mod open_loop;
mod outcome;
mod plan;
mod pp_tg;
mod progress;
mod request;
mod resume;
pub(crate) mod summary;
mod sweep;
pub mod table;
mod tools;

use std::path::PathBuf;

use futures_util::future::LocalBoxFuture;

use crate::backend::{Backend, BackendFacts};
use crate::error::{Error, Result};
use crate::results::SummaryRow;
use crate::results::manifest::now_rfc3339;
use crate::scenario::open_loop::Load;
use crate::scenario::{Case, Scenario, ScenarioBody};
use ctx::{Recorder, RunCtx, ScenarioRun};
use outcome::CaseOutcome;
use plan::Plan;

pub use progress::Progress;
/// The terminal tables of tool-call and structured cases (kept at its old path).
pub use tools::table as tool_table;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub scenarios: Vec<PathBuf>,
    pub config: PathBuf,
    pub backends: Vec<String>,
    /// Parent folder of run folders (`results/` by default).
    pub out: PathBuf,
    pub run_id: Option<String>,
    pub label: Option<String>,
    pub quiet: bool,
    /// Measure memory bandwidth before the run and record it in run.json (`--probe`).
    pub probe: bool,
    pub command_line: Vec<String>,
    /// Finish the run in this folder: only the missing cases and requests are run.
    pub resume: Option<PathBuf>,
    /// Resume even if the scenario or config files changed since the run started.
    pub force: bool,
    /// With `resume`: send failed requests again (their rows move to attempts.csv).
    pub retry_failed: bool,
    /// Run only shard I of N (1-based) of the case list.
    pub shard: Option<(u32, u32)>,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub summary: Vec<SummaryRow>,
    pub requests_total: usize,
    pub requests_failed: usize,
    pub warnings: Vec<String>,
    /// What each backend said about itself (for the pp_tg table's model columns).
    pub facts: Vec<BackendFacts>,
    /// Ctrl-C or SIGTERM stopped the run: `summary` holds the cases finished so far (read
    /// back from summary.csv), and the run can be finished with `--resume`.
    pub interrupted: bool,
}

/// The default run id: local date and time to the millisecond, then the scenario names,
/// e.g. `20261202-004512.345-throughput`; ids sort by start time.
pub fn new_run_id(scenarios: &[Scenario]) -> String {
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    let mut name = names.join("+");
    name.retain(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '+');
    format!(
        "{}-{}",
        chrono::Local::now().format("%Y%m%d-%H%M%S%.3f"),
        name
    )
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (CI cancelling a job), so both stop servers cleanly.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Per-run randomness for salts: wall clock and process id, so two runs never share salts.
fn run_nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ ((std::process::id() as u64) << 40)
}

/// Parses `I/N` (1 ≤ I ≤ N).
pub fn parse_shard(s: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("--shard {s:?}: expected I/N with 1 ≤ I ≤ N, e.g. 2/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i == 0 || n == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// How a kind's work is split into shard units, and who runs a unit. Every runner has the
/// same signature ([`KindRunner`]): it is handed one scenario on one backend and the cases of
/// its unit, and returns one outcome per case it ran.
enum Units {
    /// Each case is a unit; the case's mode picks its runner.
    EachCase(fn(&Case) -> KindRunner),
    /// The whole scenario is one unit (its cases depend on the backend or on each other).
    Whole(KindRunner),
}

/// A kind runner: the cases of one shard unit of a scenario, on one backend.
pub(crate) type KindRunner =
    for<'a> fn(&'a ScenarioRun<'a>, &'a [Case]) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>>;

/// The table of kinds. A new kind is a new arm here (the match has no catch-all, so the
/// compiler asks for it) and a file with its runner; a new way to run throughput cases
/// (request-rate arrivals, sweeps, batching) is a new arm in [`throughput_mode`].
fn units(body: &ScenarioBody) -> Units {
    match body {
        ScenarioBody::Throughput(_) => Units::EachCase(throughput_mode),
        ScenarioBody::Context(_) => Units::Whole(context::run),
        ScenarioBody::ToolCalls(_) => Units::Whole(tools::run_tool_calls),
        ScenarioBody::Structured(_) => Units::Whole(tools::run_structured),
        ScenarioBody::Multimodal(_) => Units::Whole(multimodal::run),
        ScenarioBody::Drift(_) => Units::Whole(drift::run),
    }
}

/// The runner of one throughput case: llama-bench-style tests and serving cases run apart.
fn throughput_mode(case: &Case) -> KindRunner {
    match (case.pp_tg, case.batched) {
        (Some(_), _) => pp_tg::run,
        (None, Some(_)) => batched::run,
        (None, None) => closed_loop::run,
    }
}

/// A scenario's shard units, in order, each with its runner. Request-rate cases are made
/// from the scenario's rates (`Throughput::rate_cases`), one unit each.
fn shard_units(scenario: &Scenario) -> Vec<(KindRunner, Vec<Case>)> {
    if let ScenarioBody::Throughput(t) = &scenario.body
        && let Load::Rates { .. } = t.load.as_ref()
    {
        return t
            .rate_cases()
            .iter()
            .map(|rc| {
                let run: KindRunner = open_loop::run;
                (run, vec![open_loop::case_of(scenario, t, rc)])
            })
            .collect();
    }
    if let ScenarioBody::Throughput(t) = &scenario.body
        && let Load::Sweep { .. } = t.load.as_ref()
    {
        let run: KindRunner = sweep::run;
        return vec![(run, Vec::new())];
    }
    let cases = scenario.cases();
    match units(&scenario.body) {
        Units::EachCase(mode) => cases.into_iter().map(|c| (mode(&c), vec![c])).collect(),
        Units::Whole(runner) => vec![(runner, cases)],
    }
}

/// What the backends' sessions add up to.
#[derive(Default)]
struct Tally {
    summary: Vec<SummaryRow>,
    facts: Vec<BackendFacts>,
    failed: usize,
    done: usize,
}

/// Runs the scenarios: plan (resume and run.json), execute (backend by backend), finish
/// (run.json's final status and the outcome).
pub async fn run(opts: RunOptions) -> Result<RunOutcome> {
    let mut plan = plan::plan(&opts)?;
    let total: u64 = plan.backends.len() as u64
        * plan
            .scenarios
            .iter()
            .flat_map(|s| s.cases())
            .map(|c| c.requests() as u64)
            .sum::<u64>();
    let ctx = RunCtx {
        run_id: plan.run_id.clone(),
        nonce: run_nonce(),
        rec: Recorder::open(&plan.run_dir)?,
        progress: Progress::new(total, opts.quiet),
        quiet: opts.quiet,
        resume: std::mem::take(&mut plan.resume),
        resumed_cases: Default::default(),
        config: plan.config.clone(),
    };
    let mut tally = Tally::default();
    // The backends run inside a future that Ctrl-C can drop: dropping it drops the backend,
    // which stops a launched server; then the manifest still records what happened.
    let result = tokio::select! {
        r = execute(&mut plan, &ctx, &mut tally) => r,
        _ = interrupted() => Err(Error::Interrupted),
    };
    ctx.progress.finish();
    finish(plan, tally, result.err())
}

/// Every backend in turn, each running every scenario's units of this shard.
async fn execute(plan: &mut Plan, ctx: &RunCtx, tally: &mut Tally) -> Result<()> {
    for i in 0..plan.backends.len() {
        let bc = plan.backends[i].clone();
        let device = plan
            .label
            .clone()
            .or_else(|| bc.device.clone())
            .unwrap_or_else(|| plan.manifest.device.clone());
        let mut backend = Backend::connect(&bc, &plan.run_dir).await?;
        let facts = backend.probe().await?;
        // On resume the backend is described afresh (the server may have been rebuilt).
        let manifest = &mut plan.manifest;
        manifest
            .backends
            .retain(|b| b.get("name").and_then(|n| n.as_str()) != Some(bc.name.as_str()));
        manifest
            .backends
            .push(serde_json::to_value(&facts).unwrap_or_default());
        tally.facts.retain(|f: &BackendFacts| f.name != facts.name);
        tally.facts.push(facts.clone());
        manifest.write(&plan.run_dir)?;
        ctx.progress.note(&format!(
            "backend {}: {} ({}), model {}",
            bc.name,
            facts.server.as_deref().unwrap_or("openai-compatible"),
            facts.server_version.as_deref().unwrap_or("version unknown"),
            facts.model.as_deref().unwrap_or("?")
        ));
        let mut k = 0usize;
        for scenario in &plan.scenarios {
            let s = ScenarioRun {
                ctx,
                backend: &backend,
                facts: &facts,
                device: &device,
                scenario,
            };
            for (runner, cases) in shard_units(scenario) {
                k += 1;
                if !plan.in_shard(k - 1) {
                    continue;
                }
                // One request at a time unless the unit's runner asks for more (throughput
                // cases reserve their own streams): an in-process engine then gives its
                // whole context to one sequence.
                backend.reserve_streams(1).await;
                for out in runner(&s, &cases).await? {
                    tally.failed += out.failed;
                    tally.done += out.total;
                    plan.manifest.warnings.extend(out.warnings);
                    tally.summary.extend(out.summary);
                }
            }
        }
        for r in backend.restart_log() {
            plan.manifest.warnings.push(format!("{}: {r}", bc.name));
        }
        drop(backend); // stops a launched server before the next backend starts
    }
    Ok(())
}

/// Records how the run ended in run.json and makes the outcome. An interrupted run's
/// outcome holds every case finished so far (this session's and those before it).
fn finish(plan: Plan, tally: Tally, fatal: Option<Error>) -> Result<RunOutcome> {
    let Plan {
        run_dir,
        mut manifest,
        ..
    } = plan;
    manifest.status = match &fatal {
        // Every case ran, but some requests failed: `--resume --retry-failed` sends them again.
        None if tally.failed > 0 => "complete_with_errors".into(),
        None => "complete".into(),
        Some(Error::Interrupted) => "interrupted".into(),
        Some(_) => "failed".into(),
    };
    manifest.ended_at = Some(now_rfc3339());
    manifest.requests_total = tally.done;
    manifest.requests_failed = tally.failed;
    manifest.warnings.sort();
    manifest.warnings.dedup();
    manifest.peak_rss_bytes = crate::results::manifest::peak_rss_bytes();
    manifest.write(&run_dir)?;
    let interrupted = matches!(fatal, Some(Error::Interrupted));
    let summary = if interrupted {
        crate::results::reader::read_summary(&run_dir.join("summary.csv"))
            .map(|r| r.rows)
            .unwrap_or_default()
    } else if let Some(e) = fatal {
        return Err(e);
    } else {
        tally.summary
    };
    Ok(RunOutcome {
        run_dir,
        summary,
        requests_total: tally.done,
        requests_failed: tally.failed,
        warnings: manifest.warnings,
        facts: tally.facts,
        interrupted,
    })
}
