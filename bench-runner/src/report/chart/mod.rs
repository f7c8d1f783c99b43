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
pub mod multimodal;
pub mod rate;
pub mod scaling;
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
        Box::new(timeline::OverTime),
        Box::new(rate::LoadLatency),
        Box::new(rate::GoodputVsOffered),
        Box::new(context::TtftVsLength),
        Box::new(context::RecallHeatmap),
        Box::new(multimodal::TtftVsImageSize),
        Box::new(accuracy::AccuracyVsDepth),
    ]
}

/// Draws every registered chart.
pub fn all_figures(ds: &Dataset) -> Vec<Figure> {
    registry().iter().flat_map(|c| c.figures(ds)).collect()
}
