//! `*.votes.csv` beside `battles.csv`: who cast each vote of the page (a salted hash of the
//! voter cookie, never the cookie or an address) and how long the battle was on screen.
//! `battles.csv` keeps its columns, so every reader of it is unchanged; `arena rate` joins
//! the two by `battle_id` for the anomaly report.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::results::CsvAppender;

pub const VOTE_COLUMNS: &[&str] = &["battle_id", "voter", "read_ms"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VoteRecord {
    pub battle_id: String,
    /// 16 hex digits of SHA-256(salt ‖ voter cookie).
    pub voter: String,
    /// Milliseconds from the page being served to the vote.
    pub read_ms: u64,
}

/// `dir/battles.csv` → `dir/battles.votes.csv`.
pub fn votes_path(battles: &Path) -> PathBuf {
    let stem = battles
        .file_stem()
        .map_or_else(|| "battles".into(), |s| s.to_string_lossy().to_string());
    battles.with_file_name(format!("{stem}.votes.csv"))
}

pub fn appender(path: &Path) -> Result<CsvAppender> {
    CsvAppender::open(path, VOTE_COLUMNS)
}

/// Reads a votes file (a torn last line, from a server killed mid-write, is dropped).
pub fn read(path: &Path) -> Result<Vec<VoteRecord>> {
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut rdr = csv::Reader::from_reader(&bytes[..complete]);
    let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
    if header.iter().ne(VOTE_COLUMNS.iter().copied()) {
        return Err(Error::file(
            path,
            format!(
                "not a votes file: expected columns {}",
                VOTE_COLUMNS.join(",")
            ),
        ));
    }
    rdr.deserialize::<VoteRecord>()
        .enumerate()
        .map(|(i, r)| {
            r.map_err(|e| Error::BadRow {
                path: path.to_path_buf(),
                row: i + 2,
                source: e.into(),
            })
        })
        .collect()
}
