//! Battle records: `battles.csv`, one row per battle, appended and flushed row by row (the
//! results module's [`CsvAppender`]), and the fast reader `arena rate` uses (`read.rs`), which
//! interns names and applies the filters through one accumulator (`accumulate.rs`).
//!
//! The winner column takes FastChat's four values: `model_a`, `model_b`, `tie` and
//! `tie (bothbad)`. For the Bradley-Terry fit the outcome is y = 1 (A wins), 0.5 (either
//! kind of tie), 0 (B wins).

mod accumulate;
mod read;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::results::CsvAppender;
use accumulate::Accumulator;

pub use read::read;

pub const BATTLE_COLUMNS: &[&str] = &[
    "battle_id",
    "model_a",
    "model_b",
    "winner",
    "judge",
    "prompt_id",
    "turn",
    "tstamp",
    "tokens_a",
    "tokens_b",
    "headers_a",
    "headers_b",
    "lists_a",
    "lists_b",
    "bold_a",
    "bold_b",
    "verdict",
];

/// One battle, as written to `battles.csv`. Style features are empty where unknown.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BattleRow {
    pub battle_id: String,
    pub model_a: String,
    pub model_b: String,
    /// `model_a` | `model_b` | `tie` | `tie (bothbad)`.
    pub winner: String,
    /// Who decided: `human`, a judge model's name, or FastChat's judge id on import.
    pub judge: String,
    pub prompt_id: String,
    pub turn: u32,
    /// Unix time in seconds (fractional), as FastChat writes it; orders the online Elo.
    pub tstamp: f64,
    pub tokens_a: Option<u64>,
    pub tokens_b: Option<u64>,
    pub headers_a: Option<u64>,
    pub headers_b: Option<u64>,
    pub lists_a: Option<u64>,
    pub lists_b: Option<u64>,
    pub bold_a: Option<u64>,
    pub bold_b: Option<u64>,
    /// The raw decision: a judge's verdicts in both orders, the button a person pressed.
    pub verdict: String,
}

/// The outcome of a battle from model A's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Winner {
    A,
    B,
    Tie,
    BothBad,
}

impl Winner {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "model_a" => Winner::A,
            "model_b" => Winner::B,
            "tie" => Winner::Tie,
            "tie (bothbad)" => Winner::BothBad,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Winner::A => "model_a",
            Winner::B => "model_b",
            Winner::Tie => "tie",
            Winner::BothBad => "tie (bothbad)",
        }
    }

    /// y = 1 (A wins), 0.5 (any tie), 0 (B wins).
    pub fn y(self) -> f64 {
        match self {
            Winner::A => 1.0,
            Winner::B => 0.0,
            Winner::Tie | Winner::BothBad => 0.5,
        }
    }

    /// The same battle seen from the other side.
    pub fn mirrored(self) -> Self {
        match self {
            Winner::A => Winner::B,
            Winner::B => Winner::A,
            t => t,
        }
    }
}

/// Style features of one answer (FastChat's `conv_metadata` counts).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Style {
    pub tokens: f64,
    pub headers: f64,
    pub lists: f64,
    pub bold: f64,
}

impl Style {
    pub fn as_array(&self) -> [f64; 4] {
        [self.tokens, self.headers, self.lists, self.bold]
    }
}

/// A battle as the statistics see it: model indices into [`Battles::models`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battle {
    pub a: u32,
    pub b: u32,
    pub winner: Winner,
    pub tstamp: f64,
}

/// Battles read for rating, with model names interned.
#[derive(Debug, Default, Clone)]
pub struct Battles {
    pub models: Vec<String>,
    pub battles: Vec<Battle>,
    /// Style features per battle (A, B), present only when asked for and complete.
    pub style: Option<Vec<(Style, Style)>>,
    /// Every judge with the number of battles it decided, in name order. FastChat's data has
    /// tens of thousands (one per voter), so a judge is counted, never stored per battle.
    pub judges: Vec<(String, u64)>,
    /// Rows dropped by filters or as unreadable, with why.
    pub dropped: Vec<(String, usize)>,
    pub warnings: Vec<String>,
}

