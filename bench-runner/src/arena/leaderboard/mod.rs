//! The leaderboard writers, one format per file behind one function each (as ripgrep keeps
//! its printers): `leaderboard.csv` (+ `quality_speed.csv`), `leaderboard.md` and
//! `leaderboard.html`, plus `disclosure.json`, `judges.csv` and one Pareto SVG per device.

pub mod csv;
mod html;
mod md;

use std::path::{Path, PathBuf};

use super::pareto;
use super::rate::Leaderboard;
use crate::error::{Error, Result};

pub use md::{TERMINAL_ROWS, markdown, terminal};

/// Every judge with its battle count (the disclosure names only the top few).
pub const JUDGES_FILE: &str = "judges.csv";

/// Writes every output into `dir` (created) and returns the paths written.
pub fn write_all(lb: &Leaderboard, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let mut written = Vec::new();
    let put = |name: &str, bytes: &[u8], written: &mut Vec<PathBuf>| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| Error::write(&p, e))?;
        written.push(p);
        Ok(())
    };
    put("leaderboard.csv", &csv::leaderboard(lb)?, &mut written)?;
    if !lb.speed.is_empty() {
        put("quality_speed.csv", &csv::quality_speed(lb)?, &mut written)?;
    }
    put(JUDGES_FILE, &csv::judges(lb)?, &mut written)?;
    let charts = charts(lb);
    for (device, svg) in &charts {
        put(&pareto::file_name(device), svg.as_bytes(), &mut written)?;
    }
    put(
        "leaderboard.md",
        markdown(lb, &charts).as_bytes(),
        &mut written,
    )?;
    put(
        "leaderboard.html",
        html::render(lb, &charts)?.as_bytes(),
        &mut written,
    )?;
    let json = serde_json::to_vec_pretty(&lb.disclosure).map_err(|e| Error::write(dir, e))?;
    put("disclosure.json", &json, &mut written)?;
    Ok(written)
}

/// One Pareto chart per device that has speed figures.
pub fn charts(lb: &Leaderboard) -> Vec<(String, String)> {
    let mut devices: Vec<&str> = lb.speed.iter().map(|r| r.device.as_str()).collect();
    devices.sort();
    devices.dedup();
    devices
        .into_iter()
        .filter_map(|d| pareto::chart(d, &lb.speed, lb.min_tok_s).map(|s| (d.to_string(), s)))
        .collect()
}
