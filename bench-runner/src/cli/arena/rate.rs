//! `edgebench arena rate`: Bradley-Terry ratings and the leaderboard files.

use std::path::PathBuf;

use edgebench::arena::{self, RateOptions, bootstrap, leaderboard, rate};

#[derive(clap::Args)]
pub struct Args {
    /// battles.csv files (one set of battles).
    #[arg(required = true)]
    battles: Vec<PathBuf>,
    /// Output folder.
    #[arg(short, long, default_value = "reports/arena")]
    out: PathBuf,
    /// Bootstrap rounds (0: sandwich intervals only).
    #[arg(long, default_value_t = bootstrap::DEFAULT_ROUNDS)]
    rounds: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = bootstrap::DEFAULT_SEED)]
    seed: u64,
    /// Pin a model's rating, e.g. `--anchor gpt-4=1200` (default: mean rating 1000).
    #[arg(long, value_parser = rate::parse_anchor)]
    anchor: Option<(String, f64)>,
    /// Models with fewer votes are marked provisional.
    #[arg(long, default_value_t = rate::DEFAULT_MIN_VOTES)]
    min_votes: u64,
    /// Which intervals the tables show and rank by (both are in the CSV).
    #[arg(long, value_enum, default_value = "bootstrap")]
    intervals: rate::IntervalMethod,
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
    /// Rate without the battles of voters the anomaly report flags (needs the vote page's
    /// battles.votes.csv beside the battles); the disclosure lists the raw ratings beside.
    #[arg(long)]
    exclude_flagged: bool,
    /// Do not print the top of the table.
    #[arg(short, long)]
    quiet: bool,
}

// From a reference: `exec` still needs the output folder and `--quiet` afterwards.
impl From<&Args> for RateOptions {
    fn from(a: &Args) -> Self {
        let mut opts = RateOptions {
            inputs: a.battles.clone(),
            rounds: a.rounds,
            seed: a.seed,
            anchor: a.anchor.clone(),
            min_votes: a.min_votes,
            intervals: a.intervals,
            style: a.style,
            inverse_frequency: a.inverse_pair_weights,
            judges: a.judges.clone(),
            models: a.models.clone(),
            speed: a.speed.clone(),
            min_tok_s: a.min_tok_s,
            exclude_flagged: a.exclude_flagged,
            ..Default::default()
        };
        if let Some(t) = a.threads {
            opts.threads = t.max(1);
        }
        opts
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let lb = arena::rate(&RateOptions::from(&a))?;
    let written = leaderboard::write_all(&lb, &a.out)?;
    if !a.quiet {
        // The top of the table and where the rest is: leaderboard.md may be a megabyte.
        let charts = leaderboard::charts(&lb);
        let md = a.out.join("leaderboard.md");
        println!("{}", leaderboard::terminal(&lb, &charts, &md));
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
