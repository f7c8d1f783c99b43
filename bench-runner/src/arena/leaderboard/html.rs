//! `leaderboard.html`: one self-contained page (inline CSS, inline SVG charts, no script),
//! rendered with minijinja with auto-escaping on, so model names and judge ids are text.

use minijinja::{Environment, context};

use crate::arena::rate::Leaderboard;
use crate::error::{Error, Result};

const TEMPLATE: &str = include_str!("../templates/leaderboard.html");

/// The page's template failed to compile or render (a bug of this build, not of the data).
fn template_error(source: minijinja::Error) -> Error {
    Error::Template {
        name: "leaderboard.html".into(),
        source,
    }
}

pub fn render(lb: &Leaderboard, charts: &[(String, String)]) -> Result<String> {
    let mut env = Environment::new();
    // The name ends in .html: minijinja's default callback turns HTML auto-escaping on.
    env.add_template("leaderboard.html", TEMPLATE)
        .map_err(template_error)?;
    let charts: Vec<(String, minijinja::Value)> = charts
        .iter()
        .filter_map(|(d, svg)| {
            crate::report::export::escape::safe_svg(svg)
                .map(|s| (d.clone(), minijinja::Value::from_safe_string(s.to_string())))
        })
        .collect();
    let style = lb.rows.iter().any(|r| r.style_rating.is_some());
    let rows: Vec<minijinja::Value> = lb
        .rows
        .iter()
        .map(|r| {
            context! {
                rank_ub => r.rank_ub,
                spread => r.rank_spread(),
                model => r.model.clone(),
                rating => format!("{:.1}", r.rating),
                ci => format!("{:+.1} / {:+.1}", r.ci_low - r.rating, r.ci_high - r.rating),
                votes => r.votes,
                win_rate => format!("{:.1}%", 100.0 * r.win_rate),
                provisional => r.provisional,
                style_rating => r.style_rating.map(|v| format!("{v:.1}")),
                style_rank => match (r.style_rank_ub, r.style_rank_worst) {
                    (Some(a), Some(b)) if a == b => Some(a.to_string()),
                    (Some(a), Some(b)) => Some(format!("{a}–{b}")),
                    _ => None,
                },
            }
        })
        .collect();
    let speed: Vec<minijinja::Value> = lb
        .speed
        .iter()
        .map(|r| {
            context! {
                device => r.device.clone(),
                model => r.model.clone(),
                rating => format!("{:.1}", r.rating),
                ci => format!("{:.1}–{:.1}", r.ci_low, r.ci_high),
                decode => r.decode_tok_s.map_or("–".to_string(), |v| format!("{v:.1}")),
                ttft => r.ttft_ms.map_or("–".to_string(), |v| format!("{v:.1}")),
                cases => r.cases,
                pareto => r.pareto,
            }
        })
        .collect();
    let t = env
        .get_template("leaderboard.html")
        .map_err(template_error)?;
    t.render(context! {
        rows => rows,
        style => style,
        speed => speed,
        charts => charts,
        min_tok_s => lb.min_tok_s,
        best => minijinja::Value::from(minijinja::value::Serde(&lb.best_at_speed)),
        d => minijinja::Value::from(minijinja::value::Serde(&lb.disclosure)),
        judges_file => super::JUDGES_FILE,
        style_coef => lb.disclosure.style_control.as_ref().map(|c| c.iter().map(|(n, v)| format!("{n} {v:+.3}")).collect::<Vec<_>>()),
    })
    .map_err(template_error)
}
