//! The `edgebench` command line. Each subcommand is a thin call into the library; errors
//! are reported once here and turned into the documented exit codes:
//! 0 success, 1 gate failed / regression found, 2 bad usage or bad input, 3 a backend failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use edgebench::backend::Config;
use edgebench::results::device::HostFingerprint;
use edgebench::runner::{self, RunOptions};
use edgebench::scenario::Scenario;
use edgebench::Error;

#[derive(Parser)]
#[command(name = "edgebench", version, about = "Benchmark language models: speed, correctness and rankings in one run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against backends and write results/<run-id>/{run.json,samples.csv,summary.csv}.
    Run {
        /// Scenario files (TOML).
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
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
    },
    /// Check scenario files and backend configs; report every mistake as file:line:col.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Turn another tool's results into an edgebench run folder.
    Import {
        #[command(subcommand)]
        what: ImportKind,
    },
    /// Print this machine's fingerprint: CPU model, cores, memory, OS, kernel.
    Device {
        /// As JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportKind {
    /// llama-bench output (`-o json`, `-o jsonl` or `-o csv`; told apart by content).
    #[command(name = "llama-bench")]
    LlamaBench {
        /// llama-bench output files; each becomes a backend of the run.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Folder that receives the run folder.
        #[arg(short, long, default_value = "results")]
        out: PathBuf,
        /// Name of the run folder (default: date-time and "llama-bench").
        #[arg(long)]
        run_id: Option<String>,
        /// Device label the results belong to (default: llama-bench's cpu_info and gpu_info).
        #[arg(short, long)]
        label: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Run { scenarios, backends, config, out, run_id, label, quiet } => {
            let opts = RunOptions {
                scenarios,
                config,
                backends,
                out,
                run_id,
                label,
                quiet,
                command_line: std::env::args().collect(),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
            let outcome = rt.block_on(async {
                tokio::select! {
                    r = runner::run(opts) => r,
                    _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
                }
            })?;
            let serving = runner::table::markdown(&outcome.summary);
            if !serving.is_empty() {
                println!("{serving}");
            }
            let columns = outcome.facts.iter().map(|f| (f.name.clone(), f.model_columns())).collect();
            let tests = runner::table::pp_tg_markdown(&outcome.summary, &columns);
            if !tests.is_empty() {
                println!("{tests}");
            }
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
            println!("results: {}", outcome.run_dir.display());
            if outcome.requests_failed > 0 {
                return Err(Error::RequestsFailed {
                    failed: outcome.requests_failed,
                    total: outcome.requests_total,
                    samples: outcome.run_dir.join("samples.csv"),
                });
            }
            Ok(0)
        }
        Command::Validate { files } => {
            // Every file is checked and every mistake reported, then the worst exit code wins.
            let mut code = 0u8;
            for f in &files {
                match validate(f) {
                    Ok(what) => println!("{}: ok ({what})", f.display()),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = code.max(e.exit_code() as u8);
                    }
                }
            }
            Ok(code)
        }
        Command::Import { what: ImportKind::LlamaBench { files, out, run_id, label } } => {
            let o = edgebench::import::llama_bench::import(&edgebench::import::llama_bench::ImportOptions {
                files,
                out,
                run_id,
                label,
                command_line: std::env::args().collect(),
            })?;
            println!("{}", runner::table::pp_tg_markdown(&o.summary, &o.columns));
            println!("imported {} tests: {}", o.tests, o.run_dir.display());
            Ok(0)
        }
        Command::Device { json } => {
            let fp = HostFingerprint::read();
            if json {
                println!("{}", serde_json::to_string_pretty(&fp).unwrap_or_default());
            } else {
                print!("{}", fp.render());
            }
            Ok(0)
        }
    }
}

/// A file with a top-level `[backends]` table is a backend config; anything else a scenario.
fn validate(path: &std::path::Path) -> Result<String, Error> {
    let text = edgebench::source::read(path)?;
    let is_config = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("[backends.") || l.starts_with("[backends]") || l.starts_with("default")
    });
    if is_config {
        let c = Config::parse(path, &text)?;
        Ok(format!("backend config, {} backends", c.backends.len()))
    } else {
        let s = Scenario::parse(path, &text)?;
        Ok(format!("{} scenario `{}`, {} cases", s.kind(), s.name, s.cases().len()))
    }
}
