//! report.html: one self-contained page (inline CSS and SVG, no scripts, no external assets)
//! that reads on a phone. Rendered by minijinja with HTML autoescaping on, so every name and
//! every warning is escaped; only our own chart SVGs pass unescaped, after [`safe_svg`].

use minijinja::{Environment, Value, context};

use super::Exporter;
use super::escape::safe_svg;
use super::headline;
use crate::error::{Error, Result};
use crate::report::model::Report;

const TEMPLATE: &str = include_str!("report.html.j2");

pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &Report) -> Result<String> {
        let mut env = Environment::new();
        // The `.html` name turns autoescaping on.
        env.add_template("report.html", TEMPLATE)
            .map_err(|source| Error::Template {
                name: "report.html".into(),
                source,
            })?;
        let figures: Vec<Value> = r
            .figures
            .iter()
            .map(|f| {
                let svg = safe_svg(&f.svg).map_or_else(
                    || Value::from("(figure withheld: unexpected content)"),
                    Value::from_safe_string_ref,
                );
                context! {
                    id => &f.id,
                    title => &f.title,
                    caption => &f.caption,
                    reading => crate::report::chart::how_to_read(&f.id),
                    svg => svg,
                }
            })
            .collect();
        let tpl = env
            .get_template("report.html")
            .map_err(|source| Error::Template {
                name: "report.html".into(),
                source,
            })?;
        let notes: Vec<String> = r
            .pivots
            .iter()
            .map(|p| headline::note(&p.note, r.series.len()))
            .collect();
        tpl.render(context! {
            r => Value::from(minijinja::value::Serde(r)),
            figures => figures,
            headline => Value::from(minijinja::value::Serde(headline::build(r))),
            notes => notes,
        })
        .map_err(|source| Error::Template {
            name: "report.html".into(),
            source,
        })
    }
}

trait SafeRef {
    fn from_safe_string_ref(s: &str) -> Value;
}

impl SafeRef for Value {
    fn from_safe_string_ref(s: &str) -> Value {
        Value::from_safe_string(s.to_string())
    }
}
