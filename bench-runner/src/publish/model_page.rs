//! `models/<slug>.html`: everything known of one model — its rating, its speed on each
//! device and backend, tool-call accuracy by category, context length with the recall
//! heatmap, multimodal cost and drift. A section without evidence says so; it never shows 0.

use minijinja::{Environment, Value, context};

use super::downloads;
use super::interval;
use super::render::{self, rating, rating_ci, with_ci};
use super::site::{ModelEntry, Site};
use super::slug;
use crate::report::chart::context::RecallHeatmap;
use crate::report::chart::{Chart, how_to_read};
use crate::report::format::fmt_num;
use crate::report::load::Dataset;
use crate::report::tools::fmt_share;

const ROOT: &str = "../";

fn device_href(site: &Site, device: &str) -> Option<String> {
    site.device_named(device)
        .map(|d| format!("{ROOT}{}", slug::device_page(&d.slug)))
}

/// The runs' data restricted to some series (for the report's own charts).
pub fn subset(ds: &Dataset, series: &[usize]) -> Dataset {
    let mut out = Dataset {
        runs: ds.runs.clone(),
        ..Default::default()
    };
    for &s in series {
        let at = out.series.len();
        out.series.push(ds.series[s].clone());
        out.cells
            .extend(ds.cells.iter().filter(|c| c.series == s).map(|c| {
                let mut c = c.clone();
                c.series = at;
                c
            }));
    }
    out
}

// Stays whole: one context literal per section of the page, each a map over its rows; the
// sections share the page's site, model and device links.
pub fn render(env: &Environment<'_>, site: &Site, m: &ModelEntry) -> Result<String, crate::Error> {
    let ev = &site.evidence;
    let mine = |s: usize| m.series.contains(&s);
    let lb = &site.leaderboard;
    let scale = interval::scale(lb.rows.iter().map(|r| (r.ci_low, r.ci_high)));
    let rating_block = m.row.as_ref().map(|r| {
        context! {
            rating => rating(r.rating),
            ci => rating_ci(r.ci_low, r.ci_high),
            bar => Value::from_safe_string(interval::bar(r.ci_low, r.ci_high, r.rating, scale)),
            rank => r.rank_spread(),
            of => lb.rows.len(),
            votes => r.votes,
            wins => r.wins,
            ties => r.ties,
            losses => r.losses,
            win_rate => format!("{:.1}%", 100.0 * r.win_rate),
            provisional => r.provisional,
            style_rating => r.style_rating.map(rating),
        }
    });
    let categories: Vec<Value> = site
        .categories
        .iter()
        .map(|c| {
            let r = c.leaderboard.rows.iter().find(|r| r.model == m.name);
            context! {
                name => c.name.clone(),
                href => format!("{ROOT}{}", slug::category_page(&c.slug)),
                rating => r.map(|r| rating(r.rating)),
                ci => r.map(|r| rating_ci(r.ci_low, r.ci_high)),
                votes => r.map(|r| r.votes.to_string()),
                rank => r.map(|r| r.rank_spread()),
            }
        })
        .collect();
    let speed: Vec<Value> = ev
        .speed
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device => r.device.clone(),
                device_href => device_href(site, &r.device),
                backend => r.backend.clone(),
                run_id => r.run_id.clone(),
                case => format!("{} / {}", r.scenario, r.case_id),
                decode => with_ci(r.decode_tok_s, r.decode_ci_low, r.decode_ci_high),
                prefill => with_ci(r.prefill_tok_s, r.prefill_ci_low, r.prefill_ci_high),
                ttft => with_ci(r.ttft_ms, r.ttft_ci_low, r.ttft_ci_high),
                n => r.n,
            }
        })
        .collect();
    let tools: Vec<Value> = ev
        .tools
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device => r.device.clone(),
                device_href => device_href(site, &r.device),
                backend => r.backend.clone(),
                case => format!("{} / {}", r.scenario, r.case_id),
                category => r.category.clone(),
                correct => r.correct,
                n => r.n,
                share => fmt_share(r.share, r.ci_low, r.ci_high),
            }
        })
        .collect();
    let effective: Vec<Value> = ev
        .effective
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device => r.device.clone(),
                device_href => device_href(site, &r.device),
                backend => r.backend.clone(),
                scenario => r.scenario.clone(),
                effective => r.effective_context_length.map(|v| v.to_string()),
                threshold => r.threshold.map(|v| v.to_string()),
            }
        })
        .collect();
    let recall: Vec<Value> = ev
        .recall
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device => r.device.clone(),
                device_href => device_href(site, &r.device),
                backend => r.backend.clone(),
                scenario => r.scenario.clone(),
                context_tokens => r.context_tokens,
                recall => fmt_share(r.recall, r.ci_low, r.ci_high),
                n => r.n,
            }
        })
        .collect();
    let heatmaps: Vec<Value> = RecallHeatmap
        .figures(&subset(&site.data, &m.series))
        .into_iter()
        .filter_map(|f| {
            Some(context! {
                svg => render::figure(&f.svg)?,
                how => how_to_read(&f.id),
                title => f.title,
                caption => f.caption,
            })
        })
        .collect();
    let media: Vec<Value> = ev
        .media
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device_href => device_href(site, &r.device),
                ..render::value(r)
            }
        })
        .collect();
    let drift: Vec<Value> = ev
        .drift
        .iter()
        .filter(|r| mine(r.series))
        .map(|r| {
            context! {
                device => r.device.clone(),
                device_href => device_href(site, &r.device),
                backend => r.backend.clone(),
                case => format!("{} / {}", r.scenario, r.case_id),
                metric => r.metric.clone(),
                value => with_ci(Some(r.mean), Some(r.ci_low), Some(r.ci_high)).unwrap_or_else(|| fmt_num(r.mean)),
                n => r.n,
            }
        })
        .collect();
    let ctx = context! {
        name => m.name.clone(),
        rating => rating_block,
        categories => categories,
        speed => speed,
        tools => tools,
        effective => effective,
        recall => recall,
        heatmaps => heatmaps,
        media => media,
        drift => drift,
        board_data => render::downloads(ROOT, &downloads::board_stem(None)),
        speed_data => render::downloads(ROOT, downloads::SPEED),
        tools_data => render::downloads(ROOT, downloads::TOOLS),
        effective_data => render::downloads(ROOT, downloads::EFFECTIVE),
        recall_data => render::downloads(ROOT, downloads::RECALL),
        media_data => render::downloads(ROOT, downloads::MEDIA),
        drift_data => render::downloads(ROOT, downloads::DRIFT),
        ..render::layout(&site.title, &m.name, ROOT, &site.leaderboard.disclosure.generated_at, &site.data_hash)
    };
    render::page(env, "model.html", ctx)
}
