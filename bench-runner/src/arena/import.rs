//! `arena import`: FastChat's `clean_battle` JSON (a JSON array, or one object per line) into
//! `battles.csv`. As FastChat does for its leaderboard, only anonymous battles (`anony: true`)
//! are kept: in a named battle the voter knew which model was which.
//!
//! Fields read: `model_a`, `model_b`, `winner`, `judge`, `turn`, `anony`, `tstamp`, and where
//! present `question_id` (→ `prompt_id`) and `conv_metadata` (→ the style columns:
//! `sum_assistant_{a,b}_tokens`, the sums of `header_count_*`, `list_count_*`, `bold_count_*`).

use std::path::Path;

use serde_json::Value;

use super::battles::{self, BattleRow, Winner};
use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: usize,
    pub kept: usize,
    pub skipped_named: usize,
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

fn records(path: &Path, text: &str) -> Result<Vec<Value>> {
    let t = text.trim_start();
    if t.starts_with('[') {
        let v: Value = serde_json::from_str(t).map_err(|e| Error::Input {
            path: path.into(),
            line: e.line(),
            col: e.column(),
            message: e.to_string(),
        })?;
        match v {
            Value::Array(a) => Ok(a),
            _ => Err(Error::file(path, "expected a JSON array of battles")),
        }
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::Input {
                    path: path.into(),
                    line: i + 1,
                    col: e.column(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// Converts FastChat records to rows (anonymous battles only).
pub fn convert(path: &Path, text: &str) -> Result<(Vec<BattleRow>, ImportSummary)> {
    let recs = records(path, text)?;
    let mut out = Vec::new();
    let mut sum = ImportSummary {
        records: recs.len(),
        ..Default::default()
    };
    for (i, r) in recs.iter().enumerate() {
        let bad = |what: &str| Error::file(path, format!("battle {} (0-based {i}): {what}", i + 1));
        let s = |k: &str| r.get(k).and_then(Value::as_str);
        let model_a = s("model_a").ok_or_else(|| bad("no `model_a`"))?;
        let model_b = s("model_b").ok_or_else(|| bad("no `model_b`"))?;
        let winner = s("winner").ok_or_else(|| bad("no `winner`"))?;
        let w = Winner::parse(winner).ok_or_else(|| {
            bad(&format!(
                "winner `{winner}` is not one of model_a, model_b, tie, tie (bothbad)"
            ))
        })?;
        if r.get("anony").and_then(Value::as_bool) != Some(true) {
            sum.skipped_named += 1;
            continue;
        }
        let meta = r.get("conv_metadata");
        out.push(BattleRow {
            battle_id: s("question_id").map_or_else(|| format!("import-{}", i + 1), str::to_string),
            model_a: model_a.to_string(),
            model_b: model_b.to_string(),
            winner: w.as_str().to_string(),
            judge: match r.get("judge") {
                Some(Value::String(j)) => j.clone(),
                Some(v) if !v.is_null() => v.to_string(),
                _ => String::new(),
            },
            prompt_id: s("question_id").unwrap_or_default().to_string(),
            turn: r.get("turn").and_then(Value::as_u64).unwrap_or(1) as u32,
            tstamp: r.get("tstamp").and_then(Value::as_f64).unwrap_or(0.0),
            tokens_a: count(meta, "sum_assistant_a_tokens"),
            tokens_b: count(meta, "sum_assistant_b_tokens"),
            headers_a: count(meta, "header_count_a"),
            headers_b: count(meta, "header_count_b"),
            lists_a: count(meta, "list_count_a"),
            lists_b: count(meta, "list_count_b"),
            bold_a: count(meta, "bold_count_a"),
            bold_b: count(meta, "bold_count_b"),
            verdict: String::new(),
        });
        sum.kept += 1;
    }
    Ok((out, sum))
}

/// Imports `file` and appends its anonymous battles to `out` (battles.csv).
pub fn import(file: &Path, out: &Path) -> Result<ImportSummary> {
    let text = crate::source::read(file)?;
    let (rows, sum) = convert(file, &text)?;
    let mut w = battles::appender(out)?;
    for r in &rows {
        w.append(r)?;
    }
    Ok(sum)
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
}
