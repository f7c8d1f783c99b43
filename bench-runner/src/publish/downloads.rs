//! `data/`: every table of the site as CSV and JSON (an array of objects with the CSV's
//! columns as keys; empty cells are `null`), so others can rebuild the numbers. The schema
//! of each file is in docs/publish.md; the leaderboard and quality × speed files are those
//! of `arena rate` (docs/arena.md).

use std::path::Path;

use serde::Serialize;

use super::evidence::{
    DRIFT_COLUMNS, EFFECTIVE_COLUMNS, MEDIA_COLUMNS, RECALL_COLUMNS, SPEED_COLUMNS, TOOL_COLUMNS,
};
use super::site::Site;
use crate::arena::leaderboard::csv as arena_csv;
use crate::arena::rate::Leaderboard;
use crate::error::{Cause, Error, Result};
use crate::report::roofline::RooflineRow;

pub const SPEED: &str = "speed";
pub const TOOLS: &str = "tool_accuracy";
pub const RECALL: &str = "context_recall";
pub const EFFECTIVE: &str = "effective_context";
pub const MEDIA: &str = "multimodal_cost";
pub const DRIFT: &str = "drift";
pub const ROOFLINE: &str = "roofline";
pub const QUALITY_SPEED: &str = "quality_speed";
pub const ACCURACY_SPEED: &str = "accuracy_speed";

pub const ROOFLINE_COLUMNS: &[&str] = &[
    "series",
    "case",
    "model_bytes",
    "bandwidth_gbs",
    "bound_tok_s",
    "decode_tok_s",
    "percent_of_bound",
    "n",
];

/// `leaderboard` for the overall board, `leaderboard-<slug>` for a category's.
pub fn board_stem(category: Option<&str>) -> String {
    category.map_or("leaderboard".into(), |c| format!("leaderboard-{c}"))
}

pub fn disclosure_file(category: Option<&str>) -> String {
    category.map_or("disclosure.json".into(), |c| format!("disclosure-{c}.json"))
}

pub fn pairs_file(category: Option<&str>) -> String {
    category.map_or("pairs.csv".into(), |c| format!("pairs-{c}.csv"))
}

fn err(path: &Path, e: impl Into<Cause>) -> Error {
    Error::write(path, e)
}

fn put(dir: &Path, name: &str, bytes: &[u8], n: &mut usize) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|e| err(&p, e))?;
    *n += 1;
    Ok(())
}

/// `<stem>.csv` (the header always, even without rows) and `<stem>.json`.
fn table<T: Serialize>(
    dir: &Path,
    stem: &str,
    columns: &[&str],
    rows: &[T],
    n: &mut usize,
) -> Result<()> {
    let path = dir.join(format!("{stem}.csv"));
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(columns).map_err(|e| err(&path, e))?;
    for r in rows {
        w.serialize(r).map_err(|e| err(&path, e))?;
    }
    let bytes = w.into_inner().map_err(|e| err(&path, e.into_error()))?;
    put(dir, &format!("{stem}.csv"), &bytes, n)?;
    let json = serde_json::to_vec_pretty(rows).map_err(|e| err(&path, e))?;
    put(dir, &format!("{stem}.json"), &json, n)
}

/// A board's files: its CSV (arena's columns), its rows as JSON, the disclosure and the
/// battle counts per pair.
fn board(dir: &Path, lb: &Leaderboard, category: Option<&str>, n: &mut usize) -> Result<()> {
    let stem = board_stem(category);
    put(dir, &format!("{stem}.csv"), &arena_csv::leaderboard(lb)?, n)?;
    let json = serde_json::to_vec_pretty(&lb.rows).map_err(|e| err(dir, e))?;
    put(dir, &format!("{stem}.json"), &json, n)?;
    let json = serde_json::to_vec_pretty(&lb.disclosure).map_err(|e| err(dir, e))?;
    put(dir, &disclosure_file(category), &json, n)?;
    let path = dir.join(pairs_file(category));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["model_x", "model_y", "battles", "wins_x", "ties", "wins_y"])
        .map_err(|e| err(&path, e))?;
    for p in &lb.disclosure.pairs {
        w.serialize((
            &p.model_x, &p.model_y, p.battles, p.wins_x, p.ties, p.wins_y,
        ))
        .map_err(|e| err(&path, e))?;
    }
    let bytes = w.into_inner().map_err(|e| err(&path, e.into_error()))?;
    put(dir, &pairs_file(category), &bytes, n)
}

