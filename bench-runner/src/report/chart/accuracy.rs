//! Tool-call accuracy (structured compliance) against context depth: one line per series
//! and mode, the share of items correct at each depth of filler before the question, with
//! Wilson 95% whiskers. Drawn per scenario that ran at two or more depths.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{self, FONT, err};
use super::{Chart, Figure};
use crate::report::item_metric::share;
use crate::report::load::Dataset;

pub struct AccuracyVsDepth;

/// One line: its label, series (for the colour), and (depth, share, low, high, n) points.
type Line = (String, usize, Vec<(f64, f64, f64, f64, usize)>);

/// Lines of one scenario, keyed by (series, mode), points by depth.
fn lines(ds: &Dataset, scenario: &str) -> Vec<Line> {
    let mut by: BTreeMap<(usize, String), BTreeMap<u32, Vec<&crate::report::load::Item>>> =
        BTreeMap::new();
    for c in ds.cells.iter().filter(|c| c.case.scenario == scenario) {
        for i in &c.items {
            by.entry((c.series, i.mode.clone()))
                .or_default()
                .entry(i.depth)
                .or_default()
                .push(i);
        }
    }
    by.into_iter()
        .map(|((si, mode), depths)| {
            let pts = depths
                .into_iter()
                .filter_map(|(d, items)| {
                    let s = share(items)?;
                    Some((f64::from(d), s.p, s.low, s.high, s.n))
                })
                .collect();
            (format!("{} {mode}", ds.series[si].label), si, pts)
        })
        .collect()
}

impl Chart for AccuracyVsDepth {
    fn name(&self) -> &'static str {
        "accuracy-vs-depth"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let mut scenarios: Vec<(String, String)> = Vec::new();
        for c in ds.cells.iter().filter(|c| !c.items.is_empty()) {
            let k = (c.case.scenario.clone(), c.shape.kind.clone());
            if !scenarios.contains(&k) {
                scenarios.push(k);
            }
        }
        let mut out = Vec::new();
        for (scenario, kind) in scenarios {
            let lines = lines(ds, &scenario);
            let depths: std::collections::BTreeSet<u64> = lines
                .iter()
                .flat_map(|l| l.2.iter().map(|p| p.0 as u64))
                .collect();
            if depths.len() < 2 {
                continue;
            }
            out.push(figure(ds, &scenario, &kind, &lines));
        }
        out
    }
}

fn figure(ds: &Dataset, scenario: &str, kind: &str, lines: &[Line]) -> Figure {
    let what = if kind == "structured" {
        "compliance"
    } else {
        "accuracy"
    };
    let xmax = lines
        .iter()
        .flat_map(|l| l.2.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    let title = format!("{} vs context depth: {scenario}", capitalised(what));
    let legend: Vec<style::LegendEntry> = lines
        .iter()
        .enumerate()
        .map(|(i, (label, si, _))| (label.clone(), style::color(si + i)))
        .collect();
    let x_range = style::padded(0.0, xmax, true);
    let svg = style::svg(&legend, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x_range.clone(), -0.02..1.08)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("depth (filler tokens before the question)")
            .y_desc(format!("{what} (share of items)"))
            .x_labels(style::int_labels(&x_range))
            .x_label_formatter(&|x| style::int_num(*x))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style((FONT, style::LABEL))
            .draw()
            .map_err(err)?;
        for (i, (label, si, pts)) in lines.iter().enumerate() {
            // Modes of one series share its colour family; distinct lines, distinct colours.
            let c = style::color(si + i);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 4, c.filled())))
                .map_err(err)?;
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], c.stroke_width(1))),
                )
                .map_err(err)?;
        }
        Ok(())
    });
    let series: Vec<usize> = {
        let mut v: Vec<usize> = lines.iter().map(|l| l.1).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let ns: Vec<usize> = lines.iter().flat_map(|l| l.2.iter().map(|p| p.4)).collect();
    let caption = format!(
        "What: share of items {} (whiskers: 95% Wilson interval) against the depth of filler tokens placed before the question, scenario {scenario}; one line per series and mode. On: {}. {}.",
        if kind == "structured" {
            "whose output complied with the schema"
        } else {
            "answered with the right calls"
        },
        style::on_what(ds, &series),
        style::n_phrase(&ns, "items")
    );
    Figure {
        id: format!(
            "{what}-vs-depth-{}",
            scenario.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ),
        title,
        caption,
        svg,
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
