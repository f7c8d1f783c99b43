//! Tool-call suites: what is asked, which functions are offered, which calls are acceptable.
//!
//! Two sources:
//! - **our JSONL files** (`scenarios/data/*.jsonl`), one JSON object per line:
//!   ```json
//!   {"define": {"name": "get_weather", "description": "…", "parameters": {…}}}
//!   {"id": "w1", "category": "simple", "messages": [{"role": "user", "content": "…"}],
//!    "functions": ["get_weather"], "expected": [{"get_weather": {"city": ["Paris"], "unit": ["celsius", ""]}}]}
//!   ```
//!   `define` lines declare functions that items name in `functions` (an item may also give
//!   whole function objects there). `expected` is BFCL's possible-answer shape: per call, per
//!   parameter, the acceptable values (`""` marks an optional parameter). Categories:
//!   `simple`, `multiple`, `parallel`, `parallel_multiple`, `irrelevance`, and `agent` for
//!   multi-turn items with an `agent` block (see [`AgentSpec`]). Blank lines and lines
//!   starting with `//` are skipped. BFCL's own keys (`question`, `function`,
//!   `ground_truth`) are accepted too.
//! - **BFCL's files** from the `bfcl-eval` package: `bfcl:simple_python`, `bfcl:parallel`,
//!   `bfcl:live_simple`, … (see [`BFCL_CATEGORIES`]); questions from `BFCL_v4_<cat>.json`,
//!   answers from `possible_answer/BFCL_v4_<cat>.json`, matched by line order as BFCL does.
//!   The data folder is `$EDGEBENCH_BFCL_DATA`, else `bfcl_eval/data` inside a `.venv` found
//!   next to the scenario file or one of its parent folders, else in the working directory's.
//!
//! Every mistake in a file is reported as `file:line:col`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::score::{ExpectedCall, PromptDecoder};
use crate::source;

/// BFCL single-turn categories this loader reads (multi-turn, memory and web-search need
/// BFCL's own executable environments).
pub const BFCL_CATEGORIES: &[&str] = &[
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
];

#[derive(Debug, Clone)]
pub struct ToolItem {
    pub id: String,
    /// `simple`, `parallel`, …, or the BFCL category; picks the checker.
    pub category: String,
    /// Where it came from: the file stem or `bfcl:<category>`.
    pub suite: String,
    /// The conversation up to the question (OpenAI roles `system` / `user` / `assistant`).
    pub messages: Vec<Value>,
    /// Function docs as the suite gives them (BFCL shape: name, description, parameters).
    pub functions: Vec<Value>,
    pub expected: Vec<ExpectedCall>,
    pub agent: Option<AgentSpec>,
    /// How a prompt-mode answer is read: BFCL's decoder for BFCL's files (so the score is
    /// the one BFCL publishes), edgebench's lenient one for our own suites; a scenario's
    /// `prompt_decoder` overrides it.
    pub prompt_decoder: PromptDecoder,
}

/// A multi-turn item: edgebench answers each call from the simulator (see
/// [`super::simulator`]) until the model answers in text or `max_turns` requests are made.
/// It succeeds when the final text contains one of `answer` (compared after BFCL's string
/// normalisation) and every call on the way was well-formed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    #[serde(default = "default_turns")]
    pub max_turns: u32,
    pub answer: Vec<String>,
    /// Extra rows for the simulator's tables: `files` (path → text), `weather` (city → object).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub weather: BTreeMap<String, Value>,
}

fn default_turns() -> u32 {
    6
}

/// A suite reference as written in a scenario: a path (relative to the scenario) or `bfcl:…`.
pub fn load_suite(
    reference: &str,
    scenario_dir: &Path,
) -> std::result::Result<Vec<ToolItem>, SuiteError> {
    if let Some(cat) = reference.strip_prefix("bfcl:") {
        let cat = match cat {
            "simple" => "simple_python",
            "java" => "simple_java",
            "javascript" => "simple_javascript",
            c => c,
        };
        if !BFCL_CATEGORIES.contains(&cat) {
            return Err(SuiteError::Message(format!(
                "unknown BFCL category `{cat}`; expected one of: {}",
                BFCL_CATEGORIES.join(", ")
            )));
        }
        let dir = bfcl_data_dir(scenario_dir).ok_or_else(|| SuiteError::Message(
            "BFCL data not found: install it with `EDGEBENCH_SETUP_EXTRAS=bfcl scripts/setup` (package bfcl-eval) or set EDGEBENCH_BFCL_DATA to its data folder".into(),
        ))?;
        return load_bfcl(&dir, cat).map_err(SuiteError::Located);
    }
    let path = scenario_dir.join(reference);
    if !path.exists() {
        return Err(SuiteError::Message(format!(
            "suite file {} does not exist",
            path.display()
        )));
    }
    load_jsonl(&path).map_err(SuiteError::Located)
}

