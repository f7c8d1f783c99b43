//! The terminal summary: a Markdown table in the spirit of llama-bench's, one row per case.

use std::collections::BTreeMap;

use crate::results::SummaryRow;
use crate::scenario::Case;

fn metric<'a>(rows: &'a [SummaryRow], name: &str) -> Option<&'a SummaryRow> {
    rows.iter().find(|r| r.metric == name)
}

fn fmt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

/// `71.3 [70.9, 71.8]`: median with its 95% CI.
fn with_ci(r: Option<&SummaryRow>, prec: usize) -> String {
    match r {
        Some(r) => format!("{:.prec$} [{:.prec$}, {:.prec$}]", r.p50, r.ci_low, r.ci_high),
        None => "-".into(),
    }
}

/// One line per finished case, for the log.
pub fn case_line(backend: &str, case: &Case, rows: &[SummaryRow], failed: usize, total: usize) -> String {
    format!(
        "{backend} {}: decode {} tok/s, TTFT p50 {} ms, {}/{} ok",
        case.id,
        with_ci(metric(rows, "decode_tok_s"), 1),
        fmt(metric(rows, "ttft_ms").map(|r| r.p50), 1),
        total - failed,
        total
    )
}

/// One line per finished context length, for the log.
pub fn context_line(backend: &str, length: u32, rows: &[SummaryRow], failed: usize, total: usize) -> String {
    let recall = metric(rows, "recall").map_or("-".into(), |r| format!("{:.2} [{:.2}, {:.2}]", r.mean, r.ci_low, r.ci_high));
    format!(
        "{backend} ctx{length}: recall {recall}, prefill {} tok/s, decode {} tok/s, TTFT p50 {} ms, {}/{} ok",
        fmt(metric(rows, "prefill_tok_s").map(|r| r.p50), 1),
        fmt(metric(rows, "decode_tok_s").map(|r| r.p50), 1),
        fmt(metric(rows, "ttft_ms").map(|r| r.p50), 1),
        total - failed,
        total
    )
}

/// Context scenarios: recall and speed per length, and the effective context length.
pub fn context_markdown(rows: &[SummaryRow]) -> String {
    let ctx: Vec<&SummaryRow> = rows.iter().filter(|r| r.kind == "context").collect();
    if ctx.is_empty() {
        return String::new();
    }
    let mut out = String::from("| backend | model | device | length | n | recall mean [95% CI] | TTFT p50 ms | prefill tok/s p50 | decode tok/s p50 |\n|---|---|---|--:|--:|--:|--:|--:|--:|\n");
    for r in ctx.iter().filter(|r| r.metric == "recall") {
        let same = |m: &str| {
            ctx.iter()
                .find(|x| x.backend == r.backend && x.scenario == r.scenario && x.case_id == r.case_id && x.metric == m)
                .map(|x| x.p50)
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} [{:.2}, {:.2}] | {} | {} | {} |\n",
            r.backend, r.model, r.device, r.prompt_tokens + r.max_tokens, r.n, r.mean, r.ci_low, r.ci_high,
            fmt(same("ttft_ms"), 1), fmt(same("prefill_tok_s"), 1), fmt(same("decode_tok_s"), 1)
        ));
    }
    for r in ctx.iter().filter(|r| r.metric == "effective_context_length") {
        if r.flags == "no_length_passed" {
            out.push_str(&format!("\n{} / {}: no tested length reached the recall threshold\n", r.backend, r.scenario));
        } else {
            out.push_str(&format!("\n{} / {}: effective context length {} tokens ({})\n", r.backend, r.scenario, r.p50, r.flags));
        }
    }
    out
}

/// The end-of-run table over all cases.
pub fn markdown(rows: &[SummaryRow]) -> String {
    let mut cases: BTreeMap<(String, String, String), Vec<SummaryRow>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in rows.iter().filter(|r| r.kind != "context") {
        let key = (r.backend.clone(), r.scenario.clone(), r.case_id.clone());
        if !cases.contains_key(&key) {
            order.push(key.clone());
        }
        cases.entry(key).or_default().push(r.clone());
    }
    let mut out = String::new();
    if order.is_empty() {
        return context_markdown(rows);
    }
    out.push_str("| backend | model | device | case | n | TTFT p50 ms | TPOT p50 ms | ITL p99 ms | decode tok/s p50 [95% CI] | prefill tok/s p50 | out tok/s | client/server | errors | flags |\n");
    out.push_str("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for key in order {
        let rs = &cases[&key];
        let any = &rs[0];
        let n = metric(rs, "ttft_ms").map_or(0, |r| r.n);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            any.backend,
            any.model,
            any.device,
            any.case_id,
            n,
            fmt(metric(rs, "ttft_ms").map(|r| r.p50), 1),
            fmt(metric(rs, "tpot_ms").map(|r| r.p50), 2),
            fmt(metric(rs, "itl_ms").map(|r| r.p99), 2),
            with_ci(metric(rs, "decode_tok_s"), 1),
            fmt(metric(rs, "prefill_tok_s").map(|r| r.p50), 1),
            fmt(metric(rs, "output_tok_s").map(|r| r.p50), 1),
            fmt(metric(rs, "decode_client_server_ratio").map(|r| r.p50), 4),
            any.errors,
            if any.flags.is_empty() { "" } else { &any.flags },
        ));
    }
    out.push_str(&super::tool_table::markdown(rows));
    let c = context_markdown(rows);
    if !c.is_empty() {
        out.push('\n');
        out.push_str(&c);
    }
    out
}
