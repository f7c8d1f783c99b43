//! Decode tok/s over time: each successful request as a faint dot at the time it was sent,
//! the median of each time slice as a line, and the throttle ratio in the caption (see
//! [`crate::report::sustained`]). One figure per sustained case (or case spanning a minute
//! or more), at most [`MAX_FIGURES`].

use plotters::prelude::*;

use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::report::load::Dataset;
use crate::report::metric::get;
use crate::report::sustained::{Timeline, sustained_timeline};

pub struct OverTime;

pub const MAX_FIGURES: usize = 6;
/// Dots drawn per series at most; above it every k-th request is drawn (the slice medians
/// always use all of them), so a million-request run still gives a small SVG.
pub const MAX_DOTS: usize = 1500;

impl Chart for OverTime {
    fn name(&self) -> &'static str {
        "over-time"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let slot = get("decode_tok_s").slot;
        let mut out = Vec::new();
        for case in ds.cases() {
            if out.len() == MAX_FIGURES {
                break;
            }
            let tls: Vec<(usize, Timeline)> = (0..ds.series.len())
                .filter_map(|si| Some((si, sustained_timeline(ds.cell(si, &case)?, slot)?)))
                .collect();
            if tls.is_empty() {
                continue;
            }
            let xmax = tls.iter().map(|(_, t)| t.span_s).fold(0.0, f64::max);
            let ymax = tls
                .iter()
                .flat_map(|(_, t)| t.points.iter().map(|p| p.1))
                .fold(0.0, f64::max);
            let title = format!(
                "Decode tok/s over time: {} / {}",
                case.scenario, case.case_id
            );
            let legend: Vec<style::LegendEntry> = tls
                .iter()
                .map(|(si, _)| (ds.series[*si].label.clone(), color(*si)))
                .collect();
            let svg = style::svg(&legend, |root| {
                let mut chart = ChartBuilder::on(root)
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(64)
                    .build_cartesian_2d(
                        style::padded(0.0, xmax, true),
                        style::padded(0.0, ymax * (1.0 + 0.1 * tls.len() as f64), true),
                    )
                    .map_err(err)?;
                chart
                    .configure_mesh()
                    .x_desc("seconds since the case's first request")
                    .y_desc("tok/s")
                    .x_label_formatter(&|x| style::num(*x))
                    .y_label_formatter(&|y| style::num(*y))
                    .label_style((FONT, style::LABEL))
                    .draw()
                    .map_err(err)?;
                for (si, t) in &tls {
                    let c = color(*si);
                    let step = t.points.len().div_ceil(MAX_DOTS).max(1);
                    chart
                        .draw_series(
                            t.points
                                .iter()
                                .step_by(step)
                                .map(|p| Circle::new(*p, 2, c.mix(0.45).filled())),
                        )
                        .map_err(err)?;
                    chart
                        .draw_series(LineSeries::new(
                            t.slices
                                .iter()
                                .map(|s| (s.start_s + t.slice_s / 2.0, s.median_tok_s)),
                            c.stroke_width(3),
                        ))
                        .map_err(err)?
                        .label(ds.series[*si].label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(3))
                        });
                }
                Ok(())
            });
            let throttle: Vec<String> = tls
                .iter()
                .map(|(si, t)| {
                    format!(
                        "{}: throttle ratio {} over {:.0} s in {:.1} s slices",
                        ds.series[*si].label,
                        t.throttle_ratio.map_or("n/a".into(), |r| format!("{r:.3}")),
                        t.span_s,
                        t.slice_s
                    )
                })
                .collect();
            let thinned = tls.iter().any(|(_, t)| t.points.len() > MAX_DOTS);
            let series: Vec<usize> = tls.iter().map(|(si, _)| *si).collect();
            let ns: Vec<usize> = tls.iter().map(|(_, t)| t.points.len()).collect();
            let caption = format!(
                "What: decode tok/s of each successful request (dots) at the time it was sent, and the median per time slice (line); throttle ratio = median of the last slice-width of time ÷ the first{}. {}. On: {}. {}.",
                if thinned {
                    format!(
                        "; dots thinned to at most {MAX_DOTS} per series, medians use every request"
                    )
                } else {
                    String::new()
                },
                throttle.join("; "),
                style::on_what(ds, &series),
                style::n_phrase(&ns, "requests").replace("per point", "per line")
            );
            out.push(Figure {
                id: format!("over-time-{}", out.len() + 1),
                title,
                caption,
                svg,
            });
        }
        out
    }
}
