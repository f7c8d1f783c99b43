//! Request-rate figures (see [`crate::report::rate`]): the throughput–latency curve (achieved
//! req/s against TTFT p50 and p99, the SLO's TTFT bound as a horizontal line, a sweep's knee
//! as a vertical band) and goodput against the offered rate (with y = x for reference).

use plotters::prelude::*;

use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::report::load::Dataset;
use crate::report::rate::{Curve, curves};

pub struct LoadLatency;
pub struct GoodputVsOffered;

fn label(ds: &Dataset, c: &Curve) -> String {
    format!(
        "{} p{}/g{}",
        ds.series[c.series].label, c.prompt_tokens, c.max_tokens
    )
}

fn finite(v: impl Iterator<Item = f64>) -> f64 {
    v.filter(|v| v.is_finite()).fold(0.0, f64::max)
}

impl Chart for LoadLatency {
    fn name(&self) -> &'static str {
        "load-latency"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let cs = curves(ds);
        if cs.is_empty() {
            return vec![];
        }
        let slo = cs.iter().find_map(|c| c.slo.get("ttft_ms").copied());
        let knees: Vec<(usize, (f64, f64))> = cs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.knee?)))
            .collect();
        let xmax = finite(
            cs.iter()
                .flat_map(|c| c.points.iter().map(|p| p.achieved))
                .chain(knees.iter().flat_map(|(_, k)| [k.0, k.1])),
        );
        let ymax = finite(
            cs.iter()
                .flat_map(|c| c.points.iter().map(|p| p.ttft_p99))
                .chain(slo),
        );
        let title = "Throughput–latency: TTFT against achieved req/s".to_string();
        // The legend below the plot, in drawing order: knees, the SLO bound, then each curve.
        let mut legend: Vec<style::LegendEntry> = knees
            .iter()
            .map(|(i, _)| {
                (
                    format!("max sustainable rate {}", label(ds, &cs[*i])),
                    color(*i),
                )
            })
            .collect();
        if let Some(b) = slo {
            legend.push((format!("SLO TTFT ≤ {} ms", style::num(b)), RED));
        }
        for (i, c) in cs.iter().enumerate() {
            let col = color(i);
            legend.push((format!("{} TTFT p50 (line, dots)", label(ds, c)), col));
            legend.push((
                format!("{} TTFT p99 (thin line, triangles)", label(ds, c)),
                col,
            ));
        }
        let svg = style::svg(&legend, |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(
                    style::padded(0.0, xmax, true),
                    style::padded(0.0, ymax * 1.15, true),
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("achieved requests/s")
                .y_desc("TTFT (ms)")
                .x_label_formatter(&|x| style::num(*x))
                .y_label_formatter(&|y| style::num(*y))
                .label_style((FONT, style::LABEL))
                .draw()
                .map_err(err)?;
            let top = ymax * 1.15;
            for (i, (lo, hi)) in &knees {
                let c = color(*i);
                // The band [last pass, first fail]: an open end (no failing rate) is a line.
                let hi = if hi.is_finite() { *hi } else { *lo };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(*lo, 0.0), (hi, top)],
                        c.mix(0.15).filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(LineSeries::new([(*lo, 0.0), (*lo, top)], c.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("max sustainable rate {}", label(ds, &cs[*i])))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 16, y + 5)], c.mix(0.3).filled())
                    });
            }
            if let Some(b) = slo {
                chart
                    .draw_series(LineSeries::new(
                        [(0.0, b), (xmax.max(1e-9) * 1.1, b)],
                        RED.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(format!("SLO TTFT ≤ {} ms", style::num(b)))
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2))
                    });
            }
            for (i, c) in cs.iter().enumerate() {
                let col = color(i);
                let pts = |f: fn(&crate::report::rate::RatePoint) -> f64| {
                    c.points
                        .iter()
                        .filter(|p| p.achieved.is_finite() && f(p).is_finite())
                        .map(|p| (p.achieved, f(p)))
                        .collect::<Vec<_>>()
                };
                let p50 = pts(|p| p.ttft_p50);
                let p99 = pts(|p| p.ttft_p99);
                chart
                    .draw_series(LineSeries::new(p50.clone(), col.stroke_width(3)))
                    .map_err(err)?
                    .label(format!("{} TTFT p50", label(ds, c)))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(3))
                    });
                chart
                    .draw_series(p50.iter().map(|p| Circle::new(*p, 3, col.filled())))
                    .map_err(err)?;
                chart
                    .draw_series(LineSeries::new(p99.clone(), col.mix(0.6).stroke_width(1)))
                    .map_err(err)?
                    .label(format!("{} TTFT p99", label(ds, c)))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], col.mix(0.6).stroke_width(1))
                    });
                chart
                    .draw_series(p99.iter().map(|p| TriangleMarker::new(*p, 4, col.filled())))
                    .map_err(err)?;
            }
            Ok(())
        });
        let caption = latency_caption(ds, &cs, slo, !knees.is_empty());
        vec![Figure {
            id: "load-latency".into(),
            title,
            caption,
            svg,
        }]
    }
}

