//! Executes scenarios: for each backend (one at a time, so servers never compete for the
//! machine), for each case: prepare the salted exact prompts, make the warm-up requests,
//! then the measured ones with `concurrency` streams in flight, writing each sample row as
//! soon as it is measured and a summary per case at its end.

mod agent_loop;
mod case;
mod context;
mod multimodal;
mod pp_tg;
mod progress;
mod request;
mod resume;
pub(crate) mod summary;
pub mod table;
mod tool_case;
mod tool_request;
mod tool_run;
mod tool_summary;
pub mod tool_table;

use std::path::{Path, PathBuf};

use crate::backend::{Backend, BackendFacts, Config};
use crate::error::{Error, Result};
use crate::results::device::HostFingerprint;
use crate::results::manifest::{ScenarioRecord, now_rfc3339};
use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::results::{CsvAppender, RunManifest, SummaryRow};
use crate::scenario::{Scenario, ScenarioBody};

pub use progress::Progress;

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

/// Everything the cases of one run share.
pub(crate) struct RunCtx {
    pub run_id: String,
    pub nonce: u64,
    pub samples: std::cell::RefCell<CsvAppender>,
    pub summary: std::cell::RefCell<CsvAppender>,
    pub progress: Progress,
    pub quiet: bool,
    pub resume: resume::ResumeState,
    /// Cases that got rows before a resume (their case-wide throughput is not reported).
    pub resumed_cases: std::cell::RefCell<std::collections::HashSet<resume::CaseKey>>,
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

/// Claims a fresh folder for a run with a default id: `create_dir` fails if another run
/// (another process started in the same millisecond) took the name first, and then the next
/// suffix (`-2`, `-3`, …) is tried, so two runs never share a folder.
fn claim_run_dir(out: &Path, base: &str) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(out).map_err(|e| Error::results(out, e))?;
    let mut n = 1u32;
    loop {
        let id = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(Error::results(&dir, e)),
        }
    }
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

