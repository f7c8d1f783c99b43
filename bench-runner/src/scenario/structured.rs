//! `kind = "structured"`: items that carry a JSON schema; the request sends
//! `response_format: {"type": "json_schema", "json_schema": {"name": …, "schema": …}}`
//! (llama-server, vLLM and Ollama's OpenAI-compatible endpoint read it), and each output is
//! validated against the schema (Draft 2020-12).
//!
//! ```toml
//! kind = "structured"
//! suite = "data/structured.jsonl"
//! limit = 10                  # at most this many items, spread evenly (default: all)
//! max_tokens = 256
//! temperature = 0.0           # sent explicitly: Ollama defaults to 1.0
//! top_p = 1.0
//! seed = 42
//! compare_unconstrained = true  # also run each item without response_format (TTFT cost of the grammar)
//! latency_target_ms = 10000
//! ```
//!
//! Suite lines: `{"id": "…", "messages": [{"role": "user", "content": "…"}], "schema": {…},
//! "name": "person"}` (`name` defaults to the id; `category` optional, default `structured`).
//! Cases: `constrained`, and `unconstrained` when asked for.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::{Common, Sampling, tool_calls::sampling};
use crate::error::{Error, Result};
use crate::source;

#[derive(Debug, Clone)]
pub struct StructuredItem {
    pub id: String,
    pub category: String,
    pub name: String,
    pub messages: Vec<Value>,
    pub schema: Value,
}

#[derive(Debug, Clone)]
pub struct Structured {
    pub suite: String,
    pub items: Vec<StructuredItem>,
    pub max_tokens: u32,
    pub seed: u64,
    pub sampling: Sampling,
    pub compare_unconstrained: bool,
    pub latency_target_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    suite: Spanned<String>,
    limit: Option<Spanned<u32>>,
    max_tokens: Option<Spanned<u32>>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    seed: Option<u64>,
    compare_unconstrained: Option<bool>,
    latency_target_ms: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: String,
    category: Option<String>,
    name: Option<String>,
    messages: Vec<Value>,
    schema: Value,
}

pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Structured)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let at = |span: std::ops::Range<usize>, m: String| source::error_at(path, text, Some(span), m);
    let dir = path.parent().unwrap_or(Path::new("."));
    let suite_path = dir.join(raw.suite.get_ref());
    if !suite_path.exists() {
        return Err(at(
            raw.suite.span(),
            format!("suite file {} does not exist", suite_path.display()),
        ));
    }
    let mut items = load(&suite_path)?;
    if let Some(l) = &raw.limit {
        if *l.get_ref() == 0 {
            return Err(at(l.span(), "`limit` must be at least 1".into()));
        }
        let (n, lim) = (items.len(), *l.get_ref() as usize);
        if lim < n {
            let keep: std::collections::BTreeSet<usize> = (0..lim).map(|i| i * n / lim).collect();
            items = items
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, x)| x)
                .collect();
        }
    }
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
        Structured {
            suite: raw.suite.get_ref().clone(),
            items,
            max_tokens,
            seed: raw.seed.unwrap_or(42),
            sampling: sampling(path, text, &raw.temperature, &raw.top_p)?,
            compare_unconstrained: raw.compare_unconstrained.unwrap_or(true),
            latency_target_ms,
        },
    ))
}

/// Reads a structured-output suite; every schema is compiled once here so a bad one is
/// reported at its line before anything runs.
pub fn load(path: &Path) -> Result<Vec<StructuredItem>> {
    let text = source::read(path)?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with("//") {
            continue;
        }
        let located = |m: String, col: usize| Error::Input {
            path: path.to_path_buf(),
            line: n,
            col,
            message: m,
        };
        let v: Value =
            serde_json::from_str(t).map_err(|e| located(e.to_string(), e.column().max(1)))?;
        let r: RawItem = serde_json::from_value(v).map_err(|e| located(e.to_string(), 1))?;
        crate::score::schema::compile(&r.schema)
            .map_err(|e| located(format!("item `{}`: invalid JSON schema: {e}", r.id), 1))?;
        if r.messages.is_empty() {
            return Err(located(format!("item `{}`: `messages` is empty", r.id), 1));
        }
        let name = r.name.unwrap_or_else(|| {
            r.id.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        });
        items.push(StructuredItem {
            id: r.id,
            category: r.category.unwrap_or_else(|| "structured".into()),
            name,
            messages: r.messages,
            schema: r.schema,
        });
    }
    if items.is_empty() {
        return Err(Error::file(path, "the suite holds no items"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::super::Scenario;

    #[test]
    fn parses_and_rejects_a_bad_schema_at_its_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("s.jsonl"), "{\"id\": \"p\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"schema\": {\"type\": \"object\"}}\n").unwrap();
        let p = d.path().join("t.toml");
        std::fs::write(&p, "kind = \"structured\"\nsuite = \"s.jsonl\"\n").unwrap();
        let s = Scenario::load(&p).unwrap();
        let ids: Vec<String> = s.cases().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec!["constrained", "unconstrained"]);
        std::fs::write(d.path().join("s.jsonl"), "\n{\"id\": \"p\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"schema\": {\"type\": 7}}\n").unwrap();
        let e = Scenario::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("s.jsonl:2:1") && e.contains("invalid JSON schema"),
            "{e}"
        );
    }
}
