//! Crash-safe CSV appender: every row is serialised whole, written and flushed to the OS
//! before the next request's row, so a killed run loses at most the request in flight.
//! Opening an existing file checks its header and appends (for `--resume`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

pub struct CsvAppender {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl CsvAppender {
    /// Opens `path` for appending; writes `columns` as the header if the file is new or
    /// empty, and refuses a file whose header differs.
    pub fn open(path: &Path, columns: &[&str]) -> Result<Self> {
        let exists = path.exists()
            && std::fs::metadata(path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        if exists {
            drop_torn_tail(path)?;
            let mut rdr = csv::Reader::from_path(path).map_err(|e| Error::write(path, e))?;
            let header = rdr.headers().map_err(|e| Error::write(path, e))?;
            if header.iter().ne(columns.iter().copied()) {
                return Err(Error::OtherColumns {
                    path: path.to_path_buf(),
                });
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        let mut w = CsvAppender {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(1024),
        };
        if !exists {
            let mut cw = csv::Writer::from_writer(Vec::new());
            cw.write_record(columns)
                .map_err(|e| Error::write(path, e))?;
            w.buf = cw
                .into_inner()
                .map_err(|e| Error::write(path, e.into_error()))?;
            w.commit()?;
        }
        Ok(w)
    }

    /// Appends several rows in one write (a case's summary rows land together or not at all).
    pub fn append_all<T: Serialize>(&mut self, rows: &[T]) -> Result<()> {
        let mut cw = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(std::mem::take(&mut self.buf));
        for row in rows {
            cw.serialize(row).map_err(|e| Error::write(&self.path, e))?;
        }
        self.buf = cw
            .into_inner()
            .map_err(|e| Error::write(&self.path, e.into_error()))?;
        self.commit()
    }

    /// Appends one row, whole, and flushes it.
    pub fn append<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let mut cw = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(std::mem::take(&mut self.buf));
        cw.serialize(row).map_err(|e| Error::write(&self.path, e))?;
        self.buf = cw
            .into_inner()
            .map_err(|e| Error::write(&self.path, e.into_error()))?;
        self.commit()
    }

    /// One write(2) per row: a kill leaves either the whole row or a torn tail that the
    /// reader drops, never half a row followed by another.
    fn commit(&mut self) -> Result<()> {
        // The last line of defence for secrets: whatever a row carries (a server's message,
        // model output) is scrubbed as written. Rows are UTF-8 (serialised from strings).
        if let Ok(text) = std::str::from_utf8(&self.buf)
            && let std::borrow::Cow::Owned(clean) = crate::secret::scrub(text)
        {
            self.buf = clean.into_bytes();
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::write(&self.path, e))?;
        self.file.flush().map_err(|e| Error::write(&self.path, e))?;
        self.buf.clear();
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A file killed in the middle of a write ends without a newline: cut it back to the last
/// complete row before appending, or the next row would be glued onto the torn one.
fn drop_torn_tail(path: &Path) -> Result<()> {
    // Only the tail is read: appending to a battles.csv of millions of rows must not load it.
    let mut file = std::fs::File::open(path).map_err(|e| Error::write(path, e))?;
    let len = file.metadata().map_err(|e| Error::write(path, e))?.len();
    let keep = complete_len(&mut file, len).map_err(|e| Error::write(path, e))?;
    if keep == len {
        return Ok(());
    }
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
    f.set_len(keep).map_err(|e| Error::write(path, e))?;
    eprintln!(
        "warning: {}: dropped a torn last line ({} bytes) before appending",
        path.display(),
        len - keep
    );
    Ok(())
}

/// Length of the file's complete lines (up to and including its last `\n`; 0 when it has
/// none), found by reading backwards from `len` in 64 KiB steps.
pub(crate) fn complete_len(file: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::schema::{SAMPLE_COLUMNS, SampleRow};

    #[test]
    fn rows_are_flushed_and_appends_keep_one_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let mut w = CsvAppender::open(&p, SAMPLE_COLUMNS).unwrap();
        let row = SampleRow {
            run_id: "r".into(),
            error_message: Some("a \"quoted\", multi\nline message".into()),
            ttft_ms: Some(12.5),
            ..Default::default()
        };
        w.append(&row).unwrap();
        // Visible on disk before the writer is dropped.
        let rows = crate::results::reader::read_samples(&p).unwrap();
        assert_eq!(rows.rows, vec![row.clone()]);
        drop(w);
        let mut w = CsvAppender::open(&p, SAMPLE_COLUMNS).unwrap();
        w.append(&row).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("run_id,").count(), 1);
        assert_eq!(
            crate::results::reader::read_samples(&p).unwrap().rows.len(),
            2
        );
    }

    #[test]
    fn appending_after_a_torn_line_cuts_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let row = SampleRow {
            run_id: "r".into(),
            ..Default::default()
        };
        CsvAppender::open(&p, SAMPLE_COLUMNS)
            .unwrap()
            .append(&row)
            .unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.extend_from_slice(b"r,half-a-row");
        std::fs::write(&p, &bytes).unwrap();
        CsvAppender::open(&p, SAMPLE_COLUMNS)
            .unwrap()
            .append_all(&[row.clone(), row.clone()])
            .unwrap();
        let back = crate::results::reader::read_samples(&p).unwrap();
        assert_eq!(back.rows, vec![row.clone(), row.clone(), row]);
        assert!(back.warnings.is_empty());
    }

    #[test]
    fn a_registered_secret_never_reaches_the_file() {
        let key = "sk-writer-test-\"x,y\"-31415";
        crate::secret::register(key);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let row = SampleRow {
            run_id: "r".into(),
            model: format!("m {key}"),
            error_message: Some(format!("bad key: Bearer {key}")),
            ..Default::default()
        };
        CsvAppender::open(&p, SAMPLE_COLUMNS)
            .unwrap()
            .append(&row)
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("writer-test"), "{text}");
        let back = crate::results::reader::read_samples(&p).unwrap().rows;
        assert_eq!(back[0].model, "m ***");
        assert_eq!(
            back[0].error_message.as_deref(),
            Some("bad key: Bearer ***")
        );
    }

    #[test]
    fn refuses_other_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let Err(e) = CsvAppender::open(&p, SAMPLE_COLUMNS) else {
            panic!("a file of other columns is not appended to");
        };
        assert!(matches!(&e, Error::OtherColumns { path } if path == &p));
        assert_eq!(
            e.to_string(),
            format!(
                "writing results to {}: existing file has other columns (another schema version?); refusing to append",
                p.display()
            )
        );
        assert_eq!(e.exit_code(), 2);
    }
}