impl Battles {
    /// Builds from in-memory rows (tests, the judge loop).
    pub fn from_rows(rows: &[BattleRow], want_style: bool) -> Result<Self> {
        let opts = ReadOptions {
            want_style,
            ..Default::default()
        };
        let mut acc = Accumulator::new(&opts);
        for (i, r) in rows.iter().enumerate() {
            let style = if want_style {
                match (
                    r.tokens_a,
                    r.tokens_b,
                    r.headers_a,
                    r.headers_b,
                    r.lists_a,
                    r.lists_b,
                    r.bold_a,
                    r.bold_b,
                ) {
                    (
                        Some(ta),
                        Some(tb),
                        Some(ha),
                        Some(hb),
                        Some(la),
                        Some(lb),
                        Some(ba),
                        Some(bb),
                    ) => Some((
                        Style {
                            tokens: ta as f64,
                            headers: ha as f64,
                            lists: la as f64,
                            bold: ba as f64,
                        },
                        Style {
                            tokens: tb as f64,
                            headers: hb as f64,
                            lists: lb as f64,
                            bold: bb as f64,
                        },
                    )),
                    _ => None,
                }
            } else {
                None
            };
            acc.push(
                Path::new("<rows>"),
                i + 2,
                &r.model_a,
                &r.model_b,
                &r.winner,
                &r.judge,
                r.tstamp,
                style,
            )?;
        }
        Ok(acc.finish())
    }
}

/// Which battles to keep.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep only battles decided by these judges (empty: all).
    pub judges: Vec<String>,
    /// Keep only battles between these models (empty: all).
    pub models: Vec<String>,
    /// Read the style columns (rows without them are then dropped).
    pub want_style: bool,
}

/// The judge of battles read from a file without a `judge` column (a plain
/// `model_a,model_b,winner` export).
pub const DEFAULT_JUDGE: &str = "unknown";

/// Reads whole rows (for resuming a judge run, and for tests).
pub fn read_rows(path: &Path) -> Result<Vec<BattleRow>> {
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut rdr = csv::Reader::from_reader(&bytes[..complete]);
    let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
    if header.iter().ne(BATTLE_COLUMNS.iter().copied()) {
        return Err(Error::file(
            path,
            format!(
                "unknown battles schema: expected columns {}",
                BATTLE_COLUMNS.join(",")
            ),
        ));
    }
    let mut rows = Vec::new();
    for (i, r) in rdr.deserialize::<BattleRow>().enumerate() {
        rows.push(r.map_err(|e| Error::BadRow {
            path: path.to_path_buf(),
            row: i + 2,
            source: e.into(),
        })?);
    }
    Ok(rows)
}

/// Opens `battles.csv` for appending (creating it with its header).
pub fn appender(path: &Path) -> Result<CsvAppender> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    }
    CsvAppender::open(path, BATTLE_COLUMNS)
}

/// Seconds since the Unix epoch, for `tstamp`.
pub fn now_tstamp() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_struct() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(BattleRow::default()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header, BATTLE_COLUMNS);
    }

    #[test]
    fn an_unreadable_row_keeps_its_csv_cause_and_its_message() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        let header = BATTLE_COLUMNS.join(",");
        std::fs::write(
            &p,
            format!(
                "{header}\n1,a,b,model_a,h,p,0,0,,,,,,,,,\n2,a,b,model_a,h,p,first,0,,,,,,,,,\n"
            ),
        )
        .unwrap();
        let e = read_rows(&p).unwrap_err();
        let Some(crate::error::Cause::Csv(csv)) = e
            .source()
            .and_then(|s| s.downcast_ref::<crate::error::Cause>())
        else {
            panic!("the csv error is the cause: {e:?}");
        };
        assert!(matches!(e, Error::BadRow { row: 3, .. }), "{e:?}");
        assert_eq!(e.to_string(), format!("{}: row 3: {csv}", p.display()));
        // The streaming reader says the same of a row with a field missing.
        std::fs::write(
            &p,
            format!("{header}\n1,a,b,model_a,h,p,0,0,,,,,,,,,\n2,a,b,model_a,h,p,0,0,,,,,,,,\n"),
        )
        .unwrap();
        let e = read(&[&p], &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::BadRow { row: 3, .. }), "{e:?}");
        assert_eq!(e.exit_code(), 2);
    }
}
