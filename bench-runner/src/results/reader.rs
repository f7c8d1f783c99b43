//! Reads results back. A torn last line (the process was killed in the middle of a write)
//! is dropped with a warning; a complete row is never dropped; a file with unknown columns
//! is refused with a clear message.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::schema::{SampleRow, SummaryRow, SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Rows<T> {
    pub rows: Vec<T>,
    /// Human-readable notes (a dropped torn line).
    pub warnings: Vec<String>,
}

pub fn read_samples(path: &Path) -> Result<Rows<SampleRow>> {
    read(path, SAMPLE_COLUMNS)
}

pub fn read_summary(path: &Path) -> Result<Rows<SummaryRow>> {
    read(path, SUMMARY_COLUMNS)
}

pub(crate) fn read<T: DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Rows<T>> {
    let bytes = std::fs::read(path).map_err(|e| Error::file(path, e))?;
    let mut warnings = Vec::new();
    // Every complete row ends with a newline: anything after the last one is torn.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() {
        warnings.push(format!("{}: dropped a torn last line ({} bytes) left by an interrupted write", path.display(), bytes.len() - complete));
    }
    let mut rdr = csv::Reader::from_reader(&bytes[..complete]);
    let header = rdr.headers().map_err(|e| Error::file(path, e))?.clone();
    if header.iter().ne(columns.iter().copied()) {
        return Err(Error::file(path, format!(
            "unknown CSV schema: expected columns {}…, found {}… (written by another edgebench version?)",
            columns.iter().take(4).copied().collect::<Vec<_>>().join(","),
            header.iter().take(4).collect::<Vec<_>>().join(",")
        )));
    }
    let mut rows = Vec::new();
    for (i, rec) in rdr.deserialize::<T>().enumerate() {
        rows.push(rec.map_err(|e| Error::file(path, format!("row {}: {e}", i + 2)))?);
    }
    Ok(Rows { rows, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_dropped_complete_rows_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let mut w = crate::results::CsvAppender::open(&p, SAMPLE_COLUMNS).unwrap();
        let row = SampleRow { run_id: "r".into(), case_id: "c".into(), ..Default::default() };
        w.append(&row).unwrap();
        w.append(&row).unwrap();
        drop(w);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"r,llama,gem");
        std::fs::write(&p, &bytes).unwrap();
        let r = read_samples(&p).unwrap();
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.warnings.len(), 1);
    }
}
