//! The terminal summary: a Markdown table in the spirit of llama-bench's, one row per case.

use std::collections::BTreeMap;

use crate::backend::ModelColumns;
use crate::results::SummaryRow;
use crate::results::markdown as mdtable;
use crate::scenario::{Case, PpTgTest};

fn metric<'a>(rows: &'a [SummaryRow], name: &str) -> Option<&'a SummaryRow> {
    rows.iter().find(|r| r.metric == name)
}

fn fmt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

/// `71.3 [70.9, 71.8]`: median with its 95% CI.
fn with_ci(r: Option<&SummaryRow>, prec: usize) -> String {
    match r {
        Some(r) => format!(
            "{:.prec$} [{:.prec$}, {:.prec$}]",
            r.p50, r.ci_low, r.ci_high
        ),
        None => "-".into(),
    }
}

/// One line per finished case, for the log.
pub fn case_line(
    backend: &str,
    case: &Case,
    rows: &[SummaryRow],
    failed: usize,
    total: usize,
) -> String {
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
pub fn context_line(
    backend: &str,
    length: u32,
    rows: &[SummaryRow],
    failed: usize,
    total: usize,
) -> String {
    let recall = metric(rows, "recall").map_or("-".into(), |r| {
        format!("{:.2} [{:.2}, {:.2}]", r.mean, r.ci_low, r.ci_high)
    });
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
    let mut out = mdtable::header(
        &[
            "backend",
            "model",
            "device",
            "length",
            "n",
            "recall mean [95% CI]",
            "TTFT p50 ms",
            "prefill tok/s p50",
            "decode tok/s p50",
        ],
        "lllrrrrrr",
    );
    for r in ctx
        .iter()
        .filter(|r| r.metric == "recall" || r.metric == "requests")
    {
        if r.metric == "requests" {
            // A length none of whose requests succeeded: no figures, but never silence.
            out.push_str(&format!(
                "| {} | {} | {} | {} | 0 | failed: {} errors ({}) | - | - | - |\n",
                r.backend,
                r.model,
                r.device,
                r.prompt_tokens + r.max_tokens,
                r.errors,
                r.flags
            ));
            continue;
        }
        let same = |m: &str| {
            ctx.iter()
                .find(|x| {
                    x.backend == r.backend
                        && x.scenario == r.scenario
                        && x.case_id == r.case_id
                        && x.metric == m
                })
                .map(|x| x.p50)
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} [{:.2}, {:.2}] | {} | {} | {} |\n",
            r.backend,
            r.model,
            r.device,
            r.prompt_tokens + r.max_tokens,
            r.n,
            r.mean,
            r.ci_low,
            r.ci_high,
            fmt(same("ttft_ms"), 1),
            fmt(same("prefill_tok_s"), 1),
            fmt(same("decode_tok_s"), 1)
        ));
    }
    for r in ctx
        .iter()
        .filter(|r| r.metric == "effective_context_length")
    {
        if r.flags == "no_length_passed" {
            out.push_str(&format!(
                "\n{} / {}: no tested length reached the recall threshold\n",
                r.backend, r.scenario
            ));
        } else {
            out.push_str(&format!(
                "\n{} / {}: effective context length {} tokens ({})\n",
                r.backend, r.scenario, r.p50, r.flags
            ));
        }
    }
    out
}

/// The end-of-run table over all cases.
pub fn markdown(rows: &[SummaryRow]) -> String {
    let mut cases: BTreeMap<(String, String, String), Vec<SummaryRow>> = BTreeMap::new();
    let mut order = Vec::new();
    // Serving cases only: llama-bench-style tests, tool and context scenarios have their own tables.
    for r in rows
        .iter()
        .filter(|r| r.kind == "throughput" && r.depth.is_none())
    {
        let key = (r.backend.clone(), r.scenario.clone(), r.case_id.clone());
        if !cases.contains_key(&key) {
            order.push(key.clone());
        }
        cases.entry(key).or_default().push(r.clone());
    }
    let mut out = String::new();
    if order.is_empty() {
        let mut out = super::tool_table::markdown(rows);
        out.push_str(&context_markdown(rows));
        return out;
    }
    out.push_str(&mdtable::header(
        &[
            "backend",
            "model",
            "device",
            "case",
            "n",
            "TTFT p50 ms",
            "TTFT p90 ms",
            "TTFT p99 ms",
            "TPOT p50 ms",
            "ITL p99 ms",
            "decode tok/s p50 [95% CI]",
            "prefill tok/s p50",
            "out tok/s",
            "client/server",
            "errors",
            "flags",
        ],
        "llllrrrrrrrrrrrl",
    ));
    for key in order {
        let rs = &cases[&key];
        let any = &rs[0];
        let n = metric(rs, "ttft_ms").map_or(0, |r| r.n);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            any.backend,
            any.model,
            any.device,
            any.case_id,
            n,
            fmt(metric(rs, "ttft_ms").map(|r| r.p50), 1),
            fmt(metric(rs, "ttft_ms").map(|r| r.p90), 1),
            fmt(metric(rs, "ttft_ms").map(|r| r.p99), 1),
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

/// llama-bench's size column: `241.39 MiB`, `1.10 GiB`.
pub fn size_text(bytes: u64) -> String {
    if bytes < 1024 * 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", bytes as f64 / 1024.0 / 1024.0 / 1024.0)
    }
}

/// llama-bench's params column: `268.10 M`, `1.54 B`.
pub fn params_text(n: u64) -> String {
    if n < 1_000_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else {
        format!("{:.2} B", n as f64 / 1e9)
    }
}

/// The table of llama-bench-style tests, with llama-bench's columns (model, size, params,
/// backend, threads, test, t/s as mean ± stddev) after edgebench's backend name, so the
/// in-process engine and a served model stand side by side.
pub fn pp_tg_markdown(rows: &[SummaryRow], columns: &BTreeMap<String, ModelColumns>) -> String {
    let tests: Vec<&SummaryRow> = rows
        .iter()
        .filter(|r| r.depth.is_some() && (r.metric == "test_tok_s" || r.metric == "requests"))
        .collect();
    if tests.is_empty() {
        return String::new();
    }
    let mut out = mdtable::header(
        &[
            "edgebench backend",
            "model",
            "size",
            "params",
            "backend",
            "threads",
            "test",
            "t/s",
        ],
        "llrrlrrr",
    );
    for r in tests {
        let c = columns.get(&r.backend).cloned().unwrap_or_default();
        let test = PpTgTest {
            n_prompt: r.prompt_tokens,
            n_gen: r.max_tokens,
            n_depth: r.depth.unwrap_or(0),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.backend,
            if c.model.is_empty() {
                &r.model
            } else {
                &c.model
            },
            c.size_bytes.map_or_else(|| "-".into(), size_text),
            c.n_params.map_or_else(|| "-".into(), params_text),
            if c.backend.is_empty() {
                "-"
            } else {
                &c.backend
            },
            c.threads.map_or_else(|| "-".into(), |t| t.to_string()),
            test.name(),
            if r.metric == "requests" {
                format!("failed: {} errors ({})", r.errors, r.flags)
            } else {
                format!("{:.2} ± {:.2}", r.mean, r.stddev)
            },
        ));
    }
    out
}

