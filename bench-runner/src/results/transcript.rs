//! `transcripts.jsonl`: every tool-call / structured-output response as it came back (text,
//! raw tool calls, finish reason, usage, timings), one JSON object per line, flushed per
//! line. The `replay` backend answers from this file, so a run can be re-scored — with a
//! newer scorer, or on a machine without the model — and gives identical verdicts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::score::RawCall;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TranscriptRecord {
    /// `scenario/case_id/item_id/turn`: what the replay backend looks up.
    pub key: String,
    pub backend: String,
    pub model: String,
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<RawCall>,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    /// Error category and message when the request failed.
    pub error_category: Option<String>,
    pub error_message: Option<String>,
}

pub struct TranscriptWriter {
    path: PathBuf,
    file: File,
}

impl TranscriptWriter {
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::results(path, e))?;
        Ok(TranscriptWriter { path: path.to_path_buf(), file })
    }

    /// One whole line per write(2), flushed.
    pub fn append(&mut self, r: &TranscriptRecord) -> Result<()> {
        let mut line = serde_json::to_vec(r).map_err(|e| Error::results(&self.path, e))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| Error::results(&self.path, e))?;
        self.file.flush().map_err(|e| Error::results(&self.path, e))
    }
}

/// Reads a transcripts file; a torn last line (a killed run) is skipped.
pub fn read(path: &Path) -> Result<Vec<TranscriptRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e))?;
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Input { path: path.to_path_buf(), line: i + 1, col: e.column().max(1), message: e.to_string() })
        })
        .collect()
}
