//! Summary rows built from sample rows: one row per metric with its statistics, the row of a
//! case that has no successful request, and the summary of a llama-bench-style test. Pure:
//! the runner and the llama-bench importer both build summary.csv with these.

use super::metric::{self, Column};
use super::{SampleRow, SummaryRow};
use crate::measure::proportion::Proportion;
use crate::measure::slo::{Bound, Goodput, Outcome, Slo, goodput};
use crate::measure::stats::{HIGH_CV, Summary, summarize};

/// Appends `column`'s summary row over `values` to `out`; nothing when there are no values.
pub fn push_summary(out: &mut Vec<SummaryRow>, base: &SummaryRow, column: &Column, values: &[f64]) {
    if let Some(s) = summarize(values) {
        out.push(row(base, column.name, column.unit, &s));
    }
}

/// Flag of a case none of whose requests succeeded.
pub const ALL_FAILED: &str = "all_failed";

/// The distinct error categories of `rows`, sorted: `["server_error", "timeout"]`.
pub fn error_categories<'a>(rows: impl Iterator<Item = &'a SampleRow>) -> Vec<String> {
    let mut v: Vec<String> = rows.filter_map(|r| r.error_category.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// The one summary row of a case that has no successful request: metric `requests`, n = 0,
/// `errors` = how many failed, the categories in `flags` (`all_failed;error_timeout`) and
/// statistics left as NaN — there is nothing to summarise, and a zero would be a figure in
/// disguise. Without it a broken backend would vanish from summary.csv and the final table.
pub fn failed_case_row(base: &SummaryRow) -> SummaryRow {
    SummaryRow {
        metric: "requests".into(),
        unit: "requests".into(),
        n: 0,
        mean: f64::NAN,
        stddev: f64::NAN,
        min: f64::NAN,
        p50: f64::NAN,
        p90: f64::NAN,
        p99: f64::NAN,
        max: f64::NAN,
        ci_low: f64::NAN,
        ci_high: f64::NAN,
        ..base.clone()
    }
}

/// A row holding one case-wide value (every statistic is the value; `n` says over how many
/// requests it was computed).
pub fn value_row(base: &SummaryRow, column: &Column, n: usize, v: f64) -> SummaryRow {
    SummaryRow {
        metric: column.name.into(),
        unit: column.unit.into(),
        n,
        mean: v,
        stddev: 0.0,
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

/// A share row: the proportion in mean/p50/min/max, `n` trials, Wilson 95% in ci_low/ci_high.
pub fn share_row(base: &SummaryRow, metric: &str, p: &Proportion) -> SummaryRow {
    SummaryRow {
        metric: metric.into(),
        unit: "ratio".into(),
        n: p.n,
        mean: p.p,
        stddev: 0.0,
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

/// What the SLO sees of one request row: a failed row is never good.
pub fn slo_outcome(r: &SampleRow) -> Outcome {
    Outcome {
        ok: r.error_category.is_none(),
        ttft_ms: r.ttft_ms,
        tpot_ms: r.tpot_ms,
        max_itl_ms: r.itl_max_ms,
        e2e_ms: r.e2e_ms,
    }
}

/// A case's goodput under `slo` (see `measure::slo`), over the requests `rows` and the
/// measured window `window_s` (0 or less: no goodput per second, e.g. a resumed case):
/// rows `goodput`, `slo_good_share` and one `slo_missed:<bound>` share per bound of the SLO;
/// and the flag naming the bound missed most (`slo_worst_ttft_ms`), if any was missed.
pub fn goodput_rows<'a>(
    base: &SummaryRow,
    slo: &Slo,
    rows: impl IntoIterator<Item = &'a SampleRow>,
    window_s: f64,
) -> (Vec<SummaryRow>, Goodput, Option<String>) {
    let outcomes: Vec<Outcome> = rows.into_iter().map(slo_outcome).collect();
    let g = goodput(slo, &outcomes, window_s);
    let mut out = Vec::new();
    if let Some(v) = g.per_second {
        out.push(value_row(base, &metric::GOODPUT, g.requests, v));
    }
    if let Some(p) = &g.share {
        out.push(share_row(base, metric::SLO_GOOD_SHARE.name, p));
    }
    for b in Bound::ALL {
        if slo.bound(b).is_some()
            && let Some(p) = crate::measure::proportion::wilson(g.missed_of(b), g.requests)
        {
            out.push(share_row(
                base,
                &format!("{}{}", metric::SLO_MISSED_PREFIX, b.key()),
                &p,
            ));
        }
    }
    let flag = g
        .worst_bound()
        .map(|(b, _)| format!("slo_worst_{}", b.key()));
    (out, g, flag)
}

pub fn row(base: &SummaryRow, metric: &str, unit: &str, s: &Summary) -> SummaryRow {
    SummaryRow {
        metric: metric.into(),
        unit: unit.into(),
        n: s.n,
        mean: s.mean,
        stddev: s.stddev,
        min: s.min,
        p50: s.p50,
        p90: s.p90,
        p99: s.p99,
        max: s.max,
        ci_low: s.ci_low,
        ci_high: s.ci_high,
        ..base.clone()
    }
}

/// Summary of a llama-bench-style test: t/s mean ± stddev (as llama-bench reports it) and the
/// test time, plus whatever else the rows carry (our clocks over HTTP, llama.cpp's counters
/// in process). Pure: the importer uses it too.
pub fn pp_tg_summary(base: &SummaryRow, rows: &[SampleRow]) -> (Vec<SummaryRow>, Vec<String>) {
    test_summary(base, rows, metric::PP_TG_SUMMARY)
}

/// Summary of a llama-batched-bench-style cell: its columns' statistics over the repetitions,
/// flagged as a llama-bench test is. Pure: the importer uses it too.
pub fn batched_summary(base: &SummaryRow, rows: &[SampleRow]) -> (Vec<SummaryRow>, Vec<String>) {
    test_summary(base, rows, metric::BATCHED_SUMMARY)
}

fn test_summary(
    base: &SummaryRow,
    rows: &[SampleRow],
    columns: &[Column],
) -> (Vec<SummaryRow>, Vec<String>) {
    let ok: Vec<&SampleRow> = rows.iter().filter(|r| r.error_category.is_none()).collect();
    let errors = rows.len() - ok.len();
    let col =
        |f: fn(&SampleRow) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|r| f(r)).collect() };
    let where_ = format!("{} / {} / {}", base.backend, base.scenario, base.case_id);
    let mut flags = Vec::new();
    let mut warnings = Vec::new();
    let ts = col(metric::TEST_TOK_S.reader());
    if let Some(s) = summarize(&ts) {
        if s.n >= 3 && s.cv() > HIGH_CV {
            flags.push("high_variation");
            warnings.push(format!(
                "{where_}: t/s varies a lot (CV {:.0}%); close other programs or add repetitions",
                s.cv() * 100.0
            ));
        }
    }
    let categories = error_categories(rows.iter());
    if errors > 0 {
        warnings.push(format!(
            "{where_}: {errors} of {} repetitions failed ({})",
            rows.len(),
            categories.join(", ")
        ));
    }
    let error_flags: Vec<String> = categories.iter().map(|c| format!("error_{c}")).collect();
    flags.extend(error_flags.iter().map(String::as_str));
    if ok.is_empty() && errors > 0 {
        flags.push(ALL_FAILED);
    }
    let base = SummaryRow {
        errors,
        flags: flags.join(";"),
        ..base.clone()
    };
    let mut out = Vec::new();
    for column in columns {
        push_summary(&mut out, &base, column, &col(column.reader()));
    }
    if out.is_empty() && errors > 0 {
        out.push(failed_case_row(&base));
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
    fn goodput_rows_count_good_requests_and_name_the_worst_bound() {
        let ok = |ttft: f64, e2e: f64| SampleRow {
            ttft_ms: Some(ttft),
            e2e_ms: Some(e2e),
            ..Default::default()
        };
        let failed = SampleRow {
            error_category: Some("timeout".into()),
            ..Default::default()
        };
        let rows = [ok(10.0, 100.0), ok(300.0, 100.0), ok(300.0, 900.0), failed];
        let slo = Slo {
            ttft_ms: Some(200.0),
            e2e_ms: Some(500.0),
            ..Default::default()
        };
        let (out, g, flag) = goodput_rows(&SummaryRow::default(), &slo, &rows, 2.0);
        assert_eq!((g.good, g.requests, g.failed), (1, 4, 1));
        let get = |m: &str| out.iter().find(|r| r.metric == m).unwrap().mean;
        assert_eq!(get("goodput"), 0.5);
        assert_eq!(get("slo_good_share"), 0.25);
        assert_eq!(get("slo_missed:ttft_ms"), 0.5);
        assert_eq!(get("slo_missed:e2e_ms"), 0.25);
        assert!(!out.iter().any(|r| r.metric == "slo_missed:tpot_ms"));
        assert_eq!(flag.as_deref(), Some("slo_worst_ttft_ms"));
        // No window (a resumed case): the share stays, the rate goes.
        let (out, _, _) = goodput_rows(&SummaryRow::default(), &slo, &rows, 0.0);
        assert!(!out.iter().any(|r| r.metric == "goodput"));
    }

    #[test]
    fn pp_tg_summary_keeps_its_rows_and_marks_a_failed_test() {
        let ok = SampleRow {
            test_tok_s: Some(100.0),
            test_ns: Some(1_000),
            output_tokens: Some(16),
            ..Default::default()
        };
        let (rows, warnings) = pp_tg_summary(&SummaryRow::default(), &[ok.clone(), ok]);
        let names: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.metric.as_str(), r.unit.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("test_tok_s", "tok/s"),
                ("test_ns", "ns"),
                ("output_tokens", "tokens")
            ]
        );
        assert_eq!(rows[0].n, 2);
        assert!(warnings.is_empty());

        let failed = SampleRow {
            error_category: Some("timeout".into()),
            ..Default::default()
        };
        let (rows, warnings) = pp_tg_summary(&SummaryRow::default(), &[failed]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].metric, "requests");
        assert_eq!(rows[0].flags, "error_timeout;all_failed");
        assert_eq!(warnings.len(), 1);
    }
}
