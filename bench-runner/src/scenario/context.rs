//! `kind = "context"`: speed and recall from short prompts up to the model's limit.
//!
//! ```toml
//! kind = "context"
//! lengths = [1024, 2048, 4096]       # or "pow2:1k..max" / "pow2:1k..32k"
//! depths = [0, 25, 50, 75, 100]      # needle position, % of the haystack
//! max_tokens = 32                    # answer length; prompt = length − max_tokens tokens
//! repetitions = 1
//! seed = 7
//! threshold = 0.85                   # recall needed for the effective context length
//!
//! [[needles]]
//! kind = "number"                    # "number" (7 digits), "uuid" or "word"
//! variant = "single"                 # "single", "multi_key" or "multi_value"
//! count = 1                          # needles in the haystack (multi_*: ≥ 2)
//! ```

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::Common;
use super::throughput::Sampling;
use crate::error::Result;
use crate::source;

pub use crate::workload::needle::{NeedleKind, NeedleVariant, Needles};

/// The lengths to test: a list, or powers of two up to a bound that may come from the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Lengths {
    List(Vec<u32>),
    /// `pow2:FROM..TO`; `to = None` means the backend's context size.
    Pow2 {
        from: u32,
        to: Option<u32>,
    },
}

impl Lengths {
    /// The concrete lengths, given the backend's context size where it is known.
    pub fn resolve(&self, backend_max: Option<u64>) -> std::result::Result<Vec<u32>, String> {
        match self {
            Lengths::List(v) => Ok(v.clone()),
            Lengths::Pow2 { from, to } => {
                let to = match to {
                    Some(t) => *t,
                    None => backend_max
                        .map(|m| m.min(u32::MAX as u64) as u32)
                        .ok_or("lengths = \"pow2:…..max\" needs the backend's context size, which it does not report; give the upper bound explicitly")?,
                };
                let mut out = Vec::new();
                let mut l = *from;
                while l <= to {
                    out.push(l);
                    match l.checked_mul(2) {
                        Some(n) => l = n,
                        None => break,
                    }
                }
                if out.is_empty() {
                    return Err(format!("no power of two from {from} up to {to}"));
                }
                Ok(out)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Context {
    pub lengths: Lengths,
    /// `lengths` as the file writes it (`"pow2:1k..max"`, `[1024, 2048]`), for messages.
    pub lengths_written: String,
    pub depths: Vec<u32>,
    pub needles: Vec<Needles>,
    pub max_tokens: u32,
    pub warmup: u32,
    pub repetitions: u32,
    pub seed: u64,
    pub threshold: f64,
    pub sampling: Sampling,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLengths {
    List(Vec<u32>),
    Spec(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeedles {
    kind: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    count: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    lengths: Option<Spanned<RawLengths>>,
    depths: Option<Spanned<Vec<u32>>>,
    needles: Option<Vec<Spanned<RawNeedles>>>,
    max_tokens: Option<Spanned<u32>>,
    warmup: Option<Spanned<u32>>,
    repetitions: Option<Spanned<u32>>,
    seed: Option<u64>,
    threshold: Option<Spanned<f64>>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    ignore_eos: Option<bool>,
}

/// Parses `1k`, `32k`, `1024`, `1m`.
fn parse_size(s: &str) -> Option<u32> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.strip_suffix('k') {
        Some(n) => (n, 1024u64),
        None => match s.strip_suffix('m') {
            Some(n) => (n, 1024 * 1024),
            None => (s.as_str(), 1),
        },
    };
    let v = num.parse::<u64>().ok()?.checked_mul(mult)?;
    u32::try_from(v).ok()
}

const MIN_LENGTH: u32 = 256;
const MAX_LENGTH: u32 = 16 * 1024 * 1024;

// Stays whole: one check per key in file order, every mistake located and collected.
pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Context)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let err =
        |span: std::ops::Range<usize>, msg: String| source::error_at(path, text, Some(span), msg);
    // A missing `lengths` is reported after the other checks, so that a `lengths` blanked out
    // for a wrong value (see `source::parse_all`) does not hide the mistakes after it.
    let (lengths_raw, lspan) = match raw.lengths {
        Some(l) => {
            let span = l.span();
            (Some(l.into_inner()), span)
        }
        None => (None, 0..0),
    };
    let lengths_written = text.get(lspan.clone()).unwrap_or_default().to_string();
    let lengths = match lengths_raw {
        None => Lengths::List(Vec::new()),
        Some(RawLengths::List(v)) => {
            let spanned = Spanned::new(lspan.clone(), v);
            Lengths::List(super::check_grid(
                path, text, "lengths", &spanned, MIN_LENGTH, MAX_LENGTH,
            )?)
        }
        Some(RawLengths::Spec(s)) => {
            let bad = || {
                err(
                    lspan.clone(),
                    format!(
                        "`lengths = \"{s}\"`: expected a list of token counts or \"pow2:FROM..TO\" (TO may be `max`, e.g. \"pow2:1k..max\")"
                    ),
                )
            };
            let body = s.strip_prefix("pow2:").ok_or_else(bad)?;
            let (from, to) = body.split_once("..").ok_or_else(bad)?;
            let from = parse_size(from).ok_or_else(bad)?;
            let to = if to.trim() == "max" {
                None
            } else {
                Some(parse_size(to).ok_or_else(bad)?)
            };
            if from < MIN_LENGTH || to.is_some_and(|t| t < from || t > MAX_LENGTH) {
                return Err(err(
                    lspan.clone(),
                    format!("`lengths`: need {MIN_LENGTH} ≤ FROM ≤ TO ≤ {MAX_LENGTH}"),
                ));
            }
            Lengths::Pow2 { from, to }
        }
    };
    let depths = match &raw.depths {
        Some(d) => super::check_grid(path, text, "depths", d, 0, 100)?,
        None => vec![0, 25, 50, 75, 100],
    };
    let mut needles = Vec::new();
    for n in raw.needles.unwrap_or_default() {
        let span = n.span();
        let n = n.into_inner();
        let kind = match n.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            None | Some(("number", _)) => NeedleKind::Number,
            Some(("uuid", _)) => NeedleKind::Uuid,
            Some(("word", _)) => NeedleKind::Word,
            Some((other, s)) => {
                return Err(err(
                    s,
                    format!(
                        "unknown needle kind `{other}`; expected \"number\", \"uuid\" or \"word\""
                    ),
                ));
            }
        };
        let variant = match n.variant.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            None | Some(("single", _)) => NeedleVariant::Single,
            Some(("multi_key", _)) => NeedleVariant::MultiKey,
            Some(("multi_value", _)) => NeedleVariant::MultiValue,
            Some((other, s)) => {
                return Err(err(
                    s,
                    format!(
                        "unknown needle variant `{other}`; expected \"single\", \"multi_key\" or \"multi_value\""
                    ),
                ));
            }
        };
        let default_count = if variant == NeedleVariant::Single {
            1
        } else {
            4
        };
        let count = n.count.as_ref().map_or(default_count, |c| *c.get_ref());
        let cspan = n.count.as_ref().map_or(span.clone(), |c| c.span());
        match variant {
            NeedleVariant::Single if count != 1 => {
                return Err(err(cspan, "a `single` needle has count = 1".into()));
            }
            NeedleVariant::MultiKey | NeedleVariant::MultiValue if !(2..=16).contains(&count) => {
                return Err(err(
                    cspan,
                    "multi_key / multi_value needles need a count from 2 to 16".into(),
                ));
            }
            _ => {}
        }
        needles.push(Needles {
            kind,
            variant,
            count,
        });
    }
    if needles.is_empty() {
        needles.push(Needles {
            kind: NeedleKind::Number,
            variant: NeedleVariant::Single,
            count: 1,
        });
    }
    let max_tokens = raw.max_tokens.as_ref().map_or(32, |m| *m.get_ref());
    if let Some(m) = &raw.max_tokens {
        if !(2..=1024).contains(m.get_ref()) {
            return Err(err(m.span(), "`max_tokens` must be from 2 to 1024".into()));
        }
    }
    if let Lengths::List(v) = &lengths {
        if v.iter().any(|&l| l <= max_tokens + 64) {
            return Err(err(
                lspan,
                format!(
                    "every length must exceed max_tokens ({max_tokens}) + 64 to leave room for a haystack"
                ),
            ));
        }
    }
    let repetitions = raw.repetitions.as_ref().map_or(1, |r| *r.get_ref());
    if let Some(r) = &raw.repetitions {
        if repetitions == 0 || repetitions > 10_000 {
            return Err(err(
                r.span(),
                "`repetitions` must be from 1 to 10000".into(),
            ));
        }
    }
    let warmup = raw.warmup.as_ref().map_or(1, |w| *w.get_ref());
    if let Some(w) = &raw.warmup {
        if warmup > 100 {
            return Err(err(w.span(), "`warmup` must be at most 100".into()));
        }
    }
    let threshold = raw.threshold.as_ref().map_or(0.85, |t| *t.get_ref());
    if let Some(t) = &raw.threshold {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(err(
                t.span(),
                "`threshold` is a recall between 0 and 1".into(),
            ));
        }
    }
    let temperature = raw.temperature.as_ref().map_or(0.0, |t| *t.get_ref());
    if let Some(t) = &raw.temperature {
        if !(0.0..=5.0).contains(&temperature) {
            return Err(err(t.span(), "`temperature` must be from 0 to 5".into()));
        }
    }
    let top_p = raw.top_p.as_ref().map_or(1.0, |t| *t.get_ref());
    if let Some(t) = &raw.top_p {
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(err(t.span(), "`top_p` must be in (0, 1]".into()));
        }
    }
    if lengths_written.is_empty() {
        return Err(err(
            0..0,
            "missing key `lengths`: a list of token counts or \"pow2:FROM..TO\"".into(),
        ));
    }
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        Context {
            lengths,
            lengths_written,
            depths,
            needles,
            max_tokens,
            warmup,
            repetitions,
            seed: raw.seed.unwrap_or(7),
            threshold,
            sampling: Sampling {
                temperature,
                top_p,
                ignore_eos: raw.ignore_eos.unwrap_or(true),
            },
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{Scenario, ScenarioBody};
    use super::*;

    fn ctx(text: &str) -> Context {
        match Scenario::parse(Path::new("c.toml"), text).unwrap().body {
            ScenarioBody::Context(c) => c,
            _ => panic!("not a context scenario"),
        }
    }

    #[test]
    fn pow2_lengths_resolve_against_the_backend() {
        let c = ctx("kind = \"context\"\nlengths = \"pow2:1k..max\"\n");
        assert_eq!(
            c.lengths.resolve(Some(8192)).unwrap(),
            vec![1024, 2048, 4096, 8192]
        );
        assert_eq!(
            c.lengths.resolve(Some(5000)).unwrap(),
            vec![1024, 2048, 4096]
        );
        assert!(c.lengths.resolve(None).is_err());
        let c = ctx("kind = \"context\"\nlengths = \"pow2:1k..4k\"\n");
        assert_eq!(c.lengths.resolve(None).unwrap(), vec![1024, 2048, 4096]);
        assert_eq!(c.depths, vec![0, 25, 50, 75, 100]);
        assert_eq!(c.needles[0].label(), "number/single");
    }

    #[test]
    fn needles_and_errors() {
        let c = ctx(
            "kind = \"context\"\nlengths = [1024]\n[[needles]]\nkind = \"uuid\"\nvariant = \"multi_key\"\ncount = 3\n",
        );
        assert_eq!(
            c.needles,
            vec![Needles {
                kind: NeedleKind::Uuid,
                variant: NeedleVariant::MultiKey,
                count: 3
            }]
        );
        let e = Scenario::parse(
            Path::new("c.toml"),
            "kind = \"context\"\nlengths = \"pow3:1k..2k\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.toml:2:11:"), "{e}");
        let e = Scenario::parse(
            Path::new("c.toml"),
            "kind = \"context\"\nlengths = [1024]\ndepths = [101]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("depths"), "{e}");
        let e = Scenario::parse(
            Path::new("c.toml"),
            "kind = \"context\"\nlengths = [1024]\n[[needles]]\nvariant = \"single\"\ncount = 2\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("c.toml:5:9:"), "{e}");
    }
}
