//! Latency distributions, one row per series and case: a thin line from the minimum to the
//! 99th percentile, a box from the median to the 90th percentile, a black tick at the median
//! and a dot at the maximum. Percentiles are type 7 (see [`crate::measure::stats`]).
//!
//! TTFT comes from the per-request samples. ITL comes from summary.csv's `itl_ms` rows, which
//! pool every gap of every request of the case; without summary.csv the per-request median
//! ITLs are shown instead, and the caption says so.

use plotters::prelude::*;

use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::measure::stats::percentile_sorted;
use crate::report::load::Dataset;
use crate::report::metric::get;

pub struct TtftDistribution;
pub struct ItlDistribution;

/// One row of the figure.
pub struct Spread {
    pub label: String,
    pub series: usize,
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(label: String, series: usize, values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let p = |q| percentile_sorted(&v, q);
        Some(Spread {
            label,
            series,
            n: v.len(),
            min: v[0],
            p50: p(50.0),
            p90: p(90.0),
            p99: p(99.0),
            max: v[v.len() - 1],
        })
    }
}

impl Chart for TtftDistribution {
    fn name(&self) -> &'static str {
        "ttft-distribution"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let slot = get("ttft_ms").slot;
        let mut rows = Vec::new();
        for case in ds.cases() {
            for si in 0..ds.series.len() {
                if let Some(s) = ds
                    .cell(si, &case)
                    .and_then(|c| Spread::of(case.case_id.clone(), si, &c.values(slot)))
                {
                    rows.push(s);
                }
            }
        }
        figure(
            ds,
            rows,
            "ttft-distribution",
            "TTFT distribution",
            "time to first token (request sent → first generated content)",
            "requests",
        )
        .into_iter()
        .collect()
    }
}

impl Chart for ItlDistribution {
    fn name(&self) -> &'static str {
        "itl-distribution"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let mut rows = Vec::new();
        let mut pooled = true;
        for case in ds.cases() {
            for si in 0..ds.series.len() {
                let Some(cell) = ds.cell(si, &case) else {
                    continue;
                };
                if let Some(r) = cell.summary_row("itl_ms") {
                    rows.push(Spread {
                        label: case.case_id.clone(),
                        series: si,
                        n: r.n,
                        min: r.min,
                        p50: r.p50,
                        p90: r.p90,
                        p99: r.p99,
                        max: r.max,
                    });
                } else if let Some(s) = Spread::of(
                    case.case_id.clone(),
                    si,
                    &cell.values(get("itl_p50_ms").slot),
                ) {
                    pooled = false;
                    rows.push(s);
                }
            }
        }
        let (what, unit) = if pooled {
            (
                "inter-token latency: every gap between generated tokens of every request, pooled per case",
                "gaps",
            )
        } else {
            (
                "inter-token latency (per-request median ITL where summary.csv is missing)",
                "values",
            )
        };
        figure(ds, rows, "itl-distribution", "ITL distribution", what, unit)
            .into_iter()
            .collect()
    }
}

fn figure(
    ds: &Dataset,
    rows: Vec<Spread>,
    id: &str,
    title: &str,
    what: &str,
    unit: &str,
) -> Option<Figure> {
    if rows.is_empty() {
        return None;
    }
    let xmax = rows.iter().map(|r| r.max).fold(0.0, f64::max);
    let x_range = style::padded(0.0, xmax, true);
    let mut series: Vec<usize> = rows.iter().map(|r| r.series).collect();
    series.sort_unstable();
    series.dedup();
    let legend: Vec<style::LegendEntry> = series
        .iter()
        .map(|&si| (ds.series[si].label.clone(), color(si)))
        .collect();
    let svg = style::svg(&legend, |root| draw_rows(root, &rows, x_range, "ms", 110));
    let ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
    let caption = format!(
        "What: {what}. Line: min to p99; box: p50 to p90; black tick: median (p50); dot: max. One row per case and series. On: {}. {}.",
        style::on_what(ds, &series),
        style::n_phrase(&ns, unit).replace("per point", "per row")
    );
    Some(Figure {
        id: id.into(),
        title: title.into(),
        caption,
        svg,
    })
}

/// Draws spread rows top to bottom (row i at y = n − 1 − i): a line from min to p99, a box from
/// p50 to p90, a black tick at the median, a dot at the max. Shared by the latency
/// distributions and the drift scenario's KL figure.
pub(super) fn draw_rows(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[Spread],
    x_range: std::ops::Range<f64>,
    x_desc: &str,
    y_label_area: u32,
) -> Result<(), String> {
    let n = rows.len();
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(y_label_area)
        .build_cartesian_2d(
            x_range,
            (-600..1000 * n as i32 - 400)
                .with_key_points((0..n as i32).map(|i| 1000 * i).collect()),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|x| style::num(*x))
        .y_label_formatter(&|y| {
            let i = n as i64 - 1 - (*y as i64) / 1000;
            usize::try_from(i)
                .ok()
                .and_then(|i| rows.get(i))
                .map(|r| r.label.clone())
                .unwrap_or_default()
        })
        .label_style((FONT, style::LABEL))
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let y = 1000 * (n - 1 - i) as i32;
        let c = color(r.series);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(r.min, y), (r.p99, y)],
                c.stroke_width(2),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(r.p50, y - 250), (r.p90, y + 250)],
                c.mix(0.6).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(r.p50, y - 320), (r.p50, y + 320)],
                BLACK.stroke_width(3),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Circle::new((r.max, y), 3, c.filled())))
            .map_err(err)?;
    }
    Ok(())
}
