//! Per-case figures of a tool-call or structured-output case, as `summary.csv` rows.
//!
//! Proportions (unit `ratio`) carry the share in `mean`, `p50`, `min` and `max`, `n` items,
//! and the Wilson 95% interval in `ci_low` / `ci_high`:
//! - `accuracy` (all items) and `accuracy:<category>`; for structured cases `compliance`
//!   and `compliance:<category>`;
//! - `lenient_accuracy` (native mode: calls written as text counted as calls);
//! - `failure:<category>`: share of items that failed for that reason;
//! - agent items: `agent_success`, `malformed_call_rate` (malformed calls per request) and
//!   `stall_rate`;
//! - BFCL's summary: `bfcl_non_live_mean` (unweighted mean over non-live categories; no CI)
//!   and `bfcl_live_pooled` (item-weighted over live categories).
//!
//! Speed over the case's requests, as for throughput cases: `ttft_ms`, `decode_tok_s`,
//! `e2e_ms`, `prompt_tokens`, `output_tokens`; and `correct_goodput`: items that were both
//! correct and within `latency_target_ms`, per second of the items' summed E2E. A structured
//! `unconstrained` case after a `constrained` one adds `grammar_ttft_cost_ms`: median TTFT
//! constrained − median TTFT unconstrained, the schema's grammar cost seen from the client.

use std::collections::BTreeMap;

use super::run::ItemResult;
use crate::measure::proportion::{Proportion, bfcl_overall, wilson};
use crate::measure::slo::{Outcome, Slo, goodput};
use crate::measure::stats::summarize;
use crate::results::SummaryRow;

/// What later cases of the same scenario may need from an earlier one.
#[derive(Debug, Clone)]
pub(crate) struct CaseFigures {
    pub case_id: String,
    pub ttft_p50: Option<f64>,
}

pub(crate) fn proportion_row(base: &SummaryRow, metric: &str, p: &Proportion) -> SummaryRow {
    SummaryRow {
        metric: metric.into(),
        unit: "ratio".into(),
        n: p.n,
        mean: p.p,
        stddev: (p.p * (1.0 - p.p)).sqrt(),
        min: p.p,
        p50: p.p,
        p90: p.p,
        p99: p.p,
        max: p.p,
        ci_low: p.ci_low,
        ci_high: p.ci_high,
        ..base.clone()
    }
}

fn value_row(base: &SummaryRow, metric: &str, unit: &str, n: usize, v: f64) -> SummaryRow {
    SummaryRow {
        metric: metric.into(),
        unit: unit.into(),
        n,
        mean: v,
        min: v,
        p50: v,
        p90: v,
        p99: v,
        max: v,
        ci_low: v,
        ci_high: v,
        ..base.clone()
    }
}

pub(crate) fn summarize_items(
    mut base: SummaryRow,
    results: &[ItemResult],
    latency_target_ms: Option<f64>,
    earlier: &[CaseFigures],
) -> (Vec<SummaryRow>, Vec<String>, CaseFigures) {
    let n = results.len();
    let errors: usize = results.iter().map(|r| r.backend_failures).sum();
    base.errors = errors;
    let mut rows = accuracy_rows(&base, results);
    if base.kind != "structured" {
        rows.extend(agent_rows(&base, results));
    }
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        if let Some(f) = r.row.failure_category.as_deref() {
            *failures.entry(f).or_default() += 1;
        }
    }
    for (f, k) in &failures {
        if let Some(p) = wilson(*k, n) {
            rows.push(proportion_row(&base, &format!("failure:{f}"), &p));
        }
    }
    let ttft_p50 = speed_rows(&base, results, latency_target_ms, earlier, &mut rows);
    let where_ = format!("{} / {} / {}", base.backend, base.scenario, base.case_id);
    let mut warnings = Vec::new();
    if errors > 0 {
        warnings.push(format!("{where_}: {errors} requests failed at the server (failure category server_error / stall)"));
    }
    if let Some(t) = latency_target_ms {
        let slow = results
            .iter()
            .filter(|r| r.row.within_latency_target == Some(false))
            .count();
        if slow > 0 {
            warnings.push(format!(
                "{where_}: {slow} of {n} items took longer than latency_target_ms = {t}"
            ));
        }
    }
    (
        rows,
        warnings,
        CaseFigures {
            case_id: base.case_id.clone(),
            ttft_p50,
        },
    )
}

/// Accuracy (compliance for structured cases), overall and per category; for tool calls also
/// lenient accuracy and BFCL's two overall figures.
fn accuracy_rows(base: &SummaryRow, results: &[ItemResult]) -> Vec<SummaryRow> {
    let structured = base.kind == "structured";
    let acc = if structured { "compliance" } else { "accuracy" };
    let mut rows = Vec::new();
    let pass = results.iter().filter(|r| r.row.pass).count();
    if let Some(p) = wilson(pass, results.len()) {
        rows.push(proportion_row(base, acc, &p));
    }
    let mut by_cat: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in results {
        let e = by_cat.entry(r.row.category.as_str()).or_default();
        e.0 += usize::from(r.row.pass);
        e.1 += 1;
    }
    for (cat, (k, m)) in &by_cat {
        if let Some(p) = wilson(*k, *m) {
            rows.push(proportion_row(base, &format!("{acc}:{cat}"), &p));
        }
    }
    if structured {
        return rows;
    }
    let lenient: Vec<bool> = results.iter().filter_map(|r| r.row.lenient_pass).collect();
    if let Some(p) = wilson(lenient.iter().filter(|&&b| b).count(), lenient.len()) {
        rows.push(proportion_row(base, "lenient_accuracy", &p));
    }
    let cats: Vec<(String, usize, usize)> = by_cat
        .iter()
        .filter(|(c, _)| **c != "agent")
        .map(|(c, (k, m))| (c.to_string(), *k, *m))
        .collect();
    let (non_live, live) = bfcl_overall(&cats);
    if let Some(m) = non_live {
        let k = cats.iter().filter(|(c, _, _)| !c.contains("live")).count();
        rows.push(value_row(base, "bfcl_non_live_mean", "ratio", k, m));
    }
    if let Some(p) = live {
        rows.push(proportion_row(base, "bfcl_live_pooled", &p));
    }
    rows
}

