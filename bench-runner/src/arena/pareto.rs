//! The quality × speed chart, one per device: rating (with its 95% interval) against decode
//! tok/s, the Pareto frontier drawn as a line through the undominated models, and the
//! `--min-tok-s` threshold as a dashed vertical line. plotters' SVG backend writes text as
//! SVG text (escaped), so no font is needed: the browser draws it.

use plotters::prelude::*;

use super::speed::SpeedRow;

const SIZE: (u32, u32) = (720, 460);
const FONT: &str = "sans-serif";

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The SVG for one device; `None` when no model there has a measured speed.
pub fn chart(device: &str, rows: &[SpeedRow], min_tok_s: Option<f64>) -> Option<String> {
    let pts: Vec<&SpeedRow> = rows
        .iter()
        .filter(|r| r.device == device && r.decode_tok_s.is_some())
        .collect();
    if pts.is_empty() {
        return None;
    }
    let speed = |r: &SpeedRow| r.decode_tok_s.unwrap_or(0.0);
    let xmax = pts
        .iter()
        .map(|r| speed(r))
        .fold(min_tok_s.unwrap_or(0.0), f64::max)
        * 1.15
        + 1e-9;
    let ylo = pts
        .iter()
        .map(|r| r.ci_low.min(r.rating))
        .fold(f64::INFINITY, f64::min);
    let yhi = pts
        .iter()
        .map(|r| r.ci_high.max(r.rating))
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((yhi - ylo) * 0.12).max(10.0);
    let mut out = String::new();
    let drawn: Result<(), String> = (|| {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Rating vs decode speed — {device}"), (FONT, 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..xmax, (ylo - pad)..(yhi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("decode tok/s (p50, single stream)")
            .y_desc("rating (95% CI)")
            .label_style((FONT, 14))
            .draw()
            .map_err(err)?;
        if let Some(m) = min_tok_s {
            let style = RGBColor(180, 180, 180).stroke_width(2);
            let (lo, hi) = (ylo - pad, yhi + pad);
            let steps = 24;
            for s in (0..steps).step_by(2) {
                let a = lo + (hi - lo) * s as f64 / steps as f64;
                let b = lo + (hi - lo) * (s + 1) as f64 / steps as f64;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(m, a), (m, b)],
                        style,
                    )))
                    .map_err(err)?;
            }
        }
        let mut frontier: Vec<(f64, f64)> = pts
            .iter()
            .filter(|r| r.pareto)
            .map(|r| (speed(r), r.rating))
            .collect();
        frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
        let blue = RGBColor(78, 121, 167);
        let orange = RGBColor(242, 142, 43);
        chart
            .draw_series(LineSeries::new(
                frontier.iter().copied(),
                orange.stroke_width(2),
            ))
            .map_err(err)?
            .label("Pareto frontier")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], orange.stroke_width(2))
            });
        for r in &pts {
            let x = speed(r);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, r.ci_low), (x, r.ci_high)],
                    blue.stroke_width(1),
                )))
                .map_err(err)?;
            let c = if r.pareto { orange } else { blue };
            chart
                .draw_series(std::iter::once(Circle::new((x, r.rating), 5, c.filled())))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!(" {}", r.model),
                    (x, r.rating),
                    (FONT, 13).into_font(),
                )))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    })();
    match drawn {
        Ok(()) => Some(out),
        Err(e) => Some(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\"><text x=\"10\" y=\"24\">chart could not be drawn: {}</text></svg>",
            crate::report::export::escape::xml(&e)
        )),
    }
}

/// File name for a device's chart: characters outside [A-Za-z0-9._-] become `_`.
pub fn file_name(device: &str) -> String {
    let safe: String = device
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("pareto-{}.svg", safe.trim_start_matches('.'))
}
