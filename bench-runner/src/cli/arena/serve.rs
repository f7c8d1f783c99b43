//! `edgebench arena serve`: the vote page.

use std::path::PathBuf;
use std::time::Duration;

use edgebench::arena::serve::voters::Limits;
use edgebench::arena::serve::{
    self, DEFAULT_MIN_READ_S, DEFAULT_RATE, DEFAULT_WINDOW_S, ServeOptions,
};

#[derive(clap::Args)]
pub struct Args {
    /// Answers to show (from `arena run`).
    #[arg(long, default_value = "results/arena/answers.jsonl")]
    answers: PathBuf,
    /// battles.csv that receives the votes (who voted, hashed, goes to battles.votes.csv beside it).
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
    /// A host name the page answers to besides loopback and --host, as browsers send it in
    /// `Host` (`votes.example.org`, or with a port: `votes.example.org:8443`); repeatable.
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// Seconds a battle must be on screen before its vote counts.
    #[arg(long, default_value_t = DEFAULT_MIN_READ_S, value_parser = seconds)]
    min_read_s: f64,
    /// Votes per voter (cookie) per window; more are refused with 429.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    voter_rate: usize,
    /// Votes per client address per window; more are refused with 429.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    address_rate: usize,
    /// The rate limits' sliding window in seconds.
    #[arg(long, default_value_t = DEFAULT_WINDOW_S, value_parser = seconds)]
    rate_window_s: f64,
    /// Name of an environment variable holding an access code voters must enter once (the
    /// code itself never goes on the command line, into logs or CSV).
    #[arg(long, value_name = "VAR")]
    vote_secret_env: Option<String>,
    /// Behind a reverse proxy: count the client address from the last X-Forwarded-For entry,
    /// mark cookies Secure (docs/arena.md).
    #[arg(long)]
    trust_proxy: bool,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=86_400.0).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not a number of seconds from 0 to 86400")),
    }
}

impl TryFrom<Args> for ServeOptions {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Self> {
        let vote_secret = match &a.vote_secret_env {
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(v),
                _ => {
                    return Err(edgebench::error::Error::Usage(format!(
                        "--vote-secret-env {var}: the environment variable is unset or empty"
                    ))
                    .into());
                }
            },
            None => None,
        };
        let mut o = ServeOptions::new(a.answers, a.battles);
        o.host = a.host;
        o.port = a.port;
        o.seed = a.seed;
        o.voter = a.voter;
        o.allowed_hosts = a.allowed_hosts;
        o.min_read = Duration::from_secs_f64(a.min_read_s);
        o.limits = Limits {
            per_voter: a.voter_rate,
            per_address: a.address_rate,
            window: Duration::from_secs_f64(a.rate_window_s),
        };
        o.vote_secret = vote_secret;
        o.trust_proxy = a.trust_proxy;
        Ok(o)
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let opts = ServeOptions::try_from(a)?;
    super::super::runtime()?.block_on(serve::serve(opts))?;
    Ok(0)
}
