//! `edgebench compare`: the CI gate, candidate against baseline.

use std::path::PathBuf;

use edgebench::Error;
use edgebench::report::CompareOptions;
use edgebench::report::compare::{GateRules, parse_threshold};
use edgebench::report::export::{compare_markdown, junit};

#[derive(clap::Args)]
pub struct Args {
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
    /// prefill_tok_s, ttft_ms. accuracy, accuracy:<category>, compliance and
    /// compliance:<category> judge shares of items (items.csv) by their difference in points.
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
}

/// The library's options; the threshold text is checked here (exit 2 when malformed).
impl TryFrom<Args> for CompareOptions {
    type Error = Error;

    fn try_from(a: Args) -> Result<Self, Error> {
        Ok(CompareOptions {
            threshold: parse_threshold(&a.threshold)?,
            baseline: a.baseline,
            candidate: a.candidate,
            metrics: a.metrics,
            rules: GateRules {
                allow_missing: a.allow_missing,
                allow_errors: a.allow_errors,
            },
        })
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let junit_out = a.junit.clone();
    let cmp = edgebench::report::compare(&a.try_into()?)?;
    let md = compare_markdown::render(&cmp);
    print!("{md}");
    if let Some(p) = edgebench::report::append_step_summary(&md)? {
        eprintln!("summary appended to {}", p.display());
    }
    if let Some(p) = junit_out {
        std::fs::write(&p, junit::render(&cmp)).map_err(|e| Error::write(&p, e))?;
        eprintln!("JUnit XML: {}", p.display());
    }
    if !cmp.passed() {
        eprintln!("gate failed: {}", cmp.failure_reasons().join("; "));
    }
    Ok(cmp.exit_code())
}
