//! `edgebench validate`: scenario files and backend configs checked, every mistake reported.

use std::path::{Path, PathBuf};

use edgebench::Error;
use edgebench::backend::Config;
use edgebench::results::device::HostFingerprint;
use edgebench::scenario::open_loop::Load;
use edgebench::scenario::{Scenario, ScenarioBody};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    // Every file is checked and every mistake reported, then the worst exit code wins.
    let mut code = 0u8;
    let memory = HostFingerprint::read().memory_bytes;
    for f in &a.files {
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

/// A file with a top-level `[backends]` table is a backend config; anything else a scenario.
/// Warnings are about this machine (a plan too big for its `memory` bytes), not the file.
fn validate(path: &Path, memory: u64) -> Result<(String, Vec<String>), Error> {
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
            ScenarioBody::Throughput(t) => match t.load.as_ref() {
                // A sweep chooses its rates as it runs: say what it is given.
                Load::Sweep { sweep, .. } => {
                    let prompts = if t.prompts.is_some() {
                        1
                    } else {
                        t.prompt_lengths.len()
                    };
                    let points = prompts * t.output_lengths.len();
                    format!(
                        "throughput scenario `{}`, sweep over {points} length point{} ({} grid rates each, then bisection)",
                        s.name,
                        if points == 1 { "" } else { "s" },
                        sweep.grid,
                    )
                }
                _ => format!(
                    "throughput scenario `{}`, {} cases",
                    s.name,
                    s.cases().len() + t.rate_cases().len()
                ),
            },
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
