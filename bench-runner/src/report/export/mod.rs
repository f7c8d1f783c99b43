//! Output formats, one per file behind one trait (hyperfine's exporter pattern): the report
//! as Markdown and as one self-contained HTML page; the comparison as Markdown and JUnit XML.

pub mod compare_markdown;
pub mod drift_md;
pub mod escape;
pub mod headline;
pub mod html;
pub mod junit;
pub mod load_md;
pub mod markdown;

use std::path::{Path, PathBuf};

use super::model::Report;
use crate::error::{Error, Result};

pub trait Exporter {
    /// The file written into the report folder.
    fn file_name(&self) -> &'static str;
    fn render(&self, report: &Report) -> Result<String>;
}

pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(markdown::Markdown), Box::new(html::Html)]
}

/// What stands in for a figure that fails [`escape::safe_svg`].
const WITHHELD_SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="25">figure withheld: unexpected content</text></svg>"#;

/// Writes report.md, report.html and `<figure>.svg` files into `out`; returns the paths.
pub fn write_report(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    let mut written = Vec::new();
    for f in &report.figures {
        let p = out.join(format!("{}.svg", f.id));
        // A figure opened on its own is a document too: the same check as inside report.html.
        let svg = escape::safe_svg(&f.svg).unwrap_or(WITHHELD_SVG);
        std::fs::write(&p, svg).map_err(|e| Error::write(&p, e))?;
        written.push(p);
    }
    for e in exporters() {
        let p = out.join(e.file_name());
        std::fs::write(&p, e.render(report)?).map_err(|e| Error::write(&p, e))?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_in_figure_passes_the_check() {
        assert!(escape::safe_svg(WITHHELD_SVG).is_some());
    }
}
