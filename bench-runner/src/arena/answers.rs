//! The material of battles: prompts (read from a file) and the answers each model gave
//! (`answers.jsonl`, one JSON object per line, appended and flushed per answer, so an
//! interrupted `arena run` keeps every answer it finished and `arena serve` can show them).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptItem {
    pub id: String,
    pub text: String,
}

/// Reads prompts: JSON Lines with `id` and `prompt` (or `text`), or a plain text file with one
/// prompt per non-empty line (ids `line-N`). Ids must be unique.
pub fn read_prompts(path: &Path) -> Result<Vec<PromptItem>> {
    let text = crate::source::read(path)?;
    let jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "json")
        || text.trim_start().starts_with('{');
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if jsonl {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Input {
                path: path.into(),
                line: i + 1,
                col: e.column(),
                message: e.to_string(),
            })?;
            let at = |m: &str| Error::Input {
                path: path.into(),
                line: i + 1,
                col: 1,
                message: m.into(),
            };
            let text = v
                .get("prompt")
                .or_else(|| v.get("text"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| at("expected a `prompt` string"))?;
            let id = match v.get("id") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                None => format!("line-{}", i + 1),
                Some(_) => return Err(at("`id` must be a string or a number")),
            };
            out.push(PromptItem {
                id,
                text: text.to_string(),
            });
        } else {
            out.push(PromptItem {
                id: format!("line-{}", i + 1),
                text: line.trim().to_string(),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for p in &out {
        if !seen.insert(&p.id) {
            return Err(Error::file(
                path,
                format!("prompt id `{}` appears twice", p.id),
            ));
        }
    }
    if out.is_empty() {
        return Err(Error::file(path, "no prompts"));
    }
    Ok(out)
}

/// One model's answer to one prompt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    pub prompt_id: String,
    pub prompt: String,
    /// The model label (what battles.csv and the leaderboard call it).
    pub model: String,
    /// The backend name in the config it came from.
    pub backend: String,
    pub text: String,
    /// Completion tokens as the server reported them.
    pub tokens: Option<u64>,
    pub finish_reason: Option<String>,
}

/// Reads answers.jsonl; a torn last line (interrupted write) is ignored.
pub fn read_answers(path: &Path) -> Result<Vec<Answer>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let text =
        std::str::from_utf8(&bytes[..complete]).map_err(|_| Error::file(path, "not UTF-8"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Input {
                path: path.into(),
                line: i + 1,
                col: e.column(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Appends one JSON value per line, each written whole and flushed.
pub struct JsonlAppender {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl JsonlAppender {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        }
        // A torn tail from an interrupted write is cut off so the next line starts clean.
        if let Ok(bytes) = std::fs::read(path) {
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if complete < bytes.len() {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::write(path, e))?;
                f.set_len(complete as u64)
                    .map_err(|e| Error::write(path, e))?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        Ok(JsonlAppender {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn append<T: Serialize>(&mut self, v: &T) -> Result<()> {
        let mut line = serde_json::to_vec(v).map_err(|e| Error::write(&self.path, e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| Error::write(&self.path, e))?;
        self.file.flush().map_err(|e| Error::write(&self.path, e))
    }
}

/// Answers grouped by prompt: prompt id → (prompt text, model → answer).
pub fn by_prompt(answers: &[Answer]) -> BTreeMap<String, (String, BTreeMap<String, Answer>)> {
    let mut m: BTreeMap<String, (String, BTreeMap<String, Answer>)> = BTreeMap::new();
    for a in answers {
        let e = m
            .entry(a.prompt_id.clone())
            .or_insert_with(|| (a.prompt.clone(), BTreeMap::new()));
        e.1.insert(a.model.clone(), a.clone());
    }
    m
}
