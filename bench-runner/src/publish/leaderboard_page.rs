//! `index.html` (the overall leaderboard, the way into every other page, and the
//! disclosure) and `category-<slug>.html` (one battle category's board, the same layout).

use minijinja::{Environment, Value, context};

use super::categories::Category;
use super::downloads;
use super::interval;
use super::render::{self, rating, rating_ci};
use super::site::Site;
use super::slug;
use crate::arena::rate::Leaderboard;
use crate::error::Result;

pub fn index(env: &Environment<'_>, site: &Site) -> Result<String> {
    let lb = &site.leaderboard;
    let lead = format!(
        "{} models rated from {} battles; speed measured on {} device(s) in {} run(s).",
        lb.rows.len(),
        lb.disclosure.battles,
        site.devices.len(),
        site.data.runs.len()
    );
    board(env, site, lb, None, site.title.clone(), lead)
}

pub fn category(env: &Environment<'_>, site: &Site, c: &Category) -> Result<String> {
    let lead = format!(
        "Only the {} battles of category “{}”, rated on their own with the same options.",
        c.leaderboard.disclosure.battles, c.name
    );
    board(
        env,
        site,
        &c.leaderboard,
        Some(c),
        format!("{} — {}", site.title, c.name),
        lead,
    )
}

/// One board page; `category` is `None` for the overall one.
fn board(
    env: &Environment<'_>,
    site: &Site,
    lb: &Leaderboard,
    category: Option<&Category>,
    heading: String,
    lead: String,
) -> Result<String> {
    let root = "";
    let scale = interval::scale(lb.rows.iter().map(|r| (r.ci_low, r.ci_high)));
    let rows: Vec<Value> = lb
        .rows
        .iter()
        .map(|r| {
            context! {
                rank => r.rank_spread(),
                model => r.model.clone(),
                href => site.model_named(&r.model).map(|m| slug::model_page(&m.slug)),
                rating => rating(r.rating),
                ci => rating_ci(r.ci_low, r.ci_high),
                bar => Value::from_safe_string(interval::bar(r.ci_low, r.ci_high, r.rating, scale)),
                votes => r.votes,
                win_rate => format!("{:.1}%", 100.0 * r.win_rate),
                provisional => r.provisional,
                style_rating => r.style_rating.map(rating),
                style_rank => match (r.style_rank_ub, r.style_rank_worst) {
                    (Some(a), Some(b)) if a == b => Some(a.to_string()),
                    (Some(a), Some(b)) => Some(format!("{a}–{b}")),
                    _ => None,
                },
            }
        })
        .collect();
    let categories: Vec<Value> = site
        .categories
        .iter()
        .map(|c| {
            context! {
                name => c.name.clone(),
                href => slug::category_page(&c.slug),
                battles => c.leaderboard.disclosure.battles,
                models => c.leaderboard.rows.len(),
                current => category.is_some_and(|x| x.slug == c.slug),
            }
        })
        .collect();
    let (devices, unrated): (Vec<Value>, Vec<Value>) = if category.is_none() {
        (
            site.devices
                .iter()
                .map(|d| {
                    let mut models: Vec<&str> = d
                        .series
                        .iter()
                        .filter_map(|s| site.model_of(*s).map(|m| m.name.as_str()))
                        .collect();
                    models.sort_unstable();
                    models.dedup();
                    context! {
                        name => d.name.clone(),
                        href => slug::device_page(&d.slug),
                        models => models.len(),
                    }
                })
                .collect(),
            site.models
                .iter()
                .filter(|m| m.row.is_none())
                .map(|m| context! { name => m.name.clone(), href => slug::model_page(&m.slug) })
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let style = lb.rows.iter().any(|r| r.style_rating.is_some());
    let stem = downloads::board_stem(category.map(|c| c.slug.as_str()));
    let ctx = context! {
        heading => heading,
        lead => lead,
        category => category.map(|c| c.name.clone()),
        rows => rows,
        style => style,
        style_note => "not shown: rerun with --style, which needs battles with the token, header, list and bold counts (tokens_a … bold_b).",
        style_coef => lb.disclosure.style_control.as_ref().map(|c| c.iter().map(|(n, v)| format!("{n} {v:+.3}")).collect::<Vec<_>>()),
        categories => categories,
        devices => devices,
        unrated => unrated,
        d => render::value(&lb.disclosure),
        board_data => render::downloads(root, &stem),
        pairs_csv => format!("{root}data/{}", downloads::pairs_file(category.map(|c| c.slug.as_str()))),
        disclosure_json => format!("{root}data/{}", downloads::disclosure_file(category.map(|c| c.slug.as_str()))),
        ..render::layout(&site.title, category.map_or("Leaderboard", |c| c.name.as_str()), root, &site.leaderboard.disclosure.generated_at, &site.data_hash)
    };
    render::page(env, "index.html", ctx)
}
