//! The measured evidence of the runs, one row type per table, each row naming its series
//! (device, backend, model, run) so a page filters them and `data/` writes them whole.
//!
//! Every figure is read from what the run recorded — summary.csv's statistics, items.csv's
//! verdicts through the report's own sections — so the site says what the run said. A
//! figure the run did not measure is `None` (an empty cell, "not measured" on a page), never 0.

use serde::Serialize;

use crate::measure::proportion::wilson;
use crate::report::effective;
use crate::report::load::{Cell, Dataset};
use crate::report::multimodal::{self, CostView};
use crate::report::roofline::{self, RooflineRow};
use crate::results::SummaryRow;

/// Who measured: the same four columns lead every table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Who {
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
}

/// Speed of one throughput case: p50 with the 95% CI of the median, from summary.csv.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub scenario: String,
    pub case_id: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub concurrency: u32,
    pub decode_tok_s: Option<f64>,
    pub decode_ci_low: Option<f64>,
    pub decode_ci_high: Option<f64>,
    pub prefill_tok_s: Option<f64>,
    pub prefill_ci_low: Option<f64>,
    pub prefill_ci_high: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub ttft_ci_low: Option<f64>,
    pub ttft_ci_high: Option<f64>,
    /// Successful requests behind the figures.
    pub n: usize,
}

pub const SPEED_COLUMNS: &[&str] = &[
    "device",
    "backend",
    "model",
    "run_id",
    "scenario",
    "case_id",
    "prompt_tokens",
    "max_tokens",
    "concurrency",
    "decode_tok_s",
    "decode_ci_low",
    "decode_ci_high",
    "prefill_tok_s",
    "prefill_ci_low",
    "prefill_ci_high",
    "ttft_ms",
    "ttft_ci_low",
    "ttft_ci_high",
    "n",
];

/// Tool-call accuracy (or structured-output compliance) of a case, overall (`all`) and per
/// BFCL category, with its 95% Wilson interval.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub scenario: String,
    pub case_id: String,
    /// `accuracy` (tool calls) or `compliance` (structured output).
    pub measure: String,
    pub category: String,
    pub correct: usize,
    pub n: usize,
    pub share: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

pub const TOOL_COLUMNS: &[&str] = &[
    "device", "backend", "model", "run_id", "scenario", "case_id", "measure", "category",
    "correct", "n", "share", "ci_low", "ci_high",
];

/// Needle recall at one context length (prompt + answer tokens), from summary.csv.
#[derive(Debug, Clone, Serialize)]
pub struct RecallRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub scenario: String,
    pub context_tokens: u32,
    pub recall: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
}

pub const RECALL_COLUMNS: &[&str] = &[
    "device",
    "backend",
    "model",
    "run_id",
    "scenario",
    "context_tokens",
    "recall",
    "ci_low",
    "ci_high",
    "n",
];

/// The effective context length of a context scenario, as the report computes it.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub scenario: String,
    /// Tokens; `None` when no tested length reached the threshold.
    pub effective_context_length: Option<u32>,
    /// `None` where the run judged but did not record its threshold.
    pub threshold: Option<f64>,
}

pub const EFFECTIVE_COLUMNS: &[&str] = &[
    "device",
    "backend",
    "model",
    "run_id",
    "scenario",
    "effective_context_length",
    "threshold",
];

/// The media cost of a multimodal case (the report's figures, as it prints them).
#[derive(Debug, Clone, Serialize)]
pub struct MediaRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub modality: String,
    pub case_id: String,
    pub ttft_media_ms: String,
    pub ttft_text_ms: String,
    pub media_cost_ms: String,
    pub n: usize,
    pub unsupported: usize,
}

pub const MEDIA_COLUMNS: &[&str] = &[
    "device",
    "backend",
    "model",
    "run_id",
    "modality",
    "case_id",
    "ttft_media_ms",
    "ttft_text_ms",
    "media_cost_ms",
    "n",
    "unsupported",
];

