//! The multimodal part of a report, from each run's `media.csv`: the media cost per case
//! (TTFT with media − TTFT of the text-only twin, paired per item, median with a bootstrap
//! CI), accuracy per modality and task (Wilson interval), and a few of the rendered inputs
//! beside the model's answers. Answers are model output: the exporters escape them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::{fmt_ci, fmt_num};
use super::load::Dataset;
use crate::measure::proportion::wilson;
use crate::measure::ratio::median_ci;
use crate::results::media::{MediaRow, read_media};

/// Inputs shown beside their answers, at most.
const GALLERY_MAX: usize = 8;
/// Images larger than this are not inlined into report.html.
const INLINE_MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Default, Serialize)]
pub struct MediaSection {
    pub cost: Vec<CostView>,
    pub accuracy: Vec<AccuracyView>,
    pub gallery: Vec<GalleryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CostView {
    pub series: String,
    pub modality: String,
    pub case: String,
    pub ttft_media: String,
    pub ttft_text: String,
    pub media_cost: String,
    pub n: usize,
    pub unsupported: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccuracyView {
    pub series: String,
    pub modality: String,
    pub task: String,
    pub correct: usize,
    pub n: usize,
    pub accuracy: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GalleryView {
    pub series: String,
    pub case: String,
    pub task: String,
    pub prompt: String,
    pub expected: String,
    pub answer: String,
    pub correct: String,
    /// The file, relative to its run folder, and the run folder.
    pub file: String,
    /// `data:image/png;base64,…` for report.html; empty when too large or not an image.
    pub data_uri: String,
}

/// Reads every run's media.csv (runs without one contribute nothing).
pub fn build(ds: &Dataset) -> (MediaSection, Vec<String>) {
    let mut warnings = Vec::new();
    let mut rows: Vec<(usize, MediaRow)> = Vec::new();
    for (i, run) in ds.runs.iter().enumerate() {
        let p = run.source.join("media.csv");
        if !p.is_file() {
            continue;
        }
        match read_media(&p) {
            Ok(r) => {
                warnings.extend(r.warnings);
                rows.extend(r.rows.into_iter().map(|m| (i, m)));
            }
            Err(e) => warnings.push(format!("{e}")),
        }
    }
    let label = |run: usize, r: &MediaRow| {
        ds.series
            .iter()
            .find(|s| {
                s.id.run == run
                    && s.id.device == r.device
                    && s.id.backend == r.backend
                    && s.id.model == r.model
            })
            .map_or_else(
                || format!("{}/{}", r.device, r.backend),
                |s| s.label.clone(),
            )
    };
    let section = MediaSection {
        cost: cost(&rows, &label),
        accuracy: accuracy(&rows, &label),
        gallery: gallery(ds, &rows, &label),
    };
    (section, warnings)
}

/// The media cost per series × case, in first-seen order.
fn cost(rows: &[(usize, MediaRow)], label: &dyn Fn(usize, &MediaRow) -> String) -> Vec<CostView> {
    let mut out = Vec::new();
    let mut by_case: BTreeMap<(String, usize), Vec<&MediaRow>> = BTreeMap::new();
    let mut order: Vec<(String, usize)> = Vec::new();
    for (run, r) in rows {
        let k = (label(*run, r), *run);
        let key = (format!("{}\u{0}{}", k.0, r.case_id), k.1);
        if !by_case.contains_key(&key) {
            order.push(key.clone());
        }
        by_case.entry(key).or_default().push(r);
    }
    for key in &order {
        let rs = &by_case[key];
        let series = key.0.split('\u{0}').next().unwrap_or_default().to_string();
        let ci = |f: fn(&MediaRow) -> Option<f64>| {
            median_ci(&rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
                .map_or("-".to_string(), |m| fmt_ci(m.median, m.low, m.high))
        };
        out.push(CostView {
            series,
            modality: rs[0].modality.clone(),
            case: rs[0].case_id.clone(),
            ttft_media: ci(|r| r.ttft_media_ms),
            ttft_text: ci(|r| r.ttft_text_ms),
            media_cost: ci(|r| r.media_cost_ms),
            n: rs.iter().filter(|r| r.media_cost_ms.is_some()).count(),
            unsupported: rs
                .iter()
                .filter(|r| r.error_category.as_deref() == Some("unsupported_modality"))
                .count(),
        });
    }
    out
}

/// Accuracy per series × modality × task.
fn accuracy(
    rows: &[(usize, MediaRow)],
    label: &dyn Fn(usize, &MediaRow) -> String,
) -> Vec<AccuracyView> {
    let mut out = Vec::new();
    let mut acc: BTreeMap<(String, String, String), (usize, usize)> = BTreeMap::new();
    for (run, r) in rows {
        if let Some(c) = r.correct {
            let e = acc
                .entry((label(*run, r), r.modality.clone(), r.task.clone()))
                .or_default();
            e.0 += usize::from(c);
            e.1 += 1;
        }
    }
    for ((series, modality, task), (k, n)) in acc {
        let accuracy = wilson(k, n).map_or("-".into(), |p| {
            format!(
                "{} [{}, {}]",
                fmt_num(p.p),
                fmt_num(p.ci_low),
                fmt_num(p.ci_high)
            )
        });
        out.push(AccuracyView {
            series,
            modality,
            task,
            correct: k,
            n,
            accuracy,
        });
    }
    out
}

/// A few inputs: the first answered item of each task, smallest images first.
fn gallery(
    ds: &Dataset,
    rows: &[(usize, MediaRow)],
    label: &dyn Fn(usize, &MediaRow) -> String,
) -> Vec<GalleryView> {
    let mut out: Vec<GalleryView> = Vec::new();
    let mut answered: Vec<&(usize, MediaRow)> =
        rows.iter().filter(|(_, r)| r.correct.is_some()).collect();
    answered.sort_by_key(|(_, r)| (r.image_px.unwrap_or(0), r.images, r.item));
    let mut seen: Vec<(String, String)> = Vec::new();
    for (run, r) in answered {
        if out.len() >= GALLERY_MAX {
            break;
        }
        let key = (label(*run, r), r.task.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let first = r
            .media_files
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        let dir = &ds.runs[*run].source;
        let data_uri = if first.ends_with(".png") {
            std::fs::read(dir.join(&first))
                .ok()
                .filter(|b| b.len() <= INLINE_MAX_BYTES)
                .map(|b| {
                    use base64::Engine as _;
                    format!(
                        "data:image/png;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(b)
                    )
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push(GalleryView {
            series: label(*run, r),
            case: r.case_id.clone(),
            task: r.task.clone(),
            prompt: r.prompt.clone(),
            expected: r.expected.clone(),
            answer: r.answer.clone(),
            correct: if r.correct == Some(true) { "yes" } else { "no" }.into(),
            file: dir.join(&first).display().to_string(),
            data_uri,
        });
    }
    out
}
