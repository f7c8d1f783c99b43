//! `edgebench merge`: run folders joined into one.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders to join.
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// The new run folder.
    #[arg(short, long, value_name = "RUN_DIR")]
    out: PathBuf,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let m = edgebench::results::merge::merge(&a.runs, &a.out)?;
    println!(
        "merged {} runs: {} samples, {} summary rows",
        a.runs.len(),
        m.samples,
        m.summary
    );
    for (file, n) in &m.other {
        println!("  {file}: {n} rows");
    }
    println!("results: {}", m.dir.display());
    Ok(0)
}
