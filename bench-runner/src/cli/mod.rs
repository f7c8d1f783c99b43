//! The command line's face: one file per subcommand, each with its `Args` (clap derive), the
//! conversion to the library's options and an `exec` that prints and returns the exit code.
//!
//! This folder belongs to the binary, not to the library: printing to the terminal and
//! clap's parsing are the CLI's business, and the library stays callable without them.

mod ad_hoc;
mod arena;
mod compare;
mod device;
mod import;
mod merge;
mod publish;
mod report;
mod run;
mod run_json;
mod validate;

use clap::{Parser, Subcommand};

use edgebench::Error;

#[derive(Parser)]
#[command(
    name = "edgebench",
    version,
    about = "Benchmark language models: speed, correctness and rankings in one run"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// The about texts stay on the variants so `--help` reads as it always did.
#[derive(Subcommand)]
enum Command {
    /// Run scenarios against backends and write results/<run-id>/{run.json,samples.csv,summary.csv}.
    Run(run::Args),
    /// Join run folders (shards of one run, or runs from several devices) into one.
    Merge(merge::Args),
    /// Check scenario files and backend configs; report every mistake as file:line:col.
    Validate(validate::Args),
    /// Write report.md and report.html (with SVG figures) from run folders or CSV files:
    /// device-to-device tables with ratios to a reference, and charts.
    Report(report::Args),
    /// The CI gate: judge a candidate run against a baseline run per case and metric;
    /// exit 1 if anything regressed beyond the threshold, or if the gate could not judge
    /// (too few successful requests, a baseline case missing, new failed requests).
    Compare(compare::Args),
    /// Arena-style rankings: battles from a judge or from people, Bradley-Terry with intervals.
    Arena(arena::Args),
    /// Turn another tool's results into an edgebench run folder.
    Import(import::Args),
    /// Write a static leaderboard site (HTML, CSS, SVG, CSV/JSON; no script) from battles and runs.
    Publish(publish::Args),
    /// Print this machine's fingerprint: CPU model, cores, memory, OS, kernel.
    Device(device::Args),
}

impl Cli {
    /// Runs the subcommand; `Ok` carries the exit code of a command that finished its work.
    pub fn exec(self) -> anyhow::Result<u8> {
        match self.command {
            Command::Run(a) => run::exec(a),
            Command::Merge(a) => merge::exec(a),
            Command::Validate(a) => validate::exec(a),
            Command::Report(a) => report::exec(a),
            Command::Compare(a) => compare::exec(a),
            Command::Arena(a) => arena::exec(a),
            Command::Import(a) => import::exec(a),
            Command::Publish(a) => publish::exec(a),
            Command::Device(a) => device::exec(a),
        }
    }
}

/// The async runtime of the subcommands that talk to servers (run, arena run, arena serve),
/// built in one place so they all get the same one.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Runtime { source })
}

/// The command line as typed, recorded in run.json.
fn command_line() -> Vec<String> {
    std::env::args().collect()
}
