//! `edgebench publish`: battles and run folders turned into a static leaderboard site — a
//! folder of HTML, one CSS file, inline SVG and data files, readable from `file://` or any
//! static host, with no script and no external asset.
//!
//! battles.csv ─rate─▶ leaderboard (+ one per battle category) ┐
//! run folders ─load─▶ Dataset ─▶ evidence rows per series     ├─▶ Site ─▶ pages + data/
//!
//! [`site`] loads and joins everything; [`evidence`] derives the per-series rows (speed, tool
//! calls, context, media, drift); the pages are one file each (`leaderboard_page`,
//! `model_page`, `device_page`) over shared [`render`] plumbing; figures are `interval` (the
//! rating bars), `pareto` and `roofline`; [`downloads`] writes the CSV and JSON beside every
//! table. `publish` uses `arena`, `report` and `results`, and nothing that talks to a model.

pub mod accuracy_speed;
pub mod categories;
pub mod device_page;
pub mod downloads;
pub mod evidence;
pub mod interval;
pub mod leaderboard_page;
pub mod model_page;
pub mod pareto;
pub mod render;
pub mod roofline;
pub mod site;
pub mod slug;

use std::path::{Path, PathBuf};

use crate::arena::RateOptions;
use crate::error::{Error, Result};

/// What `edgebench publish` is asked for.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// The arena options (`inputs` are the battles files; `speed` is ignored: the runs are).
    pub rate: RateOptions,
    /// Run folders or folders of run folders.
    pub runs: Vec<PathBuf>,
    pub out: PathBuf,
    pub title: String,
}

/// What was written, for the CLI to print.
#[derive(Debug, Clone)]
pub struct Published {
    pub index: PathBuf,
    pub pages: usize,
    pub data_files: usize,
    pub warnings: Vec<String>,
}

/// Builds the site and writes it into `opts.out` (created; files of an earlier site with the
/// same names are replaced, others are left alone).
pub fn publish(opts: &PublishOptions) -> Result<Published> {
    let site = site::load(opts)?;
    let out = &opts.out;
    for dir in ["models", "devices", "data"] {
        let d = out.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| Error::write(&d, e))?;
    }
    let env = render::environment()?;
    let mut pages = Vec::new();
    pages.push((
        "index.html".to_string(),
        leaderboard_page::index(&env, &site)?,
    ));
    for c in &site.categories {
        pages.push((
            slug::category_page(&c.slug),
            leaderboard_page::category(&env, &site, c)?,
        ));
    }
    for m in &site.models {
        pages.push((
            slug::model_page(&m.slug),
            model_page::render(&env, &site, m)?,
        ));
    }
    for d in &site.devices {
        pages.push((
            slug::device_page(&d.slug),
            device_page::render(&env, &site, d)?,
        ));
    }
    for (name, html) in &pages {
        put(out, name, html.as_bytes())?;
    }
    put(out, render::CSS_FILE, render::CSS.as_bytes())?;
    let data_files = downloads::write(&site, &out.join("data"))?;
    Ok(Published {
        index: out.join("index.html"),
        pages: pages.len(),
        data_files,
        warnings: site.warnings.clone(),
    })
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|e| Error::write(&p, e))
}
