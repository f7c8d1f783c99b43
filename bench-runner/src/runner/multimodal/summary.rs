//! A multimodal case's summary rows and its progress line.

use crate::backend::ErrorCategory;
use crate::measure::proportion::wilson;
use crate::measure::stats::summarize;
use crate::results::SummaryRow;
use crate::results::media::MediaRow;
use crate::results::summary::row as stats_row;

use super::super::tools::summary::proportion_row;

/// Per case: TTFT with media and of the twin, the paired media cost (median with its
/// order-statistic CI), accuracy (Wilson CI), and accuracy per task. `base` is the case's summary
/// base; `failed` its requests that failed at the server.
pub(super) fn summarize_media(
    base: SummaryRow,
    rows: &[MediaRow],
    failed: usize,
) -> Vec<SummaryRow> {
    let unsupported = rows
        .iter()
        .filter(|r| {
            r.error_category.as_deref() == Some(ErrorCategory::UnsupportedModality.as_str())
        })
        .count();
    let base = SummaryRow {
        errors: failed + unsupported,
        ..base
    };
    let mut out = Vec::new();
    let col = |f: fn(&MediaRow) -> Option<f64>| rows.iter().filter_map(f).collect::<Vec<_>>();
    for (metric, values) in [
        ("ttft_ms", col(|r| r.ttft_media_ms)),
        ("ttft_text_ms", col(|r| r.ttft_text_ms)),
        ("media_cost_ms", col(|r| r.media_cost_ms)),
    ] {
        if let Some(s) = summarize(&values) {
            out.push(stats_row(&base, metric, "ms", &s));
        }
    }
    let scored: Vec<&MediaRow> = rows.iter().filter(|r| r.correct.is_some()).collect();
    let k = scored.iter().filter(|r| r.correct == Some(true)).count();
    if let Some(p) = wilson(k, scored.len()) {
        out.push(proportion_row(&base, "accuracy", &p));
    }
    let mut tasks: Vec<&str> = scored.iter().map(|r| r.task.as_str()).collect();
    tasks.sort_unstable();
    tasks.dedup();
    if tasks.len() > 1 {
        for t in tasks {
            let of: Vec<&&MediaRow> = scored.iter().filter(|r| r.task == t).collect();
            let k = of.iter().filter(|r| r.correct == Some(true)).count();
            if let Some(p) = wilson(k, of.len()) {
                out.push(proportion_row(&base, &format!("accuracy:{t}"), &p));
            }
        }
    }
    out
}

/// The progress line of a finished case.
pub(super) fn case_line(
    backend: &str,
    case: &str,
    summary: &[SummaryRow],
    unsupported: usize,
) -> String {
    let get = |m: &str| summary.iter().find(|r| r.metric == m);
    let ms = |m: &str| get(m).map_or("-".to_string(), |r| format!("{:.1} ms", r.p50));
    let acc = get("accuracy").map_or("-".to_string(), |r| {
        format!("{:.0}% (n={})", r.p50 * 100.0, r.n)
    });
    let mut line = format!(
        "{backend} {case}: TTFT p50 {} (text-only {}), media cost {}, accuracy {acc}",
        ms("ttft_ms"),
        ms("ttft_text_ms"),
        ms("media_cost_ms")
    );
    if unsupported > 0 {
        line.push_str(&format!(", {unsupported} unsupported_modality"));
    }
    line
}
