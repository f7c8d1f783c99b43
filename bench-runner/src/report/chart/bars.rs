//! Median of a per-request metric per case, one bar per series, with the 95% CI of
//! the median as whiskers: the "who is faster" figure.

use plotters::prelude::*;

use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::measure::ratio::median_ci;
use crate::report::load::Dataset;
use crate::report::metric::Metric;

pub struct MedianBars {
    pub metric: &'static Metric,
}

struct Bar {
    case: usize,
    series: usize,
    median: f64,
    low: f64,
    high: f64,
    n: usize,
}

impl Chart for MedianBars {
    fn name(&self) -> &'static str {
        "bars"
    }

    // Long (~135 lines): one plotters drawing from frame to legend; its steps share the chart
    // context and the bar geometry, which split-out helpers would all have to be handed.
    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let cases = ds.cases();
        let mut bars = Vec::new();
        for (ci, case) in cases.iter().enumerate() {
            for si in 0..ds.series.len() {
                if let Some(m) = ds
                    .cell(si, case)
                    .and_then(|c| median_ci(&c.values(self.metric.slot)))
                {
                    bars.push(Bar {
                        case: ci,
                        series: si,
                        median: m.median,
                        low: m.low,
                        high: m.high,
                        n: m.n,
                    });
                }
            }
        }
        if bars.is_empty() {
            return Vec::new();
        }
        let series: Vec<usize> = {
            let mut s: Vec<usize> = bars.iter().map(|b| b.series).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let n_cases = cases.len();
        // The category axis runs in integer thousandths of a case (plotters formats integer axes
        // with explicit key points; case i spans [1000·i, 1000·i + 1000)).
        let width = 800 / series.len() as i32;
        let ymax = bars
            .iter()
            .map(|b| b.high.max(b.median))
            .fold(0.0, f64::max);
        let ymax = if ymax > 0.0 {
            ymax * (1.15 + 0.09 * series.len() as f64)
        } else {
            1.0
        };
        let title = format!("{} per case (median, 95% CI)", self.metric.title);
        let labels: Vec<String> = cases.iter().map(|c| c.case_id.clone()).collect();
        let legend: Vec<style::LegendEntry> = series
            .iter()
            .map(|&si| (ds.series[si].label.clone(), color(si)))
            .collect();
        let svg = style::svg(&legend, |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(if n_cases > 5 { 90 } else { 36 })
                .y_label_area_size(64)
                .build_cartesian_2d(
                    (0..1000 * n_cases as i32)
                        .with_key_points((0..n_cases as i32).map(|i| 1000 * i + 500).collect()),
                    0.0..ymax,
                )
                .map_err(err)?;
            let rotate = n_cases > 5;
            let x_style = TextStyle::from((FONT, style::LABEL).into_font());
            let x_style = if rotate {
                x_style.transform(FontTransform::Rotate90)
            } else {
                x_style
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_style(x_style)
                .x_label_formatter(&|x| {
                    usize::try_from(*x / 1000)
                        .ok()
                        .and_then(|i| labels.get(i))
                        .cloned()
                        .unwrap_or_default()
                })
                .y_desc(self.metric.unit)
                .y_label_formatter(&|y| style::num(*y))
                .label_style((FONT, style::LABEL))
                .draw()
                .map_err(err)?;
            for (k, &si) in series.iter().enumerate() {
                let c = color(si);
                let mine: Vec<&Bar> = bars.iter().filter(|b| b.series == si).collect();
                let x0 = |b: &Bar| 1000 * b.case as i32 + 100 + k as i32 * width;
                chart
                    .draw_series(mine.iter().map(|b| {
                        Rectangle::new(
                            [(x0(b), 0.0), (x0(b) + width * 9 / 10, b.median)],
                            c.filled(),
                        )
                    }))
                    .map_err(err)?
                    .label(ds.series[si].label.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled())
                    });
                for b in &mine {
                    let xm = x0(b) + width * 45 / 100;
                    let cap = width / 5;
                    let whisker = vec![
                        vec![(xm, b.low), (xm, b.high)],
                        vec![(xm - cap, b.low), (xm + cap, b.low)],
                        vec![(xm - cap, b.high), (xm + cap, b.high)],
                    ];
                    chart
                        .draw_series(
                            whisker
                                .into_iter()
                                .map(|p| PathElement::new(p, BLACK.stroke_width(2))),
                        )
                        .map_err(err)?;
                }
            }
            Ok(())
        });
        let ns: Vec<usize> = bars.iter().map(|b| b.n).collect();
        let caption = format!(
            "What: median {} of the successful requests of each case; whiskers: 95% CI of the median. On: {}. {}.",
            self.metric.title,
            style::on_what(ds, &series),
            style::n_phrase(&ns, "requests")
        );
        vec![Figure {
            id: self.metric.name.replace('_', "-"),
            title,
            caption,
            svg,
        }]
    }
}