fn latency_caption(ds: &Dataset, cs: &[Curve], slo: Option<f64>, knee: bool) -> String {
    let series: Vec<usize> = cs.iter().map(|c| c.series).collect();
    let ns: Vec<usize> = cs.iter().map(|c| c.points.len()).collect();
    format!(
        "What: TTFT p50 (line, dots) and p99 (thin line, triangles) of each request-rate case against the requests/s it achieved{}{}. On: {}. {}.",
        slo.map_or(String::new(), |b| format!(
            "; red line: the SLO's TTFT bound ({} ms)",
            style::num(b)
        )),
        if knee {
            "; shaded band: a sweep's maximum sustainable rate [last passing, first failing offered rate]"
        } else {
            ""
        },
        style::on_what(ds, &series),
        style::n_phrase(&ns, "rates").replace("per point", "per line")
    )
}

impl Chart for GoodputVsOffered {
    fn name(&self) -> &'static str {
        "goodput-vs-offered"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let cs: Vec<Curve> = curves(ds)
            .into_iter()
            .filter(|c| c.points.iter().any(|p| p.goodput.is_finite()))
            .collect();
        if cs.is_empty() {
            return vec![];
        }
        let max = finite(
            cs.iter()
                .flat_map(|c| c.points.iter().flat_map(|p| [p.offered, p.goodput])),
        );
        let title = "Goodput against offered rate".to_string();
        let mut legend: Vec<style::LegendEntry> = vec![(
            "y = x (every offered request good)".to_string(),
            RGBColor(150, 150, 150),
        )];
        legend.extend(cs.iter().enumerate().map(|(i, c)| (label(ds, c), color(i))));
        let svg = style::svg(&legend, |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(
                    style::padded(0.0, max, true),
                    style::padded(0.0, max * 1.1, true),
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("offered requests/s")
                .y_desc("goodput (good requests/s)")
                .x_label_formatter(&|x| style::num(*x))
                .y_label_formatter(&|y| style::num(*y))
                .label_style((FONT, style::LABEL))
                .draw()
                .map_err(err)?;
            let grey = BLACK.mix(0.35);
            chart
                .draw_series(LineSeries::new(
                    [(0.0, 0.0), (max, max)],
                    grey.stroke_width(1),
                ))
                .map_err(err)?
                .label("y = x (every offered request good)")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], grey.stroke_width(1))
                });
            for (i, c) in cs.iter().enumerate() {
                let col = color(i);
                let pts: Vec<(f64, f64)> = c
                    .points
                    .iter()
                    .filter(|p| p.offered.is_finite() && p.goodput.is_finite())
                    .map(|p| (p.offered, p.goodput))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), col.stroke_width(3)))
                    .map_err(err)?
                    .label(label(ds, c))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(3))
                    });
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 3, col.filled())))
                    .map_err(err)?;
            }
            Ok(())
        });
        let series: Vec<usize> = cs.iter().map(|c| c.series).collect();
        let ns: Vec<usize> = cs.iter().map(|c| c.points.len()).collect();
        let caption = format!(
            "What: goodput (requests that met every SLO bound, per second of the measured window) of each request-rate case against the rate it offered; the grey y = x line is where every offered request would be good. On: {}. {}.",
            style::on_what(ds, &series),
            style::n_phrase(&ns, "rates").replace("per point", "per line")
        );
        vec![Figure {
            id: "goodput-vs-offered".into(),
            title,
            caption,
            svg,
        }]
    }
}
