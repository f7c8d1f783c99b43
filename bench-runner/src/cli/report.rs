//! `edgebench report`: report.md and report.html from run folders or CSV files.

use std::path::PathBuf;

use edgebench::report::ReportOptions;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders, folders of run folders (e.g. results/), samples.csv or summary.csv files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder for report.md, report.html and the figures' SVG files.
    #[arg(short, long, default_value = "reports/latest")]
    out: PathBuf,
    /// Series every ratio is taken against: `device/backend`, or a device label, backend
    /// name or run id that names one series (default: the first series read).
    #[arg(short, long)]
    reference: Option<String>,
    /// Metrics of the comparison tables (repeatable or comma-separated); default
    /// decode_tok_s, prefill_tok_s, ttft_ms. Shares of items from items.csv: accuracy,
    /// accuracy:<category>, compliance, compliance:<category>.
    #[arg(short, long = "metric")]
    metrics: Vec<String>,
    /// Title of the report.
    #[arg(long)]
    title: Option<String>,
}

impl From<Args> for ReportOptions {
    fn from(a: Args) -> Self {
        ReportOptions {
            inputs: a.inputs,
            out: a.out,
            reference: a.reference,
            metrics: a.metrics,
            title: a.title,
        }
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let (report, files) = edgebench::report::write(&a.into())?;
    for w in &report.comparability {
        eprintln!("warning: not like for like: {w}");
    }
    println!(
        "report of {} series, {} requests, {} figures: {}",
        report.series.len(),
        report.requests,
        report.figures.len(),
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e != "svg"))
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(0)
}
