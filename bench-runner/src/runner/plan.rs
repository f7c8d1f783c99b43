//! Planning a run before anything is sent: what to run (from the command line, or with
//! `--resume` from the run's own record), every input checked, the run folder claimed, its
//! `run.json` written, and what an interrupted run already holds.

use std::path::{Path, PathBuf};

use super::resume::{self, ResumeState};
use super::{RunOptions, parse_shard};
use crate::backend::{BackendConfig, Config};
use crate::error::{Error, Result};
use crate::results::RunManifest;
use crate::results::device::HostFingerprint;
use crate::results::manifest::{Invocation, ScenarioRecord, now_rfc3339};
use crate::scenario::Scenario;

/// A run ready to execute.
pub(super) struct Plan {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub scenarios: Vec<Scenario>,
    pub backends: Vec<BackendConfig>,
    /// `--label`: the device label every row carries, over each backend's own.
    pub label: Option<String>,
    /// Shard I of N (1-based) of the case list.
    pub shard: Option<(u32, u32)>,
    pub manifest: RunManifest,
    pub resume: ResumeState,
    /// The backend config (a drift scenario's reference may be outside `backends`).
    pub config: Config,
}

impl Plan {
    /// True when shard unit `k` (0-based, counted over all scenarios) belongs to this run:
    /// unit k goes to shard (k mod N) + 1, the same on every backend.
    pub fn in_shard(&self, k: usize) -> bool {
        self.shard
            .is_none_or(|(i, n)| k % n as usize == (i - 1) as usize)
    }
}

/// What to run: the command line's choices, or those recorded in the run being resumed.
struct Choices {
    previous: Option<RunManifest>,
    scenario_paths: Vec<PathBuf>,
    config_path: PathBuf,
    backend_names: Vec<String>,
    label: Option<String>,
    shard: Option<(u32, u32)>,
}

fn choices(opts: &RunOptions) -> Result<Choices> {
    let Some(dir) = &opts.resume else {
        return Ok(Choices {
            previous: None,
            scenario_paths: opts.scenarios.clone(),
            config_path: opts.config.clone(),
            backend_names: opts.backends.clone(),
            label: opts.label.clone(),
            shard: opts.shard,
        });
    };
    let m = RunManifest::read(dir)?;
    let inv = m
        .invocation
        .clone()
        .ok_or_else(|| Error::ResumeUnrecorded {
            run_dir: dir.clone(),
        })?;
    let shard = inv
        .shard
        .as_deref()
        .map(parse_shard)
        .transpose()
        .map_err(|message| Error::file(dir.join("run.json"), message))?;
    Ok(Choices {
        scenario_paths: m.scenarios.iter().map(|s| PathBuf::from(&s.path)).collect(),
        config_path: PathBuf::from(&inv.config_path),
        backend_names: inv.backends,
        label: inv.label,
        shard,
        previous: Some(m),
    })
}

pub(super) fn plan(opts: &RunOptions) -> Result<Plan> {
    let c = choices(opts)?;
    // Everything the user wrote is checked before anything starts.
    let scenarios = c
        .scenario_paths
        .iter()
        .map(|p| Scenario::load(p))
        .collect::<Result<Vec<_>>>()?;
    if scenarios.is_empty() {
        return Err(Error::NoScenario);
    }
    if opts.retry_failed && opts.resume.is_none() {
        return Err(Error::RetryWithoutResume);
    }
    // A plan that cannot fit in memory would abort part-way: refuse it before anything starts.
    let memory = HostFingerprint::read().memory_bytes;
    if let Some(e) = scenarios
        .iter()
        .find_map(|s| crate::scenario::plan::check_memory(s, memory))
    {
        return Err(e);
    }
    let config = Config::load(&c.config_path)?;
    let config_sha256 = sha256_of(&c.config_path)?;
    let backends = config.select(&c.backend_names)?;
    for bc in &backends {
        bc.check_inputs()?;
    }
    super::batched::check_backends(&scenarios, &backends)?;
    super::drift::check_references(&scenarios, &config)?;
    if let Some(m) = &c.previous {
        check_unchanged(m, &scenarios, &config_sha256, opts.force)?;
    }
    let (run_id, run_dir) = match (&c.previous, &opts.resume) {
        (Some(m), Some(dir)) => (m.run_id.clone(), dir.clone()),
        _ => new_run_dir(opts, &scenarios)?,
    };
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::write(&run_dir, e))?;
    let mut host = HostFingerprint::read();
    if opts.probe {
        host.memory_bandwidth_gbs = Some(crate::results::bandwidth::probe());
    }
    let manifest = match c.previous {
        Some(mut m) => {
            m.status = "running".into();
            m.ended_at = None;
            if let Some(inv) = m.invocation.as_mut() {
                inv.resumed_at.push(now_rfc3339());
            }
            m
        }
        None => {
            let inv = Invocation {
                config_path: c.config_path.display().to_string(),
                config_sha256,
                backends: backends.iter().map(|b| b.name.clone()).collect(),
                label: c.label.clone(),
                shard: c.shard.map(|(i, n)| format!("{i}/{n}")),
                resumed_at: Vec::new(),
                merged_from: Vec::new(),
            };
            new_manifest(opts, &run_id, &scenarios, &backends, host, inv)
        }
    };
    manifest.write(&run_dir)?;
    let resume = match &opts.resume {
        Some(_) => load_resume(&run_dir, &scenarios, opts)?,
        None => ResumeState::default(),
    };
    Ok(Plan {
        run_id,
        run_dir,
        scenarios,
        backends,
        label: c.label,
        shard: c.shard,
        manifest,
        resume,
        config,
    })
}

