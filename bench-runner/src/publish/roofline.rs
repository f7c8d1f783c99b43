//! The roofline figure of a device: per model and case, measured decode tok/s as a share of
//! the memory-bandwidth bound (bandwidth ÷ model bytes), one horizontal bar each, with the
//! bound at 100% drawn as a dashed line; the legend below names each bar's series and case.

use plotters::prelude::*;

use crate::report::chart::style::{self, FONT, color, err};
use crate::report::roofline::RooflineRow;

/// The SVG, or `None` without rows.
pub fn chart(rows: &[&RooflineRow]) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let n = rows.len() as f64;
    let xmax = rows
        .iter()
        .map(|r| r.percent_of_bound)
        .fold(100.0, f64::max)
        * 1.08;
    let legend: Vec<style::LegendEntry> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!(
                    "{} — {}: {:.1} of {:.1} tok/s ({:.0}%)",
                    r.series, r.case, r.decode_tok_s, r.bound_tok_s, r.percent_of_bound
                ),
                color(i),
            )
        })
        .collect();
    Some(style::svg(&legend, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(24)
            .build_cartesian_2d(0.0..xmax, 0.0..n)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("decode as % of the bandwidth bound")
            .x_label_formatter(&|v| format!("{v:.0}%"))
            .label_style((FONT, style::LABEL))
            .draw()
            .map_err(err)?;
        for (i, r) in rows.iter().enumerate() {
            let y = n - 1.0 - i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.2), (r.percent_of_bound, y + 0.8)],
                    color(i).filled(),
                )))
                .map_err(err)?;
        }
        let grey = RGBColor(90, 90, 90).stroke_width(2);
        // Dashed: 20 dashes over the plot's height.
        let step = n / 40.0;
        for k in (0..40).step_by(2) {
            let a = k as f64 * step;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(100.0, a), (100.0, a + step)],
                    grey,
                )))
                .map_err(err)?;
        }
        Ok(())
    }))
}