/// Agent items: success, malformed calls per request, and stalls.
fn agent_rows(base: &SummaryRow, results: &[ItemResult]) -> Vec<SummaryRow> {
    let agent: Vec<&ItemResult> = results
        .iter()
        .filter(|r| r.row.category == "agent")
        .collect();
    let mut rows = Vec::new();
    if agent.is_empty() {
        return rows;
    }
    let ok = agent.iter().filter(|r| r.row.pass).count();
    if let Some(p) = wilson(ok, agent.len()) {
        rows.push(proportion_row(base, "agent_success", &p));
    }
    let malformed: usize = agent.iter().map(|r| r.row.malformed_calls as usize).sum();
    let requests: usize = agent.iter().map(|r| r.row.requests as usize).sum();
    if let Some(p) = wilson(malformed, requests.max(malformed)) {
        rows.push(proportion_row(base, "malformed_call_rate", &p));
    }
    let stalls = agent
        .iter()
        .filter(|r| r.row.failure_category.as_deref() == Some("stall"))
        .count();
    if let Some(p) = wilson(stalls, agent.len()) {
        rows.push(proportion_row(base, "stall_rate", &p));
    }
    rows
}

/// Speed over the case's successful requests, correct goodput and the grammar's TTFT cost;
/// returns the median TTFT (what a later case may compare with).
fn speed_rows(
    base: &SummaryRow,
    results: &[ItemResult],
    latency_target_ms: Option<f64>,
    earlier: &[CaseFigures],
    rows: &mut Vec<SummaryRow>,
) -> Option<f64> {
    let n = results.len();
    let samples: Vec<&crate::results::SampleRow> = results
        .iter()
        .flat_map(|r| r.samples.iter())
        .filter(|s| s.error_category.is_none())
        .collect();
    let col = |f: fn(&crate::results::SampleRow) -> Option<f64>| -> Vec<f64> {
        samples.iter().filter_map(|s| f(s)).collect()
    };
    for column in crate::results::metric::TOOL_SPEED_SUMMARY {
        if let Some(s) = summarize(&col(column.reader())) {
            rows.push(crate::results::summary::row(
                &base,
                column.name,
                column.unit,
                &s,
            ));
        }
    }
    let ttft = col(crate::results::metric::TTFT_MS.reader());
    let ttft_p50 = summarize(&ttft).map(|s| s.p50);
    // Goodput over the items' own request time (Σ E2E), not the case's wall time, so a
    // replayed run reports what was recorded; items run one at a time, so the two agree
    // up to the client's own overhead.
    let busy_s: f64 = results.iter().filter_map(|r| r.row.e2e_ms).sum::<f64>() / 1000.0;
    // One definition of a good request (measure::slo): an item is good when it was scored
    // correct and its E2E meets `latency_target_ms` (the SLO's only bound).
    let outcomes: Vec<Outcome> = results
        .iter()
        .map(|r| Outcome {
            ok: r.row.pass,
            e2e_ms: r.row.e2e_ms,
            ..Default::default()
        })
        .collect();
    let slo = Slo {
        e2e_ms: latency_target_ms,
        ..Default::default()
    };
    if let Some(per_second) = goodput(&slo, &outcomes, busy_s).per_second
        && n > 0
    {
        rows.push(value_row(base, "correct_goodput", "items/s", n, per_second));
    }
    if base.case_id == "unconstrained"
        && let (Some(c), Some(u)) = (
            earlier
                .iter()
                .find(|f| f.case_id == "constrained")
                .and_then(|f| f.ttft_p50),
            ttft_p50,
        )
    {
        rows.push(value_row(base, "grammar_ttft_cost_ms", "ms", n, c - u));
    }
    ttft_p50
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;
    use crate::results::items::ItemRow;

    /// `correct_goodput` is measure::slo's goodput with `e2e_ms = latency_target_ms`: items
    /// correct and within the target, per second of the items' summed E2E.
    #[test]
    fn correct_goodput_counts_correct_items_within_the_target() {
        let item = |pass: bool, e2e: Option<f64>| ItemResult {
            row: ItemRow {
                pass,
                e2e_ms: e2e,
                ..Default::default()
            },
            samples: Vec::new(),
            backend_failures: 0,
        };
        let results = [
            item(true, Some(900.0)),
            item(true, Some(1500.0)),
            item(false, Some(300.0)),
            item(true, None),
            item(true, Some(1000.0)),
        ];
        let busy_s = 3.7;
        for (target, good) in [(Some(1000.0), 2.0), (None, 4.0)] {
            let mut rows = Vec::new();
            speed_rows(&SummaryRow::default(), &results, target, &[], &mut rows);
            let g = rows.iter().find(|r| r.metric == "correct_goodput").unwrap();
            assert!(
                (g.mean - good / busy_s).abs() < 1e-12,
                "{target:?}: {}",
                g.mean
            );
            assert_eq!(g.n, 5);
        }
    }
}
