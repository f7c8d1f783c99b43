//! Scenario files: parse (TOML), validate, and expand into cases.
//!
//! A scenario file names its `kind`; each kind has its own strict schema (unknown keys are
//! errors) in its own file. Every mistake is reported as `file:line:col: what was expected`.

pub mod batched;
pub mod context;
pub mod drift;
mod expand;
mod lengths;
pub mod multimodal;
pub mod open_loop;
pub mod plan;
pub mod structured;
pub(crate) mod throughput;
pub mod tool_calls;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use expand::{BatchedCell, Case, PpTgTest};
pub use structured::Structured;
pub use throughput::{PpTg, PromptsFile, Sampling, Throughput};
pub use tool_calls::ToolCalls;

use crate::error::Result;
use crate::source;

/// The kinds this build understands, for error messages.
pub const KINDS: &[&str] = &[
    "throughput",
    "context",
    "tool_calls",
    "structured",
    "multimodal",
    "drift",
];

#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name` from the file, else the file stem.
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes: two results are comparable only if this matches.
    pub sha256: String,
    pub body: ScenarioBody,
}

#[derive(Debug, Clone)]
pub enum ScenarioBody {
    Throughput(Throughput),
    Context(context::Context),
    ToolCalls(ToolCalls),
    Structured(Structured),
    Multimodal(multimodal::Multimodal),
    Drift(drift::Drift),
}

impl Scenario {
    pub fn kind(&self) -> &'static str {
        match self.body {
            ScenarioBody::Throughput(_) => "throughput",
            ScenarioBody::Context(_) => "context",
            ScenarioBody::ToolCalls(_) => "tool_calls",
            ScenarioBody::Structured(_) => "structured",
            ScenarioBody::Multimodal(_) => "multimodal",
            ScenarioBody::Drift(_) => "drift",
        }
    }

    /// Reads, parses and validates one scenario file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = source::read(path)?;
        Self::parse(path, &text)
    }

    /// Parses and validates a scenario's text; every mistake is reported, not just the first.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        // A scenario comes back only from the first round, on the text as written.
        source::parse_all(text, |t| Self::parse_once(path, t))
    }

    fn parse_once(path: &Path, text: &str) -> Result<Self> {
        // First read only `kind` (other keys are ignored here), then parse strictly by kind,
        // from the original text so every key keeps its position.
        #[derive(Deserialize)]
        struct KindOnly {
            kind: Option<Spanned<String>>,
        }
        let head: KindOnly =
            toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
        let Some(kind) = head.kind else {
            return Err(source::error_at(
                path,
                text,
                Some(0..0),
                format!("missing key `kind`; expected one of: {}", KINDS.join(", ")),
            ));
        };
        let common: Common;
        let body = match kind.get_ref().as_str() {
            "throughput" => {
                let (c, t) = throughput::parse(path, text)?;
                common = c;
                ScenarioBody::Throughput(t)
            }
            "context" => {
                let (c, t) = context::parse(path, text)?;
                common = c;
                ScenarioBody::Context(t)
            }
            "tool_calls" => {
                let (c, t) = tool_calls::parse(path, text)?;
                common = c;
                ScenarioBody::ToolCalls(t)
            }
            "structured" => {
                let (c, t) = structured::parse(path, text)?;
                common = c;
                ScenarioBody::Structured(t)
            }
            "multimodal" => {
                let (c, t) = multimodal::parse(path, text)?;
                common = c;
                ScenarioBody::Multimodal(t)
            }
            "drift" => {
                let (c, t) = drift::parse(path, text)?;
                common = c;
                ScenarioBody::Drift(t)
            }
            other => {
                return Err(source::error_at(
                    path,
                    text,
                    Some(kind.span()),
                    format!(
                        "unknown scenario kind `{other}`; expected one of: {}",
                        KINDS.join(", ")
                    ),
                ));
            }
        };
        let name = common.name.unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned())
        });
        Ok(Scenario {
            name,
            description: common.description.unwrap_or_default(),
            path: path.to_path_buf(),
            sha256: crate::hash::sha256_hex(text.as_bytes()),
            body,
        })
    }

    /// The sampling settings as one canonical string, recorded in run.json so that reports can
    /// refuse to put results sampled differently into one ratio without a warning.
    pub fn sampling_key(&self) -> String {
        match &self.body {
            ScenarioBody::Throughput(t) => {
                let s = &t.sampling;
                format!(
                    "temperature={} top_p={} ignore_eos={} seed={}",
                    s.temperature, s.top_p, s.ignore_eos, t.seed
                )
            }
            ScenarioBody::Context(c) => {
                let s = &c.sampling;
                format!(
                    "temperature={} top_p={} ignore_eos={} seed={}",
                    s.temperature, s.top_p, s.ignore_eos, c.seed
                )
            }
            ScenarioBody::ToolCalls(t) => {
                let s = &t.sampling;
                format!(
                    "temperature={} top_p={} seed={}",
                    s.temperature, s.top_p, t.seed
                )
            }
            ScenarioBody::Structured(t) => {
                let s = &t.sampling;
                format!(
                    "temperature={} top_p={} seed={}",
                    s.temperature, s.top_p, t.seed
                )
            }
            ScenarioBody::Multimodal(t) => {
                let s = &t.sampling;
                format!(
                    "temperature={} top_p={} seed={}",
                    s.temperature, s.top_p, t.seed
                )
            }
            ScenarioBody::Drift(d) => format!(
                "temperature=0 (greedy) top_k={} seed={} reference={}",
                d.top_k,
                d.seed,
                d.reference.get_ref()
            ),
        }
    }

    /// Expands the scenario's grid into cases, in a stable order. Context scenarios have no
    /// fixed grid (their lengths may depend on the backend): see `runner::context`.
    pub fn cases(&self) -> Vec<Case> {
        expand::expand(self)
    }
}

/// Keys every kind shares.
#[derive(Debug, Default)]
pub(crate) struct Common {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Checks a grid axis: present, non-empty, every value within `min..=max`.
pub(crate) fn check_grid(
    path: &Path,
    text: &str,
    key: &str,
    grid: &Spanned<Vec<u32>>,
    min: u32,
    max: u32,
) -> Result<Vec<u32>> {
    let values = grid.get_ref();
    if values.is_empty() {
        return Err(source::error_at(
            path,
            text,
            Some(grid.span()),
            format!("`{key}` is an empty grid; expected at least one value"),
        ));
    }
    for &v in values {
        if v < min || v > max {
            return Err(source::error_at(
                path,
                text,
                Some(grid.span()),
                format!("`{key}` holds {v}; expected values from {min} to {max}"),
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for &v in values {
        if !seen.insert(v) {
            return Err(source::error_at(
                path,
                text,
                Some(grid.span()),
                format!("`{key}` lists {v} twice; each grid value may appear once"),
            ));
        }
    }
    Ok(values.clone())
}
