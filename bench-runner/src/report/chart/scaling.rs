//! How speed scales: tok/s against prompt length, aggregate tok/s against concurrency, and
//! the throughput–latency curve (aggregate output tok/s against per-request TPOT, one point
//! per concurrency level). Drawn only where the runs vary that axis (two levels or more).

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::measure::ratio::median_ci;
use crate::report::load::{Cell, Dataset};
use crate::report::metric::get;

pub struct VsPromptLength;
pub struct VsConcurrency;
pub struct ThroughputLatency;

/// One point: x, y, an optional CI on y, an optional text label, and its n.
pub(super) struct Pt {
    pub x: f64,
    pub y: f64,
    pub ci: Option<(f64, f64)>,
    pub tag: Option<String>,
    pub n: usize,
}

/// One line of a line chart (shared with the multimodal chart).
pub(super) struct Line {
    pub label: String,
    pub series: usize,
    pub pts: Vec<Pt>,
}

/// A group's identity: series, scenario, and the two shape fields that stay fixed.
type GroupKey = (usize, String, (u32, u32));

/// Cells grouped by series and every shape field but the varied one, keeping groups where
/// the varied field takes two values or more.
fn groups(
    ds: &Dataset,
    vary: fn(&Cell) -> u32,
    rest: fn(&Cell) -> (u32, u32),
) -> Vec<(GroupKey, Vec<&Cell>)> {
    let mut g: BTreeMap<GroupKey, Vec<&Cell>> = BTreeMap::new();
    for c in &ds.cells {
        g.entry((c.series, c.case.scenario.clone(), rest(c)))
            .or_default()
            .push(c);
    }
    g.into_iter()
        .filter_map(|(k, mut cells)| {
            cells.sort_by_key(|c| vary(c));
            let mut levels: Vec<u32> = cells.iter().map(|c| vary(c)).collect();
            levels.dedup();
            (levels.len() >= 2).then_some((k, cells))
        })
        .collect()
}

impl Chart for VsPromptLength {
    fn name(&self) -> &'static str {
        "vs-prompt-length"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let gs = groups(
            ds,
            |c| c.shape.prompt_tokens,
            |c| (c.shape.max_tokens, c.shape.concurrency),
        );
        let mut out = Vec::new();
        for name in ["decode_tok_s", "prefill_tok_s"] {
            let m = get(name);
            let lines: Vec<Line> = gs
                .iter()
                .map(|((si, _, (tg, conc)), cells)| Line {
                    label: format!("{} tg{tg} c{conc}", ds.series[*si].label),
                    series: *si,
                    pts: cells
                        .iter()
                        .filter_map(|c| {
                            median_ci(&c.values(m.slot)).map(|v| Pt {
                                x: c.shape.prompt_tokens as f64,
                                y: v.median,
                                ci: Some((v.low, v.high)),
                                tag: None,
                                n: v.n,
                            })
                        })
                        .collect(),
                })
                .filter(|l| l.pts.len() >= 2)
                .collect();
            let title = format!("{} vs prompt length", m.title);
            let what = format!(
                "median {} (whiskers: 95% CI of the median) against the prompt length in tokens",
                m.title
            );
            out.extend(draw(
                ds,
                lines,
                &format!("{}-vs-prompt", m.name.replace('_', "-")),
                &title,
                "prompt tokens",
                m.unit,
                &what,
            ));
        }
        out
    }
}

impl Chart for VsConcurrency {
    fn name(&self) -> &'static str {
        "vs-concurrency"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let lines: Vec<Line> = groups(
            ds,
            |c| c.shape.concurrency,
            |c| (c.shape.prompt_tokens, c.shape.max_tokens),
        )
        .into_iter()
        .map(|((si, _, (pp, tg)), cells)| Line {
            label: format!("{} pp{pp} tg{tg}", ds.series[si].label),
            series: si,
            pts: cells
                .iter()
                .filter_map(|c| {
                    c.summary_row("output_tok_s").map(|r| Pt {
                        x: c.shape.concurrency as f64,
                        y: r.p50,
                        ci: None,
                        tag: None,
                        n: c.requests.iter().filter(|r| r.ok).count(),
                    })
                })
                .collect(),
        })
        .filter(|l| l.pts.len() >= 2)
        .collect();
        let what = "aggregate output tok/s (all output tokens of the case ÷ the case's wall time) against the number of requests in flight";
        draw(
            ds,
            lines,
            "output-tok-s-vs-concurrency",
            "Aggregate output tok/s vs concurrency",
            "requests in flight",
            "tok/s",
            what,
        )
        .into_iter()
        .collect()
    }
}

