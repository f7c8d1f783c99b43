//! `edgebench arena serve`: the vote page.

use std::path::PathBuf;

use edgebench::arena::serve::{self, ServeOptions};

#[derive(clap::Args)]
pub struct Args {
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
}

impl From<Args> for ServeOptions {
    fn from(a: Args) -> Self {
        ServeOptions {
            answers: a.answers,
            battles: a.battles,
            host: a.host,
            port: a.port,
            seed: a.seed,
            voter: a.voter,
        }
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    super::super::runtime()?.block_on(serve::serve(a.into()))?;
    Ok(0)
}