/// The table of llama-batched-bench-style cells, with its columns (PP, TG, B, N_KV, T_PP s,
/// S_PP t/s, T_TG s, S_TG t/s, T s, S t/s) after edgebench's backend name; each figure is the
/// median over the repetitions.
pub fn batched_markdown(rows: &[SummaryRow]) -> String {
    let cells: Vec<&SummaryRow> = rows.iter().filter(|r| r.metric == "n_kv").collect();
    if cells.is_empty() {
        return String::new();
    }
    let mut out = mdtable::header(
        &[
            "edgebench backend",
            "PP",
            "TG",
            "B",
            "N_KV",
            "T_PP s",
            "S_PP t/s",
            "T_TG s",
            "S_TG t/s",
            "T s",
            "S t/s",
        ],
        "lrrrrrrrrrr",
    );
    for c in cells {
        let get = |m: &str| {
            rows.iter()
                .find(|r| {
                    r.metric == m
                        && r.backend == c.backend
                        && r.scenario == c.scenario
                        && r.case_id == c.case_id
                })
                .map(|r| r.p50)
        };
        let secs = |m: &str| fmt(get(m).map(|ms| ms / 1e3), 3);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.backend,
            c.prompt_tokens,
            c.max_tokens,
            c.concurrency,
            c.p50,
            secs("ttft_ms"),
            fmt(get("prefill_tok_s"), 2),
            secs("tg_ms"),
            fmt(get("decode_tok_s"), 2),
            secs("e2e_ms"),
            fmt(get("test_tok_s"), 2),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_table_shows_ttft_p90_and_p99() {
        let ttft = SummaryRow {
            backend: "srv".into(),
            model: "m".into(),
            device: "d".into(),
            case_id: "pp16_tg4_c1".into(),
            kind: "throughput".into(),
            metric: "ttft_ms".into(),
            n: 5,
            p50: 10.04,
            p90: 20.04,
            p99: 30.04,
            ..Default::default()
        };
        let t = markdown(&[ttft]);
        let header = t.lines().next().unwrap();
        assert!(
            header.contains("| TTFT p50 ms | TTFT p90 ms | TTFT p99 ms | TPOT p50 ms |"),
            "{t}"
        );
        assert!(
            t.contains("| srv | m | d | pp16_tg4_c1 | 5 | 10.0 | 20.0 | 30.0 | - |"),
            "{t}"
        );
        // Every row has as many cells as the header.
        let cells = |l: &str| l.matches('|').count();
        assert!(t.lines().take(3).all(|l| cells(l) == cells(header)), "{t}");
    }

    #[test]
    fn llama_bench_columns() {
        assert_eq!(size_text(253_113_024), "241.39 MiB");
        assert_eq!(params_text(268_098_176), "268.10 M");
        let row = SummaryRow {
            backend: "gemma3-270m".into(),
            metric: "test_tok_s".into(),
            prompt_tokens: 512,
            depth: Some(4096),
            mean: 512.345,
            stddev: 3.0,
            ..Default::default()
        };
        let cols = BTreeMap::from([(
            "gemma3-270m".to_string(),
            ModelColumns {
                model: "gemma3 270M Q4_K - Medium".into(),
                size_bytes: Some(253_113_024),
                n_params: Some(268_098_176),
                backend: "CPU".into(),
                threads: Some(2),
            },
        )]);
        let t = pp_tg_markdown(&[row], &cols);
        assert!(t.contains("| gemma3-270m | gemma3 270M Q4_K - Medium | 241.39 MiB | 268.10 M | CPU | 2 | pp512 @ d4096 | 512.35 ± 3.00 |"), "{t}");
    }
}
