//! Results made by other tools, turned into edgebench runs so they join the same reports.

pub mod llama_batched_bench;
pub mod llama_bench;

/// A fresh run folder for an import: its id (given, else `<time>-<tool>`), and the samples and
/// summary writers. A folder that already holds samples is refused, so nothing is overwritten.
pub(crate) struct RunFolder {
    pub run_id: String,
    pub run_dir: std::path::PathBuf,
    pub samples: crate::results::CsvAppender,
    pub summary_w: crate::results::CsvAppender,
}

pub(crate) fn new_run_folder(
    out: &std::path::Path,
    run_id: Option<&str>,
    tool: &str,
) -> crate::error::Result<RunFolder> {
    use crate::error::Error;
    use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
    let run_id = run_id
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}-{tool}", chrono::Local::now().format("%Y%m%d-%H%M%S")));
    let run_dir = out.join(&run_id);
    if run_dir.join("samples.csv").exists() {
        return Err(Error::RunFolderExists {
            path: run_dir,
            instead: "choose another --run-id",
        });
    }
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::write(&run_dir, e))?;
    Ok(RunFolder {
        samples: crate::results::CsvAppender::open(&run_dir.join("samples.csv"), SAMPLE_COLUMNS)?,
        summary_w: crate::results::CsvAppender::open(
            &run_dir.join("summary.csv"),
            SUMMARY_COLUMNS,
        )?,
        run_id,
        run_dir,
    })
}
