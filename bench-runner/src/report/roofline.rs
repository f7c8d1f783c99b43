//! How close decode runs to the device's physical limit. Decoding one token of a dense model
//! reads every weight once, so with memory bandwidth B (bytes/s, `edgebench run --probe`)
//! and weights of W bytes (the model file's size), decode cannot beat B / W tokens per
//! second. The report shows measured decode tok/s (median, one stream) as a percentage of
//! that bound. The bandwidth is the host's that ran edgebench, so the bound is shown only
//! where the model ran on that host (a launched server or an in-process backend).

use super::load::Dataset;
use super::metric::get;
use crate::measure::ratio::median_ci;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RooflineRow {
    pub series: String,
    pub case: String,
    pub model_bytes: u64,
    pub bandwidth_gbs: f64,
    pub bound_tok_s: f64,
    pub decode_tok_s: f64,
    pub percent_of_bound: f64,
    pub n: usize,
}

pub fn rows(ds: &Dataset) -> Vec<RooflineRow> {
    let slot = get("decode_tok_s").slot;
    let mut out = Vec::new();
    for cell in &ds.cells {
        if cell.shape.concurrency != 1 {
            continue;
        }
        let s = &ds.series[cell.series];
        let Some(m) = ds.manifest_of(cell.series) else {
            continue;
        };
        let Some(bw) = m.host.memory_bandwidth_gbs.filter(|b| *b > 0.0) else {
            continue;
        };
        let Some(facts) = m
            .backends
            .iter()
            .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(s.id.backend.as_str()))
        else {
            continue;
        };
        let local = facts.get("launched").is_some_and(|l| !l.is_null())
            || facts
                .get("kind")
                .and_then(|k| k.as_str())
                .is_some_and(|k| k != "openai");
        let Some(bytes) = facts
            .get("model_bytes")
            .and_then(|b| b.as_u64())
            .filter(|b| *b > 0)
        else {
            continue;
        };
        if !local {
            continue;
        }
        let Some(d) = median_ci(&cell.values(slot)) else {
            continue;
        };
        let bound = bw * 1e9 / bytes as f64;
        out.push(RooflineRow {
            series: s.label.clone(),
            case: format!("{} / {}", cell.case.scenario, cell.case.case_id),
            model_bytes: bytes,
            bandwidth_gbs: bw,
            bound_tok_s: bound,
            decode_tok_s: d.median,
            percent_of_bound: 100.0 * d.median / bound,
            n: d.n,
        });
    }
    out
}
