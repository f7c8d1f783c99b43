//! What a report says, independent of its format: the runs, the series and their
//! comparability keys, the pivot tables (formatted once, so Markdown and HTML agree to the
//! digit), the speed-over-time summary, the figures and every warning.

use std::path::PathBuf;

use super::chart::{self, Figure};
use super::choice::{self, Chosen};
use super::format::{fmt_ci, fmt_num};
use super::load::{self, Dataset};
use super::metric::get;
use super::pivot::{self, Pivot};
use super::sustained::sustained_timeline;
pub use super::view::{CellView, PivotView, REQUEST_NOTE, RowView};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Run folders, folders of run folders, samples.csv or summary.csv files.
    pub inputs: Vec<PathBuf>,
    /// Output folder; receives report.md, report.html and one SVG per figure.
    pub out: PathBuf,
    /// The series every ratio is taken against (see [`pivot::find_reference`]).
    pub reference: Option<String>,
    /// Metrics of the pivot tables (default [`super::metric::DEFAULT_METRICS`]).
    pub metrics: Vec<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunView {
    pub run_id: String,
    pub source: String,
    pub device: String,
    pub host: String,
    pub started_at: String,
    pub status: String,
    pub scenarios: String,
    pub backends: String,
    pub requests: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesView {
    pub label: String,
    pub device: String,
    pub backend: String,
    pub model: String,
    pub run_id: String,
    pub quant: String,
    pub model_sha256: String,
    pub chat_template: String,
    pub sampling: String,
    pub is_reference: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ThrottleView {
    pub series: String,
    pub case: String,
    pub span_s: String,
    pub slice_s: String,
    pub first: String,
    pub last: String,
    pub throttle_ratio: String,
    pub requests: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RooflineView {
    pub series: String,
    pub case: String,
    pub model_mib: String,
    pub bandwidth_gbs: String,
    pub bound_tok_s: String,
    pub decode_tok_s: String,
    pub percent: String,
    pub n: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub title: String,
    pub generated_at: String,
    pub edgebench_version: String,
    pub reference: String,
    pub runs: Vec<RunView>,
    pub series: Vec<SeriesView>,
    pub pivots: Vec<PivotView>,
    /// What is not like for like, said once per pair of series.
    pub comparability: Vec<String>,
    pub throttle: Vec<ThrottleView>,
    /// Decode tok/s against the memory-bandwidth bound, where the bandwidth was probed.
    pub roofline: Vec<RooflineView>,
    /// Served ÷ in process, per case and concurrency (see `serving.rs`).
    pub serving: Vec<super::serving::ServingView>,
    pub figures: Vec<Figure>,
    pub warnings: Vec<String>,
    pub requests: usize,
    /// Multimodal scenarios (from media.csv): media cost, accuracy, inputs beside answers.
    pub media: super::multimodal::MediaSection,
    /// Drift scenarios (from drift.csv): KL, top-1 agreement and perplexity per candidate.
    pub drift: super::drift::DriftSection,
    /// Tool-call and structured-output scenarios (from items.csv).
    pub tools: super::tools::ToolSection,
    /// Context scenarios: the effective context length per series, recall per length.
    pub effective: super::effective::EffectiveSection,
    /// Request-rate cases and a sweep's answer (from summary.csv and sweep.json).
    pub load: super::rate::LoadSection,
}

/// Loads the inputs and builds the report (no files written).
pub fn build(opts: &ReportOptions) -> Result<Report> {
    let metrics = choice::parse_list(&opts.metrics)?;
    let ds = load::load(&opts.inputs)?;
    let reference = pivot::find_reference(&ds, opts.reference.as_deref())?;
    let mut comparability = Vec::new();
    let pivots: Vec<PivotView> = metrics
        .iter()
        .map(|m| match m {
            Chosen::Request(m) => pivot_view(&pivot::build(&ds, m, reference), &mut comparability),
            Chosen::Items(m) => super::tools::pivot(&ds, m, reference, &mut comparability),
        })
        .collect();
    Ok(assemble(
        &ds,
        reference,
        pivots,
        comparability,
        opts.title.clone(),
    ))
}

fn fmt_ratio(low: f64, ratio: f64, high: f64) -> String {
    if low.is_nan() || high.is_nan() {
        format!("×{ratio:.3} (no CI: summary only)")
    } else {
        format!("×{ratio:.3} [{low:.3}, {high:.3}]")
    }
}

fn short(h: &Option<String>) -> String {
    h.as_ref()
        .map_or("unknown".into(), |h| h.chars().take(12).collect())
}

fn assemble(
    ds: &Dataset,
    reference: usize,
    pivots: Vec<PivotView>,
    comparability: Vec<String>,
    title: Option<String>,
) -> Report {
    let mut warnings = ds.warnings.clone();
    for r in &ds.runs {
        if let Some(m) = &r.manifest {
            for w in &m.warnings {
                warnings.push(format!("{}: {w}", m.run_id));
            }
        }
    }
    let figures = chart::all_figures(ds);
    let (media, media_warnings) = super::multimodal::build(ds);
    warnings.extend(media_warnings);
    let (drift, drift_warnings) = super::drift::build(ds);
    warnings.extend(drift_warnings);
    Report {
        title: title.unwrap_or_else(|| "edgebench report".into()),
        generated_at: crate::results::manifest::now_rfc3339(),
        edgebench_version: env!("CARGO_PKG_VERSION").into(),
        reference: ds.series[reference].label.clone(),
        runs: run_views(ds),
        series: series_views(ds, reference),
        pivots,
        comparability,
        throttle: throttle_views(ds),
        roofline: roofline_views(ds),
        serving: super::serving::views(ds, &super::serving::rows(ds)),
        figures,
        warnings,
        requests: ds.request_count(),
        media,
        drift,
        tools: super::tools::build(ds),
        effective: super::effective::build(ds),
        load: super::rate::build(ds),
    }
}

fn run_views(ds: &Dataset) -> Vec<RunView> {
    ds.runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let m = r.manifest.as_ref();
            let series: Vec<&load::Series> = ds.series.iter().filter(|s| s.id.run == i).collect();
            let run_id = m
                .map(|m| m.run_id.clone())
                .or_else(|| series.first().map(|s| s.id.run_id.clone()))
                .unwrap_or_default();
            RunView {
                run_id,
                source: r.source.display().to_string(),
                device: m.map(|m| m.device.clone()).unwrap_or_else(|| {
                    series
                        .iter()
                        .map(|s| s.id.device.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                host: m.map_or("unknown (no run.json)".into(), |m| {
                    format!(
                        "{} · {} · {} logical CPUs · {:.1} GiB · {}",
                        m.host.hostname,
                        m.host.cpu_model,
                        m.host.logical_cpus,
                        m.host.memory_bytes as f64 / (1u64 << 30) as f64,
                        m.host.os
                    )
                }),
                started_at: m.map(|m| m.started_at.clone()).unwrap_or_default(),
                status: m
                    .map(|m| m.status.clone())
                    .unwrap_or_else(|| "unknown".into()),
                scenarios: m
                    .map(|m| {
                        m.scenarios
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                backends: series
                    .iter()
                    .map(|s| format!("{} ({})", s.id.backend, s.id.model))
                    .collect::<Vec<_>>()
                    .join(", "),
                requests: m.map_or_else(
                    || {
                        ds.cells
                            .iter()
                            .filter(|c| ds.series[c.series].id.run == i)
                            .map(|c| c.requests.len())
                            .sum::<usize>()
                            .to_string()
                    },
                    |m| format!("{} ({} failed)", m.requests_total, m.requests_failed),
                ),
            }
        })
        .collect()
}

/// Keys per series (for the first scenario it ran; differences per scenario are in the pivot).
fn series_views(ds: &Dataset, reference: usize) -> Vec<SeriesView> {
    let cases = ds.cases();
    ds.series
        .iter()
        .enumerate()
        .map(|(si, s)| {
            let case = cases.iter().find(|c| ds.cell(si, c).is_some());
            let key = case.map(|c| pivot::key_of(ds, si, c)).unwrap_or_default();
            SeriesView {
                label: s.label.clone(),
                device: s.id.device.clone(),
                backend: s.id.backend.clone(),
                model: s.id.model.clone(),
                run_id: s.id.run_id.clone(),
                quant: key.quant.clone().unwrap_or_else(|| "unknown".into()),
                model_sha256: short(&key.model_sha256),
                chat_template: short(&key.chat_template_sha256),
                sampling: key.sampling.clone().unwrap_or_else(|| "unknown".into()),
                is_reference: si == reference,
            }
        })
        .collect()
}

/// A request metric's table, formatted once; what is not like for like is added to
/// `comparability`, once per pair of series and scenario.
fn pivot_view(p: &Pivot, comparability: &mut Vec<String>) -> PivotView {
    PivotView {
        title: p.title.into(),
        unit: p.unit.into(),
        better: if p.higher_is_better {
            "higher is better".into()
        } else {
            "lower is better".into()
        },
        note: REQUEST_NOTE.into(),
        columns: p.columns.clone(),
        reference: p.reference,
        rows: p
            .rows
            .iter()
            .map(|r| RowView {
                case: format!("{} / {}", r.scenario, r.case_id),
                cells: r
                    .cells
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| {
                        c.as_ref().map(|c| {
                            let warning = c.not_comparable.join("; ");
                            if !warning.is_empty() {
                                let line = format!(
                                    "{} vs {} ({}): {warning}",
                                    p.columns[ci], p.columns[p.reference], r.scenario
                                );
                                if !comparability.contains(&line) {
                                    comparability.push(line);
                                }
                            }
                            CellView {
                                value: fmt_ci(c.value.median, c.value.low, c.value.high),
                                n: c.value.n,
                                ratio: c
                                    .ratio
                                    .map(|r| fmt_ratio(r.low, r.ratio, r.high))
                                    .unwrap_or_default(),
                                warning,
                            }
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn throttle_views(ds: &Dataset) -> Vec<ThrottleView> {
    let slot = get("decode_tok_s").slot;
    let mut throttle = Vec::new();
    for cell in &ds.cells {
        if let Some(t) = sustained_timeline(cell, slot) {
            let (first, last) = (t.slices.first(), t.slices.last());
            throttle.push(ThrottleView {
                series: ds.series[cell.series].label.clone(),
                case: format!("{} / {}", cell.case.scenario, cell.case.case_id),
                span_s: format!("{:.1}", t.span_s),
                slice_s: format!("{:.1}", t.slice_s),
                first: first.map_or("-".into(), |s| fmt_num(s.median_tok_s)),
                last: last.map_or("-".into(), |s| fmt_num(s.median_tok_s)),
                throttle_ratio: t.throttle_ratio.map_or("-".into(), |r| format!("{r:.3}")),
                requests: t.points.len(),
            });
        }
    }
    throttle
}

fn roofline_views(ds: &Dataset) -> Vec<RooflineView> {
    super::roofline::rows(ds)
        .into_iter()
        .map(|r| RooflineView {
            series: r.series,
            case: r.case,
            model_mib: format!("{:.1}", r.model_bytes as f64 / (1u64 << 20) as f64),
            bandwidth_gbs: format!("{:.1}", r.bandwidth_gbs),
            bound_tok_s: fmt_num(r.bound_tok_s),
            decode_tok_s: fmt_num(r.decode_tok_s),
            percent: format!("{:.1}%", r.percent_of_bound),
            n: r.n,
        })
        .collect()
}
