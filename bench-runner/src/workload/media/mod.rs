//! Media with known answers for the multimodal scenario: rendered images and audio clips.

pub mod audio;
pub mod image;

/// A media item could not be made (bad size, espeak-ng failed, encoder error).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct MediaError(pub String);