impl Chart for ThroughputLatency {
    fn name(&self) -> &'static str {
        "throughput-latency"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let tpot = get("tpot_ms").slot;
        let lines: Vec<Line> = groups(
            ds,
            |c| c.shape.concurrency,
            |c| (c.shape.prompt_tokens, c.shape.max_tokens),
        )
        .into_iter()
        .map(|((si, _, (pp, tg)), cells)| Line {
            label: format!("{} pp{pp} tg{tg}", ds.series[si].label),
            series: si,
            pts: cells
                .iter()
                .filter_map(|c| {
                    let x = c.summary_row("output_tok_s")?.p50;
                    let v = median_ci(&c.values(tpot))?;
                    Some(Pt {
                        x,
                        y: v.median,
                        ci: Some((v.low, v.high)),
                        tag: Some(format!("c{}", c.shape.concurrency)),
                        n: v.n,
                    })
                })
                .collect(),
        })
        .filter(|l| l.pts.len() >= 2)
        .collect();
        let what = "the throughput–latency curve: aggregate output tok/s (x) against the median time per output token of a request (y, whiskers: 95% CI), one point per concurrency level (cN)";
        draw(
            ds,
            lines,
            "throughput-latency",
            "Throughput vs latency",
            "aggregate output tok/s",
            "TPOT ms",
            what,
        )
        .into_iter()
        .collect()
    }
}

pub(super) fn draw(
    ds: &Dataset,
    lines: Vec<Line>,
    id: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    what: &str,
) -> Option<Figure> {
    if lines.is_empty() {
        return None;
    }
    let all = || lines.iter().flat_map(|l| l.pts.iter());
    let xmax = all().map(|p| p.x).fold(0.0, f64::max);
    let ymax = all()
        .map(|p| p.ci.map_or(p.y, |c| c.1.max(p.y)))
        .fold(0.0, f64::max);
    let x_range = style::padded(0.0, xmax, true);
    // Prompt tokens, concurrency, image pixels: whole numbers get whole-number ticks.
    let x_int = all().all(|p| p.x.fract() == 0.0);
    let x_labels = if x_int {
        style::int_labels(&x_range)
    } else {
        10
    };
    let y_range = style::padded(0.0, ymax * (1.0 + 0.08 * lines.len() as f64), true);
    // Several lines of one series (other shapes) get the series colour at other shades.
    let colors: Vec<RGBColor> = (0..lines.len())
        .map(|k| {
            let c = color(lines[k].series);
            if lines[..k].iter().any(|o| o.series == lines[k].series) {
                RGBColor(c.0 / 2, c.1 / 2, c.2 / 2)
            } else {
                c
            }
        })
        .collect();
    let legend: Vec<style::LegendEntry> = lines
        .iter()
        .zip(&colors)
        .map(|(l, c)| (l.label.clone(), *c))
        .collect();
    let svg = style::svg(&legend, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(x_labels)
            .x_label_formatter(&|x| {
                if x_int {
                    style::int_num(*x)
                } else {
                    style::num(*x)
                }
            })
            .y_label_formatter(&|y| style::num(*y))
            .label_style((FONT, style::LABEL))
            .draw()
            .map_err(err)?;
        for (k, l) in lines.iter().enumerate() {
            let c = colors[k];
            chart
                .draw_series(LineSeries::new(
                    l.pts.iter().map(|p| (p.x, p.y)),
                    c.stroke_width(2),
                ))
                .map_err(err)?
                .label(l.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(3))
                });
            chart
                .draw_series(l.pts.iter().map(|p| Circle::new((p.x, p.y), 4, c.filled())))
                .map_err(err)?;
            for p in &l.pts {
                if let Some((lo, hi)) = p.ci {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(p.x, lo), (p.x, hi)],
                            c.stroke_width(1),
                        )))
                        .map_err(err)?;
                }
                if let Some(tag) = &p.tag {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            tag.clone(),
                            (p.x, p.y),
                            (FONT, style::LABEL).into_font(),
                        )))
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    });
    let mut series: Vec<usize> = lines.iter().map(|l| l.series).collect();
    series.sort_unstable();
    series.dedup();
    let ns: Vec<usize> = lines
        .iter()
        .flat_map(|l| l.pts.iter().map(|p| p.n))
        .collect();
    let caption = format!(
        "What: {what}. On: {}. {}.",
        style::on_what(ds, &series),
        style::n_phrase(&ns, "requests")
    );
    Some(Figure {
        id: id.into(),
        title: title.into(),
        caption,
        svg,
    })
}