/// A suite could not be loaded: either located in the suite file, or a plain message that the
/// scenario loader locates at the `suites` entry.
#[derive(Debug)]
pub enum SuiteError {
    Located(Error),
    Message(String),
}

/// Where `bfcl_eval/data` is, if installed.
pub fn bfcl_data_dir(start: &Path) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("EDGEBENCH_BFCL_DATA") {
        return Some(PathBuf::from(d));
    }
    let cwd = std::env::current_dir().ok();
    let starts = [Some(start.to_path_buf()), cwd];
    for s in starts.iter().flatten() {
        let abs = if s.is_absolute() {
            s.clone()
        } else {
            std::env::current_dir().ok()?.join(s)
        };
        for dir in abs.ancestors() {
            let lib = dir.join(".venv/lib");
            let Ok(entries) = std::fs::read_dir(&lib) else {
                continue;
            };
            for e in entries.flatten() {
                let d = e.path().join("site-packages/bfcl_eval/data");
                if d.join("BFCL_v4_simple_python.json").exists() {
                    return Some(d);
                }
            }
        }
    }
    None
}

fn json_error(path: &Path, line: usize, e: &serde_json::Error) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line,
        col: e.column().max(1),
        message: e.to_string(),
    }
}

fn input(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line,
        col: 1,
        message: message.into(),
    }
}

/// Lines of a JSON Lines file with their 1-based numbers, skipping blanks and `//` comments.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: Option<String>,
    category: Option<String>,
    messages: Option<Vec<Value>>,
    functions: Option<Vec<Value>>,
    expected: Option<Vec<Value>>,
    agent: Option<AgentSpec>,
    // BFCL's own keys.
    question: Option<Vec<Vec<Value>>>,
    function: Option<Vec<Value>>,
    ground_truth: Option<Vec<Value>>,
}

pub fn load_jsonl(path: &Path) -> Result<Vec<ToolItem>> {
    let text = source::read(path)?;
    let suite = path
        .file_stem()
        .map_or_else(|| "suite".into(), |s| s.to_string_lossy().into_owned());
    let mut defined: BTreeMap<String, Value> = BTreeMap::new();
    let mut items = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (n, line) in lines(&text) {
        let v: Value = serde_json::from_str(line).map_err(|e| json_error(path, n, &e))?;
        if let Some(d) = v.get("define") {
            check_function(d).map_err(|m| input(path, n, m))?;
            let name = d["name"].as_str().unwrap_or_default().to_string();
            defined.insert(name, d.clone());
            continue;
        }
        let raw: RawItem = serde_json::from_value(v).map_err(|e| input(path, n, e.to_string()))?;
        let id = raw
            .id
            .clone()
            .unwrap_or_else(|| format!("{suite}_{}", items.len()));
        if !ids.insert(id.clone()) {
            return Err(input(path, n, format!("item id `{id}` appears twice")));
        }
        let category = raw
            .category
            .clone()
            .unwrap_or_else(|| category_from_id(&id));
        let messages = match (raw.messages, raw.question) {
            (Some(m), _) => m,
            (None, Some(q)) => q.into_iter().next().unwrap_or_default(),
            (None, None) => return Err(input(path, n, format!("item `{id}` has no `messages`"))),
        };
        check_messages(&messages).map_err(|m| input(path, n, format!("item `{id}`: {m}")))?;
        let mut functions = Vec::new();
        for f in raw.functions.or(raw.function).unwrap_or_default() {
            match f {
                Value::String(name) => match defined.get(&name) {
                    Some(d) => functions.push(d.clone()),
                    None => {
                        return Err(input(
                            path,
                            n,
                            format!(
                                "item `{id}` names function `{name}`, which no earlier `define` line declares"
                            ),
                        ));
                    }
                },
                f => {
                    check_function(&f).map_err(|m| input(path, n, format!("item `{id}`: {m}")))?;
                    functions.push(f);
                }
            }
        }
        if functions.is_empty() {
            return Err(input(path, n, format!("item `{id}` offers no functions")));
        }
        let expected = parse_expected(raw.expected.or(raw.ground_truth).unwrap_or_default())
            .map_err(|m| input(path, n, format!("item `{id}`: {m}")))?;
        check_item_shape(&category, &expected, &functions, raw.agent.is_some())
            .map_err(|m| input(path, n, format!("item `{id}`: {m}")))?;
        items.push(ToolItem {
            id,
            category,
            suite: suite.clone(),
            messages,
            functions,
            expected,
            agent: raw.agent,
            prompt_decoder: PromptDecoder::Lenient,
        });
    }
    if items.is_empty() {
        return Err(Error::file(path, "the suite holds no items"));
    }
    Ok(items)
}

