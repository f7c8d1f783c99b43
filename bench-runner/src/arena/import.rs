//! `arena import`: FastChat's `clean_battle` JSON (a JSON array, or one object per line) into
//! `battles.csv`. As FastChat does for its leaderboard, only anonymous battles (`anony: true`)
//! are kept: in a named battle the voter knew which model was which.
//!
//! Fields read: `model_a`, `model_b`, `winner`, `judge`, `turn`, `anony`, `tstamp`, and where
//! present `question_id` (→ `prompt_id`) and `conv_metadata` (→ the style columns:
//! `sum_assistant_{a,b}_tokens`, the sums of `header_count_*`, `list_count_*`, `bold_count_*`).
//!
//! FastChat's dumps hold millions of battles (a gigabyte of JSON and more), so the input is
//! streamed: one record is decoded at a time (serde_json's sequence visitor for an array, one
//! line at a time for JSON Lines), every other field is skipped unread, and rows go to the CSV
//! in batches. Memory stays flat whatever the file's size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use super::battles::{self, BattleRow, Winner};
use crate::error::{Error, Result};

/// Rows written per append: one write(2) per batch instead of one per row.
const BATCH: usize = 4096;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: usize,
    pub kept: usize,
    pub skipped_named: usize,
}

/// The fields of a FastChat record that matter; serde skips the rest (conversations,
/// moderation tags, …) without keeping them. Values stay loosely typed, as FastChat's dumps
/// differ between versions (a judge id may be a number, a stamp an integer).
#[derive(Deserialize)]
struct Record {
    model_a: Option<Value>,
    model_b: Option<Value>,
    winner: Option<Value>,
    judge: Option<Value>,
    turn: Option<Value>,
    anony: Option<Value>,
    tstamp: Option<Value>,
    question_id: Option<Value>,
    conv_metadata: Option<Value>,
}

fn count(meta: Option<&Value>, key: &str) -> Option<u64> {
    let v = meta?.get(key)?;
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        // {"h1": 0, "h2": 3, …} or {"ordered": 1, "unordered": 4} or {"**": 2, "__": 0}
        Value::Object(m) => Some(
            m.values()
                .filter_map(Value::as_f64)
                .map(|f| f.max(0.0) as u64)
                .sum(),
        ),
        _ => None,
    }
}

/// Record `i` (0-based) as a row, or `None` for a named battle.
fn to_row(path: &Path, i: usize, r: Record) -> Result<Option<BattleRow>> {
    let bad = |what: &str| Error::file(path, format!("battle {} (0-based {i}): {what}", i + 1));
    let s = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::to_string);
    let model_a = s(&r.model_a).ok_or_else(|| bad("no `model_a`"))?;
    let model_b = s(&r.model_b).ok_or_else(|| bad("no `model_b`"))?;
    let winner = s(&r.winner).ok_or_else(|| bad("no `winner`"))?;
    let w = Winner::parse(&winner).ok_or_else(|| {
        bad(&format!(
            "winner `{winner}` is not one of model_a, model_b, tie, tie (bothbad)"
        ))
    })?;
    if r.anony.as_ref().and_then(Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let meta = r.conv_metadata.as_ref();
    let question = s(&r.question_id);
    Ok(Some(BattleRow {
        battle_id: question
            .clone()
            .unwrap_or_else(|| format!("import-{}", i + 1)),
        model_a,
        model_b,
        winner: w.as_str().to_string(),
        judge: match r.judge {
            Some(Value::String(j)) => j,
            Some(v) => v.to_string(),
            None => String::new(),
        },
        prompt_id: question.unwrap_or_default(),
        turn: r.turn.as_ref().and_then(Value::as_u64).unwrap_or(1) as u32,
        tstamp: r.tstamp.as_ref().and_then(Value::as_f64).unwrap_or(0.0),
        tokens_a: count(meta, "sum_assistant_a_tokens"),
        tokens_b: count(meta, "sum_assistant_b_tokens"),
        headers_a: count(meta, "header_count_a"),
        headers_b: count(meta, "header_count_b"),
        lists_a: count(meta, "list_count_a"),
        lists_b: count(meta, "list_count_b"),
        bold_a: count(meta, "bold_count_a"),
        bold_b: count(meta, "bold_count_b"),
        verdict: String::new(),
    }))
}

/// Feeds every record to `each` as it is decoded, with its 0-based index.
struct Records<'f, F> {
    each: &'f mut F,
    /// Why `each` stopped the walk (serde's own error type cannot carry ours).
    stopped: &'f mut Option<Error>,
}

