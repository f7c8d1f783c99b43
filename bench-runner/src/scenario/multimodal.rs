//! `kind = "multimodal"`: images and audio with known answers, the time they add to the
//! first token, and whether the model answers right.
//!
//! ```toml
//! kind = "multimodal"
//! image_sizes = [224, 448, 896, 1344]   # long side in px (4:3 landscape)
//! images_per_request = [1, 2, 4]
//! image_tasks = ["digit", "word", "count", "side"]   # default: all four
//! audio_seconds = [5, 15, 30]           # [] for no audio cases
//! audio_task = "spoken"                 # "spoken" (espeak-ng; tones where it is missing) or "tones"
//! items = 4                             # items per case; each is sent with media and as a text-only twin
//! warmup = 1                            # discarded requests per modality before the first case
//! max_tokens = 16
//! temperature = 0.0
//! top_p = 1.0
//! seed = 11
//! ```
//!
//! Cases: `img{px}_x{n}` for every size × count, then `audio{s}s` for every length.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Common, Sampling, check_grid};
use crate::backend::Modality;
use crate::error::Result;
use crate::source;
use crate::workload::media::audio::AudioTask;
use crate::workload::media::image::ImageTask;

#[derive(Debug, Clone)]
pub struct Multimodal {
    pub image_sizes: Vec<u32>,
    pub images_per_request: Vec<u32>,
    pub image_tasks: Vec<ImageTask>,
    pub audio_seconds: Vec<u32>,
    pub audio_task: AudioTask,
    pub items: u32,
    pub warmup: u32,
    pub max_tokens: u32,
    pub seed: u64,
    pub sampling: Sampling,
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaCase {
    pub id: String,
    pub modality: Modality,
    pub image_px: Option<u32>,
    pub images: u32,
    pub audio_s: Option<u32>,
}

impl Multimodal {
    /// The grid in a stable order: images (size × count), then audio lengths.
    pub fn plan(&self) -> Vec<MediaCase> {
        let mut v = Vec::new();
        for &px in &self.image_sizes {
            for &n in &self.images_per_request {
                v.push(MediaCase {
                    id: format!("img{px}_x{n}"),
                    modality: Modality::Image,
                    image_px: Some(px),
                    images: n,
                    audio_s: None,
                });
            }
        }
        for &s in &self.audio_seconds {
            v.push(MediaCase {
                id: format!("audio{s}s"),
                modality: Modality::Audio,
                image_px: None,
                images: 0,
                audio_s: Some(s),
            });
        }
        v
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    image_sizes: Option<Spanned<Vec<u32>>>,
    images_per_request: Option<Spanned<Vec<u32>>>,
    image_tasks: Option<Spanned<Vec<Spanned<String>>>>,
    audio_seconds: Option<Spanned<Vec<u32>>>,
    audio_task: Option<Spanned<String>>,
    items: Option<Spanned<u32>>,
    warmup: Option<Spanned<u32>>,
    max_tokens: Option<Spanned<u32>>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    seed: Option<u64>,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Multimodal)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let at = |span: std::ops::Range<usize>, m: String| source::error_at(path, text, Some(span), m);
    // An empty list turns a modality off; both off leaves nothing to measure.
    let list = |key: &str, v: &Option<Spanned<Vec<u32>>>, default: &[u32], min, max| match v {
        Some(v) if v.get_ref().is_empty() => Ok(Vec::new()),
        Some(v) => check_grid(path, text, key, v, min, max),
        None => Ok(default.to_vec()),
    };
    let image_sizes = list(
        "image_sizes",
        &raw.image_sizes,
        &[224, 448, 896, 1344],
        16,
        8192,
    )?;
    let images_per_request = match &raw.images_per_request {
        Some(v) => check_grid(path, text, "images_per_request", v, 1, 64)?,
        None => vec![1, 2, 4],
    };
    let audio_seconds = list("audio_seconds", &raw.audio_seconds, &[5, 15, 30], 1, 600)?;
    if image_sizes.is_empty() && audio_seconds.is_empty() {
        let span = raw.image_sizes.as_ref().map_or(0..0, |s| s.span());
        return Err(at(
            span,
            "both `image_sizes` and `audio_seconds` are empty; the scenario has nothing to send"
                .into(),
        ));
    }
    let image_tasks = match &raw.image_tasks {
        None => ImageTask::ALL.to_vec(),
        Some(v) if v.get_ref().is_empty() => {
            return Err(at(
                v.span(),
                "`image_tasks` is empty; expected some of \"digit\", \"word\", \"count\", \"side\""
                    .into(),
            ));
        }
        Some(v) => {
            let mut out = Vec::new();
            for t in v.get_ref() {
                let task = ImageTask::parse(t.get_ref()).ok_or_else(|| {
                    at(
                        t.span(),
                        format!(
                            "unknown image task `{}`; expected \"digit\", \"word\", \"count\" or \"side\"",
                            t.get_ref()
                        ),
                    )
                })?;
                if out.contains(&task) {
                    return Err(at(
                        t.span(),
                        format!("image task `{}` is listed twice", t.get_ref()),
                    ));
                }
                out.push(task);
            }
            out
        }
    };
    let audio_task = match raw
        .audio_task
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span()))
    {
        None | Some(("spoken", _)) => AudioTask::Spoken,
        Some(("tones", _)) => AudioTask::Tones,
        Some((other, s)) => {
            return Err(at(
                s,
                format!("unknown audio task `{other}`; expected \"spoken\" or \"tones\""),
            ));
        }
    };
    let bounded = |v: &Option<Spanned<u32>>, key: &str, min: u32, max: u32, default: u32| match v {
        Some(x) if !(min..=max).contains(x.get_ref()) => {
            Err(at(x.span(), format!("`{key}` must be from {min} to {max}")))
        }
        Some(x) => Ok(*x.get_ref()),
        None => Ok(default),
    };
    let items = bounded(&raw.items, "items", 1, 10_000, 4)?;
    let warmup = bounded(&raw.warmup, "warmup", 0, 100, 1)?;
    let max_tokens = bounded(&raw.max_tokens, "max_tokens", 1, 4096, 16)?;
    let sampling = super::tool_calls::sampling(path, text, &raw.temperature, &raw.top_p)?;
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        Multimodal {
            image_sizes,
            images_per_request,
            image_tasks,
            audio_seconds,
            audio_task,
            items,
            warmup,
            max_tokens,
            seed: raw.seed.unwrap_or(11),
            sampling,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{Scenario, ScenarioBody};
    use super::*;

    fn parse_str(text: &str) -> Result<Scenario> {
        Scenario::parse(Path::new("m.toml"), text)
    }

    #[test]
    fn defaults_and_grid() {
        let s = parse_str("kind = \"multimodal\"\n").unwrap();
        let ScenarioBody::Multimodal(m) = &s.body else {
            panic!("not multimodal")
        };
        let ids: Vec<String> = m.plan().into_iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 4 * 3 + 3);
        assert_eq!(ids[0], "img224_x1");
        assert_eq!(ids[14], "audio30s");
        let cases = s.cases();
        assert_eq!(cases.len(), 15);
        // Each item is two requests: with media and its text-only twin.
        assert_eq!(cases[0].requests(), 8);
        let s = parse_str("kind = \"multimodal\"\naudio_seconds = []\nimage_sizes = [64]\nimages_per_request = [2]\n").unwrap();
        assert_eq!(s.cases().len(), 1);
    }

    #[test]
    fn mistakes_are_located() {
        let e = parse_str("kind = \"multimodal\"\nimage_tasks = [\"digit\", \"colour\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:2:25:") && e.contains("unknown image task"),
            "{e}"
        );
        let e = parse_str("kind = \"multimodal\"\nimage_sizes = []\naudio_seconds = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:2:15:") && e.contains("nothing to send"),
            "{e}"
        );
        let e = parse_str("kind = \"multimodal\"\nimage_size = [224]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:2:1:") && e.contains("unknown field"),
            "{e}"
        );
        let e = parse_str("kind = \"multimodal\"\naudio_task = \"song\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.toml:2:14:"), "{e}");
        let e = parse_str("kind = \"multimodal\"\nitems = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.toml:2:9:"), "{e}");
    }
}
