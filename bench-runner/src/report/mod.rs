//! Reports, device-to-device comparisons and the CI gate.
//!
//! - [`load`] reads run folders and CSVs into a compact [`load::Dataset`];
//! - [`pivot`] builds the device-to-device tables with ratios to a reference, guarded by the
//!   comparability [`key`];
//! - [`chart`] draws the figures (one kind per file behind the `Chart` trait);
//! - [`model`] assembles what a report says, [`export`] writes it as Markdown and HTML;
//!   [`tools`] (items.csv: accuracy, failures, goodput), [`effective`] (effective context
//!   length) and [`multimodal`] (media.csv) are its sections per scenario kind, and
//!   [`item_metric`] the shares of items that `--metric accuracy` tables and judges;
//!   [`serving`] puts a served backend beside llama.cpp in process, per concurrency;
//! - [`compare`] is the CI gate, written out by [`export::compare_markdown`] and
//!   [`export::junit`].
//!
//! `report` uses `results` and `measure` only.

pub mod chart;
pub mod choice;
pub mod compare;
pub mod drift;
pub mod effective;
pub mod export;
pub mod format;
pub mod item_metric;
pub mod key;
pub mod load;
pub mod metric;
pub mod model;
pub mod multimodal;
pub mod pivot;
pub mod rate;
pub mod roofline;
pub mod serving;
pub mod sustained;
pub mod tools;
pub mod view;

use std::path::{Path, PathBuf};

pub use compare::{CompareOptions, Comparison, Verdict, compare};
pub use model::{Report, ReportOptions};

use crate::error::{Error, Result};

/// Builds the report and writes report.md, report.html and the figures into `opts.out`.
pub fn write(opts: &ReportOptions) -> Result<(Report, Vec<PathBuf>)> {
    let report = model::build(opts)?;
    let files = export::write_report(&report, &opts.out)?;
    Ok((report, files))
}

/// Appends `markdown` to the file `$GITHUB_STEP_SUMMARY` names, when it is set.
pub fn append_step_summary(markdown: &str) -> Result<Option<PathBuf>> {
    let Some(p) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(p);
    append(&path, markdown)?;
    Ok(Some(path))
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| Error::write(path, e))
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    #[test]
    fn an_unwritable_step_summary_keeps_its_io_cause() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing").join("summary.md");
        let e = super::append(&p, "x").unwrap_err();
        assert!(matches!(e, crate::Error::WriteResults { .. }), "{e:?}");
        let cause = e.source().expect("the io error is kept as the cause");
        assert_eq!(
            e.to_string(),
            format!("writing results to {}: {cause}", p.display())
        );
        assert_eq!(e.exit_code(), 2);
    }
}
