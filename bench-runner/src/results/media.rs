//! `media.csv`: one row per multimodal item — the request with media and its text-only twin
//! side by side, so the media cost (TTFT with media − TTFT of the twin) and the verdict can
//! be read off one row. Each of the two requests also has its own `samples.csv` row (case
//! `<case>` and `<case>_text`), so speed figures still come from one place.

use serde::{Deserialize, Serialize};

pub const MEDIA_COLUMNS: &[&str] = &[
    "run_id",
    "backend",
    "model",
    "device",
    "scenario",
    "case_id",
    "modality",
    "task",
    "item",
    "started_at",
    "image_px",
    "images",
    "width",
    "height",
    "audio_s",
    "media_bytes",
    "media_files",
    "prompt",
    "expected",
    "answer",
    "correct",
    "prompt_tokens_media",
    "prompt_tokens_text",
    "ttft_media_ms",
    "ttft_text_ms",
    "media_cost_ms",
    "server_prompt_ms_media",
    "server_prompt_ms_text",
    "error_category",
    "error_message",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MediaRow {
    pub run_id: String,
    pub backend: String,
    pub model: String,
    pub device: String,
    pub scenario: String,
    pub case_id: String,
    /// `image` or `audio`.
    pub modality: String,
    /// What was asked: `digit`, `word`, `count`, `side`, `spoken_digits` or `tones`.
    pub task: String,
    /// 0-based index of the item within its case.
    pub item: u32,
    pub started_at: String,
    /// Requested long side of each image, px.
    pub image_px: Option<u32>,
    /// Images in the request (0 for audio).
    pub images: u32,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Length of the clip actually sent, seconds.
    pub audio_s: Option<f64>,
    /// Bytes of media in the request, before base64.
    pub media_bytes: u64,
    /// The media files, relative to the run folder, `;`-separated.
    pub media_files: String,
    pub prompt: String,
    /// The known answer, normalised.
    pub expected: String,
    /// The model's answer (first 200 characters).
    pub answer: String,
    /// Exact match after normalisation; empty when the media request failed.
    pub correct: Option<bool>,
    pub prompt_tokens_media: Option<u64>,
    pub prompt_tokens_text: Option<u64>,
    pub ttft_media_ms: Option<f64>,
    pub ttft_text_ms: Option<f64>,
    /// ttft_media_ms − ttft_text_ms, where both requests succeeded.
    pub media_cost_ms: Option<f64>,
    pub server_prompt_ms_media: Option<f64>,
    pub server_prompt_ms_text: Option<f64>,
    /// The media request's error category (`unsupported_modality`, …); empty when it succeeded.
    pub error_category: Option<String>,
    pub error_message: Option<String>,
}

pub fn read_media(path: &std::path::Path) -> crate::error::Result<super::reader::Rows<MediaRow>> {
    super::reader::read(path, MEDIA_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_struct() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(MediaRow::default()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header, MEDIA_COLUMNS);
    }
}
