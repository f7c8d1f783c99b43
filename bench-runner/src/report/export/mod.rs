//! Output formats, one per file behind one trait (hyperfine's exporter pattern): the report
//! as Markdown and as one self-contained HTML page; the comparison as Markdown and JUnit XML.

pub mod compare_markdown;
pub mod escape;
pub mod html;
pub mod junit;
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

/// Writes report.md, report.html and `<figure>.svg` files into `out`; returns the paths.
pub fn write_report(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::results(out, e))?;
    let mut written = Vec::new();
    for f in &report.figures {
        let p = out.join(format!("{}.svg", f.id));
        std::fs::write(&p, &f.svg).map_err(|e| Error::results(&p, e))?;
        written.push(p);
    }
    for e in exporters() {
        let p = out.join(e.file_name());
        std::fs::write(&p, e.render(report)?).map_err(|e| Error::results(&p, e))?;
        written.push(p);
    }
    Ok(written)
}
