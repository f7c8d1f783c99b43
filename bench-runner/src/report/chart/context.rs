//! Context-length figures: TTFT against context length, and the needle-recall heatmap
//! (depth × length, red → green, as needle-in-a-haystack plots draw it) with the effective
//! context length in its caption. Drawn only for context scenarios.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::style::{self, FONT, err};
use super::{Chart, Figure};
use crate::measure::ratio::median_ci;
use crate::report::load::{Cell, Dataset};
use crate::report::metric::get;
use crate::score::recall::effective_length;

pub struct TtftVsLength;
pub struct RecallHeatmap;

/// The context length of a cell: prompt plus answer.
fn length(c: &Cell) -> u32 {
    c.shape.prompt_tokens + c.shape.max_tokens
}

/// Context cells by (series, scenario), sorted by length.
fn context_cells(ds: &Dataset) -> BTreeMap<(usize, String), Vec<&Cell>> {
    let mut g: BTreeMap<(usize, String), Vec<&Cell>> = BTreeMap::new();
    for c in ds
        .cells
        .iter()
        .filter(|c| c.shape.kind == "context" && !c.requests.is_empty())
    {
        g.entry((c.series, c.case.scenario.clone()))
            .or_default()
            .push(c);
    }
    for v in g.values_mut() {
        v.sort_by_key(|c| length(c));
    }
    g
}

impl Chart for TtftVsLength {
    fn name(&self) -> &'static str {
        "ttft-vs-context-length"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let groups = context_cells(ds);
        if groups.is_empty() {
            return Vec::new();
        }
        let m = get("ttft_ms");
        let mut lines = Vec::new();
        let mut ymax: f64 = 0.0;
        let mut xmax: f64 = 0.0;
        let mut ns = Vec::new();
        for ((si, scen), cells) in &groups {
            let pts: Vec<(f64, f64, f64, f64)> = cells
                .iter()
                .filter_map(|c| {
                    let v = median_ci(&c.values(m.slot))?;
                    ns.push(v.n);
                    Some((length(c) as f64, v.median, v.low, v.high))
                })
                .collect();
            for p in &pts {
                ymax = ymax.max(p.3);
                xmax = xmax.max(p.0);
            }
            lines.push((format!("{} {scen}", ds.series[*si].label), *si, pts));
        }
        let legend: Vec<style::LegendEntry> = lines
            .iter()
            .map(|(label, si, _)| (label.clone(), style::color(*si)))
            .collect();
        let x_range = style::padded(0.0, xmax, true);
        let svg = style::svg(&legend, |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(x_range.clone(), style::padded(0.0, ymax * 1.1, true))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("context length (tokens)")
                .y_desc("TTFT ms")
                .x_labels(style::int_labels(&x_range))
                .x_label_formatter(&|x| style::int_num(*x))
                .y_label_formatter(&|y| style::num(*y))
                .label_style((FONT, style::LABEL))
                .draw()
                .map_err(err)?;
            for (label, si, pts) in &lines {
                let c = style::color(*si);
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
                for p in pts {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(p.0, p.2), (p.0, p.3)],
                            c.stroke_width(1),
                        )))
                        .map_err(err)?;
                }
            }
            Ok(())
        });
        let series: Vec<usize> = {
            let mut v: Vec<usize> = groups.keys().map(|k| k.0).collect();
            v.dedup();
            v
        };
        let caption = format!(
            "What: median time to first token (whiskers: 95% CI of the median) against the context length (prompt + answer tokens); the prompt is a needle haystack filled to that length. On: {}. {}.",
            style::on_what(ds, &series),
            style::n_phrase(&ns, "requests")
        );
        vec![Figure {
            id: "ttft-vs-context-length".into(),
            title: "TTFT vs context length".into(),
            caption,
            svg,
        }]
    }
}

