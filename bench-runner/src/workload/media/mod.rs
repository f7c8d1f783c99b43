//! Media with known answers for the multimodal scenario: rendered images and audio clips.

pub mod audio;
pub mod image;

use std::path::PathBuf;

/// A media item could not be made (bad size, espeak-ng failed, encoder error); the io or
/// encoder error, where there is one, is kept as the source and also said in the message.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("image long side {long_side} px is outside 16..=8192")]
    ImageSize { long_side: u32 },
    #[error("audio length {seconds} s is outside 0.5..=600")]
    AudioLength { seconds: f64 },
    /// espeak-ng could not be started.
    #[error("running {}: {source}", program.display())]
    Espeak {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// espeak-ng ran and said why it failed.
    #[error("{} failed: {stderr}", program.display())]
    EspeakFailed { program: PathBuf, stderr: String },
    #[error("reading espeak-ng output: {0}")]
    ReadSpeech(#[source] hound::Error),
    #[error("WAV: {0}")]
    Wav(#[source] hound::Error),
    #[error("PNG: {0}")]
    Png(#[source] png::EncodingError),
}
