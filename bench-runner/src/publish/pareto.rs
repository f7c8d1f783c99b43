//! The quality × speed chart of a device: rating or accuracy (with its 95% interval as a whisker)
//! against decode tok/s, one colour per model named in the legend below the plot (the
//! report's chart style: responsive viewBox, whole labels), the Pareto front drawn as a line
//! through the undominated models, which are filled; dominated models are hollow.

use plotters::prelude::*;

use crate::arena::speed::SpeedRow;
use crate::report::chart::style::{self, FONT, color, err};

/// The SVG for `device` (`quality` names the vertical axis), or `None` when no model there
/// has both a quality figure and a speed.
pub fn chart(device: &str, rows: &[SpeedRow], quality: &str) -> Option<String> {
    let pts: Vec<(usize, &SpeedRow, f64)> = rows
        .iter()
        .filter(|r| r.device == device)
        .filter_map(|r| r.decode_tok_s.map(|v| (r, v)))
        .enumerate()
        .map(|(i, (r, v))| (i, r, v))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let xmax = pts.iter().map(|p| p.2).fold(0.0, f64::max);
    let x = style::padded(0.0, xmax, true);
    let ylo = pts
        .iter()
        .map(|p| p.1.ci_low.min(p.1.rating))
        .fold(f64::INFINITY, f64::min);
    let yhi = pts
        .iter()
        .map(|p| p.1.ci_high.max(p.1.rating))
        .fold(f64::NEG_INFINITY, f64::max);
    let y = style::padded(ylo, yhi, false);
    let legend: Vec<style::LegendEntry> = pts
        .iter()
        .map(|(i, r, _)| {
            let front = if r.pareto { " (Pareto front)" } else { "" };
            (format!("{}{front}", r.model), color(*i))
        })
        .collect();
    let mut front: Vec<(f64, f64)> = pts
        .iter()
        .filter(|p| p.1.pareto)
        .map(|p| (p.2, p.1.rating))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(style::svg(&legend, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x.clone(), y.clone())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("decode tok/s (median, single stream)")
            .y_desc(quality)
            .x_label_formatter(&|v| style::num(*v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, style::LABEL))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                RGBColor(90, 90, 90).stroke_width(2),
            ))
            .map_err(err)?;
        for (i, r, v) in &pts {
            let c = color(*i);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*v, r.ci_low), (*v, r.ci_high)],
                    c.stroke_width(2),
                )))
                .map_err(err)?;
            let dot = if r.pareto {
                Circle::new((*v, r.rating), 7, c.filled())
            } else {
                Circle::new((*v, r.rating), 7, c.stroke_width(3))
            };
            chart.draw_series(std::iter::once(dot)).map_err(err)?;
        }
        Ok(())
    }))
}