/// Writes every data file into `dir`; returns how many.
pub fn write(site: &Site, dir: &Path) -> Result<usize> {
    let mut n = 0;
    board(dir, &site.leaderboard, None, &mut n)?;
    for c in &site.categories {
        board(dir, &c.leaderboard, Some(&c.slug), &mut n)?;
    }
    let ev = &site.evidence;
    table(dir, SPEED, SPEED_COLUMNS, &ev.speed, &mut n)?;
    table(dir, TOOLS, TOOL_COLUMNS, &ev.tools, &mut n)?;
    table(dir, RECALL, RECALL_COLUMNS, &ev.recall, &mut n)?;
    table(dir, EFFECTIVE, EFFECTIVE_COLUMNS, &ev.effective, &mut n)?;
    table(dir, MEDIA, MEDIA_COLUMNS, &ev.media, &mut n)?;
    table(dir, DRIFT, DRIFT_COLUMNS, &ev.drift, &mut n)?;
    let roofline: Vec<&RooflineRow> = ev.roofline.iter().map(|r| &r.row).collect();
    table(dir, ROOFLINE, ROOFLINE_COLUMNS, &roofline, &mut n)?;
    table(
        dir,
        QUALITY_SPEED,
        crate::arena::speed::SPEED_COLUMNS,
        &site.leaderboard.speed,
        &mut n,
    )?;
    let acc = super::accuracy_speed::rows(site);
    table(
        dir,
        ACCURACY_SPEED,
        super::accuracy_speed::COLUMNS,
        &acc,
        &mut n,
    )?;
    let inputs = serde_json::to_vec_pretty(&serde_json::json!({
        "data_hash": site.data_hash,
        "files": site.inputs,
    }))
    .map_err(|e| err(dir, e))?;
    put(dir, "inputs.json", &inputs, &mut n)?;
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;
    use crate::publish::evidence::*;

    /// The header written from each columns list equals the one serde derives from the row
    /// type, so a field added to a row cannot slip out of its CSV.
    #[test]
    fn column_lists_match_the_row_types() {
        fn header<T: Serialize>(row: T) -> Vec<String> {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize(row).unwrap();
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            text.lines()
                .next()
                .unwrap()
                .split(',')
                .map(String::from)
                .collect()
        }
        let speed = SpeedRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            scenario: String::new(),
            case_id: String::new(),
            prompt_tokens: 0,
            max_tokens: 0,
            concurrency: 0,
            decode_tok_s: None,
            decode_ci_low: None,
            decode_ci_high: None,
            prefill_tok_s: None,
            prefill_ci_low: None,
            prefill_ci_high: None,
            ttft_ms: None,
            ttft_ci_low: None,
            ttft_ci_high: None,
            n: 0,
        };
        assert_eq!(header(speed), SPEED_COLUMNS);
        let tool = ToolRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            scenario: String::new(),
            case_id: String::new(),
            measure: String::new(),
            category: String::new(),
            correct: 0,
            n: 0,
            share: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
        };
        assert_eq!(header(tool), TOOL_COLUMNS);
        let recall = RecallRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            scenario: String::new(),
            context_tokens: 0,
            recall: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
            n: 0,
        };
        assert_eq!(header(recall), RECALL_COLUMNS);
        let eff = EffectiveRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            scenario: String::new(),
            effective_context_length: None,
            threshold: None,
        };
        assert_eq!(header(eff), EFFECTIVE_COLUMNS);
        let media = MediaRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            modality: String::new(),
            case_id: String::new(),
            ttft_media_ms: String::new(),
            ttft_text_ms: String::new(),
            media_cost_ms: String::new(),
            n: 0,
            unsupported: 0,
        };
        assert_eq!(header(media), MEDIA_COLUMNS);
        let drift = DriftRow {
            series: 0,
            device: String::new(),
            backend: String::new(),
            model: String::new(),
            run_id: String::new(),
            scenario: String::new(),
            case_id: String::new(),
            metric: String::new(),
            unit: String::new(),
            mean: 0.0,
            ci_low: 0.0,
            ci_high: 0.0,
            n: 0,
        };
        assert_eq!(header(drift), DRIFT_COLUMNS);
        let roof = RooflineRow {
            series: String::new(),
            case: String::new(),
            model_bytes: 0,
            bandwidth_gbs: 0.0,
            bound_tok_s: 0.0,
            decode_tok_s: 0.0,
            percent_of_bound: 0.0,
            n: 0,
        };
        assert_eq!(header(roof), ROOFLINE_COLUMNS);
    }
}
