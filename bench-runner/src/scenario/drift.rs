//! `kind = "drift"`: how far each backend's next-token distributions drift from a reference
//! backend's on the same token sequences (teacher-forced), and where their greedy
//! continuations part (free-running). See docs/scenarios.md#drift.
//!
//! ```toml
//! kind = "drift"
//! reference = "llamacpp-f16"        # a backend of the config; every other backend run is a candidate
//! lengths = [64, 256]               # tokens per scored sequence; one case per length
//! sequences = 6                     # sequences per length, a seeded mix of the `mix` kinds
//! mix = ["prose", "code", "chat"]   # default: all three, in turn
//! top_k = 20                        # log-probabilities per position from top-k-only backends
//! prompts = 4                       # free-running prompts (0: no free-running case)
//! prompt_tokens = 32                # tokens of each free-running prompt
//! continuation_tokens = 32          # greedy tokens per prompt and side
//! seed = 7
//! ```
//!
//! Cases: `forced_{length}` per length, then `free` (when `prompts` > 0).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Common, Sampling, check_grid};
use crate::error::Result;
use crate::source;

/// What a scored sequence reads like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Prose,
    Code,
    Chat,
}

impl TextKind {
    pub const ALL: [TextKind; 3] = [TextKind::Prose, TextKind::Code, TextKind::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Prose => "prose",
            TextKind::Code => "code",
            TextKind::Chat => "chat",
        }
    }

    fn parse(s: &str) -> Option<TextKind> {
        TextKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct Drift {
    /// The backend every other one is compared with (a name in the backend config).
    pub reference: Spanned<String>,
    pub lengths: Vec<u32>,
    pub sequences: u32,
    pub mix: Vec<TextKind>,
    pub top_k: u32,
    pub prompts: u32,
    pub prompt_tokens: u32,
    pub continuation_tokens: u32,
    pub seed: u64,
}

impl Drift {
    /// Greedy decoding on both sides: the recorded sampling.
    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            ignore_eos: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    reference: Option<Spanned<String>>,
    lengths: Option<Spanned<Vec<u32>>>,
    sequences: Option<Spanned<u32>>,
    mix: Option<Spanned<Vec<Spanned<String>>>>,
    top_k: Option<Spanned<u32>>,
    prompts: Option<Spanned<u32>>,
    prompt_tokens: Option<Spanned<u32>>,
    continuation_tokens: Option<Spanned<u32>>,
    seed: Option<u64>,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Drift)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let at = |span: std::ops::Range<usize>, m: String| source::error_at(path, text, Some(span), m);
    let reference = match raw.reference {
        Some(r) if r.get_ref().trim().is_empty() => {
            return Err(at(
                r.span(),
                "`reference` is empty; expected a backend name".into(),
            ));
        }
        Some(r) => r,
        None => {
            return Err(at(
                0..0,
                "missing key `reference`: the backend the others are compared with".into(),
            ));
        }
    };
    let lengths = match &raw.lengths {
        Some(v) => check_grid(path, text, "lengths", v, 2, 32_768)?,
        None => vec![128],
    };
    let bounded = |v: &Option<Spanned<u32>>, key: &str, min: u32, max: u32, default: u32| match v {
        Some(x) if !(min..=max).contains(x.get_ref()) => {
            Err(at(x.span(), format!("`{key}` must be from {min} to {max}")))
        }
        Some(x) => Ok(*x.get_ref()),
        None => Ok(default),
    };
    let sequences = bounded(&raw.sequences, "sequences", 1, 10_000, 6)?;
    let top_k = bounded(&raw.top_k, "top_k", 1, 1000, 20)?;
    let prompts = bounded(&raw.prompts, "prompts", 0, 10_000, 4)?;
    let prompt_tokens = bounded(&raw.prompt_tokens, "prompt_tokens", 1, 32_768, 32)?;
    let continuation_tokens =
        bounded(&raw.continuation_tokens, "continuation_tokens", 1, 4096, 32)?;
    let mix = match &raw.mix {
        None => TextKind::ALL.to_vec(),
        Some(v) if v.get_ref().is_empty() => {
            return Err(at(
                v.span(),
                "`mix` is empty; expected some of \"prose\", \"code\", \"chat\"".into(),
            ));
        }
        Some(v) => {
            let mut out = Vec::new();
            for k in v.get_ref() {
                let kind = TextKind::parse(k.get_ref()).ok_or_else(|| {
                    at(
                        k.span(),
                        format!(
                            "unknown text kind `{}`; expected \"prose\", \"code\" or \"chat\"",
                            k.get_ref()
                        ),
                    )
                })?;
                if out.contains(&kind) {
                    return Err(at(k.span(), format!("`{}` is listed twice", k.get_ref())));
                }
                out.push(kind);
            }
            out
        }
    };
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        Drift {
            reference,
            lengths,
            sequences,
            mix,
            top_k,
            prompts,
            prompt_tokens,
            continuation_tokens,
            seed: raw.seed.unwrap_or(7),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{Scenario, ScenarioBody};
    use super::*;

    fn parse_str(text: &str) -> Result<Scenario> {
        Scenario::parse(Path::new("d.toml"), text)
    }

    #[test]
    fn defaults_and_cases() {
        let s = parse_str("kind = \"drift\"\nreference = \"a\"\nlengths = [16, 32]\n").unwrap();
        let ScenarioBody::Drift(d) = &s.body else {
            panic!("not drift")
        };
        assert_eq!(d.reference.get_ref(), "a");
        assert_eq!(d.mix, TextKind::ALL.to_vec());
        let ids: Vec<String> = s.cases().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["forced_16", "forced_32", "free"]);
        let s = parse_str("kind = \"drift\"\nreference = \"a\"\nprompts = 0\n").unwrap();
        let ids: Vec<String> = s.cases().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["forced_128"]);
    }

    #[test]
    fn mistakes_are_located() {
        let e = parse_str("kind = \"drift\"\nlengths = [16]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.toml:1:1:") && e.contains("reference"),
            "{e}"
        );
        let e = parse_str("kind = \"drift\"\nreference = \"a\"\nmix = [\"prose\", \"poetry\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml:3:17:") && e.contains("poetry"), "{e}");
        let e = parse_str("kind = \"drift\"\nreference = \"a\"\ntop_k = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml:3:9:"), "{e}");
        let e = parse_str("kind = \"drift\"\nreference = \"a\"\nlengths = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.toml:3:11:"), "{e}");
        let e = parse_str("kind = \"drift\"\nreference = \"a\"\ntopk = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("d.toml:3:1:") && e.contains("unknown field"),
            "{e}"
        );
    }
}
