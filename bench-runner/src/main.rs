//! The `edgebench` command line. Each subcommand is a thin call into the library; errors
//! are reported once here and turned into the documented exit codes:
//! 0 success, 1 gate failed / regression found, 2 bad usage or bad input, 3 a backend failed.

// Cache-line aligned scratch for llama.cpp, whatever the heap's history (issue #3's parity).
mod aligned_new;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use edgebench::Error;
use edgebench::backend::Config;
use edgebench::results::device::HostFingerprint;
use edgebench::runner::{self, RunOptions};
use edgebench::scenario::{Scenario, ScenarioBody};

#[derive(Parser)]
#[command(
    name = "edgebench",
    version,
    about = "Benchmark language models: speed, correctness and rankings in one run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against backends and write results/<run-id>/{run.json,samples.csv,summary.csv}.
    Run {
        /// Scenario files (TOML).
        #[arg(required_unless_present = "resume")]
        scenarios: Vec<PathBuf>,
        /// Finish an interrupted run in this folder: only the missing cases and requests are
        /// run; scenarios, config and backends come from its run.json.
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["scenarios", "backends", "run_id", "label", "shard"])]
        resume: Option<PathBuf>,
        /// With --resume: go on even if the scenario or config files changed.
        #[arg(long, requires = "resume")]
        force: bool,
        /// With --resume: send the requests that failed again; their rows move to
        /// attempts.csv and the new rows take their place in samples.csv and the summaries.
        #[arg(long, requires = "resume")]
        retry_failed: bool,
        /// Run only shard I of N of the case list (1-based), e.g. 2/4; join shards with `merge`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard_arg)]
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
    },
    /// Join run folders (shards of one run, or runs from several devices) into one.
    Merge {
        /// Run folders to join.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// The new run folder.
        #[arg(short, long, value_name = "RUN_DIR")]
        out: PathBuf,
    },
    /// Check scenario files and backend configs; report every mistake as file:line:col.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write report.md and report.html (with SVG figures) from run folders or CSV files:
    /// device-to-device tables with ratios to a reference, and charts.
    Report {
        /// Run folders, folders of run folders (e.g. results/), samples.csv or summary.csv files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output folder for report.md, report.html and the figures' SVG files.
        #[arg(short, long, default_value = "reports/latest")]
        out: PathBuf,
        /// Series every ratio is taken against: `device/backend`, or a device label, backend
        /// name or run id that names one series (default: the first series read).
        #[arg(short, long)]
        reference: Option<String>,
        /// Metrics of the comparison tables (repeatable or comma-separated); default
        /// decode_tok_s, prefill_tok_s, ttft_ms.
        #[arg(short, long = "metric")]
        metrics: Vec<String>,
        /// Title of the report.
        #[arg(long)]
        title: Option<String>,
    },
    /// The CI gate: judge a candidate run against a baseline run per case and metric;
    /// exit 1 if anything regressed beyond the threshold, or if the gate could not judge
    /// (too few successful requests, a baseline case missing, new failed requests).
    Compare {
        /// Baseline run folder (or its samples.csv); repeat for several runs of the same
        /// build, which makes the noise between runs count (hierarchical bootstrap).
        #[arg(long, required = true, num_args = 1..)]
        baseline: Vec<PathBuf>,
        /// Candidate run folder (or its samples.csv); repeatable like --baseline.
        #[arg(long, required = true, num_args = 1..)]
        candidate: Vec<PathBuf>,
        /// Smallest change that counts, e.g. 5% (or 0.05).
        #[arg(short, long, default_value = "5%")]
        threshold: String,
        /// Metrics to judge (repeatable or comma-separated); default decode_tok_s,
        /// prefill_tok_s, ttft_ms.
        #[arg(short, long = "metric")]
        metrics: Vec<String>,
        /// Also write the verdicts as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Let pass what could not be compared: baseline cases missing from the candidate,
        /// cases × metrics with fewer than 3 successful requests on a side (reported, not failing).
        #[arg(long)]
        allow_missing: bool,
        /// Let pass candidate requests that failed more often than the baseline's (reported,
        /// not failing).
        #[arg(long)]
        allow_errors: bool,
    },
    /// Arena-style rankings: battles from a judge or from people, Bradley-Terry with intervals.
    Arena {
        #[command(subcommand)]
        command: ArenaCommand,
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
        /// Also measure memory bandwidth (STREAM-like copy, a few seconds).
        #[arg(long)]
        probe: bool,
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

#[derive(Subcommand)]
enum ArenaCommand {
    /// Import FastChat `clean_battle` JSON (array or JSON Lines), anonymous battles only.
    Import {
        /// The FastChat file.
        file: PathBuf,
        /// battles.csv to append to (created if missing).
        #[arg(short, long, default_value = "results/arena/battles.csv")]
        out: PathBuf,
    },
    /// Fit Bradley-Terry ratings with intervals and write leaderboard.{csv,md,html}.
    Rate(ArenaRateArgs),
    /// Collect answers from contestant backends and let a judge backend decide battles.
    Run {
        /// Prompts: JSON Lines with `id` and `prompt`, or plain text, one prompt per line.
        #[arg(long)]
        prompts: PathBuf,
        /// Contestant backends from the config, comma-separated (at least two).
        #[arg(long, value_delimiter = ',', required = true)]
        models: Vec<String>,
        /// Judge backend from the config.
        #[arg(long)]
        judge: String,
        /// Backend config file.
        #[arg(short, long, default_value = "scenarios/backends.toml")]
        config: PathBuf,
        /// Folder for answers.jsonl, judgments.jsonl, battles.csv and server logs.
        #[arg(short, long, default_value = "results/arena")]
        out: PathBuf,
        /// Most tokens per contestant answer.
        #[arg(long, default_value_t = 256)]
        max_tokens: u32,
        /// Most tokens per judge reply.
        #[arg(long, default_value_t = 64)]
        judge_max_tokens: u32,
        /// Contestants' sampling temperature (the judge always uses 0).
        #[arg(long, default_value_t = 0.0)]
        temperature: f64,
        /// Sampling seed sent with every request.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No progress notes on stderr.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Serve the vote page: a prompt, two anonymous answers, four buttons.
    Serve {
        /// Answers to show (from `arena run`).
        #[arg(long, default_value = "results/arena/answers.jsonl")]
        answers: PathBuf,
        /// battles.csv that receives the votes.
        #[arg(long, default_value = "results/arena/battles.csv")]
        battles: PathBuf,
        /// Address to listen on; loopback unless told otherwise.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0: any free port; the address is printed).
        #[arg(short, long, default_value_t = 8080)]
        port: u16,
        /// Seed for picking battles (default: random).
        #[arg(long)]
        seed: Option<u64>,
        /// Value of the `judge` column for votes.
        #[arg(long, default_value = "human")]
        voter: String,
    },
    /// Write synthetic battles from known strengths (benchmarks, demos).
    Synth {
        #[arg(long, default_value_t = 50)]
        models: usize,
        #[arg(long, default_value_t = 1_000_000)]
        battles: usize,
        /// Probability of a tie (a fifth of them `tie (bothbad)`).
        #[arg(long, default_value_t = 0.1)]
        tie_rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(short, long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct ArenaRateArgs {
    /// battles.csv files (one set of battles).
    #[arg(required = true)]
    battles: Vec<PathBuf>,
    /// Output folder.
    #[arg(short, long, default_value = "reports/arena")]
    out: PathBuf,
    /// Bootstrap rounds (0: sandwich intervals only).
    #[arg(long, default_value_t = edgebench::arena::bootstrap::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = edgebench::arena::bootstrap::DEFAULT_SEED)]
    seed: u64,
    /// Pin a model's rating, e.g. `--anchor gpt-4=1200` (default: mean rating 1000).
    #[arg(long, value_parser = edgebench::arena::rate::parse_anchor)]
    anchor: Option<(String, f64)>,
    /// Models with fewer votes are marked provisional.
    #[arg(long, default_value_t = edgebench::arena::rate::DEFAULT_MIN_VOTES)]
    min_votes: u64,
    /// Which intervals the tables show and rank by (both are in the CSV).
    #[arg(long, value_enum, default_value = "bootstrap")]
    intervals: edgebench::arena::rate::IntervalMethod,
    /// Add the style-controlled rating and rank (length, headers, lists, bold).
    #[arg(long)]
    style: bool,
    /// Weight battles by the inverse of their pair's frequency.
    #[arg(long)]
    inverse_pair_weights: bool,
    /// Keep only battles decided by this judge (repeatable).
    #[arg(long = "judge")]
    judges: Vec<String>,
    /// Keep only battles between these models (repeatable).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Run folders or summary.csv files whose speed joins the leaderboard (repeatable).
    #[arg(long, num_args = 1..)]
    speed: Vec<PathBuf>,
    /// With --speed: name the best model per device at or above this decode tok/s.
    #[arg(long)]
    min_tok_s: Option<f64>,
    /// Bootstrap threads (default: all cores; results do not depend on it).
    #[arg(long)]
    threads: Option<usize>,
    /// Do not print the top of the table.
    #[arg(short, long)]
    quiet: bool,
}

fn arena(cmd: ArenaCommand) -> anyhow::Result<u8> {
    use edgebench::arena;
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
    };
    match cmd {
        ArenaCommand::Import { file, out } => {
            let s = arena::import::import(&file, &out)?;
            println!(
                "{}: {} battles read, {} anonymous kept, {} named skipped → {}",
                file.display(),
                s.records,
                s.kept,
                s.skipped_named,
                out.display()
            );
            Ok(0)
        }
        ArenaCommand::Rate(a) => {
            let mut opts = arena::RateOptions {
                inputs: a.battles,
                rounds: a.rounds,
                seed: a.seed,
                anchor: a.anchor,
                min_votes: a.min_votes,
                intervals: a.intervals,
                style: a.style,
                inverse_frequency: a.inverse_pair_weights,
                judges: a.judges,
                models: a.models,
                speed: a.speed,
                min_tok_s: a.min_tok_s,
                ..Default::default()
            };
            if let Some(t) = a.threads {
                opts.threads = t.max(1);
            }
            let lb = arena::rate(&opts)?;
            let written = arena::leaderboard::write_all(&lb, &a.out)?;
            if !a.quiet {
                // The top of the table and where the rest is: leaderboard.md may be a megabyte.
                let charts = arena::leaderboard::charts(&lb);
                let md = a.out.join("leaderboard.md");
                println!("{}", arena::leaderboard::terminal(&lb, &charts, &md));
            }
            for w in &lb.disclosure.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "leaderboard: {}",
                written
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(0)
        }
        ArenaCommand::Run {
            prompts,
            models,
            judge,
            config,
            out,
            max_tokens,
            judge_max_tokens,
            temperature,
            seed,
            quiet,
        } => {
            let opts = arena::judge::ArenaRunOptions {
                prompts,
                models,
                judge,
                config,
                out: out.clone(),
                max_tokens,
                judge_max_tokens,
                temperature,
                seed,
                quiet,
            };
            let o = runtime()?.block_on(arena::judge::run(opts))?;
            println!(
                "arena run: {} new answers, {} new judgments, {} new battles ({} in all) → {}",
                o.answers_new,
                o.judgments_new,
                o.battles_new,
                o.battles_total,
                out.join("battles.csv").display()
            );
            if !o.failures.is_empty() {
                for f in &o.failures {
                    eprintln!("failed: {f}");
                }
                return Err(Error::backend(
                    "arena run",
                    format!(
                        "{} request(s) failed; re-run to retry them",
                        o.failures.len()
                    ),
                )
                .into());
            }
            Ok(0)
        }
        ArenaCommand::Serve {
            answers,
            battles,
            host,
            port,
            seed,
            voter,
        } => {
            let opts = arena::serve::ServeOptions {
                answers,
                battles,
                host,
                port,
                seed,
                voter,
            };
            runtime()?.block_on(arena::serve::serve(opts))?;
            Ok(0)
        }
        ArenaCommand::Synth {
            models,
            battles,
            tie_rate,
            seed,
            out,
        } => {
            if models < 2 || !(0.0..=1.0).contains(&tie_rate) {
                return Err(Error::Usage(
                    "--models must be at least 2 and --tie-rate within 0..1".into(),
                )
                .into());
            }
            arena::synth::Synth::new(models, seed).write_csv(&out, battles, tie_rate, seed)?;
            println!(
                "{battles} battles among {models} models → {}",
                out.display()
            );
            Ok(0)
        }
    }
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
            // Errors quote servers, which may repeat an API key.
            eprintln!("error: {}", edgebench::secret::scrub(&format!("{e:#}")));
            // Library errors know their exit code; anything else is an input/usage problem.
            let code = e.downcast_ref::<Error>().map_or(2, Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run {
            scenarios,
            resume,
            force,
            retry_failed,
            shard,
            backends,
            config,
            out,
            run_id,
            label,
            quiet,
            probe,
        } => {
            let opts = RunOptions {
                scenarios,
                config,
                backends,
                out,
                run_id,
                label,
                quiet,
                probe,
                command_line: std::env::args().collect(),
                resume,
                force,
                retry_failed,
                shard,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))?;
            let outcome = rt.block_on(runner::run(opts))?;
            let serving = runner::table::markdown(&outcome.summary);
            if !serving.is_empty() {
                println!("{serving}");
            }
            let columns = outcome
                .facts
                .iter()
                .map(|f| (f.name.clone(), f.model_columns()))
                .collect();
            let tests = runner::table::pp_tg_markdown(&outcome.summary, &columns);
            if !tests.is_empty() {
                println!("{tests}");
            }
            for w in &outcome.warnings {
                eprintln!("warning: {}", edgebench::secret::scrub(w));
            }
            println!("results: {}", outcome.run_dir.display());
            if outcome.interrupted {
                // The table above holds the cases finished so far; the rest can be finished.
                eprintln!(
                    "interrupted: finish the run with: edgebench run --resume {}",
                    shell_quote(&outcome.run_dir.display().to_string())
                );
                return Ok(Error::Interrupted.exit_code() as u8);
            }
            if outcome.requests_failed > 0 {
                eprintln!(
                    "to send the failed requests again: edgebench run --resume {} --retry-failed",
                    shell_quote(&outcome.run_dir.display().to_string())
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
        Command::Validate { files } => {
            // Every file is checked and every mistake reported, then the worst exit code wins.
            let mut code = 0u8;
            let memory = HostFingerprint::read().memory_bytes;
            for f in &files {
                match validate(f, memory) {
                    Ok((what, warnings)) => {
                        println!("{}: ok ({what})", f.display());
                        for w in warnings {
                            eprintln!("warning: {w}");
                        }
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = code.max(e.exit_code() as u8);
                    }
                }
            }
            Ok(code)
        }
        Command::Report {
            inputs,
            out,
            reference,
            metrics,
            title,
        } => {
            let opts = edgebench::report::ReportOptions {
                inputs,
                out,
                reference,
                metrics,
                title,
            };
            let (report, files) = edgebench::report::write(&opts)?;
            for w in &report.comparability {
                eprintln!("warning: not like for like: {w}");
            }
            println!(
                "report of {} series, {} requests, {} figures: {}",
                report.series.len(),
                report.requests,
                report.figures.len(),
                files
                    .iter()
                    .filter(|p| p.extension().is_some_and(|e| e != "svg"))
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(0)
        }
        Command::Compare {
            baseline,
            candidate,
            threshold,
            metrics,
            junit,
            allow_missing,
            allow_errors,
        } => {
            let threshold = edgebench::report::compare::parse_threshold(&threshold)?;
            let cmp = edgebench::report::compare(&edgebench::report::CompareOptions {
                baseline,
                candidate,
                threshold,
                metrics,
                rules: edgebench::report::compare::GateRules {
                    allow_missing,
                    allow_errors,
                },
            })?;
            let md = edgebench::report::export::compare_markdown::render(&cmp);
            print!("{md}");
            if let Some(p) = edgebench::report::append_step_summary(&md)? {
                eprintln!("summary appended to {}", p.display());
            }
            if let Some(p) = junit {
                std::fs::write(&p, edgebench::report::export::junit::render(&cmp))
                    .map_err(|e| Error::results(&p, e))?;
                eprintln!("JUnit XML: {}", p.display());
            }
            if !cmp.passed() {
                eprintln!("gate failed: {}", cmp.failure_reasons().join("; "));
            }
            Ok(cmp.exit_code())
        }
        Command::Merge { runs, out } => {
            let m = edgebench::results::merge::merge(&runs, &out)?;
            println!(
                "merged {} runs: {} samples, {} summary rows",
                runs.len(),
                m.samples,
                m.summary
            );
            println!("results: {}", m.dir.display());
            Ok(0)
        }
        Command::Arena { command } => arena(command),
        Command::Import {
            what:
                ImportKind::LlamaBench {
                    files,
                    out,
                    run_id,
                    label,
                },
        } => {
            let o = edgebench::import::llama_bench::import(
                &edgebench::import::llama_bench::ImportOptions {
                    files,
                    out,
                    run_id,
                    label,
                    command_line: std::env::args().collect(),
                },
            )?;
            println!("{}", runner::table::pp_tg_markdown(&o.summary, &o.columns));
            println!("imported {} tests: {}", o.tests, o.run_dir.display());
            Ok(0)
        }
        Command::Device { json, probe } => {
            let mut fp = HostFingerprint::read();
            if probe {
                fp.memory_bandwidth_gbs = Some(edgebench::results::bandwidth::probe());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&fp).unwrap_or_default());
            } else {
                print!("{}", fp.render());
            }
            Ok(0)
        }
    }
}

fn parse_shard_arg(s: &str) -> Result<(u32, u32), String> {
    runner::parse_shard(s)
}

/// A file with a top-level `[backends]` table is a backend config; anything else a scenario.
/// Warnings are about this machine (a plan too big for its `memory` bytes), not the file.
fn validate(path: &std::path::Path, memory: u64) -> Result<(String, Vec<String>), Error> {
    let text = edgebench::source::read(path)?;
    let is_config = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("[backends.") || l.starts_with("[backends]") || l.starts_with("default")
    });
    if is_config {
        let c = Config::parse(path, &text)?;
        Ok((
            format!("backend config, {} backends", c.backends.len()),
            Vec::new(),
        ))
    } else {
        let s = Scenario::parse(path, &text)?;
        let warnings = edgebench::scenario::plan::check_memory(&s, memory)
            .map(|e| format!("{e} (`run` refuses this plan on this machine)"))
            .into_iter()
            .collect();
        let what = match &s.body {
            ScenarioBody::Context(c) => format!(
                "context scenario `{}`, lengths {}, {} depths, {} needle kinds",
                s.name,
                c.lengths_written,
                c.depths.len(),
                c.needles.len()
            ),
            _ => format!(
                "{} scenario `{}`, {} cases",
                s.kind(),
                s.name,
                s.cases().len()
            ),
        };
        Ok((what, warnings))
    }
}