fn sha256_of(path: &Path) -> Result<String> {
    crate::hash::sha256_file(path)
        .map(|(sha, _)| sha)
        .map_err(|e| Error::read(path, e))
}

/// The same files, or a resumed run would mix two experiments in one table.
fn check_unchanged(
    m: &RunManifest,
    scenarios: &[Scenario],
    config_sha256: &str,
    force: bool,
) -> Result<()> {
    let mut changed: Vec<String> = Vec::new();
    for (rec, s) in m.scenarios.iter().zip(scenarios) {
        if rec.sha256 != s.sha256 {
            changed.push(format!(
                "scenario {} (sha256 {}… → {}…)",
                rec.path,
                &rec.sha256[..12.min(rec.sha256.len())],
                &s.sha256[..12]
            ));
        }
    }
    if let Some(inv) = &m.invocation
        && inv.config_sha256 != config_sha256
    {
        changed.push(format!("backend config {}", inv.config_path));
    }
    if changed.is_empty() || force {
        Ok(())
    } else {
        Err(Error::ResumeChanged { changed })
    }
}

/// The folder of a new run: the `--run-id` given (refused if it holds a run), or a fresh
/// default one.
fn new_run_dir(opts: &RunOptions, scenarios: &[Scenario]) -> Result<(String, PathBuf)> {
    match &opts.run_id {
        Some(run_id) => {
            let run_dir = opts.out.join(run_id);
            if run_dir.join("samples.csv").exists() {
                return Err(Error::RunFolderExists {
                    path: run_dir,
                    instead: "choose another --run-id, or --resume it",
                });
            }
            Ok((run_id.clone(), run_dir))
        }
        None => claim_run_dir(&opts.out, &super::new_run_id(scenarios)),
    }
}

/// Claims a fresh folder for a run with a default id: `create_dir` fails if another run
/// (another process started in the same millisecond) took the name first, and then the next
/// suffix (`-2`, `-3`, …) is tried, so two runs never share a folder.
fn claim_run_dir(out: &Path, base: &str) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
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
            Err(e) => return Err(Error::write(&dir, e)),
        }
    }
}

/// The run.json of a new run, before any backend has described itself.
fn new_manifest(
    opts: &RunOptions,
    run_id: &str,
    scenarios: &[Scenario],
    backends: &[BackendConfig],
    host: HostFingerprint,
    invocation: Invocation,
) -> RunManifest {
    let devices: Vec<Option<&str>> = backends.iter().map(|b| b.device.as_deref()).collect();
    RunManifest {
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
        device: host.run_label(invocation.label.as_deref(), &devices),
        invocation: Some(invocation),
        ..RunManifest::new(run_id, "running", opts.command_line.clone(), host)
    }
}

/// What the interrupted run holds (with `--retry-failed`, its failed rows moved out first).
fn load_resume(run_dir: &Path, scenarios: &[Scenario], opts: &RunOptions) -> Result<ResumeState> {
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
    // Request-rate cases and sweeps are measured whole (see `open_loop.rs`).
    let open: std::collections::HashSet<String> = scenarios
        .iter()
        .filter(|s| {
            matches!(&s.body, crate::scenario::ScenarioBody::Throughput(t)
                if !matches!(t.load.as_ref(), crate::scenario::open_loop::Load::Closed))
        })
        .map(|s| s.name.clone())
        .collect();
    let state = ResumeState::load(run_dir, opts.retry_failed, &whole, &open)?;
    if state.moved > 0 && !opts.quiet {
        eprintln!(
            "resume: {} request row(s) moved to {} to be sent again",
            state.moved,
            run_dir.join(resume::ATTEMPTS_FILE).display()
        );
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> RunOptions {
        let scenario = dir.join("s.toml");
        std::fs::write(
            &scenario,
            "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [8]\nrepetitions = 1\n",
        )
        .unwrap();
        RunOptions {
            scenarios: vec![scenario],
            config: dir.join("backends.toml"),
            backends: Vec::new(),
            out: dir.join("results"),
            run_id: None,
            label: None,
            quiet: true,
            probe: false,
            command_line: Vec::new(),
            resume: None,
            force: false,
            retry_failed: false,
            shard: None,
        }
    }

    #[test]
    fn run_conditions_have_their_own_errors_with_the_messages_of_before() {
        let dir = tempfile::tempdir().unwrap();
        let plan_err = |o: &RunOptions| match plan(o) {
            Err(e) => e,
            Ok(_) => panic!("the plan must be refused"),
        };

        let e = plan_err(&RunOptions {
            scenarios: Vec::new(),
            ..options(dir.path())
        });
        assert!(matches!(e, Error::NoScenario), "{e:?}");
        assert_eq!(e.to_string(), "name at least one scenario file");
        assert_eq!(e.exit_code(), 2);

        let e = plan_err(&RunOptions {
            retry_failed: true,
            ..options(dir.path())
        });
        assert!(matches!(e, Error::RetryWithoutResume), "{e:?}");
        assert_eq!(e.to_string(), "--retry-failed goes with --resume RUN_DIR");
        assert_eq!(e.exit_code(), 2);

        // A run.json written before runs recorded how they were made.
        let old = dir.path().join("old-run");
        std::fs::create_dir_all(&old).unwrap();
        RunManifest::new(
            "old-run",
            "interrupted",
            Vec::new(),
            HostFingerprint::default(),
        )
        .write(&old)
        .unwrap();
        let e = plan_err(&RunOptions {
            resume: Some(old.clone()),
            ..options(dir.path())
        });
        assert!(
            matches!(&e, Error::ResumeUnrecorded { run_dir } if run_dir == &old),
            "{e:?}"
        );
        assert!(e.to_string().contains("it cannot be resumed"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
