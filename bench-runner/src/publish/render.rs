//! What every page shares: the minijinja environment (HTML auto-escaping on: every name is
//! text), the stylesheet, the way figures enter a page (checked SVG only), and how numbers,
//! intervals and missing evidence are written.

use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::export::escape::safe_svg;
use crate::report::format::fmt_num;

pub const CSS_FILE: &str = "style.css";
pub const CSS: &str = include_str!("templates/site.css");

const TEMPLATES: [(&str, &str); 5] = [
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("index.html", include_str!("templates/index.html")),
    ("model.html", include_str!("templates/model.html")),
    ("device.html", include_str!("templates/device.html")),
];

fn template_error(name: &str, source: minijinja::Error) -> Error {
    Error::Template {
        name: name.into(),
        source,
    }
}

/// Every template compiled; names end in `.html`, so auto-escaping is on for all.
pub fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .map_err(|e| template_error(name, e))?;
    }
    Ok(env)
}

/// Renders `name` with the page's own values and the site-wide ones.
pub fn page(env: &Environment<'_>, name: &str, ctx: Value) -> Result<String> {
    let t = env
        .get_template(name)
        .map_err(|e| template_error(name, e))?;
    t.render(ctx).map_err(|e| template_error(name, e))
}

/// The values every page's layout needs.
pub fn layout(
    site_title: &str,
    page_title: &str,
    root: &str,
    generated: &str,
    data_hash: &str,
) -> Value {
    context! {
        site_title => site_title,
        page_title => page_title,
        root => root,
        css => format!("{root}{CSS_FILE}"),
        generated => generated,
        data_hash => data_hash,
        data_hash_short => data_hash.get(..16).unwrap_or(data_hash),
    }
}

/// Any serialisable value as a template value.
pub fn value<T: Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// A figure for the page: only an SVG that passes the report's token check (drawing
/// elements, no handlers, links or styles) is placed, unescaped; otherwise nothing.
pub fn figure(svg: &str) -> Option<Value> {
    safe_svg(svg).map(|s| Value::from_safe_string(s.to_string()))
}

/// A figure or `None` (not measured: the template says so).
pub fn num(v: Option<f64>) -> Option<String> {
    v.filter(|x| !x.is_nan()).map(fmt_num)
}

/// `71.3 [70.9, 71.8]`, or the figure alone when the interval is unknown.
pub fn with_ci(v: Option<f64>, lo: Option<f64>, hi: Option<f64>) -> Option<String> {
    let v = num(v)?;
    Some(match (num(lo), num(hi)) {
        (Some(l), Some(h)) => format!("{v} [{l}, {h}]"),
        _ => v,
    })
}

/// A rating as the leaderboard shows it.
pub fn rating(v: f64) -> String {
    format!("{v:.1}")
}

/// A rating interval as the leaderboard shows it.
pub fn rating_ci(lo: f64, hi: f64) -> String {
    format!("[{lo:.1}, {hi:.1}]")
}

/// The download links of one table (`data/<stem>.csv` and `.json`), relative to `root`.
pub fn downloads(root: &str, stem: &str) -> Value {
    context! {
        csv => format!("{root}data/{stem}.csv"),
        json => format!("{root}data/{stem}.json"),
    }
}