fn sha256_of(path: &Path) -> Result<String> {
    crate::hash::sha256_file(path)
        .map(|(sha, _)| sha)
        .map_err(|e| Error::file(path, e))
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

pub async fn run(opts: RunOptions) -> Result<RunOutcome> {
    // What to run comes from the command line, or, with --resume, from the run's own record.
    let previous = match &opts.resume {
        Some(dir) => Some(RunManifest::read(dir)?),
        None => None,
    };
    let invocation = match &previous {
        Some(m) => Some(m.invocation.clone().ok_or_else(|| {
            Error::Usage("run.json does not record how the run was made (an older edgebench wrote it); it cannot be resumed".into())
        })?),
        None => None,
    };
    let scenario_paths: Vec<PathBuf> = match &previous {
        Some(m) => m.scenarios.iter().map(|s| PathBuf::from(&s.path)).collect(),
        None => opts.scenarios.clone(),
    };
    let config_path = invocation
        .as_ref()
        .map_or_else(|| opts.config.clone(), |i| PathBuf::from(&i.config_path));
    let backend_names = invocation
        .as_ref()
        .map_or_else(|| opts.backends.clone(), |i| i.backends.clone());
    let label = invocation
        .as_ref()
        .map_or_else(|| opts.label.clone(), |i| i.label.clone());
    let shard = match &invocation {
        Some(i) => i
            .shard
            .as_deref()
            .map(parse_shard)
            .transpose()
            .map_err(Error::Usage)?,
        None => opts.shard,
    };

    // Everything the user wrote is checked before anything starts.
    let scenarios = scenario_paths
        .iter()
        .map(|p| Scenario::load(p))
        .collect::<Result<Vec<_>>>()?;
    if scenarios.is_empty() {
        return Err(Error::Usage("name at least one scenario file".into()));
    }
    if opts.retry_failed && opts.resume.is_none() {
        return Err(Error::Usage(
            "--retry-failed goes with --resume RUN_DIR".into(),
        ));
    }
    // A plan that cannot fit in memory would abort part-way: refuse it before anything starts.
    let memory = HostFingerprint::read().memory_bytes;
    if let Some(e) = scenarios
        .iter()
        .find_map(|s| crate::scenario::plan::check_memory(s, memory))
    {
        return Err(e);
    }
    let config = Config::load(&config_path)?;
    let config_sha256 = sha256_of(&config_path)?;
    let selected = config.select(&backend_names)?;
    for bc in &selected {
        bc.check_inputs()?;
    }
    if let (Some(m), Some(inv)) = (&previous, &invocation) {
        // The same files, or a resumed run would mix two experiments in one table.
        let mut changed: Vec<String> = Vec::new();
        for (rec, s) in m.scenarios.iter().zip(&scenarios) {
            if rec.sha256 != s.sha256 {
                changed.push(format!(
                    "scenario {} (sha256 {}… → {}…)",
                    rec.path,
                    &rec.sha256[..12.min(rec.sha256.len())],
                    &s.sha256[..12]
                ));
            }
        }
        if inv.config_sha256 != config_sha256 {
            changed.push(format!("backend config {}", inv.config_path));
        }
        if !changed.is_empty() && !opts.force {
            return Err(Error::Usage(format!(
                "cannot resume: {} changed since the run started; pass --force to resume anyway",
                changed.join(", ")
            )));
        }
    }

    let (run_id, run_dir) = match (&previous, &opts.resume) {
        (Some(m), Some(dir)) => (m.run_id.clone(), dir.clone()),
        _ => match &opts.run_id {
            Some(run_id) => {
                let run_dir = opts.out.join(run_id);
                if run_dir.join("samples.csv").exists() {
                    return Err(Error::Usage(format!(
                        "{} already holds a run; choose another --run-id, or --resume it",
                        run_dir.display()
                    )));
                }
                (run_id.clone(), run_dir)
            }
            None => claim_run_dir(&opts.out, &new_run_id(&scenarios))?,
        },
    };
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::results(&run_dir, e))?;
    let mut host = HostFingerprint::read();
    if opts.probe {
        host.memory_bandwidth_gbs = Some(crate::results::bandwidth::probe());
    }
    let mut manifest = match previous {
        Some(mut m) => {
            m.status = "running".into();
            m.ended_at = None;
            if let Some(inv) = m.invocation.as_mut() {
                inv.resumed_at.push(now_rfc3339());
            }
            m
        }
        None => RunManifest {
            scenarios: scenarios
                .iter()
                .map(|s| ScenarioRecord {
                    name: s.name.clone(),
                    kind: s.kind().into(),
                    path: s.path.display().to_string(),
                    sha256: s.sha256.clone(),
                    sampling: Some(s.sampling_key()),
                })
                .collect(),
            device: host.run_label(
                label.as_deref(),
                &selected
                    .iter()
                    .map(|b| b.device.as_deref())
                    .collect::<Vec<_>>(),
            ),
            invocation: Some(crate::results::manifest::Invocation {
                config_path: config_path.display().to_string(),
                config_sha256: config_sha256.clone(),
                backends: selected.iter().map(|b| b.name.clone()).collect(),
                label: label.clone(),
                shard: shard.map(|(i, n)| format!("{i}/{n}")),
                resumed_at: Vec::new(),
                merged_from: Vec::new(),
            }),
            ..RunManifest::new(&run_id, "running", opts.command_line.clone(), host)
        },
    };
    manifest.write(&run_dir)?;
    let resume_state = if opts.resume.is_some() {
        // A failure reopens a `duration_s` case whole: another slice of time is another
        // experiment, so its rows are not mixed with new ones.
        let whole: resume::WholeCases = scenarios
            .iter()
            .flat_map(|s| {
                s.cases()
                    .into_iter()
                    .filter(|c| c.duration_s.is_some())
                    .map(|c| (s.name.clone(), c.id.clone()))
            })
            .collect();
        let state = resume::ResumeState::load(&run_dir, opts.retry_failed, &whole)?;
        if state.moved > 0 && !opts.quiet {
            eprintln!(
                "resume: {} request row(s) moved to {} to be sent again",
                state.moved,
                run_dir.join(resume::ATTEMPTS_FILE).display()
            );
        }
        state
    } else {
        resume::ResumeState::default()
    };

    // The shard's slice of the case list: case k (counted over all scenarios, a context
    // scenario being one unit) belongs to shard (k mod N) + 1. The same on every backend.
    let in_shard = |k: usize| shard.is_none_or(|(i, n)| k % n as usize == (i - 1) as usize);

    let total: u64 = selected.len() as u64
        * scenarios
            .iter()
            .flat_map(|s| s.cases())
            .map(|c| c.requests() as u64)
            .sum::<u64>();
    let ctx = RunCtx {
        run_id: run_id.clone(),
        nonce: run_nonce(),
        samples: CsvAppender::open(&run_dir.join("samples.csv"), SAMPLE_COLUMNS)?.into(),
        summary: CsvAppender::open(&run_dir.join("summary.csv"), SUMMARY_COLUMNS)?.into(),
        progress: Progress::new(total, opts.quiet),
        quiet: opts.quiet,
        resume: resume_state,
        resumed_cases: Default::default(),
    };

    let mut all_summary = Vec::new();
    let mut all_facts: Vec<BackendFacts> = Vec::new();
    let mut failed = 0usize;
    let mut done = 0usize;
    // The backends run inside a future that Ctrl-C can drop: dropping it drops the backend,
    // which stops a launched server; then the manifest still records what happened.
    let body = async {
        for bc in &selected {
            let device = label
                .clone()
                .or_else(|| bc.device.clone())
                .unwrap_or_else(|| manifest.device.clone());
            let backend = Backend::connect(bc, &run_dir).await;
            let mut backend = backend?;
            let facts = backend.probe().await?;
            // On resume the backend is described afresh (the server may have been rebuilt).
            manifest
                .backends
                .retain(|b| b.get("name").and_then(|n| n.as_str()) != Some(bc.name.as_str()));
            manifest
                .backends
                .push(serde_json::to_value(&facts).unwrap_or_default());
            all_facts.retain(|f: &BackendFacts| f.name != facts.name);
            all_facts.push(facts.clone());
            manifest.write(&run_dir)?;
            ctx.progress.note(&format!(
                "backend {}: {} ({}), model {}",
                bc.name,
                facts.server.as_deref().unwrap_or("openai-compatible"),
                facts.server_version.as_deref().unwrap_or("version unknown"),
                facts.model.as_deref().unwrap_or("?")
            ));
            let mut k = 0usize;
            for scenario in &scenarios {
                let outcomes = match &scenario.body {
                    ScenarioBody::Throughput(_) => {
                        let mut v = Vec::new();
                        for case in scenario.cases() {
                            k += 1;
                            if in_shard(k - 1) {
                                // llama-bench-style tests and serving cases run apart.
                                v.push(if case.pp_tg.is_some() {
                                    pp_tg::run_case(
                                        &ctx, &backend, &facts, &device, scenario, &case,
                                    )
                                    .await?
                                } else {
                                    case::run_case(&ctx, &backend, &facts, &device, scenario, &case)
                                        .await?
                                });
                            }
                        }
                        v
                    }
                    ScenarioBody::Context(c) => {
                        k += 1;
                        if in_shard(k - 1) {
                            vec![
                                context::run_context(&ctx, &backend, &facts, &device, scenario, c)
                                    .await?,
                            ]
                        } else {
                            Vec::new()
                        }
                    }
                    ScenarioBody::Multimodal(m) => {
                        k += 1;
                        if in_shard(k - 1) {
                            multimodal::run_scenario(&ctx, &backend, &facts, &device, scenario, m)
                                .await?
                        } else {
                            Vec::new()
                        }
                    }
                    _ => {
                        k += 1;
                        if in_shard(k - 1) {
                            tool_case::run_scenario(&ctx, &backend, &facts, &device, scenario)
                                .await?
                        } else {
                            Vec::new()
                        }
                    }
                };
                for out in outcomes {
                    failed += out.failed;
                    done += out.total;
                    manifest.warnings.extend(out.warnings);
                    all_summary.extend(out.summary);
                }
            }
            for r in backend.restart_log() {
                manifest.warnings.push(format!("{}: {r}", bc.name));
            }
            drop(backend); // stops a launched server before the next backend starts
        }
        Ok::<(), Error>(())
    };
    let result = tokio::select! {
        r = body => r,
        _ = interrupted() => Err(Error::Interrupted),
    };
    let fatal = result.err();
    ctx.progress.finish();
    manifest.status = match &fatal {
        // Every case ran, but some requests failed: `--resume --retry-failed` sends them again.
        None if failed > 0 => "complete_with_errors".into(),
        None => "complete".into(),
        Some(Error::Interrupted) => "interrupted".into(),
        Some(_) => "failed".into(),
    };
    manifest.ended_at = Some(now_rfc3339());
    manifest.requests_total = done;
    manifest.requests_failed = failed;
    manifest.warnings.sort();
    manifest.warnings.dedup();
    manifest.peak_rss_bytes = crate::results::manifest::peak_rss_bytes();
    manifest.write(&run_dir)?;
    let interrupted = matches!(fatal, Some(Error::Interrupted));
    if interrupted {
        // The cases finished so far, this session's and those of the sessions before it.
        all_summary = crate::results::reader::read_summary(&run_dir.join("summary.csv"))
            .map(|r| r.rows)
            .unwrap_or_default();
    } else if let Some(e) = fatal {
        return Err(e);
    }
    Ok(RunOutcome {
        run_dir,
        summary: all_summary,
        requests_total: done,
        requests_failed: failed,
        warnings: manifest.warnings,
        facts: all_facts,
        interrupted,
    })
}