/// Red (0) → amber (0.5) → green (1).
fn recall_color(r: f64) -> RGBColor {
    let r = r.clamp(0.0, 1.0);
    let (a, b, t) = if r < 0.5 {
        ((215.0, 48.0, 39.0), (254.0, 224.0, 139.0), r * 2.0)
    } else {
        ((254.0, 224.0, 139.0), (26.0, 152.0, 80.0), (r - 0.5) * 2.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

impl Chart for RecallHeatmap {
    fn name(&self) -> &'static str {
        "recall-heatmap"
    }

    // Long (~150 lines): per scenario, the grid of recall and one plotters drawing of it; the
    // drawing steps share the chart context and the grid, which helpers would all be handed.
    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let recall = get("recall");
        let depth = get("depth_pct");
        let mut out = Vec::new();
        for ((si, scen), cells) in context_cells(ds) {
            // Mean recall per (depth bucket, length); depths round to the nearest 5%.
            let mut grid: BTreeMap<(u32, u32), (f64, usize)> = BTreeMap::new();
            let mut per_length: BTreeMap<u32, (f64, usize)> = BTreeMap::new();
            for c in &cells {
                for r in c.requests.iter().filter(|r| r.ok) {
                    let (rv, dv) = (r.values[recall.slot], r.values[depth.slot]);
                    if rv.is_nan() || dv.is_nan() {
                        continue;
                    }
                    let d = ((dv / 5.0).round() * 5.0) as u32;
                    let e = grid.entry((d, length(c))).or_insert((0.0, 0));
                    e.0 += rv;
                    e.1 += 1;
                    let l = per_length.entry(length(c)).or_insert((0.0, 0));
                    l.0 += rv;
                    l.1 += 1;
                }
            }
            if grid.is_empty() {
                continue;
            }
            let lengths: Vec<u32> = per_length.keys().copied().collect();
            let mut depths: Vec<u32> = grid.keys().map(|k| k.0).collect();
            depths.sort_unstable();
            depths.dedup();
            let means: Vec<(u32, f64)> = per_length
                .iter()
                .map(|(l, (s, n))| (*l, s / *n as f64))
                .collect();
            // The run's own threshold where it recorded one, else RULER's 0.85.
            let threshold = ds
                .cells
                .iter()
                .filter(|c| c.series == si && c.case.scenario == scen)
                .flat_map(|c| c.summary.iter())
                .find(|r| r.metric == "effective_context_length")
                .and_then(|r| {
                    r.flags
                        .strip_prefix("threshold=")
                        .and_then(|t| t.parse().ok())
                })
                .unwrap_or(0.85);
            let eff = effective_length(&means, threshold);
            let n: usize = grid.values().map(|v| v.1).sum();
            let (nx, ny) = (lengths.len(), depths.len());
            let svg = style::svg(&[], |root| {
                let mut chart = ChartBuilder::on(root)
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(56)
                    .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
                    .map_err(err)?;
                // Labels only at cell centres (integers); plotters may ask for others.
                let at = |v: f64, names: &dyn Fn(usize) -> String| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 {
                        names(i as usize)
                    } else {
                        String::new()
                    }
                };
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_desc("context length (tokens)")
                    .y_desc("needle depth %")
                    .x_labels(lengths.len() + 1)
                    .y_labels(depths.len() + 1)
                    .x_label_formatter(&|v| {
                        at(*v, &|i| {
                            lengths
                                .get(i)
                                .map_or(String::new(), |l| style::num(*l as f64))
                        })
                    })
                    .y_label_formatter(&|v| {
                        at(*v, &|i| {
                            depths.get(i).map_or(String::new(), |d| d.to_string())
                        })
                    })
                    .label_style((FONT, style::LABEL))
                    .draw()
                    .map_err(err)?;
                for (yi, d) in depths.iter().enumerate() {
                    for (xi, l) in lengths.iter().enumerate() {
                        let Some((s, k)) = grid.get(&(*d, *l)) else {
                            continue;
                        };
                        let v = s / *k as f64;
                        let (x, y) = (xi as f64, yi as f64);
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                                recall_color(v).filled(),
                            )))
                            .map_err(err)?;
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                                WHITE.stroke_width(2),
                            )))
                            .map_err(err)?;
                        let style = TextStyle::from((FONT, style::LABEL).into_font()).pos(
                            plotters::style::text_anchor::Pos::new(
                                plotters::style::text_anchor::HPos::Center,
                                plotters::style::text_anchor::VPos::Center,
                            ),
                        );
                        chart
                            .draw_series(std::iter::once(Text::new(
                                format!("{v:.2}"),
                                (x, y),
                                style,
                            )))
                            .map_err(err)?;
                    }
                }
                Ok(())
            });
            let eff_text = match eff {
                Some(l) => format!(
                    "Effective context length (longest length with mean recall ≥ {threshold}): {l} tokens"
                ),
                None => format!("No tested length reached a mean recall of {threshold}"),
            };
            let caption = format!(
                "What: mean needle recall (RULER string_match_all; red 0 → green 1) per needle depth (rows, rounded to 5%) and context length (columns), scenario {scen}. {eff_text}. On: {}. n = {n} requests in all.",
                style::on_what(ds, &[si])
            );
            out.push(Figure {
                id: format!(
                    "recall-heatmap-{si}-{}",
                    scen.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                ),
                title: format!("Needle recall, {}", ds.series[si].label),
                caption,
                svg,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_colors_run_red_to_green() {
        assert_eq!(recall_color(0.0), RGBColor(215, 48, 39));
        assert_eq!(recall_color(1.0), RGBColor(26, 152, 80));
        assert_eq!(recall_color(0.5), RGBColor(254, 224, 139));
    }
}