fn category_from_id(id: &str) -> String {
    // BFCL ids: `simple_python_12`, `live_simple_3-2-1`: the category is the id without its number.
    let base = id.rsplit_once('_').map_or(id, |(b, _)| b);
    base.to_string()
}

fn check_function(f: &Value) -> std::result::Result<(), String> {
    if f.get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("a function needs a non-empty `name`".into());
    }
    match f.get("parameters") {
        Some(p) if p.get("properties").is_some_and(|x| !x.is_object()) => {
            Err("`parameters.properties` must be an object".into())
        }
        Some(p) if p.is_object() => Ok(()),
        None => Ok(()),
        Some(_) => Err("`parameters` must be an object".into()),
    }
}

fn check_messages(m: &[Value]) -> std::result::Result<(), String> {
    if m.is_empty() {
        return Err("`messages` is empty".into());
    }
    for msg in m {
        let role = msg.get("role").and_then(Value::as_str);
        if !matches!(role, Some("system" | "user" | "assistant" | "tool")) {
            return Err(format!(
                "a message needs a role of system, user, assistant or tool: {msg}"
            ));
        }
    }
    Ok(())
}

fn parse_expected(v: Vec<Value>) -> std::result::Result<Vec<ExpectedCall>, String> {
    v.iter()
        .map(|e| {
            ExpectedCall::from_bfcl(e).ok_or_else(|| {
                format!(
                    "expected call {e} is not {{\"function\": {{\"param\": [acceptable values…]}}}}"
                )
            })
        })
        .collect()
}

