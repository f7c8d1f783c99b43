//! `kind = "tool_calls"`: runs tool-call suites and scores every item as BFCL's AST checker
//! does, measuring speed in the same requests.
//!
//! ```toml
//! kind = "tool_calls"
//! suites = ["data/tool_suite.jsonl", "bfcl:simple_python", "bfcl:parallel"]
//! limit = 20                 # at most this many items per suite, spread evenly (default: all)
//! categories = ["simple"]    # keep only these categories (default: all)
//! mode = ["native"]          # "native" (server tool calling) and/or "prompt" (calls as text)
//! prompt_decoder = "bfcl"    # how prompt-mode answers are read: "bfcl" (BFCL's decoder) or
//!                            # "lenient" (edgebench's); default: bfcl for bfcl: suites, else lenient
//! depth = [0, 1000, 8000]    # filler tokens of earlier tool results before the question
//! max_tokens = 256
//! temperature = 0.0
//! top_p = 1.0
//! seed = 42
//! latency_target_ms = 10000  # an item counts for "correct goodput" if correct and E2E ≤ this
//! ```
//!
//! Cases are mode × depth, in file order, with ids `native_d0`, `prompt_d1000`, …; every case
//! runs every item once.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Common, Sampling, check_grid};
use crate::error::Result;
use crate::score::{Mode, PromptDecoder};
use crate::source;
use crate::workload::tool_suite::{self, SuiteError, ToolItem};

#[derive(Debug, Clone)]
pub struct ToolCalls {
    /// Suite references as written, in order.
    pub suites: Vec<String>,
    pub items: Vec<ToolItem>,
    pub modes: Vec<Mode>,
    pub depths: Vec<u32>,
    pub max_tokens: u32,
    pub seed: u64,
    pub sampling: Sampling,
    pub latency_target_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    suites: Spanned<Vec<Spanned<String>>>,
    limit: Option<Spanned<u32>>,
    categories: Option<Spanned<Vec<String>>>,
    mode: Option<Spanned<Vec<Spanned<String>>>>,
    prompt_decoder: Option<Spanned<String>>,
    depth: Option<Spanned<Vec<u32>>>,
    max_tokens: Option<Spanned<u32>>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    seed: Option<u64>,
    latency_target_ms: Option<Spanned<f64>>,
}

/// Largest depth accepted: far beyond any small model's context, low enough to catch typos.
const MAX_DEPTH: u32 = 1_048_576;

// Stays whole: one check per key in file order, every mistake located and collected.
pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, ToolCalls)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let at = |span: std::ops::Range<usize>, m: String| source::error_at(path, text, Some(span), m);
    if raw.suites.get_ref().is_empty() {
        return Err(at(
            raw.suites.span(),
            "`suites` is empty; name at least one suite file or bfcl:<category>".into(),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let limit = match &raw.limit {
        Some(l) if *l.get_ref() == 0 => {
            return Err(at(l.span(), "`limit` must be at least 1".into()));
        }
        Some(l) => Some(*l.get_ref() as usize),
        None => None,
    };
    let mut items = Vec::new();
    for s in raw.suites.get_ref() {
        let loaded = tool_suite::load_suite(s.get_ref(), dir).map_err(|e| match e {
            SuiteError::Located(e) => e,
            SuiteError::Message(m) => at(s.span(), m),
        })?;
        items.extend(tool_suite::sample(loaded, limit));
    }
    if let Some(cats) = &raw.categories {
        let keep = cats.get_ref();
        items.retain(|i| keep.contains(&i.category));
        if items.is_empty() {
            return Err(at(
                cats.span(),
                format!("no item of the suites is in categories {}", keep.join(", ")),
            ));
        }
    }
    if let Some(d) = &raw.prompt_decoder {
        let decoder = PromptDecoder::parse(d.get_ref()).ok_or_else(|| {
            at(
                d.span(),
                format!(
                    "unknown prompt_decoder `{}`; expected \"bfcl\" or \"lenient\"",
                    d.get_ref()
                ),
            )
        })?;
        for item in &mut items {
            item.prompt_decoder = decoder;
        }
    }
    let modes = match &raw.mode {
        None => vec![Mode::Native],
        Some(m) => {
            if m.get_ref().is_empty() {
                return Err(at(
                    m.span(),
                    "`mode` is empty; expected \"native\" and/or \"prompt\"".into(),
                ));
            }
            let mut out = Vec::new();
            for v in m.get_ref() {
                let mode = match v.get_ref().as_str() {
                    "native" => Mode::Native,
                    "prompt" => Mode::Prompt,
                    other => {
                        return Err(at(
                            v.span(),
                            format!("unknown mode `{other}`; expected \"native\" or \"prompt\""),
                        ));
                    }
                };
                if out.contains(&mode) {
                    return Err(at(
                        v.span(),
                        format!("mode `{}` is listed twice", mode.as_str()),
                    ));
                }
                out.push(mode);
            }
            out
        }
    };
    let depths = match &raw.depth {
        Some(d) => check_grid(path, text, "depth", d, 0, MAX_DEPTH)?,
        None => vec![0],
    };
    let max_tokens = match &raw.max_tokens {
        Some(m) if *m.get_ref() == 0 || *m.get_ref() > 1_048_576 => {
            return Err(at(
                m.span(),
                "`max_tokens` must be from 1 to 1048576".into(),
            ));
        }
        Some(m) => *m.get_ref(),
        None => 256,
    };
    let sampling = sampling(path, text, &raw.temperature, &raw.top_p)?;
    let latency_target_ms = match &raw.latency_target_ms {
        Some(l) if !(*l.get_ref() > 0.0 && l.get_ref().is_finite()) => {
            return Err(at(
                l.span(),
                "`latency_target_ms` must be a positive number".into(),
            ));
        }
        Some(l) => Some(*l.get_ref()),
        None => None,
    };
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        ToolCalls {
            suites: raw
                .suites
                .get_ref()
                .iter()
                .map(|s| s.get_ref().clone())
                .collect(),
            items,
            modes,
            depths,
            max_tokens,
            seed: raw.seed.unwrap_or(42),
            sampling,
            latency_target_ms,
        },
    ))
}

