//! Report figures, drawn with plotters' SVG backend (text stays text: the browser draws it,
//! so no fonts are needed where the report is made).
//!
//! Each kind of figure is one type behind [`Chart`], the way hyperfine puts one exporter per
//! file behind one trait. [`registry`] lists them in report order; the chart kinds of later
//! scenarios (context length, needle-recall heatmap, tool-call accuracy) hook in by adding a
//! file here and one line there. A chart decides itself whether the data call for it (a
//! scaling curve needs at least two prompt lengths) and returns no figure otherwise.

pub mod accuracy;
pub mod bars;
pub mod context;
pub mod distribution;
pub mod drift;
pub mod multimodal;
pub mod rate;
pub mod scaling;
pub mod serving;
pub mod style;
pub mod timeline;

use super::load::Dataset;

/// One figure: an SVG and the words that make it honest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figure {
    /// File-name-safe id (`decode-tok-s`), unique within a report.
    pub id: String,
    pub title: String,
    /// What was measured, on what, and how many samples.
    pub caption: String,
    /// A complete `<svg>` document; every text in it is escaped by the SVG backend.
    pub svg: String,
}

pub trait Chart {
    /// Short name, for logs and the `--chart` filter of later versions.
    fn name(&self) -> &'static str;
    /// The figures this chart draws from the data (none when the data do not call for it).
    fn figures(&self, ds: &Dataset) -> Vec<Figure>;
}

/// Every chart kind, in report order.
pub fn registry() -> Vec<Box<dyn Chart>> {
    use super::metric::get;
    vec![
        Box::new(bars::MedianBars {
            metric: get("decode_tok_s"),
        }),
        Box::new(bars::MedianBars {
            metric: get("prefill_tok_s"),
        }),
        Box::new(distribution::TtftDistribution),
        Box::new(distribution::ItlDistribution),
        Box::new(scaling::VsPromptLength),
        Box::new(scaling::VsConcurrency),
        Box::new(scaling::ThroughputLatency),
        Box::new(serving::ServingOverhead),
        Box::new(timeline::OverTime),
        Box::new(rate::LoadLatency),
        Box::new(rate::GoodputVsOffered),
        Box::new(context::TtftVsLength),
        Box::new(context::RecallHeatmap),
        Box::new(multimodal::TtftVsImageSize),
        Box::new(accuracy::AccuracyVsDepth),
        Box::new(drift::KlDistribution),
        Box::new(drift::FirstDivergence),
    ]
}

/// Draws every registered chart.
pub fn all_figures(ds: &Dataset) -> Vec<Figure> {
    registry().iter().flat_map(|c| c.figures(ds)).collect()
}

/// One line that tells a first-time reader how to read the figure `id`: which way is better
/// and what the marks mean (the caption says what was measured).
pub fn how_to_read(id: &str) -> &'static str {
    const RULES: [(&str, &str); 15] = [
        (
            "decode-tok-s-vs-prompt",
            "Higher is faster; a line that falls to the right means decode slows as the prompt grows.",
        ),
        (
            "prefill-tok-s-vs-prompt",
            "Higher is faster; a line that rises to the right means prompt processing is batched well.",
        ),
        (
            "decode-tok-s",
            "Taller bars are faster; bars whose whiskers overlap are not clearly different.",
        ),
        (
            "prefill-tok-s",
            "Taller bars are faster; bars whose whiskers overlap are not clearly different.",
        ),
        (
            "ttft-distribution",
            "Further left is quicker; a long line to the right means some requests waited much longer than the median.",
        ),
        (
            "itl-distribution",
            "Further left is smoother streaming; a long line to the right means stalls between tokens.",
        ),
        (
            "output-tok-s-vs-concurrency",
            "A line that keeps rising means more parallel requests still add throughput; where it flattens, the backend is saturated.",
        ),
        (
            "throughput-latency",
            "Down and to the right is better: more throughput at a lower per-token latency; labels cN give the concurrency.",
        ),
        (
            "serving-overhead",
            "At 1.0 the server decodes as fast as the engine in process; below it, the gap is what serving costs per token at that many requests in flight.",
        ),
        (
            "over-time",
            "A flat line means steady speed; a line that falls over time means the device slowed down (heat, power or memory).",
        ),
        (
            "ttft-vs-context-length",
            "Lower is quicker; the slope shows how much each extra token of context costs before the first token.",
        ),
        (
            "recall-heatmap",
            "Each cell is the share of needles found at that context length (column) and depth (row): green found them all, red missed them.",
        ),
        (
            "load-latency",
            "Lower and further right is better; where the lines turn upward the server is saturated, and the shaded band is the sweep's maximum sustainable rate.",
        ),
        (
            "goodput-vs-offered",
            "On the grey y = x line every offered request met the SLO; where a line falls below it, extra load only adds requests that miss.",
        ),
        (
            "accuracy-vs-depth",
            "Higher is better; a line that falls to the right means the model loses track as the context fills.",
        ),
    ];
    if id.starts_with("compliance-vs-depth") {
        return "Higher is better; a line that falls to the right means output stops following the schema as the context fills.";
    }
    if id.starts_with("drift-kl") {
        return "Further left is closer to the reference (0: the same distributions); a long line to the right means some positions drift far.";
    }
    if id.starts_with("first-divergence") {
        return "Bars further right mean the continuations stayed the same for longer; prompts whose continuations never parted are counted in the legend.";
    }
    if id.starts_with("ttft-vs-image-size") {
        return "Lower is quicker; the slope shows what each extra image pixel costs before the first token.";
    }
    RULES
        .iter()
        .find(|(prefix, _)| id.starts_with(prefix))
        .map_or("", |(_, line)| line)
}
