//! Tool-call accuracy × speed per device: the quality axis of the Pareto chart when the
//! quality is correctness rather than preference. Per device and model: the share of
//! tool-call items answered right over all its tool-call cases there (95% Wilson interval),
//! against decode tok/s by the quality × speed rule (median over the single-stream
//! throughput cases, all when there is none, of each case's median). Rated or not, every
//! model with both figures is a point; the front is marked by `arena`'s own rule.

use serde::Serialize;

use super::site::Site;
use crate::arena::speed::{SpeedRow, mark_pareto};
use crate::measure::proportion::wilson;

#[derive(Debug, Clone, Serialize)]
pub struct AccuracySpeedRow {
    pub device: String,
    pub model: String,
    pub correct: usize,
    pub n: usize,
    pub accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub decode_tok_s: Option<f64>,
    pub pareto: bool,
}

pub const COLUMNS: &[&str] = &[
    "device",
    "model",
    "correct",
    "n",
    "accuracy",
    "ci_low",
    "ci_high",
    "decode_tok_s",
    "pareto",
];

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| crate::measure::stats::percentile_sorted(&v, 50.0))
}

/// Every (device, model) with tool-call items, in device then model order.
pub fn rows(site: &Site) -> Vec<AccuracySpeedRow> {
    let ev = &site.evidence;
    let mut out = Vec::new();
    for d in &site.devices {
        for m in &site.models {
            let here = |s: usize| d.series.contains(&s) && m.series.contains(&s);
            let (k, n) = ev
                .tools
                .iter()
                .filter(|r| here(r.series) && r.category == "all" && r.measure == "accuracy")
                .fold((0, 0), |(k, n), r| (k + r.correct, n + r.n));
            let Some(p) = wilson(k, n) else { continue };
            let speed: Vec<_> = ev.speed.iter().filter(|r| here(r.series)).collect();
            let single: Vec<_> = speed.iter().filter(|r| r.concurrency == 1).collect();
            let used = if single.is_empty() {
                speed.iter().collect()
            } else {
                single
            };
            out.push(AccuracySpeedRow {
                device: d.name.clone(),
                model: m.name.clone(),
                correct: k,
                n,
                accuracy: p.p,
                ci_low: p.ci_low,
                ci_high: p.ci_high,
                decode_tok_s: median(used.iter().filter_map(|r| r.decode_tok_s).collect()),
                pareto: false,
            });
        }
    }
    let mut as_speed = chart_rows(&out);
    mark_pareto(&mut as_speed);
    for (r, s) in out.iter_mut().zip(as_speed) {
        r.pareto = s.pareto;
    }
    out
}

/// The rows as the Pareto chart takes them: accuracy in percent on the quality axis.
pub fn chart_rows(rows: &[AccuracySpeedRow]) -> Vec<SpeedRow> {
    rows.iter()
        .map(|r| SpeedRow {
            device: r.device.clone(),
            model: r.model.clone(),
            rating: 100.0 * r.accuracy,
            ci_low: 100.0 * r.ci_low,
            ci_high: 100.0 * r.ci_high,
            decode_tok_s: r.decode_tok_s,
            ttft_ms: None,
            cases: 0,
            pareto: r.pareto,
        })
        .collect()
}
