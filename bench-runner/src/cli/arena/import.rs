//! `edgebench arena import`: FastChat battles appended to a battles.csv.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The FastChat file.
    file: PathBuf,
    /// battles.csv to append to (created if missing).
    #[arg(short, long, default_value = "results/arena/battles.csv")]
    out: PathBuf,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let s = edgebench::arena::import::import(&a.file, &a.out)?;
    println!(
        "{}: {} battles read, {} anonymous kept, {} named skipped → {}",
        a.file.display(),
        s.records,
        s.kept,
        s.skipped_named,
        a.out.display()
    );
    Ok(0)
}
