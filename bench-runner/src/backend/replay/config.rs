//! A `replay` backend's own keys (see `replay/mod.rs` for an entry).

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::backend::entry::{Entry, KindConfig};
use crate::error::Result;

/// Recorded responses read back from a transcripts file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    pub file: PathBuf,
    pub source_backend: Option<String>,
    pub model: Option<String>,
}

/// The keys a `replay` entry takes besides the common ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReplay {
    file: Option<Spanned<String>>,
    source_backend: Option<String>,
    model: Option<String>,
}

impl KindConfig for ReplayConfig {
    type Raw = RawReplay;

    fn from_raw(raw: RawReplay, entry: &Entry<'_>) -> Result<Self> {
        let Some(file) = raw.file else {
            return Err(entry.error(
                entry.span.clone(),
                format!(
                    "backend `{}` (kind replay) needs `file`, a transcripts.jsonl of an earlier run",
                    entry.name
                ),
            ));
        };
        Ok(ReplayConfig {
            file: entry.path_of(file.get_ref()),
            source_backend: raw.source_backend,
            model: raw.model,
        })
    }
}
