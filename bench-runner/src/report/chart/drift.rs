//! Drift figures, from drift.csv: the distribution of the per-position KL divergence per
//! candidate and case (line min → p99, box p50 → p90, black tick at the median, dot at the
//! maximum, as the latency distributions), and a histogram of where greedy continuations
//! first part.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::distribution::{Spread, draw_rows};
use super::style::{self, FONT, color, err};
use super::{Chart, Figure};
use crate::report::drift::rows;
use crate::report::load::Dataset;

pub struct KlDistribution;
pub struct FirstDivergence;

/// Colour index of each candidate, in order of appearance.
fn palette(labels: &[String]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for l in labels {
        if !out.iter().any(|(x, _)| x == l) {
            let i = out.len();
            out.push((l.clone(), i));
        }
    }
    out
}

impl Chart for KlDistribution {
    fn name(&self) -> &'static str {
        "drift-kl"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let (all, _) = rows(ds);
        // (candidate, reference, case) → KL values; top-k-only marked in the label.
        let mut g: BTreeMap<(String, String, String), (Vec<f64>, bool)> = BTreeMap::new();
        for (label, r) in &all {
            if let Some(kl) = r.kl {
                let e = g
                    .entry((label.clone(), r.reference.clone(), r.case_id.clone()))
                    .or_default();
                e.0.push(kl);
                e.1 |= r.kl_top_k_only == Some(true);
            }
        }
        if g.is_empty() {
            return Vec::new();
        }
        let colours = palette(&g.keys().map(|k| k.0.clone()).collect::<Vec<_>>());
        let colour_of = |c: &str| colours.iter().find(|(l, _)| l == c).map_or(0, |x| x.1);
        let any_top_k = g.values().any(|v| v.1);
        let spreads: Vec<Spread> = g
            .iter()
            .filter_map(|((cand, _, case), (v, top_k))| {
                let tag = if *top_k { " (top-k)" } else { "" };
                Spread::of(format!("{case}{tag}"), colour_of(cand), v)
            })
            .collect();
        let xmax = spreads.iter().map(|r| r.max).fold(0.0, f64::max);
        let x_range = style::padded(0.0, if xmax > 0.0 { xmax } else { 1e-3 }, true);
        let legend: Vec<style::LegendEntry> = colours
            .iter()
            .map(|(l, i)| {
                (
                    format!(
                        "{l} vs {}",
                        g.keys().find(|k| &k.0 == l).map_or("", |k| k.1.as_str())
                    ),
                    color(*i),
                )
            })
            .collect();
        let svg = style::svg(&legend, |root| {
            draw_rows(
                root,
                &spreads,
                x_range,
                "KL divergence per position (nats)",
                150,
            )
        });
        let ns: Vec<usize> = spreads.iter().map(|r| r.n).collect();
        let top_k_note = if any_top_k {
            " Rows marked (top-k) are the KL over the tokens both sides' top-k lists share, renormalised: not comparable with a full-vocabulary KL."
        } else {
            ""
        };
        vec![Figure {
            id: "drift-kl".into(),
            title: "KL divergence from the reference, per position".into(),
            caption: format!(
                "What: KL(reference ‖ candidate) of the next-token distributions at every scored position of the teacher-forced sequences. Line: min to p99; box: p50 to p90; black tick: median; dot: max. One row per candidate and case.{top_k_note} {}.",
                style::n_phrase(&ns, "positions").replace("per point", "per row")
            ),
            svg,
        }]
    }
}

impl Chart for FirstDivergence {
    fn name(&self) -> &'static str {
        "first-divergence"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let (all, _) = rows(ds);
        let free: Vec<_> = all.iter().filter(|(_, r)| r.case_id == "free").collect();
        if free.is_empty() {
            return Vec::new();
        }
        let labels: Vec<String> = free.iter().map(|(l, _)| l.clone()).collect();
        let colours = palette(&labels);
        let k = colours.len();
        // candidate → position → count; identical continuations counted apart.
        let mut hist: BTreeMap<usize, BTreeMap<u32, usize>> = BTreeMap::new();
        let mut identical = vec![0usize; k];
        let mut total = vec![0usize; k];
        for (l, r) in &free {
            let ci = colours.iter().find(|(x, _)| x == l).map_or(0, |x| x.1);
            total[ci] += 1;
            match r.first_divergence {
                Some(p) => *hist.entry(ci).or_default().entry(p).or_default() += 1,
                None => identical[ci] += 1,
            }
        }
        let xmax = hist
            .values()
            .flat_map(|h| h.keys())
            .copied()
            .max()
            .unwrap_or(0) as f64
            + 1.0;
        let ymax = hist
            .values()
            .flat_map(|h| h.values())
            .copied()
            .max()
            .unwrap_or(1) as f64;
        let legend: Vec<style::LegendEntry> = colours
            .iter()
            .map(|(l, i)| {
                (
                    format!("{l}: {} of {} identical", identical[*i], total[*i]),
                    color(*i),
                )
            })
            .collect();
        let svg = style::svg(&legend, |root| {
            let mut chart = ChartBuilder::on(root)
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..xmax, 0.0..ymax * 1.15)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("first token where the greedy continuations differ")
                .y_desc("prompts")
                .x_label_formatter(&|x| style::int_num(*x))
                .y_label_formatter(&|y| style::int_num(*y))
                .label_style((FONT, style::LABEL))
                .draw()
                .map_err(err)?;
            let w = 0.8 / k as f64;
            for (&ci, h) in &hist {
                let c = color(ci);
                chart
                    .draw_series(h.iter().map(|(&p, &n)| {
                        let x0 = p as f64 + 0.1 + w * ci as f64;
                        Rectangle::new([(x0, 0.0), (x0 + w, n as f64)], c.filled())
                    }))
                    .map_err(err)?;
            }
            Ok(())
        });
        vec![Figure {
            id: "first-divergence".into(),
            title: "Where greedy continuations part".into(),
            caption: format!(
                "What: for each free-running prompt, the first generated token where the candidate's greedy continuation differs from the reference's; identical continuations are counted in the legend. On: {} prompts.",
                total.iter().sum::<usize>()
            ),
            svg,
        }]
    }
}
