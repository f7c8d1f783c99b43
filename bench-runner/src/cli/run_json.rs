//! `edgebench run --json`: the final summary as one JSON document on stdout (the shape is
//! documented in docs/running.md). It holds the figures of summary.csv, grouped by case;
//! statistics that do not exist (a case none of whose requests succeeded) are `null`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use edgebench::results::SummaryRow;
use edgebench::runner::RunOutcome;

/// Version of the document's shape; raised when a field changes meaning or goes away.
pub const FORMAT: u32 = 1;

/// How the run ended, in run.json's words.
fn status(o: &RunOutcome) -> &'static str {
    if o.interrupted {
        "interrupted"
    } else if o.requests_failed > 0 {
        "complete_with_errors"
    } else {
        "complete"
    }
}

/// A figure, or `null` where there is none (NaN, ±∞).
fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn stats(r: &SummaryRow) -> Value {
    json!({
        "unit": r.unit,
        "n": r.n,
        "mean": num(r.mean),
        "stddev": num(r.stddev),
        "min": num(r.min),
        "median": num(r.p50),
        "p90": num(r.p90),
        "p99": num(r.p99),
        "max": num(r.max),
        "ci_low": num(r.ci_low),
        "ci_high": num(r.ci_high),
    })
}

/// One object per case (backend × scenario × case, in the order of the summary), each with
/// its metrics by name.
fn cases(rows: &[SummaryRow]) -> Vec<Value> {
    let key = |r: &SummaryRow| (r.backend.clone(), r.scenario.clone(), r.case_id.clone());
    let mut order: Vec<(String, String, String)> = Vec::new();
    for r in rows {
        if !order.contains(&key(r)) {
            order.push(key(r));
        }
    }
    order
        .into_iter()
        .map(|k| {
            let rs: Vec<&SummaryRow> = rows.iter().filter(|r| key(r) == k).collect();
            let first = rs[0];
            let flags: BTreeSet<&str> = rs
                .iter()
                .flat_map(|r| r.flags.split(';'))
                .filter(|f| !f.is_empty())
                .collect();
            let metrics: Map<String, Value> =
                rs.iter().map(|r| (r.metric.clone(), stats(r))).collect();
            json!({
                "backend": first.backend,
                "model": first.model,
                "device": first.device,
                "scenario": first.scenario,
                "case": first.case_id,
                "kind": first.kind,
                "prompt_tokens": first.prompt_tokens,
                "max_tokens": first.max_tokens,
                "concurrency": first.concurrency,
                "depth": first.depth,
                "errors": rs.iter().map(|r| r.errors).max().unwrap_or(0),
                "flags": flags,
                "metrics": metrics,
            })
        })
        .collect()
}

/// The whole document. Text that came from servers (warnings) is scrubbed of secrets by the
/// caller, on the serialised text.
pub fn document(o: &RunOutcome) -> Value {
    json!({
        "format": FORMAT,
        "run_dir": o.run_dir.display().to_string(),
        "status": status(o),
        "requests": { "total": o.requests_total, "failed": o.requests_failed },
        "warnings": o.warnings,
        "cases": cases(&o.summary),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_case_is_valid_json_with_nulls() {
        let base = SummaryRow {
            backend: "b".into(),
            scenario: "s".into(),
            case_id: "c".into(),
            errors: 3,
            flags: "all_failed;error_server_error".into(),
            ..Default::default()
        };
        let failed = edgebench::results::summary::failed_case_row(&base);
        let o = RunOutcome {
            run_dir: "results/x".into(),
            summary: vec![failed],
            requests_total: 3,
            requests_failed: 3,
            warnings: vec!["w".into()],
            facts: Vec::new(),
            interrupted: false,
        };
        let text = serde_json::to_string(&document(&o)).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        let case = &back["cases"][0];
        assert_eq!(back["status"], "complete_with_errors");
        assert_eq!(case["errors"], 3);
        assert_eq!(case["flags"], json!(["all_failed", "error_server_error"]));
        assert_eq!(case["metrics"]["requests"]["n"], 0);
        assert!(case["metrics"]["requests"]["median"].is_null(), "{text}");
        assert!(case["metrics"]["requests"]["p99"].is_null(), "{text}");
    }
}