fn check_item_shape(
    category: &str,
    expected: &[ExpectedCall],
    functions: &[Value],
    agent: bool,
) -> std::result::Result<(), String> {
    use crate::score::ast::CheckKind;
    if agent {
        return Ok(());
    }
    if category == "agent" {
        return Err("category `agent` needs an `agent` block".into());
    }
    match CheckKind::of(category) {
        CheckKind::Irrelevance | CheckKind::Relevance => Ok(()),
        CheckKind::Simple | CheckKind::Multiple if expected.len() != 1 => Err(format!(
            "category `{category}` expects exactly one call, the item lists {}",
            expected.len()
        )),
        CheckKind::Parallel if expected.is_empty() => {
            Err("a parallel item needs expected calls".into())
        }
        _ => {
            for e in expected {
                if !functions
                    .iter()
                    .any(|f| f.get("name").and_then(Value::as_str) == Some(e.name.as_str()))
                {
                    return Err(format!(
                        "expected call `{}` is not among the item's functions",
                        e.name
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Loads one BFCL category: questions and possible answers, matched by line order.
pub fn load_bfcl(dir: &Path, category: &str) -> Result<Vec<ToolItem>> {
    let qpath = dir.join(format!("BFCL_v4_{category}.json"));
    let mut items = load_jsonl_bfcl(&qpath, category)?;
    let apath = dir
        .join("possible_answer")
        .join(format!("BFCL_v4_{category}.json"));
    if apath.exists() {
        let text = source::read(&apath)?;
        let answers: Vec<(usize, Value)> = lines(&text)
            .map(|(n, l)| {
                serde_json::from_str::<Value>(l)
                    .map(|v| (n, v))
                    .map_err(|e| json_error(&apath, n, &e))
            })
            .collect::<Result<_>>()?;
        if answers.len() != items.len() {
            return Err(Error::file(
                &apath,
                format!("{} answers for {} questions", answers.len(), items.len()),
            ));
        }
        for (item, (n, a)) in items.iter_mut().zip(answers) {
            let gt = a
                .get("ground_truth")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            item.expected = parse_expected(gt).map_err(|m| input(&apath, n, m))?;
        }
    }
    Ok(items)
}

fn load_jsonl_bfcl(path: &Path, category: &str) -> Result<Vec<ToolItem>> {
    let text = source::read(path)?;
    let mut items = Vec::new();
    for (n, line) in lines(&text) {
        let v: Value = serde_json::from_str(line).map_err(|e| json_error(path, n, &e))?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let messages = v
            .pointer("/question/0")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let functions = v
            .get("function")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Some live_irrelevance items offer no function at all: any call is then a hallucination.
        if messages.is_empty() || (functions.is_empty() && !category.contains("irrelevance")) {
            return Err(input(
                path,
                n,
                format!("BFCL item `{id}` lacks a question or functions"),
            ));
        }
        items.push(ToolItem {
            id,
            category: category.to_string(),
            suite: format!("bfcl:{category}"),
            messages,
            functions,
            expected: Vec::new(),
            agent: None,
            prompt_decoder: PromptDecoder::Bfcl,
        });
    }
    Ok(items)
}

/// `limit` items spread evenly over the suite (item ⌊i·n/limit⌋ for i < limit), so a small
/// sample still covers the whole file; all items when `limit` is `None` or ≥ n.
pub fn sample(items: Vec<ToolItem>, limit: Option<usize>) -> Vec<ToolItem> {
    let n = items.len();
    match limit {
        Some(l) if l < n => {
            let keep: std::collections::BTreeSet<usize> = (0..l).map(|i| i * n / l).collect();
            items
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, it)| it)
                .collect()
        }
        _ => items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_with_defines_and_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.jsonl");
        std::fs::write(&p, concat!(
            "// a comment\n",
            "{\"define\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}}}\n",
            "\n",
            "{\"id\": \"x\", \"category\": \"simple\", \"messages\": [{\"role\": \"user\", \"content\": \"a=1\"}], \"functions\": [\"f\"], \"expected\": [{\"f\": {\"a\": [1]}}]}\n",
            "{\"id\": \"y\", \"category\": \"irrelevance\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"functions\": [\"f\"]}\n",
        )).unwrap();
        let items = load_jsonl(&p).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].expected[0].name, "f");
        assert_eq!(items[1].category, "irrelevance");

        std::fs::write(&p, "{\"id\": \"x\", \"category\": \"simple\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"functions\": [\"g\"], \"expected\": []}\n").unwrap();
        let e = load_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("s.jsonl:1:1") && e.contains("`g`"), "{e}");
        std::fs::write(&p, "\n{\"id\": \"x\", \"messages\": [}\n").unwrap();
        let e = load_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("s.jsonl:2:"), "{e}");
        std::fs::write(
            &p,
            "{\"id\": \"x\", \"category\": \"simple\", \"mesages\": []}\n",
        )
        .unwrap();
        assert!(
            load_jsonl(&p)
                .unwrap_err()
                .to_string()
                .contains("unknown field `mesages`")
        );
    }

    #[test]
    fn sampling_spreads_evenly() {
        let item = |i: usize| ToolItem {
            id: i.to_string(),
            category: "simple".into(),
            suite: "s".into(),
            messages: vec![],
            functions: vec![],
            expected: vec![],
            agent: None,
            prompt_decoder: PromptDecoder::Lenient,
        };
        let items: Vec<ToolItem> = (0..10).map(item).collect();
        let ids: Vec<String> = sample(items, Some(3)).into_iter().map(|i| i.id).collect();
        assert_eq!(ids, vec!["0", "3", "6"]);
    }
}
