//! One multimodal item's media, made before anything is sent: images drawn and audio spoken
//! (or counted tones) by our own code, so the right answer is known.

use std::path::Path;

use crate::backend::{MediaPart, Modality};
use crate::error::{Error, Result};
use crate::scenario::multimodal::{MediaCase, Multimodal};
use crate::workload::media::audio::{self, AudioTask};
use crate::workload::media::image;

/// One item's media and what it asks.
pub(super) struct Item {
    pub task: &'static str,
    pub parts: Vec<MediaPart>,
    pub files: Vec<(String, Vec<u8>)>,
    pub expected: String,
    pub question: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub audio_s: Option<f64>,
}

/// What making an item needs from its scenario run.
pub(super) struct Maker<'a> {
    pub scenario: &'a str,
    pub mm: &'a Multimodal,
    pub nonce: u64,
    pub espeak: Option<&'a Path>,
    /// Where espeak-ng may write its scratch files (the run folder).
    pub scratch: &'a Path,
}

impl Maker<'_> {
    /// A per-request salt seed: the run's nonce, the case and the item (and the image within
    /// it), so every request in every run sends media no server has seen.
    fn salt(&self, case: &str, item: u32, k: u32) -> u64 {
        super::super::request::hash_index(case, ((item as usize) << 8) | k as usize) ^ self.nonce
    }

    pub fn make(&self, mc: &MediaCase, item: u32) -> Result<Item> {
        let bad = |source: crate::workload::media::MediaError| Error::Media {
            scenario: self.scenario.to_string(),
            case: mc.id.clone(),
            source: Box::new(source),
        };
        match mc.modality {
            Modality::Image => self.image(mc, item, bad),
            Modality::Audio => {
                let secs = mc.audio_s.unwrap_or(5) as f64;
                let salt = self.salt(&mc.id, item, 0);
                let clip = match (self.espeak, self.mm.audio_task) {
                    (Some(e), AudioTask::Spoken) => {
                        audio::spoken_digits(secs, salt, e, self.scratch).map_err(bad)?
                    }
                    _ => audio::tones(secs, salt).map_err(bad)?,
                };
                Ok(Item {
                    task: clip.task.as_str(),
                    files: vec![(
                        format!("{item}-{}.wav", clip.task.as_str()),
                        clip.wav.clone(),
                    )],
                    parts: vec![MediaPart::Audio {
                        format: "wav".into(),
                        data: clip.wav,
                    }],
                    expected: clip.answer,
                    question: clip.task.question().to_string(),
                    width: None,
                    height: None,
                    audio_s: Some(clip.seconds),
                })
            }
        }
    }

    fn image(
        &self,
        mc: &MediaCase,
        item: u32,
        bad: impl Fn(crate::workload::media::MediaError) -> Error,
    ) -> Result<Item> {
        let task = self.mm.image_tasks[item as usize % self.mm.image_tasks.len()];
        let px = mc.image_px.unwrap_or(224);
        let mut parts = Vec::new();
        let mut files = Vec::new();
        let mut first: Option<image::Image> = None;
        for k in 0..mc.images {
            let img = image::render(task, px, self.salt(&mc.id, item, k)).map_err(&bad)?;
            files.push((format!("{item}-{k}-{}.png", task.as_str()), img.png.clone()));
            parts.push(MediaPart::Image {
                mime: "image/png".into(),
                data: img.png.clone(),
            });
            first.get_or_insert(img);
        }
        let first = first.ok_or_else(|| Error::Usage("an image case with no images".into()))?;
        let question = if mc.images > 1 {
            format!("Look at the first image only. {}", task.question())
        } else {
            task.question().to_string()
        };
        Ok(Item {
            task: task.as_str(),
            parts,
            files,
            expected: first.answer,
            question,
            width: Some(first.width),
            height: Some(first.height),
            audio_s: None,
        })
    }
}
