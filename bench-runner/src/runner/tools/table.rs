//! Terminal lines for tool-call and structured-output cases: accuracy with its Wilson CI,
//! the most frequent failure categories, and speed, one row per case.

use std::collections::BTreeMap;

use crate::results::SummaryRow;
use crate::results::markdown as mdtable;

fn metric<'a>(rows: &'a [SummaryRow], name: &str) -> Option<&'a SummaryRow> {
    rows.iter().find(|r| r.metric == name)
}

fn pct(r: Option<&SummaryRow>) -> String {
    r.map_or_else(
        || "-".into(),
        |r| {
            format!(
                "{:.1}% [{:.1}, {:.1}]",
                r.mean * 100.0,
                r.ci_low * 100.0,
                r.ci_high * 100.0
            )
        },
    )
}

fn accuracy(rows: &[SummaryRow]) -> Option<&SummaryRow> {
    metric(rows, "accuracy").or_else(|| metric(rows, "compliance"))
}

/// The three most frequent failure categories, `wrong_value 4, truncated 2`.
fn top_failures(rows: &[SummaryRow]) -> String {
    let mut f: Vec<(&str, usize)> = rows
        .iter()
        .filter_map(|r| {
            r.metric
                .strip_prefix("failure:")
                .map(|c| (c, (r.mean * r.n as f64).round() as usize))
        })
        .collect();
    f.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    f.iter()
        .take(3)
        .map(|(c, k)| format!("{c} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn case_line(
    backend: &str,
    case_id: &str,
    rows: &[SummaryRow],
    failed: usize,
    total: usize,
) -> String {
    format!(
        "{backend} {case_id}: {} {}, failures: {}, TTFT p50 {} ms, {}/{} requests ok",
        if metric(rows, "compliance").is_some() {
            "compliance"
        } else {
            "accuracy"
        },
        pct(accuracy(rows)),
        top_failures(rows),
        metric(rows, "ttft_ms").map_or_else(|| "-".into(), |r| format!("{:.1}", r.p50)),
        total - failed,
        total
    )
}

/// A Markdown table of every tool-call / structured case in `rows` (empty if none).
pub fn markdown(rows: &[SummaryRow]) -> String {
    let mut cases: BTreeMap<(String, String, String), Vec<SummaryRow>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.kind == "tool_calls" || r.kind == "structured")
    {
        let key = (r.backend.clone(), r.scenario.clone(), r.case_id.clone());
        if !cases.contains_key(&key) {
            order.push(key.clone());
        }
        cases.entry(key).or_default().push(r.clone());
    }
    if order.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n");
    out.push_str(&mdtable::header(
        &[
            "backend",
            "model",
            "scenario",
            "case",
            "items",
            "accuracy [95% CI]",
            "lenient",
            "top failures",
            "TTFT p50 ms",
            "decode tok/s p50",
            "correct goodput items/s",
        ],
        "llllrrrlrrr",
    ));
    for key in order {
        let rs = &cases[&key];
        let any = &rs[0];
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            any.backend,
            any.model,
            any.scenario,
            any.case_id,
            accuracy(rs).map_or(0, |r| r.n),
            pct(accuracy(rs)),
            metric(rs, "lenient_accuracy")
                .map_or_else(|| "-".into(), |r| format!("{:.1}%", r.mean * 100.0)),
            top_failures(rs),
            metric(rs, "ttft_ms").map_or_else(|| "-".into(), |r| format!("{:.1}", r.p50)),
            metric(rs, "decode_tok_s").map_or_else(|| "-".into(), |r| format!("{:.1}", r.p50)),
            metric(rs, "correct_goodput").map_or_else(|| "-".into(), |r| format!("{:.3}", r.mean)),
        ));
        let cats: Vec<String> = rs
            .iter()
            .filter_map(|r| {
                let c = r
                    .metric
                    .strip_prefix("accuracy:")
                    .or_else(|| r.metric.strip_prefix("compliance:"))?;
                Some(format!(
                    "{c} {:.0}% [{:.0}, {:.0}] (n={})",
                    r.mean * 100.0,
                    r.ci_low * 100.0,
                    r.ci_high * 100.0,
                    r.n
                ))
            })
            .collect();
        if cats.len() > 1 {
            out.push_str(&format!("| | | | | | {} | | | | | |\n", cats.join("; ")));
        }
    }
    out
}