/// Sampling for correctness runs: greedy by default, and never `ignore_eos`.
pub(super) fn sampling(
    path: &Path,
    text: &str,
    t: &Option<Spanned<f64>>,
    p: &Option<Spanned<f64>>,
) -> Result<Sampling> {
    let temperature = match t {
        Some(t) if !(0.0..=5.0).contains(t.get_ref()) => {
            return Err(source::error_at(
                path,
                text,
                Some(t.span()),
                "`temperature` must be from 0 to 5",
            ));
        }
        Some(t) => *t.get_ref(),
        None => 0.0,
    };
    let top_p = match p {
        Some(p) if !(*p.get_ref() > 0.0 && *p.get_ref() <= 1.0) => {
            return Err(source::error_at(
                path,
                text,
                Some(p.span()),
                "`top_p` must be in (0, 1]",
            ));
        }
        Some(p) => *p.get_ref(),
        None => 1.0,
    };
    Ok(Sampling {
        temperature,
        top_p,
        ignore_eos: false,
    })
}

/// The mode of a tool-call case, from its id (`native_d0`, `prompt_d1000`).
pub fn case_mode(case_id: &str) -> Mode {
    if case_id.starts_with("prompt") {
        Mode::Prompt
    } else {
        Mode::Native
    }
}

#[cfg(test)]
mod tests {
    use super::super::Scenario;
    use crate::error::Error;

    fn write(dir: &std::path::Path, scenario: &str) -> Result<Scenario, Error> {
        std::fs::write(dir.join("s.jsonl"), concat!(
            "{\"define\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}}}\n",
            "{\"id\": \"x\", \"category\": \"simple\", \"messages\": [{\"role\": \"user\", \"content\": \"a=1\"}], \"functions\": [\"f\"], \"expected\": [{\"f\": {\"a\": [1]}}]}\n",
            "{\"id\": \"y\", \"category\": \"irrelevance\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"functions\": [\"f\"]}\n",
        )).unwrap();
        let p = dir.join("t.toml");
        std::fs::write(&p, scenario).unwrap();
        Scenario::load(&p)
    }

    #[test]
    fn parses_and_expands_mode_by_depth() {
        let d = tempfile::tempdir().unwrap();
        let s = write(d.path(), "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\nmode = [\"native\", \"prompt\"]\ndepth = [0, 500]\n").unwrap();
        let ids: Vec<String> = s.cases().into_iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            vec!["native_d0", "native_d500", "prompt_d0", "prompt_d500"]
        );
        assert_eq!(s.cases()[0].requests(), 2);
        let s = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\ncategories = [\"irrelevance\"]\n",
        )
        .unwrap();
        assert_eq!(s.cases()[0].requests(), 1);
    }

    #[test]
    fn prompt_decoder_defaults_by_suite_and_can_be_chosen() {
        use crate::score::PromptDecoder;
        let d = tempfile::tempdir().unwrap();
        let decoders = |s: &Scenario| match &s.body {
            super::super::ScenarioBody::ToolCalls(t) => {
                t.items.iter().map(|i| i.prompt_decoder).collect::<Vec<_>>()
            }
            _ => panic!("tool_calls expected"),
        };
        let s = write(d.path(), "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\n").unwrap();
        assert_eq!(decoders(&s), vec![PromptDecoder::Lenient; 2]);
        let s = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\nprompt_decoder = \"bfcl\"\n",
        )
        .unwrap();
        assert_eq!(decoders(&s), vec![PromptDecoder::Bfcl; 2]);
        let e = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\nprompt_decoder = \"strict\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml:3:18") && e.contains("unknown prompt_decoder `strict`"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_are_located() {
        let d = tempfile::tempdir().unwrap();
        let e = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\", \"missing.jsonl\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml:2:22") && e.contains("does not exist"),
            "{e}"
        );
        let e = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\nmode = [\"native\", \"text\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml:3:19") && e.contains("unknown mode"),
            "{e}"
        );
        let e = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"bfcl:chess\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml:2:11") && e.contains("unknown BFCL category"),
            "{e}"
        );
        let e = write(
            d.path(),
            "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\nlimt = 3\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("t.toml:3:1") && e.contains("unknown field `limt`"),
            "{e}"
        );
    }
}
