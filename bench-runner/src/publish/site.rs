//! The site as data: the leaderboard (and one per battle category), the runs, and which
//! series of the runs belong to which model and device. Everything a page shows is derived
//! from this one value, and so is everything `data/` holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PublishOptions;
use super::categories::{self, Category};
use super::evidence::{self, Evidence};
use super::slug::slug;
use crate::arena::rate::{Leaderboard, Row};
use crate::arena::speed::{self, SpeedRow};
use crate::error::{Error, Result};
use crate::hash::{sha256_file, sha256_hex};
use crate::report::load::{Dataset, load as load_runs};

/// A model of the site: rated (in the battles), measured (in the runs), or both.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    pub slug: String,
    /// Its leaderboard line; `None` for a model that only ran.
    pub row: Option<Row>,
    /// Indices into `Dataset::series` of the runs that measured it.
    pub series: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct DeviceEntry {
    pub name: String,
    pub slug: String,
    pub series: Vec<usize>,
}

/// One input file and its SHA-256, as the disclosure lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputFile {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug)]
pub struct Site {
    pub title: String,
    /// Leaderboard rows carry `speed` (the quality × speed join, Pareto marked per device).
    pub leaderboard: Leaderboard,
    pub categories: Vec<Category>,
    pub data: Dataset,
    pub evidence: Evidence,
    pub models: Vec<ModelEntry>,
    pub devices: Vec<DeviceEntry>,
    /// SHA-256 over the input files' names and hashes, in the order of `inputs`.
    pub data_hash: String,
    pub inputs: Vec<InputFile>,
    pub warnings: Vec<String>,
}

impl Site {
    pub fn model_named(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The model a series belongs to.
    pub fn model_of(&self, series: usize) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.series.contains(&series))
    }

    pub fn device_named(&self, name: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.name == name)
    }
}

/// Reads the battles and runs and joins them.
pub fn load(opts: &PublishOptions) -> Result<Site> {
    let mut rate_opts = opts.rate.clone();
    rate_opts.speed.clear();
    let mut lb = crate::arena::rate(&rate_opts)?;
    let data = if opts.runs.is_empty() {
        Dataset::default()
    } else {
        load_runs(&opts.runs)?
    };
    let mut warnings = lb.disclosure.warnings.clone();
    warnings.extend(data.warnings.iter().cloned());
    lb.speed = quality_speed(&lb.rows, &data);
    let categories = categories::rate_all(&rate_opts)?;
    let models = models(&lb, &data);
    let devices = devices(&data);
    let inputs = input_files(&rate_opts.inputs, &data)?;
    let data_hash = sha256_hex(
        inputs
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.path))
            .collect::<String>()
            .as_bytes(),
    );
    let (evidence, w) = evidence::build(&data);
    warnings.extend(w);
    Ok(Site {
        title: opts.title.clone(),
        leaderboard: lb,
        categories,
        data,
        evidence,
        models,
        devices,
        data_hash,
        inputs,
        warnings,
    })
}

/// Rated models in leaderboard order, then models that only ran, by name. A series belongs
/// to a rated model by the rule of `arena rate --speed` (model name, backend name, or the
/// name without `.gguf`), else to a model of its own model name.
fn models(lb: &Leaderboard, ds: &Dataset) -> Vec<ModelEntry> {
    let mut out: Vec<ModelEntry> = lb
        .rows
        .iter()
        .map(|r| ModelEntry {
            name: r.model.clone(),
            slug: slug(&r.model),
            row: Some(r.clone()),
            series: Vec::new(),
        })
        .collect();
    let rated = out.len();
    for (i, s) in ds.series.iter().enumerate() {
        let at = out[..rated]
            .iter()
            .position(|m| speed::same(&m.name, &s.id.model) || m.name == s.id.backend)
            .or_else(|| {
                out[rated..]
                    .iter()
                    .position(|m| m.name == s.id.model)
                    .map(|p| p + rated)
            });
        match at {
            Some(p) => out[p].series.push(i),
            None => out.push(ModelEntry {
                name: s.id.model.clone(),
                slug: slug(&s.id.model),
                row: None,
                series: vec![i],
            }),
        }
    }
    out[rated..].sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn devices(ds: &Dataset) -> Vec<DeviceEntry> {
    let mut out: Vec<DeviceEntry> = Vec::new();
    for (i, s) in ds.series.iter().enumerate() {
        match out.iter_mut().find(|d| d.name == s.id.device) {
            Some(d) => d.series.push(i),
            None => out.push(DeviceEntry {
                name: s.id.device.clone(),
                slug: slug(&s.id.device),
                series: vec![i],
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The files the numbers come from: the battles files, then each run's files that a page
/// reads (run.json, samples.csv, summary.csv, items.csv, media.csv), as found.
fn input_files(battles: &[PathBuf], ds: &Dataset) -> Result<Vec<InputFile>> {
    let mut paths: Vec<PathBuf> = battles.to_vec();
    for r in &ds.runs {
        for f in [
            "run.json",
            "samples.csv",
            "summary.csv",
            "items.csv",
            "media.csv",
        ] {
            let p = r.source.join(f);
            if p.is_file() {
                paths.push(p);
            }
        }
    }
    paths
        .iter()
        .map(|p| hash_one(p))
        .collect::<Result<Vec<_>>>()
}

fn hash_one(p: &Path) -> Result<InputFile> {
    let (sha256, _) = sha256_file(p).map_err(|e| Error::read(p, e))?;
    Ok(InputFile {
        path: p.display().to_string(),
        sha256,
    })
}

/// Quality × speed per device and rated model, by the rule of `arena rate --speed` (the
/// median over the single-stream cases — all cases where there is none — of each case's
/// median decode tok/s and TTFT), over the throughput cases only: a context or tool-call
/// case has prompts of another length, and its TTFT would say nothing of the model's speed.
/// `arena rate --speed` on the throughput runs alone gives the same rows.
fn quality_speed(rows: &[Row], ds: &Dataset) -> Vec<SpeedRow> {
    // (device, model) → per case (decode p50, ttft p50, concurrency)
    type Case = (Option<f64>, Option<f64>, u32);
    let mut found: BTreeMap<(String, String), Vec<Case>> = BTreeMap::new();
    for c in ds.cells.iter().filter(|c| c.shape.kind == "throughput") {
        let s = &ds.series[c.series].id;
        let Some(row) = rows
            .iter()
            .find(|r| speed::same(&r.model, &s.model) || r.model == s.backend)
        else {
            continue;
        };
        let p50 = |m: &str| c.summary_row(m).map(|r| r.p50).filter(|v| !v.is_nan());
        found
            .entry((s.device.clone(), row.model.clone()))
            .or_default()
            .push((p50("decode_tok_s"), p50("ttft_ms"), c.shape.concurrency));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| crate::measure::stats::percentile_sorted(&v, 50.0))
    };
    let mut out = Vec::new();
    for ((device, model), cases) in found {
        let single: Vec<_> = cases.iter().filter(|c| c.2 == 1).collect();
        let used: Vec<_> = if single.is_empty() {
            cases.iter().collect()
        } else {
            single
        };
        let Some(r) = rows.iter().find(|r| r.model == model) else {
            continue;
        };
        out.push(SpeedRow {
            device,
            model,
            rating: r.rating,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            decode_tok_s: median(used.iter().filter_map(|c| c.0).collect()),
            ttft_ms: median(used.iter().filter_map(|c| c.1).collect()),
            cases: used.len(),
            pareto: false,
        });
    }
    speed::mark_pareto(&mut out);
    out
}