/// One summary metric of a drift case (scenario kind `drift`): whatever metrics such a run
/// records are shown, so the page needs no change when the kind lands.
#[derive(Debug, Clone, Serialize)]
pub struct DriftRow {
    #[serde(skip)]
    pub series: usize,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub scenario: String,
    pub case_id: String,
    pub metric: String,
    pub unit: String,
    pub mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n: usize,
}

pub const DRIFT_COLUMNS: &[&str] = &[
    "device", "backend", "model", "run_id", "scenario", "case_id", "metric", "unit", "mean",
    "ci_low", "ci_high", "n",
];

/// The scenario kind whose summary rows fill the drift table.
pub const DRIFT_KIND: &str = "drift";

/// Decode against the memory-bandwidth bound, with the series it belongs to.
#[derive(Debug, Clone)]
pub struct Roofline {
    pub series: usize,
    pub row: RooflineRow,
}

#[derive(Debug, Default)]
pub struct Evidence {
    pub speed: Vec<SpeedRow>,
    pub tools: Vec<ToolRow>,
    pub recall: Vec<RecallRow>,
    pub effective: Vec<EffectiveRow>,
    pub media: Vec<MediaRow>,
    pub drift: Vec<DriftRow>,
    pub roofline: Vec<Roofline>,
}

fn who(ds: &Dataset, series: usize) -> Who {
    let s = &ds.series[series].id;
    Who {
        device: s.device.clone(),
        backend: s.backend.clone(),
        model: s.model.clone(),
        run_id: s.run_id.clone(),
    }
}

/// Every table's rows, and warnings of what could not be read.
pub fn build(ds: &Dataset) -> (Evidence, Vec<String>) {
    let mut ev = Evidence::default();
    for cell in &ds.cells {
        let w = who(ds, cell.series);
        match cell.shape.kind.as_str() {
            "throughput" => ev.speed.extend(speed(cell, &w)),
            "context" => ev.recall.extend(recall(cell, &w)),
            DRIFT_KIND => ev.drift.extend(drift(cell, &w)),
            _ => {}
        }
        ev.tools.extend(tools(cell, &w));
    }
    for r in effective::build(ds).rows {
        let Some(series) = ds.series.iter().position(|s| s.label == r.series) else {
            continue;
        };
        let w = who(ds, series);
        ev.effective.push(EffectiveRow {
            series,
            device: w.device,
            backend: w.backend,
            model: w.model,
            run_id: w.run_id,
            scenario: r.scenario,
            effective_context_length: r.effective.parse().ok(),
            threshold: r.threshold.parse().ok(),
        });
    }
    let (media, warnings) = multimodal::build(ds);
    ev.media = media
        .cost
        .into_iter()
        .filter_map(|c| media_row(ds, c))
        .collect();
    ev.roofline = roofline::rows(ds)
        .into_iter()
        .filter_map(|row| {
            let series = ds.series.iter().position(|s| s.label == row.series)?;
            Some(Roofline { series, row })
        })
        .collect();
    (ev, warnings)
}

fn stat(r: Option<&SummaryRow>) -> (Option<f64>, Option<f64>, Option<f64>) {
    match r {
        Some(r) if !r.p50.is_nan() && r.n > 0 => (
            Some(r.p50),
            Some(r.ci_low).filter(|v| !v.is_nan()),
            Some(r.ci_high).filter(|v| !v.is_nan()),
        ),
        _ => (None, None, None),
    }
}

fn speed(cell: &Cell, w: &Who) -> Option<SpeedRow> {
    let decode = cell.summary_row("decode_tok_s");
    let (d, dl, dh) = stat(decode);
    let (p, pl, ph) = stat(cell.summary_row("prefill_tok_s"));
    let ttft = cell.summary_row("ttft_ms");
    let (t, tl, th) = stat(ttft);
    if d.is_none() && t.is_none() && cell.summary.is_empty() {
        return None;
    }
    Some(SpeedRow {
        series: cell.series,
        device: w.device.clone(),
        backend: w.backend.clone(),
        model: w.model.clone(),
        run_id: w.run_id.clone(),
        scenario: cell.case.scenario.clone(),
        case_id: cell.case.case_id.clone(),
        prompt_tokens: cell.shape.prompt_tokens,
        max_tokens: cell.shape.max_tokens,
        concurrency: cell.shape.concurrency,
        decode_tok_s: d,
        decode_ci_low: dl,
        decode_ci_high: dh,
        prefill_tok_s: p,
        prefill_ci_low: pl,
        prefill_ci_high: ph,
        ttft_ms: t,
        ttft_ci_low: tl,
        ttft_ci_high: th,
        n: decode.or(ttft).map_or(0, |r| r.n),
    })
}

