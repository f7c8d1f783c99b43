//! Reads results back. A torn last line (the process was killed in the middle of a write)
//! is dropped with a warning; a complete row is never dropped; a file with unknown columns
//! is refused with a clear message.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS, SampleRow, SummaryRow};
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

/// Streams samples.csv row by row into `visit` without holding the file or the rows in
/// memory (reports over millions of requests). Same rules as [`read_samples`]: the header must
/// match, a torn last line is dropped with a warning (returned). `visit` may stop the read by
/// returning an error.
pub fn visit_samples(
    path: &Path,
    mut visit: impl FnMut(SampleRow) -> Result<()>,
) -> Result<Vec<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let len = file.metadata().map_err(|e| Error::read(path, e))?.len();
    // Find the end of the last complete line by reading the tail backwards.
    let complete = super::writer::complete_len(&mut file, len).map_err(|e| Error::read(path, e))?;
    let mut warnings = Vec::new();
    if complete < len {
        warnings.push(format!(
            "{}: dropped a torn last line ({} bytes) left by an interrupted write",
            path.display(),
            len - complete
        ));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::read(path, e))?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file.take(complete));
    let mut rdr = csv::Reader::from_reader(reader);
    let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
    check_header(path, &header, SAMPLE_COLUMNS)?;
    let mut rec = csv::StringRecord::new();
    let mut line = 1usize;
    while rdr
        .read_record(&mut rec)
        .map_err(|e| Error::read(path, e))?
    {
        line += 1;
        let row: SampleRow = rec.deserialize(Some(&header)).map_err(|e| Error::BadRow {
            path: path.to_path_buf(),
            row: line,
            source: e.into(),
        })?;
        visit(row)?;
    }
    Ok(warnings)
}

/// Columns every version of a file has had; without them the file is not ours.
const CORE: &[&str] = &["run_id", "backend", "scenario", "case_id"];

/// Rows are read by column name, so a file written before later columns were added still
/// reads (the missing cells are empty); a column this version does not know, or a missing
/// core column, means a schema we do not understand: refused with a clear message.
fn check_header(path: &Path, header: &csv::StringRecord, columns: &[&str]) -> Result<()> {
    let unknown: Vec<&str> = header.iter().filter(|h| !columns.contains(h)).collect();
    let missing: Vec<&str> = CORE
        .iter()
        .copied()
        .filter(|c| columns.contains(c) && !header.iter().any(|h| h == *c))
        .collect();
    if !unknown.is_empty() || !missing.is_empty() {
        return Err(Error::file(
            path,
            format!(
                "unknown CSV schema (written by another edgebench version?): {}{}",
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!("unknown columns {}", unknown.join(", "))
                },
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{}missing columns {}",
                        if unknown.is_empty() { "" } else { "; " },
                        missing.join(", ")
                    )
                },
            ),
        ));
    }
    Ok(())
}

pub(crate) fn read<T: DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Rows<T>> {
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let mut warnings = Vec::new();
    // Every complete row ends with a newline: anything after the last one is torn.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < bytes.len() {
        warnings.push(format!(
            "{}: dropped a torn last line ({} bytes) left by an interrupted write",
            path.display(),
            bytes.len() - complete
        ));
    }
    let mut rdr = csv::Reader::from_reader(&bytes[..complete]);
    let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
    check_header(path, &header, columns)?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.deserialize::<T>().enumerate() {
        rows.push(rec.map_err(|e| Error::BadRow {
            path: path.to_path_buf(),
            row: i + 2,
            source: e.into(),
        })?);
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
        let row = SampleRow {
            run_id: "r".into(),
            case_id: "c".into(),
            ..Default::default()
        };
        w.append(&row).unwrap();
        w.append(&row).unwrap();
        drop(w);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"r,llama,gem");
        std::fs::write(&p, &bytes).unwrap();
        let r = read_samples(&p).unwrap();
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.warnings.len(), 1);
        let mut seen = Vec::new();
        let warnings = visit_samples(&p, |row| {
            seen.push(row);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, r.rows);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn older_files_read_by_name_and_unknown_columns_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        std::fs::write(
            &p,
            "run_id,backend,scenario,case_id,ttft_ms\nr,b,s,c,12.5\n",
        )
        .unwrap();
        let r = read_samples(&p).unwrap();
        assert_eq!(r.rows[0].ttft_ms, Some(12.5));
        assert_eq!(r.rows[0].recall, None);
        std::fs::write(&p, "run_id,backend,scenario,case_id,flux\nr,b,s,c,1\n").unwrap();
        let e = read_samples(&p).unwrap_err().to_string();
        assert!(e.contains("unknown columns flux"), "{e}");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        assert!(read_samples(&p).is_err());
    }
}