impl<'de, F: FnMut(usize, Record) -> Result<()>> Visitor<'de> for Records<'_, F> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of battles")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<usize, A::Error> {
        let mut i = 0;
        while let Some(r) = seq.next_element::<Record>()? {
            if let Err(e) = (self.each)(i, r) {
                *self.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            i += 1;
        }
        Ok(i)
    }
}

impl<'de, F: FnMut(usize, Record) -> Result<()>> DeserializeSeed<'de> for Records<'_, F> {
    type Value = usize;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

fn json_error(path: &Path, e: &serde_json::Error) -> Error {
    Error::Input {
        path: path.into(),
        line: e.line(),
        col: e.column(),
        message: e.to_string(),
    }
}

/// Leading whitespace, consumed and returned, and the first byte after it (not consumed).
fn sniff(r: &mut impl BufRead) -> std::io::Result<(Vec<u8>, Option<u8>)> {
    let mut ws = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((ws, None));
        }
        if let Some(i) = buf.iter().position(|b| !b.is_ascii_whitespace()) {
            let first = buf[i];
            ws.extend_from_slice(&buf[..i]);
            r.consume(i);
            return Ok((ws, Some(first)));
        }
        let n = buf.len();
        ws.extend_from_slice(buf);
        r.consume(n);
    }
}

/// Walks the records of `input` (a JSON array or JSON Lines), one at a time, handing each
/// kept (anonymous) battle to `keep`.
pub fn for_each_battle(
    path: &Path,
    mut input: impl BufRead,
    mut keep: impl FnMut(BattleRow) -> Result<()>,
) -> Result<ImportSummary> {
    let mut sum = ImportSummary::default();
    let mut each = |i: usize, r: Record| -> Result<()> {
        sum.records += 1;
        match to_row(path, i, r)? {
            Some(row) => {
                sum.kept += 1;
                keep(row)
            }
            None => {
                sum.skipped_named += 1;
                Ok(())
            }
        }
    };
    let (ws, first) = sniff(&mut input).map_err(|e| Error::read(path, e))?;
    if first == Some(b'[') {
        // The whitespace goes back in front, so serde's line numbers are the file's.
        let mut de = serde_json::Deserializer::from_reader(std::io::Cursor::new(ws).chain(input));
        let mut stopped = None;
        let walked = Records {
            each: &mut each,
            stopped: &mut stopped,
        }
        .deserialize(&mut de);
        if let Some(e) = stopped {
            return Err(e);
        }
        walked.map_err(|e| json_error(path, &e))?;
        de.end().map_err(|e| json_error(path, &e))?;
    } else {
        let lines_before = ws.iter().filter(|&&b| b == b'\n').count();
        let mut line = Vec::new();
        let (mut n, mut i) = (lines_before, 0);
        loop {
            line.clear();
            if input
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::read(path, e))?
                == 0
            {
                break;
            }
            n += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let r: Record = serde_json::from_slice(&line).map_err(|e| Error::Input {
                path: path.into(),
                line: n,
                col: e.column(),
                message: e.to_string(),
            })?;
            each(i, r)?;
            i += 1;
        }
    }
    Ok(sum)
}

/// Converts FastChat records held in memory to rows (anonymous battles only).
pub fn convert(path: &Path, text: &str) -> Result<(Vec<BattleRow>, ImportSummary)> {
    let mut rows = Vec::new();
    let sum = for_each_battle(path, text.as_bytes(), |r| {
        rows.push(r);
        Ok(())
    })?;
    Ok((rows, sum))
}

