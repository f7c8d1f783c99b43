//! Executes scenarios: for each backend (one at a time, so servers never compete for the
//! machine), for each case: prepare the salted exact prompts, make the warm-up requests,
//! then the measured ones with `concurrency` streams in flight, writing each sample row as
//! soon as it is measured and a summary per case at its end.

mod case;
mod pp_tg;
mod progress;
pub(crate) mod summary;
pub mod table;

use std::path::{Path, PathBuf};

use crate::backend::{llamacpp::LlamaCppBackend, openai::OpenAiBackend, Backend, BackendConfig, BackendFacts, BackendKind, Config};
use crate::error::{Error, Result};
use crate::results::device::HostFingerprint;
use crate::results::manifest::{git_commit, now_rfc3339, ScenarioRecord};
use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::results::{CsvAppender, RunManifest, SummaryRow, SCHEMA_VERSION};
use crate::scenario::Scenario;

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
    pub command_line: Vec<String>,
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
}

/// Everything the cases of one run share.
pub(crate) struct RunCtx {
    pub run_id: String,
    pub nonce: u64,
    pub samples: std::cell::RefCell<CsvAppender>,
    pub summary: std::cell::RefCell<CsvAppender>,
    pub progress: Progress,
    pub quiet: bool,
}

pub fn new_run_id(scenarios: &[Scenario]) -> String {
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    let mut name = names.join("+");
    name.retain(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '+');
    format!("{}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"), name)
}

/// Per-run randomness for salts: wall clock and process id, so two runs never share salts.
fn run_nonce() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    t ^ ((std::process::id() as u64) << 40)
}

pub async fn connect(bc: &BackendConfig, run_dir: &Path) -> Result<Backend> {
    match &bc.kind {
        BackendKind::OpenAi(_) => Ok(Backend::OpenAi(OpenAiBackend::connect(bc, run_dir).await?)),
        BackendKind::LlamaCpp(_) => Ok(Backend::LlamaCpp(LlamaCppBackend::connect(bc).await?)),
    }
}

pub async fn run(opts: RunOptions) -> Result<RunOutcome> {
    // Everything the user wrote is checked before anything starts.
    let scenarios = opts.scenarios.iter().map(|p| Scenario::load(p)).collect::<Result<Vec<_>>>()?;
    if scenarios.is_empty() {
        return Err(Error::Usage("name at least one scenario file".into()));
    }
    let config = Config::load(&opts.config)?;
    let selected = config.select(&opts.backends)?;

    let run_id = opts.run_id.clone().unwrap_or_else(|| new_run_id(&scenarios));
    let run_dir = opts.out.join(&run_id);
    if run_dir.join("samples.csv").exists() {
        return Err(Error::Usage(format!("{} already holds a run; choose another --run-id", run_dir.display())));
    }
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::results(&run_dir, e))?;
    let host = HostFingerprint::read();
    let mut manifest = RunManifest {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.clone(),
        status: "running".into(),
        started_at: now_rfc3339(),
        ended_at: None,
        edgebench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: git_commit(),
        command_line: opts.command_line.clone(),
        scenarios: scenarios
            .iter()
            .map(|s| ScenarioRecord { name: s.name.clone(), kind: s.kind().into(), path: s.path.display().to_string(), sha256: s.sha256.clone() })
            .collect(),
        backends: Vec::new(),
        device: opts.label.clone().unwrap_or_else(|| host.default_label()),
        host,
        requests_total: 0,
        requests_failed: 0,
        warnings: Vec::new(),
        peak_rss_bytes: None,
    };
    manifest.write(&run_dir)?;

    let total: u64 = selected.len() as u64 * scenarios.iter().flat_map(|s| s.cases()).map(|c| c.requests() as u64).sum::<u64>();
    let ctx = RunCtx {
        run_id: run_id.clone(),
        nonce: run_nonce(),
        samples: CsvAppender::open(&run_dir.join("samples.csv"), SAMPLE_COLUMNS)?.into(),
        summary: CsvAppender::open(&run_dir.join("summary.csv"), SUMMARY_COLUMNS)?.into(),
        progress: Progress::new(total, opts.quiet),
        quiet: opts.quiet,
    };

    let mut all_summary = Vec::new();
    let mut failed = 0usize;
    let mut done = 0usize;
    let mut fatal: Option<Error> = None;
    let mut all_facts = Vec::new();
    for bc in &selected {
        let device = opts.label.clone().or_else(|| bc.device.clone()).unwrap_or_else(|| manifest.device.clone());
        let mut backend = match connect(bc, &run_dir).await {
            Ok(b) => b,
            Err(e) => {
                fatal = Some(e);
                break;
            }
        };
        let facts = match backend.probe().await {
            Ok(f) => f,
            Err(e) => {
                fatal = Some(e);
                break;
            }
        };
        manifest.backends.push(serde_json::to_value(&facts).unwrap_or_default());
        all_facts.push(facts.clone());
        manifest.write(&run_dir)?;
        ctx.progress.note(&format!(
            "backend {}: {} ({}), model {}",
            bc.name,
            facts.server.as_deref().unwrap_or("openai-compatible"),
            facts.server_version.as_deref().unwrap_or("version unknown"),
            facts.model.as_deref().unwrap_or("?")
        ));
        for scenario in &scenarios {
            for case in scenario.cases() {
                let out = case::run_case(&ctx, &backend, &facts, &device, scenario, &case).await?;
                failed += out.failed;
                done += out.total;
                manifest.warnings.extend(out.warnings);
                all_summary.extend(out.summary);
            }
        }
        drop(backend); // stops a launched server before the next backend starts
    }
    ctx.progress.finish();
    manifest.status = if fatal.is_some() { "failed".into() } else { "complete".into() };
    manifest.ended_at = Some(now_rfc3339());
    manifest.requests_total = done;
    manifest.requests_failed = failed;
    manifest.warnings.sort();
    manifest.warnings.dedup();
    manifest.peak_rss_bytes = crate::results::manifest::peak_rss_bytes();
    manifest.write(&run_dir)?;
    if let Some(e) = fatal {
        return Err(e);
    }
    Ok(RunOutcome { run_dir, summary: all_summary, requests_total: done, requests_failed: failed, warnings: manifest.warnings, facts: all_facts })
}
