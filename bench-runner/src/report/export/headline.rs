//! The block at the top of a report: what ran, on what, the three numbers a reader asks for
//! first, and how many warnings follow. Built from the finished [`Report`], so it says only
//! what the tables below say, in the same digits.

use crate::report::model::Report;
use crate::report::view::PivotView;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Headline {
    /// "scenarios rep, sus on devA, devB".
    pub ran: String,
    /// "llama-server (gemma-3-270m-q4_k_m.gguf)".
    pub backends: String,
    pub numbers: Vec<Number>,
    pub warnings: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Number {
    /// "Decode tok/s".
    pub label: String,
    /// "123.4 [120.1, 125.0]".
    pub value: String,
    /// Where the number comes from: case, series, and n.
    pub context: String,
}

/// Distinct non-empty values in order of first appearance.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items.flat_map(|s| s.split(", ")) {
        if !i.is_empty() && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

pub fn build(r: &Report) -> Headline {
    let scenarios = distinct(r.runs.iter().map(|x| x.scenarios.as_str()));
    let devices = distinct(r.series.iter().map(|s| s.device.as_str()));
    let backends = distinct(r.runs.iter().map(|x| x.backends.as_str()));
    let mut numbers: Vec<Number> = ["decode", "ttft"]
        .iter()
        .filter_map(|k| {
            let p = r
                .pivots
                .iter()
                .find(|p| p.title.to_ascii_lowercase().starts_with(k))?;
            first_number(p)
        })
        .collect();
    if numbers.is_empty() {
        numbers.extend(r.pivots.iter().take(2).filter_map(first_number));
    }
    numbers.push(third_number(r));
    Headline {
        ran: format!(
            "{} {} on {}",
            if scenarios.len() == 1 {
                "scenario"
            } else {
                "scenarios"
            },
            or_dash(&scenarios),
            or_dash(&devices)
        ),
        backends: or_dash(&backends),
        numbers,
        warnings: r.warnings.len() + r.comparability.len(),
    }
}

fn or_dash(v: &[&str]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

/// The reference series' value in the table's first case.
fn first_number(p: &PivotView) -> Option<Number> {
    let row = p.rows.iter().find(|r| {
        r.cells
            .get(p.reference)
            .is_some_and(|c| c.as_ref().is_some())
    })?;
    let cell = row.cells[p.reference].as_ref()?;
    let series = p.columns.get(p.reference).cloned().unwrap_or_default();
    let more = if p.rows.len() > 1 {
        format!("; {} more cases below", p.rows.len() - 1)
    } else {
        String::new()
    };
    Some(Number {
        label: if p.title.ends_with(&p.unit) {
            p.title.clone()
        } else {
            format!("{} ({})", p.title, p.unit)
        },
        value: cell.value.clone(),
        context: format!("{} on {series}, n = {}{more}", row.case, cell.n),
    })
}

/// Tool-call accuracy where items were judged, else the failed requests.
fn third_number(r: &Report) -> Number {
    if let Some(a) = r.tools.accuracy.iter().find(|a| a.category == "all") {
        return Number {
            label: format!("{} ({})", capitalised(&a.measure), a.scenario),
            value: a.share.clone(),
            context: format!("{} of {} items, {} / {}", a.correct, a.n, a.case, a.series),
        };
    }
    let failed: usize = r
        .runs
        .iter()
        .filter_map(|x| {
            let (_, rest) = x.requests.split_once(" (")?;
            rest.strip_suffix(" failed)")?.parse::<usize>().ok()
        })
        .sum();
    Number {
        label: "Failed requests".into(),
        value: failed.to_string(),
        context: format!("of {} requests", r.requests),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A table's note without the sentence about ratios when there is nothing to compare with.
pub fn note(note: &str, series: usize) -> String {
    if series > 1 {
        return note.to_string();
    }
    note.split("; ")
        .filter(|part| !part.starts_with("below it"))
        .collect::<Vec<_>>()
        .join("; ")
}
