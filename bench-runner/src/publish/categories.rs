//! Category leaderboards: where a battles file has a `category` column (`coding`,
//! `long context`, `multimodal`, …; several per battle separated by `;`), each category's
//! battles are rated on their own, with the same options as the overall board.
//!
//! edgebench's own writers have no such column, so it comes from elsewhere (a FastChat export
//! with category tags, a file joined with the prompts' categories); the fast reader of
//! `arena rate` ignores columns it does not know, so the overall board is unchanged by it.

use std::collections::BTreeMap;
use std::path::Path;

use super::slug::slug;
use crate::arena::battles::{BattleRow, Battles, DEFAULT_JUDGE};
use crate::arena::rate::{Leaderboard, RateOptions, rate_battles};
use crate::error::{Error, Result};

pub const CATEGORY_COLUMN: &str = "category";

#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    pub slug: String,
    pub leaderboard: Leaderboard,
}

/// Every category with battles among at least two models, by name.
pub fn rate_all(opts: &RateOptions) -> Result<Vec<Category>> {
    let mut by_cat: BTreeMap<String, Vec<BattleRow>> = BTreeMap::new();
    for path in &opts.inputs {
        read_file(path, opts, &mut by_cat)?;
    }
    let inputs: Vec<String> = opts
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut out = Vec::new();
    for (name, rows) in by_cat {
        let b = Battles::from_rows(&rows, opts.style)?;
        if b.models.len() < 2 {
            continue;
        }
        let mut o = opts.clone();
        let mut note = None;
        if let Some((m, _)) = &opts.anchor
            && !b.models.contains(m)
        {
            // The anchor did not play in this category: its board is centred instead.
            o.anchor = None;
            note = Some(format!(
                "the anchor `{m}` has no battle in category `{name}`: its ratings have mean 1000"
            ));
        }
        let mut lb = rate_battles(&b, &o, inputs.clone())?;
        lb.disclosure.filters.push(format!("category = {name}"));
        lb.disclosure.warnings.extend(note);
        out.push(Category {
            slug: slug(&name),
            name,
            leaderboard: lb,
        });
    }
    Ok(out)
}

/// Column positions of the fields a category board needs.
struct Cols {
    category: usize,
    a: usize,
    b: usize,
    winner: usize,
    judge: Option<usize>,
    tstamp: Option<usize>,
    style: Option<[usize; 8]>,
}

fn columns(header: &csv::StringRecord) -> Option<Cols> {
    let find = |n: &str| header.iter().position(|h| h == n);
    let style: Option<Vec<usize>> = [
        "tokens_a",
        "tokens_b",
        "headers_a",
        "headers_b",
        "lists_a",
        "lists_b",
        "bold_a",
        "bold_b",
    ]
    .iter()
    .map(|n| find(n))
    .collect();
    Some(Cols {
        category: find(CATEGORY_COLUMN)?,
        a: find("model_a")?,
        b: find("model_b")?,
        winner: find("winner")?,
        judge: find("judge"),
        tstamp: find("tstamp"),
        style: style.map(|v| [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]),
    })
}

/// Adds the file's battles to their categories, with the judge and model filters of
/// `arena rate`. The overall board read the file first, so its rows are known to be sound;
/// a row cut short (a torn last line) is skipped here as it was dropped there.
fn read_file(
    path: &Path,
    opts: &RateOptions,
    by_cat: &mut BTreeMap<String, Vec<BattleRow>>,
) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| Error::read(path, e))?;
    let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
    let Some(c) = columns(&header) else {
        return Ok(());
    };
    for rec in rdr.records() {
        let Ok(rec) = rec else { continue };
        if rec.len() != header.len() {
            continue;
        }
        let judge = c.judge.map_or(DEFAULT_JUDGE, |j| &rec[j]);
        let (a, b) = (&rec[c.a], &rec[c.b]);
        let judged = opts.judges.is_empty() || opts.judges.iter().any(|j| j == judge);
        let both = |m: &str| opts.models.is_empty() || opts.models.iter().any(|x| x == m);
        if !judged || !both(a) || !both(b) {
            continue;
        }
        let num = |i: usize| rec[i].trim().parse::<u64>().ok();
        let style = c.style.map(|s| s.map(num));
        let row = BattleRow {
            model_a: a.to_string(),
            model_b: b.to_string(),
            winner: rec[c.winner].to_string(),
            judge: judge.to_string(),
            tstamp: c
                .tstamp
                .and_then(|t| rec[t].trim().parse().ok())
                .unwrap_or(0.0),
            tokens_a: style.and_then(|s| s[0]),
            tokens_b: style.and_then(|s| s[1]),
            headers_a: style.and_then(|s| s[2]),
            headers_b: style.and_then(|s| s[3]),
            lists_a: style.and_then(|s| s[4]),
            lists_b: style.and_then(|s| s[5]),
            bold_a: style.and_then(|s| s[6]),
            bold_b: style.and_then(|s| s[7]),
            ..Default::default()
        };
        for cat in rec[c.category]
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            by_cat.entry(cat.to_string()).or_default().push(row.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn each_category_is_rated_alone_with_the_filters_and_without_a_missing_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        let mut text = String::from("model_a,model_b,winner,judge,category\n");
        for i in 0..12 {
            let w = ["model_a", "model_b", "tie"][i % 3];
            text += &format!("a,b,{w},h,coding;chat\n");
            text += &format!("b,c,{w},h,chat\n");
            text += &format!("a,c,{w},bot,chat\n");
        }
        text += "a,b,model_a,h,\n"; // no category: in no board
        std::fs::write(&p, text).unwrap();
        let opts = RateOptions {
            inputs: vec![p],
            rounds: 20,
            anchor: Some(("c".into(), 1200.0)),
            judges: vec!["h".into()],
            ..Default::default()
        };
        let cats = rate_all(&opts).unwrap();
        let names: Vec<&str> = cats.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["chat", "coding"]);
        // chat: a–b and b–c by judge h (the `bot` battles are filtered out).
        assert_eq!(cats[0].leaderboard.disclosure.battles, 24);
        assert!(
            cats[0]
                .leaderboard
                .disclosure
                .anchor
                .starts_with("c = 1200")
        );
        // coding: only a–b, so the anchor `c` did not play: centred, and said so.
        let coding = &cats[1].leaderboard;
        assert_eq!(coding.disclosure.battles, 12);
        assert!(coding.disclosure.anchor.starts_with("none"));
        assert!(
            coding
                .disclosure
                .warnings
                .iter()
                .any(|w| w.contains("anchor `c`"))
        );
        assert!(
            coding
                .disclosure
                .filters
                .contains(&"category = coding".to_string())
        );
    }
}
