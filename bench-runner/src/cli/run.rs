//! `edgebench run`: scenarios against backends (configured, or one server named with
//! `--url`), the summary tables on stdout (or JSON with `--json`, the tables on stderr).

use std::path::PathBuf;

use edgebench::Error;
use edgebench::backend::protocol::Endpoint;
use edgebench::runner::{self, RunOptions};

use super::ad_hoc::AdHoc;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario files (TOML).
    #[arg(required_unless_present = "resume")]
    scenarios: Vec<PathBuf>,
    /// Finish an interrupted run in this folder: only the missing cases and requests are
    /// run; scenarios, config and backends come from its run.json.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["scenarios", "backends", "run_id", "label", "shard", "url"])]
    resume: Option<PathBuf>,
    /// With --resume: go on even if the scenario or config files changed.
    #[arg(long, requires = "resume")]
    force: bool,
    /// With --resume: send the requests that failed again; their rows move to
    /// attempts.csv and the new rows take their place in samples.csv and the summaries.
    #[arg(long, requires = "resume")]
    retry_failed: bool,
    /// Run only shard I of N of the case list (1-based), e.g. 2/4; join shards with `merge`.
    #[arg(long, value_name = "I/N", value_parser = runner::parse_shard)]
    shard: Option<(u32, u32)>,
    /// Backends to run, by name from the config (repeatable); default: the config's `default`.
    #[arg(short, long = "backend")]
    backends: Vec<String>,
    /// Backend config file.
    #[arg(short, long, default_value = "scenarios/backends.toml")]
    config: PathBuf,
    /// Folder that receives the run folder.
    #[arg(short, long, default_value = "results")]
    out: PathBuf,
    /// Name of the run folder (default: date-time and scenario names).
    #[arg(long)]
    run_id: Option<String>,
    /// Device label the results belong to (default: the backend's `device`, else the host name).
    #[arg(short, long)]
    label: Option<String>,
    /// No progress bar and no per-case lines; the final table is still printed.
    #[arg(short, long)]
    quiet: bool,
    /// Measure this host's memory bandwidth first and record it in run.json (reports
    /// then show decode tok/s against the bandwidth bound).
    #[arg(long)]
    probe: bool,
    /// Print the final summary as JSON on stdout (the tables go to stderr).
    #[arg(long)]
    json: bool,
    /// Run against the OpenAI-compatible server at this URL (e.g. http://host:8000/v1)
    /// instead of a backend of the config file; the run folder gets its entry as
    /// backends.toml, which run.json records as the run's config.
    #[arg(long, value_name = "URL", conflicts_with_all = ["backends", "config"])]
    url: Option<String>,
    /// With --url: the model to ask for (default: the first the server's /v1/models lists).
    #[arg(long, requires = "url")]
    model: Option<String>,
    /// With --url: the environment variable that holds the API key (its name, not the key).
    #[arg(long, value_name = "VAR", requires = "url")]
    api_key_env: Option<String>,
    /// With --url: the endpoint requests go to [default: chat].
    #[arg(long, requires = "url", value_parser = ["chat", "completions"])]
    endpoint: Option<String>,
    /// With --url: the backend's name in the results (default: the URL's host:port).
    #[arg(long, value_name = "NAME", requires = "url")]
    name: Option<String>,
}

impl Args {
    /// The server `--url` names, if any.
    fn ad_hoc(&self) -> Option<AdHoc> {
        let url = self.url.clone()?;
        Some(AdHoc {
            url,
            model: self.model.clone(),
            api_key_env: self.api_key_env.clone(),
            endpoint: match self.endpoint.as_deref() {
                Some("completions") => Endpoint::Completions,
                _ => Endpoint::Chat,
            },
            name: self.name.clone(),
        })
    }
}

impl From<Args> for RunOptions {
    fn from(a: Args) -> Self {
        RunOptions {
            scenarios: a.scenarios,
            config: a.config,
            backends: a.backends,
            out: a.out,
            run_id: a.run_id,
            label: a.label,
            quiet: a.quiet,
            probe: a.probe,
            command_line: super::command_line(),
            resume: a.resume,
            force: a.force,
            retry_failed: a.retry_failed,
            shard: a.shard,
        }
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let json = a.json;
    let ad_hoc = a.ad_hoc();
    let mut opts: RunOptions = a.into();
    if let Some(server) = ad_hoc {
        server.prepare(&mut opts)?;
    }
    let outcome = super::runtime()?.block_on(runner::run(opts))?;
    // With --json, stdout holds the document alone; what people read goes to stderr.
    let say = |text: &str| {
        if json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    let serving = runner::table::markdown(&outcome.summary);
    if !serving.is_empty() {
        say(&serving);
    }
    let columns = outcome
        .facts
        .iter()
        .map(|f| (f.name.clone(), f.model_columns()))
        .collect();
    let tests = runner::table::pp_tg_markdown(&outcome.summary, &columns);
    if !tests.is_empty() {
        say(&tests);
    }
    let cells = runner::table::batched_markdown(&outcome.summary);
    if !cells.is_empty() {
        say(&cells);
    }
    for w in &outcome.warnings {
        eprintln!("warning: {}", edgebench::secret::scrub(w));
    }
    say(&format!("results: {}", outcome.run_dir.display()));
    if json {
        let doc = super::run_json::document(&outcome);
        let text = serde_json::to_string_pretty(&doc)?;
        println!("{}", edgebench::secret::scrub(&text));
    }
    let run_dir = shell_quote(&outcome.run_dir.display().to_string());
    if outcome.interrupted {
        // The table above holds the cases finished so far; the rest can be finished.
        eprintln!("interrupted: finish the run with: edgebench run --resume {run_dir}");
        return Ok(Error::Interrupted.exit_code() as u8);
    }
    if outcome.requests_failed > 0 {
        eprintln!(
            "to send the failed requests again: edgebench run --resume {run_dir} --retry-failed"
        );
        return Err(Error::RequestsFailed {
            failed: outcome.requests_failed,
            total: outcome.requests_total,
            samples: outcome.run_dir.join("samples.csv"),
        }
        .into());
    }
    Ok(0)
}

/// A path as a shell reads it back: as is when it is plain, else in single quotes.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
