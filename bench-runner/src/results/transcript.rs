//! `transcripts.jsonl`: every tool-call / structured-output response as it came back (text,
//! raw tool calls, finish reason, token counts, timings), one JSON object per line, flushed
//! per line. The record format belongs to the `replay` backend (`backend::replay::Recorded`),
//! which answers from this file, so a run can be re-scored identically.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

pub struct TranscriptWriter {
    path: PathBuf,
    file: File,
}

impl TranscriptWriter {
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        Ok(TranscriptWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// One whole line per write(2), flushed: a kill leaves at most a torn last line, which
    /// the reader skips.
    pub fn append<T: Serialize>(&mut self, r: &T) -> Result<()> {
        let mut line = serde_json::to_vec(r).map_err(|e| Error::write(&self.path, e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| Error::write(&self.path, e))?;
        self.file.flush().map_err(|e| Error::write(&self.path, e))
    }
}
