//! `edgebench arena`: rankings from battles, one file per arena subcommand.

mod import;
mod rate;
mod run;
mod serve;
mod synth;

use clap::Subcommand;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import FastChat `clean_battle` JSON (array or JSON Lines), anonymous battles only.
    Import(import::Args),
    /// Fit Bradley-Terry ratings with intervals and write leaderboard.{csv,md,html}.
    Rate(rate::Args),
    /// Collect answers from contestant backends and let a judge backend decide battles.
    Run(run::Args),
    /// Serve the vote page: a prompt, two anonymous answers, four buttons.
    Serve(serve::Args),
    /// Write synthetic battles from known strengths (benchmarks, demos).
    Synth(synth::Args),
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    match a.command {
        Command::Import(a) => import::exec(a),
        Command::Rate(a) => rate::exec(a),
        Command::Run(a) => run::exec(a),
        Command::Serve(a) => serve::exec(a),
        Command::Synth(a) => synth::exec(a),
    }
}
