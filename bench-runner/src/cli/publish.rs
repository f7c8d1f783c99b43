//! `edgebench publish`: a static leaderboard site from battles and run folders.

use std::path::PathBuf;

use edgebench::arena::{RateOptions, bootstrap, rate};
use edgebench::publish::{PublishOptions, publish};

#[derive(clap::Args)]
pub struct Args {
    /// Battles files (battles.csv; a `category` column adds category leaderboards).
    #[arg(long, required = true, num_args = 1..)]
    battles: Vec<PathBuf>,
    /// Run folders or folders of run folders (e.g. results/): speed, tool calls, context,
    /// multimodal cost, roofline.
    #[arg(long, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// Output folder of the site (index.html, models/, devices/, data/, style.css).
    #[arg(short, long, default_value = "reports/site")]
    out: PathBuf,
    /// Title of the site.
    #[arg(long, default_value = "edgebench leaderboard")]
    title: String,
    /// Models with fewer votes are marked provisional.
    #[arg(long, default_value_t = rate::DEFAULT_MIN_VOTES)]
    min_votes: u64,
    /// Pin a model's rating, e.g. `--anchor gpt-4=1200` (default: mean rating 1000).
    #[arg(long, value_parser = rate::parse_anchor)]
    anchor: Option<(String, f64)>,
    /// Keep only battles decided by this judge (repeatable).
    #[arg(long = "judge")]
    judges: Vec<String>,
    /// Keep only battles between these models (repeatable).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Add the style-controlled rating and rank (needs the style columns).
    #[arg(long)]
    style: bool,
    /// Which intervals the boards show and rank by.
    #[arg(long, value_enum, default_value = "bootstrap")]
    intervals: rate::IntervalMethod,
    /// Bootstrap rounds (0: sandwich intervals only).
    #[arg(long, default_value_t = bootstrap::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = bootstrap::DEFAULT_SEED)]
    seed: u64,
    /// Rate without the battles of voters the anomaly report flags (needs battles.votes.csv).
    #[arg(long)]
    exclude_flagged: bool,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let opts = PublishOptions {
        rate: RateOptions {
            inputs: a.battles,
            rounds: a.rounds,
            seed: a.seed,
            anchor: a.anchor,
            min_votes: a.min_votes,
            intervals: a.intervals,
            style: a.style,
            judges: a.judges,
            models: a.models,
            exclude_flagged: a.exclude_flagged,
            ..Default::default()
        },
        runs: a.runs,
        out: a.out,
        title: a.title,
    };
    let p = publish(&opts)?;
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "site: {} pages and {} data files; open {}",
        p.pages,
        p.data_files,
        p.index.display()
    );
    Ok(0)
}