/// Imports `file` and appends its anonymous battles to `out` (battles.csv), streaming.
/// All or nothing: a bad record anywhere leaves `out` as it was.
pub fn import(file: &Path, out: &Path) -> Result<ImportSummary> {
    let f = File::open(file).map_err(|e| Error::read(file, e))?;
    let existed = std::fs::metadata(out).is_ok_and(|m| m.len() > 0);
    let mut w = battles::appender(out)?;
    let before = std::fs::metadata(out)
        .map_err(|e| Error::write(out, e))?
        .len();
    let mut batch = Vec::with_capacity(BATCH);
    let walked = for_each_battle(file, BufReader::with_capacity(1 << 20, f), |row| {
        batch.push(row);
        if batch.len() == BATCH {
            w.append_all(&batch)?;
            batch.clear();
        }
        Ok(())
    })
    .and_then(|sum| w.append_all(&batch).map(|()| sum));
    drop(w);
    if walked.is_err() {
        // Undo the rows of this import only (best effort: the error is what matters).
        if existed {
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(out) {
                let _ = f.set_len(before);
            }
        } else {
            let _ = std::fs::remove_file(out);
        }
    }
    walked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_anonymous_battles_and_reads_style() {
        let text = r#"[
 {"model_a":"x","model_b":"y","winner":"model_a","judge":"u1","turn":1,"anony":true,"tstamp":1.5,
  "conv_metadata":{"sum_assistant_a_tokens":10,"sum_assistant_b_tokens":20,"header_count_a":{"h1":1,"h2":2},"header_count_b":{"h1":0},
  "list_count_a":{"ordered":1,"unordered":2},"list_count_b":{"ordered":0,"unordered":0},"bold_count_a":{"**":3,"__":1},"bold_count_b":{"**":0,"__":0}}},
 {"model_a":"x","model_b":"y","winner":"tie (bothbad)","judge":"u2","turn":1,"anony":false,"tstamp":2}
]"#;
        let (rows, sum) = convert(Path::new("t.json"), text).unwrap();
        assert_eq!(
            sum,
            ImportSummary {
                records: 2,
                kept: 1,
                skipped_named: 1
            }
        );
        assert_eq!(
            (
                rows[0].headers_a,
                rows[0].lists_a,
                rows[0].bold_a,
                rows[0].tokens_b
            ),
            (Some(3), Some(3), Some(4), Some(20))
        );
        let e = convert(
            Path::new("t.json"),
            r#"{"model_a":"x","model_b":"y","winner":"left","anony":true}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("left"));
    }

    #[test]
    fn array_and_lines_give_the_same_rows_and_errors_are_located() {
        let recs = [
            r#"{"model_a":"x","model_b":"y","winner":"model_b","judge":7,"anony":true,"tstamp":3,"conversation_a":[{"role":"user","content":"hi ]"}]}"#,
            r#"{"model_a":"y","model_b":"x","winner":"tie","judge":null,"anony":true,"question_id":"q2"}"#,
            r#"{"model_a":"y","model_b":"x","winner":"tie","anony":"yes"}"#,
        ];
        let array = format!("\n\n[{}]\n", recs.join(",\n"));
        let lines = format!("\n{}\n\n", recs.join("\n"));
        let (a, sa) = convert(Path::new("a.json"), &array).unwrap();
        let (l, sl) = convert(Path::new("l.jsonl"), &lines).unwrap();
        assert_eq!(a, l);
        assert_eq!(sa, sl);
        assert_eq!((sa.records, sa.kept, sa.skipped_named), (3, 2, 1));
        assert_eq!(
            (a[0].judge.as_str(), a[0].battle_id.as_str(), a[0].tstamp),
            ("7", "import-1", 3.0)
        );
        assert_eq!((a[1].judge.as_str(), a[1].prompt_id.as_str()), ("", "q2"));
        // A syntax error deep in the array names its line.
        let broken = format!("[\n{},\n{{\"model_a\": }}]", recs[0]);
        match convert(Path::new("b.json"), &broken).unwrap_err() {
            Error::Input { line, .. } => assert_eq!(line, 3),
            e => panic!("{e}"),
        }
        match convert(Path::new("b.jsonl"), &format!("\n{}\n{{oops\n", recs[0])).unwrap_err() {
            Error::Input { line, .. } => assert_eq!(line, 3),
            e => panic!("{e}"),
        }
        let e = convert(Path::new("c.json"), "[1]").unwrap_err().to_string();
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn a_bad_record_leaves_battles_csv_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("battles.csv");
        let good = dir.path().join("good.jsonl");
        std::fs::write(
            &good,
            r#"{"model_a":"x","model_b":"y","winner":"model_a","anony":true}"#,
        )
        .unwrap();
        import(&good, &out).unwrap();
        let before = std::fs::read(&out).unwrap();
        let bad = dir.path().join("bad.jsonl");
        let mut text = String::new();
        for _ in 0..(BATCH + 10) {
            text.push_str(r#"{"model_a":"x","model_b":"y","winner":"model_b","anony":true}"#);
            text.push('\n');
        }
        text.push_str(r#"{"model_a":"x","model_b":"y","winner":"left","anony":true}"#);
        assert!(import(&bad, &out).is_err());
        assert_eq!(std::fs::read(&out).unwrap(), before);
        let fresh = dir.path().join("fresh.csv");
        assert!(import(&bad, &fresh).is_err());
        assert!(!fresh.exists());
    }
}
