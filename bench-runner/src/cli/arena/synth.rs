//! `edgebench arena synth`: synthetic battles from known strengths.

use std::path::PathBuf;

use edgebench::Error;
use edgebench::arena::synth::Synth;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    if a.models < 2 || !(0.0..=1.0).contains(&a.tie_rate) {
        return Err(
            Error::Usage("--models must be at least 2 and --tie-rate within 0..1".into()).into(),
        );
    }
    Synth::new(a.models, a.seed).write_csv(&a.out, a.battles, a.tie_rate, a.seed)?;
    println!(
        "{} battles among {} models → {}",
        a.battles,
        a.models,
        a.out.display()
    );
    Ok(0)
}
