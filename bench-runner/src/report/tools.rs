//! The tool-call and structured-output part of a report, from each run's items.csv:
//! accuracy (compliance for structured cases) overall and per category with Wilson
//! intervals, failure categories as counts and shares, and the correct goodput — the same
//! figures, by the same rules, as the runner writes to summary.csv (`runner/tool_summary.rs`),
//! so a report over items.csv alone says what the run said. Also the device-to-device table
//! of an item metric (`--metric accuracy`), with differences to the reference in points.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::fmt_num;
use super::item_metric::{ItemMetric, Share, share};
use super::load::{Cell, Dataset};
use super::view::{CellView, PivotView, RowView};
use crate::measure::proportion::{newcombe_difference, wilson};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ToolSection {
    /// Per series × case: the overall row, then one per category.
    pub accuracy: Vec<AccuracyRow>,
    /// Per series × case × failure category.
    pub failures: Vec<FailureRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    pub series: String,
    pub scenario: String,
    pub case: String,
    /// `accuracy` (tool calls) or `compliance` (structured).
    pub measure: String,
    /// `all`, or the category.
    pub category: String,
    pub correct: usize,
    pub n: usize,
    /// `0.833 [0.436, 0.970]`.
    pub share: String,
    /// Items correct and within `latency_target_ms` per second of the items' summed E2E
    /// (items/s); only on the `all` row.
    pub goodput: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub series: String,
    pub scenario: String,
    pub case: String,
    pub failure: String,
    pub count: usize,
    pub n: usize,
    /// Share of the case's items, with its Wilson interval.
    pub share: String,
}

/// `0.833 [0.436, 0.970]`.
pub fn fmt_share(p: f64, low: f64, high: f64) -> String {
    format!("{} [{}, {}]", fmt_num(p), fmt_num(low), fmt_num(high))
}

/// Correct items (within the latency target where one was set) per second of the items'
/// summed E2E, as `runner/tool_summary.rs` computes `correct_goodput`.
pub fn correct_goodput(cell: &Cell) -> Option<f64> {
    let busy_s: f64 = cell.items.iter().filter_map(|i| i.e2e_ms).sum::<f64>() / 1000.0;
    if busy_s <= 0.0 || cell.items.is_empty() {
        return None;
    }
    let good = cell
        .items
        .iter()
        .filter(|i| i.pass && i.within_latency_target.unwrap_or(true))
        .count();
    Some(good as f64 / busy_s)
}

/// The section, from the cells that hold items (none: an empty section, nothing printed).
pub fn build(ds: &Dataset) -> ToolSection {
    let mut section = ToolSection::default();
    for cell in ds.cells.iter().filter(|c| !c.items.is_empty()) {
        let series = ds.series[cell.series].label.clone();
        let measure = if cell.shape.kind == "structured" {
            "compliance"
        } else {
            "accuracy"
        };
        let n = cell.items.len();
        let row = |category: &str, k: usize, m: usize, goodput: String| {
            let w = wilson(k, m)?;
            Some(AccuracyRow {
                series: series.clone(),
                scenario: cell.case.scenario.clone(),
                case: cell.case.case_id.clone(),
                measure: measure.into(),
                category: category.into(),
                correct: k,
                n: m,
                share: fmt_share(w.p, w.ci_low, w.ci_high),
                goodput,
            })
        };
        let pass = cell.items.iter().filter(|i| i.pass).count();
        let goodput = correct_goodput(cell).map_or("-".into(), fmt_num);
        section.accuracy.extend(row("all", pass, n, goodput));
        let mut by_cat: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &cell.items {
            let e = by_cat.entry(i.category.as_str()).or_default();
            e.0 += usize::from(i.pass);
            e.1 += 1;
            if let Some(f) = &i.failure {
                *failures.entry(f.as_str()).or_default() += 1;
            }
        }
        for (cat, (k, m)) in by_cat {
            section.accuracy.extend(row(cat, k, m, String::new()));
        }
        for (f, k) in failures {
            let Some(w) = wilson(k, n) else { continue };
            section.failures.push(FailureRow {
                series: series.clone(),
                scenario: cell.case.scenario.clone(),
                case: cell.case.case_id.clone(),
                failure: f.into(),
                count: k,
                n,
                share: fmt_share(w.p, w.ci_low, w.ci_high),
            });
        }
    }
    section
}

/// The device-to-device table of an item metric: one row per case, one column per series,
/// each cell the share [Wilson] with n items and, beside the reference, the difference to it
/// in points [Newcombe]. Comparability differences are marked as in the request tables and
/// added to `comparability`.
pub fn pivot(
    ds: &Dataset,
    m: &ItemMetric,
    reference: usize,
    comparability: &mut Vec<String>,
) -> PivotView {
    let mut rows = Vec::new();
    for case in ds.cases() {
        let share_of = |si: usize| -> Option<Share> { share(m.items(ds.cell(si, &case)?)) };
        let ref_share = share_of(reference);
        let mut cells: Vec<Option<CellView>> = Vec::new();
        for si in 0..ds.series.len() {
            let Some(s) = share_of(si) else {
                cells.push(None);
                continue;
            };
            let mut cell = CellView {
                value: fmt_share(s.p, s.low, s.high),
                n: s.n,
                ratio: String::new(),
                warning: String::new(),
            };
            if let (Some(r), false) = (&ref_share, si == reference) {
                let (d, lo, hi) = newcombe_difference(r.p, r.n as f64, s.p, s.n as f64);
                cell.ratio = format!(
                    "Δ {:+.1} pts [{:+.1}, {:+.1}]",
                    d * 100.0,
                    lo * 100.0,
                    hi * 100.0
                );
                let key = |i| super::pivot::key_of(ds, i, &case);
                cell.warning = key(reference).differences(&key(si)).join("; ");
                if !cell.warning.is_empty() {
                    let line = format!(
                        "{} vs {} ({}): {}",
                        ds.series[si].label,
                        ds.series[reference].label,
                        case.scenario,
                        cell.warning
                    );
                    if !comparability.contains(&line) {
                        comparability.push(line);
                    }
                }
            }
            cells.push(Some(cell));
        }
        if cells.iter().any(Option::is_some) {
            rows.push(RowView {
                case: format!("{} / {}", case.scenario, case.case_id),
                cells,
            });
        }
    }
    PivotView {
        title: m.title(),
        unit: "share of items".into(),
        better: "higher is better".into(),
        note: "Share of items correct [95% Wilson interval]; below it the difference to the reference in percentage points [95% Newcombe interval]; n = items.".into(),
        columns: ds.series.iter().map(|s| s.label.clone()).collect(),
        reference,
        rows,
    }
}
