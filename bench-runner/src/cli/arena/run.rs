//! `edgebench arena run`: contestants answer, a judge decides.

use std::path::PathBuf;

use edgebench::Error;
use edgebench::arena::judge::{self, ArenaRunOptions};

#[derive(clap::Args)]
pub struct Args {
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
}

impl From<Args> for ArenaRunOptions {
    fn from(a: Args) -> Self {
        ArenaRunOptions {
            prompts: a.prompts,
            models: a.models,
            judge: a.judge,
            config: a.config,
            out: a.out,
            max_tokens: a.max_tokens,
            judge_max_tokens: a.judge_max_tokens,
            temperature: a.temperature,
            seed: a.seed,
            quiet: a.quiet,
        }
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let battles = a.out.join("battles.csv");
    let o = super::super::runtime()?.block_on(judge::run(a.into()))?;
    println!(
        "arena run: {} new answers, {} new judgments, {} new battles ({} in all) → {}",
        o.answers_new,
        o.judgments_new,
        o.battles_new,
        o.battles_total,
        battles.display()
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
