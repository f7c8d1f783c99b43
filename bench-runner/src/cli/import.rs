//! `edgebench import`: another tool's results as an edgebench run folder.

use std::path::PathBuf;

use clap::Subcommand;

use edgebench::import::llama_batched_bench;
use edgebench::import::llama_bench::{self, ImportOptions};
use edgebench::runner;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: Kind,
}

#[derive(Subcommand)]
enum Kind {
    /// llama-bench output (`-o json`, `-o jsonl` or `-o csv`; told apart by content).
    #[command(name = "llama-bench")]
    LlamaBench(LlamaBenchArgs),
    /// llama-batched-bench output (`--output-format jsonl`); a cell on several lines is
    /// one case with several repetitions.
    #[command(name = "llama-batched-bench")]
    LlamaBatchedBench(LlamaBatchedBenchArgs),
}

#[derive(clap::Args)]
struct LlamaBatchedBenchArgs {
    /// llama-batched-bench JSONL files; each becomes a backend of the run.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder that receives the run folder.
    #[arg(short, long, default_value = "results")]
    out: PathBuf,
    /// Name of the run folder (default: date-time and "llama-batched-bench").
    #[arg(long)]
    run_id: Option<String>,
    /// Device label the results belong to (default: this machine's CPU; the file names none).
    #[arg(short, long)]
    label: Option<String>,
    /// The GGUF it ran (its file name fills the model column; the file names none).
    #[arg(short, long)]
    model: Option<String>,
}

#[derive(clap::Args)]
struct LlamaBenchArgs {
    /// llama-bench output files; each becomes a backend of the run.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder that receives the run folder.
    #[arg(short, long, default_value = "results")]
    out: PathBuf,
    /// Name of the run folder (default: date-time and "llama-bench").
    #[arg(long)]
    run_id: Option<String>,
    /// Device label the results belong to (default: llama-bench's cpu_info and gpu_info).
    #[arg(short, long)]
    label: Option<String>,
}

impl From<LlamaBenchArgs> for ImportOptions {
    fn from(a: LlamaBenchArgs) -> Self {
        ImportOptions {
            files: a.files,
            out: a.out,
            run_id: a.run_id,
            label: a.label,
            command_line: super::command_line(),
        }
    }
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    match a.what {
        Kind::LlamaBench(a) => {
            let o = llama_bench::import(&a.into())?;
            println!("{}", runner::table::pp_tg_markdown(&o.summary, &o.columns));
            println!("imported {} tests: {}", o.tests, o.run_dir.display());
            Ok(0)
        }
        Kind::LlamaBatchedBench(a) => {
            let opts = ImportOptions {
                files: a.files,
                out: a.out,
                run_id: a.run_id,
                label: a.label,
                command_line: super::command_line(),
            };
            let o = llama_batched_bench::import(&opts, a.model.as_deref())?;
            println!("{}", runner::table::batched_markdown(&o.summary));
            println!("imported {} cells: {}", o.tests, o.run_dir.display());
            Ok(0)
        }
    }
}
