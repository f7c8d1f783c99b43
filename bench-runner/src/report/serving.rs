//! The serving overhead: the same model on the same device served over HTTP (an `openai`
//! backend, e.g. llama-server) against llama.cpp in process (`llamacpp`), case by case, so at
//! every concurrency the runs measured, not only at one stream.
//!
//! For each such pair of series and each serving case both ran: decode tok/s and TTFT as
//! ratios served ÷ in process of the per-request medians, with the seeded bootstrap 95% CI
//! ([`median_ratio_ci`]), and aggregate output tok/s (case-wide, one value per case) as a
//! point ratio. A decode ratio below 1 is what serving costs per token. A case flagged
//! `queued` on either side is marked: its TTFT includes waiting for a slot or a sequence.

use super::format::fmt_num;
use super::load::{Cell, Dataset};
use super::metric::get;
use crate::measure::ratio::{RatioCi, median_ci, median_ratio_ci};

/// One case of one served / in-process pair.
#[derive(Debug, Clone)]
pub struct ServingRow {
    /// Series index of the served side (its colour in the figure).
    pub served: usize,
    pub in_process: usize,
    pub scenario: String,
    pub case_id: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub concurrency: u32,
    /// Decode tok/s medians (in process, served) and served ÷ in process.
    pub decode: (f64, f64),
    pub decode_ratio: Option<RatioCi>,
    pub ttft_ratio: Option<RatioCi>,
    /// Aggregate output tok/s, served ÷ in process (case-wide values: no interval).
    pub output_ratio: Option<f64>,
    /// Successful requests (in process, served).
    pub n: (usize, usize),
    /// A side flagged `queued`: its TTFT includes waiting.
    pub queued: bool,
}

/// A row as the report prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServingView {
    pub pair: String,
    pub case: String,
    pub concurrency: u32,
    pub in_process: String,
    pub served: String,
    pub decode_ratio: String,
    pub ttft_ratio: String,
    pub output_ratio: String,
    pub n: String,
    pub note: String,
}

/// The backend kind and model hash of a series, from its run.json.
fn kind_and_model(ds: &Dataset, series: usize) -> Option<(String, Option<String>)> {
    let backend = &ds.series[series].id.backend;
    let facts = ds
        .manifest_of(series)?
        .backends
        .iter()
        .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(backend.as_str()))?;
    let kind = facts.get("kind")?.as_str()?.to_string();
    let sha = facts
        .get("model_sha256")
        .and_then(|s| s.as_str())
        .map(str::to_string);
    Some((kind, sha))
}

/// Served and in-process series of one model on one device: the same model file where both
/// recorded its hash, else the same model name.
fn pairs(ds: &Dataset) -> Vec<(usize, usize)> {
    let facts: Vec<Option<(String, Option<String>)>> = (0..ds.series.len())
        .map(|i| kind_and_model(ds, i))
        .collect();
    let mut out = Vec::new();
    for (p, fp) in facts.iter().enumerate() {
        let Some(("llamacpp", p_sha)) = fp.as_ref().map(|(k, s)| (k.as_str(), s)) else {
            continue;
        };
        for (s, fs) in facts.iter().enumerate() {
            let Some(("openai", s_sha)) = fs.as_ref().map(|(k, s)| (k.as_str(), s)) else {
                continue;
            };
            let (pi, si) = (&ds.series[p].id, &ds.series[s].id);
            let same_model = match (p_sha, s_sha) {
                (Some(a), Some(b)) => a == b,
                _ => pi.model == si.model,
            };
            if same_model && pi.device == si.device {
                out.push((s, p));
            }
        }
    }
    out
}

fn queued(c: &Cell) -> bool {
    c.summary
        .first()
        .is_some_and(|r| r.flags.split(';').any(|f| f == "queued"))
}

/// Every serving case of every pair, ordered by pair, scenario, shape and concurrency.
pub fn rows(ds: &Dataset) -> Vec<ServingRow> {
    let (decode, ttft) = (get("decode_tok_s").slot, get("ttft_ms").slot);
    let mut out = Vec::new();
    for (s, p) in pairs(ds) {
        for pc in ds.cells.iter().filter(|c| c.series == p) {
            // Throughput serving cases only; llama-bench-style tests (their summary rows carry a
            // depth) measure the engine, not a request.
            let pp_tg = pc.summary.first().is_some_and(|r| r.depth.is_some());
            if pc.shape.kind != "throughput" || pp_tg || pc.requests.is_empty() {
                continue;
            }
            let Some(sc) = ds.cell(s, &pc.case) else {
                continue;
            };
            let (pd, sd) = (pc.values(decode), sc.values(decode));
            let (Some(pm), Some(sm)) = (median_ci(&pd), median_ci(&sd)) else {
                continue;
            };
            let output = |c: &Cell| c.summary_row("output_tok_s").map(|r| r.p50);
            out.push(ServingRow {
                served: s,
                in_process: p,
                scenario: pc.case.scenario.clone(),
                case_id: pc.case.case_id.clone(),
                prompt_tokens: pc.shape.prompt_tokens,
                max_tokens: pc.shape.max_tokens,
                concurrency: pc.shape.concurrency,
                decode: (pm.median, sm.median),
                decode_ratio: median_ratio_ci(&pd, &sd),
                ttft_ratio: median_ratio_ci(&pc.values(ttft), &sc.values(ttft)),
                output_ratio: match (output(pc), output(sc)) {
                    (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                    _ => None,
                },
                n: (pm.n, sm.n),
                queued: queued(pc) || queued(sc),
            });
        }
    }
    out.sort_by(|a, b| {
        (
            a.served,
            a.in_process,
            &a.scenario,
            a.prompt_tokens,
            a.max_tokens,
            a.concurrency,
        )
            .cmp(&(
                b.served,
                b.in_process,
                &b.scenario,
                b.prompt_tokens,
                b.max_tokens,
                b.concurrency,
            ))
    });
    out
}

fn ratio(r: &Option<RatioCi>) -> String {
    r.as_ref().map_or("-".into(), |r| {
        format!("×{:.3} [{:.3}, {:.3}]", r.ratio, r.low, r.high)
    })
}

pub fn views(ds: &Dataset, rows: &[ServingRow]) -> Vec<ServingView> {
    rows.iter()
        .map(|r| ServingView {
            pair: format!(
                "{} ÷ {}",
                ds.series[r.served].label, ds.series[r.in_process].label
            ),
            case: format!("{} / {}", r.scenario, r.case_id),
            concurrency: r.concurrency,
            in_process: fmt_num(r.decode.0),
            served: fmt_num(r.decode.1),
            decode_ratio: ratio(&r.decode_ratio),
            ttft_ratio: ratio(&r.ttft_ratio),
            output_ratio: r.output_ratio.map_or("-".into(), |x| format!("×{x:.3}")),
            n: format!("{} / {}", r.n.0, r.n.1),
            note: if r.queued {
                "queued: TTFT includes waiting".into()
            } else {
                String::new()
            },
        })
        .collect()
}