/// Overall and per category; the share and interval the run wrote to summary.csv where it
/// did, else Wilson's over items.csv (the rule the runner uses).
fn tools(cell: &Cell, w: &Who) -> Vec<ToolRow> {
    if cell.items.is_empty() {
        return Vec::new();
    }
    let measure = if cell.shape.kind == "structured" {
        "compliance"
    } else {
        "accuracy"
    };
    let mut cats: Vec<&str> = cell.items.iter().map(|i| i.category.as_str()).collect();
    cats.sort_unstable();
    cats.dedup();
    std::iter::once("all")
        .chain(cats)
        .filter_map(|cat| {
            let items: Vec<_> = cell
                .items
                .iter()
                .filter(|i| cat == "all" || i.category == cat)
                .collect();
            let k = items.iter().filter(|i| i.pass).count();
            let metric = if cat == "all" {
                measure.to_string()
            } else {
                format!("{measure}:{cat}")
            };
            let (share, lo, hi) = match cell.summary_row(&metric) {
                Some(r) if r.n == items.len() => (r.mean, r.ci_low, r.ci_high),
                _ => {
                    let p = wilson(k, items.len())?;
                    (p.p, p.ci_low, p.ci_high)
                }
            };
            Some(ToolRow {
                series: cell.series,
                device: w.device.clone(),
                backend: w.backend.clone(),
                model: w.model.clone(),
                run_id: w.run_id.clone(),
                scenario: cell.case.scenario.clone(),
                case_id: cell.case.case_id.clone(),
                measure: measure.into(),
                category: cat.into(),
                correct: k,
                n: items.len(),
                share,
                ci_low: lo,
                ci_high: hi,
            })
        })
        .collect()
}

fn recall(cell: &Cell, w: &Who) -> Option<RecallRow> {
    let r = cell.summary_row("recall").filter(|r| r.n > 0)?;
    Some(RecallRow {
        series: cell.series,
        device: w.device.clone(),
        backend: w.backend.clone(),
        model: w.model.clone(),
        run_id: w.run_id.clone(),
        scenario: cell.case.scenario.clone(),
        context_tokens: cell.shape.prompt_tokens + cell.shape.max_tokens,
        recall: r.mean,
        ci_low: r.ci_low,
        ci_high: r.ci_high,
        n: r.n,
    })
}

fn drift(cell: &Cell, w: &Who) -> Vec<DriftRow> {
    cell.summary
        .iter()
        .map(|r| DriftRow {
            series: cell.series,
            device: w.device.clone(),
            backend: w.backend.clone(),
            model: w.model.clone(),
            run_id: w.run_id.clone(),
            scenario: cell.case.scenario.clone(),
            case_id: cell.case.case_id.clone(),
            metric: r.metric.clone(),
            unit: r.unit.clone(),
            mean: r.mean,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            n: r.n,
        })
        .collect()
}

fn media_row(ds: &Dataset, c: CostView) -> Option<MediaRow> {
    let series = ds.series.iter().position(|s| s.label == c.series)?;
    let w = who(ds, series);
    Some(MediaRow {
        series,
        device: w.device,
        backend: w.backend,
        model: w.model,
        run_id: w.run_id,
        modality: c.modality,
        case_id: c.case,
        ttft_media_ms: c.ttft_media,
        ttft_text_ms: c.ttft_text,
        media_cost_ms: c.media_cost,
        n: c.n,
        unsupported: c.unsupported,
    })
}
