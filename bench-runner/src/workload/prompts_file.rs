//! A user's own prompts, from a JSON Lines file (`prompts_file = "prompts.jsonl"`).
//!
//! One prompt per line, either a conversation or a raw text prompt, and optionally how many
//! tokens to generate for it:
//!
//! ```text
//! {"messages": [{"role": "user", "content": "Summarise this: …"}], "output_tokens": 128}
//! {"prompt": "Once upon a time", "max_tokens": 64}
//! ```
//!
//! Blank lines and lines starting with `//` are skipped. Unknown keys are errors (a
//! misspelt `output_token` would otherwise silently use the scenario's length). A bad line
//! is reported as `file:line:col`.
//!
//! `pick` draws which prompt each request sends: the file is shuffled with the seed and
//! walked in that order, reshuffled after each pass, so every prompt is used equally often
//! (±1) and the order is the same for the same seed.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;

use crate::backend::Message;
use crate::error::{Error, Result};
use crate::source;

/// One line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrompt {
    /// 1-based line in the file, for messages about this prompt.
    pub line: usize,
    pub body: PromptBody,
    /// `output_tokens` (or its alias `max_tokens`) from the line, else the scenario's.
    pub output_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptBody {
    /// A conversation for the chat endpoint.
    Messages(Vec<(String, String)>),
    /// A raw prompt for the completions endpoint (sent as one user turn to a chat endpoint).
    Text(String),
}

impl PromptBody {
    /// The conversation as the backend's messages (a text prompt becomes one user turn).
    pub fn messages(&self) -> Vec<Message> {
        match self {
            PromptBody::Messages(m) => m
                .iter()
                .map(|(role, content)| Message {
                    role: role.clone(),
                    content: content.clone(),
                })
                .collect(),
            PromptBody::Text(t) => vec![Message {
                role: "user".into(),
                content: t.clone(),
            }],
        }
    }
}

/// The most output tokens one line may ask for (as the scenario's `max_tokens`).
const MAX_OUTPUT: u32 = 1_048_576;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    messages: Option<Vec<Value>>,
    prompt: Option<String>,
    output_tokens: Option<u32>,
    max_tokens: Option<u32>,
}

/// Reads and checks a prompts file; an empty file is an error.
pub fn load(path: &Path) -> Result<Vec<UserPrompt>> {
    parse(path, &source::read(path)?)
}

/// Parses a prompts file's text (`path` is only for messages).
pub fn parse(path: &Path, text: &str) -> Result<Vec<UserPrompt>> {
    let at = |line: usize, col: usize, message: String| Error::Input {
        path: path.to_path_buf(),
        line,
        col: col.max(1),
        message,
    };
    let mut prompts = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw_line.trim();
        if t.is_empty() || t.starts_with("//") {
            continue;
        }
        let raw: RawLine = serde_json::from_str(raw_line)
            .map_err(|e| at(line, e.column(), format!("{e}; expected {}", EXPECTED)))?;
        let body = match (raw.messages, raw.prompt) {
            (Some(_), Some(_)) => {
                return Err(at(line, 1, "give `messages` or `prompt`, not both".into()));
            }
            (None, None) => {
                return Err(at(
                    line,
                    1,
                    format!("no `messages` or `prompt`; expected {EXPECTED}"),
                ));
            }
            (None, Some(p)) if p.trim().is_empty() => {
                return Err(at(line, 1, "`prompt` is empty".into()));
            }
            (None, Some(p)) => PromptBody::Text(p),
            (Some(m), None) => {
                PromptBody::Messages(check_messages(&m).map_err(|e| at(line, 1, e))?)
            }
        };
        let output_tokens = match (raw.output_tokens, raw.max_tokens) {
            (Some(_), Some(_)) => {
                return Err(at(
                    line,
                    1,
                    "give `output_tokens` or `max_tokens` (the same thing), not both".into(),
                ));
            }
            (Some(n), None) | (None, Some(n)) if n == 0 || n > MAX_OUTPUT => {
                return Err(at(
                    line,
                    1,
                    format!("the output length is {n}; expected 1 to {MAX_OUTPUT} tokens"),
                ));
            }
            (o, m) => o.or(m),
        };
        prompts.push(UserPrompt {
            line,
            body,
            output_tokens,
        });
    }
    if prompts.is_empty() {
        return Err(Error::file(
            path,
            format!(
                "the prompts file holds no prompts; expected one JSON object per line, {EXPECTED}"
            ),
        ));
    }
    Ok(prompts)
}

const EXPECTED: &str = "{\"messages\": [{\"role\": \"user\", \"content\": \"…\"}]} or {\"prompt\": \"…\"}, \
     optionally with \"output_tokens\"";

fn check_messages(m: &[Value]) -> std::result::Result<Vec<(String, String)>, String> {
    if m.is_empty() {
        return Err("`messages` is empty".into());
    }
    m.iter()
        .enumerate()
        .map(|(i, msg)| {
            let role = msg.get("role").and_then(Value::as_str);
            let content = msg.get("content").and_then(Value::as_str);
            match (role, content) {
                (Some(r @ ("system" | "user" | "assistant")), Some(c)) => {
                    Ok((r.to_string(), c.to_string()))
                }
                _ => Err(format!(
                    "message {} needs a `role` of system, user or assistant and a text `content`: {msg}",
                    i + 1
                )),
            }
        })
        .collect()
}

/// Which prompt each of `n` requests sends (indices into the file's prompts): seeded
/// shuffles, walked in turn, so every prompt is used equally often (see the module comment).
pub fn pick(prompts: usize, n: usize, seed: u64) -> Vec<usize> {
    if prompts == 0 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..prompts).collect();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        order.shuffle(&mut rng);
        out.extend(order.iter().take(n - out.len()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    fn located(text: &str) -> (usize, usize, String) {
        match parse(Path::new("p.jsonl"), text) {
            Err(Error::Input {
                line, col, message, ..
            }) => (line, col, message),
            other => panic!("expected a located error, got {other:?}"),
        }
    }

    #[test]
    fn reads_both_shapes_with_their_output_lengths() {
        let text = "// my prompts\n{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}], \"output_tokens\": 32}\n\n{\"prompt\": \"Once upon\", \"max_tokens\": 8}\n{\"prompt\": \"Plain\"}\n";
        let p = parse(Path::new("p.jsonl"), text).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].line, 2);
        assert_eq!(
            p[0].body,
            PromptBody::Messages(vec![
                ("system".into(), "Be brief.".into()),
                ("user".into(), "Hi".into())
            ])
        );
        assert_eq!(p[0].output_tokens, Some(32));
        assert_eq!((p[1].line, p[1].output_tokens), (4, Some(8)));
        assert_eq!(p[1].body.messages()[0].content, "Once upon");
        assert_eq!(p[2].output_tokens, None);
    }

    #[test]
    fn a_bad_line_is_reported_where_it_is() {
        let (line, col, msg) = located("{\"prompt\": \"ok\"}\n{\"prompt\": \"unterminated}\n");
        assert_eq!((line, col > 1), (2, true));
        assert!(msg.contains("EOF") || msg.contains("string"), "{msg}");
        let (line, _, msg) =
            located("{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\", \"output_token\": 5}\n");
        assert_eq!(line, 3);
        assert!(msg.contains("unknown field `output_token`"), "{msg}");
        let (_, _, msg) = located("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n");
        assert!(msg.contains("message 1 needs a `role`"), "{msg}");
        let (_, _, msg) = located("{\"messages\": []}\n");
        assert!(msg.contains("empty"), "{msg}");
        let (_, _, msg) = located("{\"prompt\": \"a\", \"messages\": []}\n");
        assert!(msg.contains("not both"), "{msg}");
        let (_, _, msg) = located("{\"prompt\": \"a\", \"output_tokens\": 0}\n");
        assert!(msg.contains("1 to"), "{msg}");
        let (_, _, msg) = located("{\"output_tokens\": 5}\n");
        assert!(msg.contains("no `messages` or `prompt`"), "{msg}");
        let (_, _, msg) = located("[1, 2]\n");
        assert!(msg.contains("expected {\"messages\""), "{msg}");
        let e = parse(Path::new("p.jsonl"), "\n// nothing\n").unwrap_err();
        assert!(e.to_string().contains("holds no prompts"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn picks_are_seeded_and_use_every_prompt_equally() {
        let a = pick(5, 23, 1);
        assert_eq!(a, pick(5, 23, 1));
        assert_ne!(a, pick(5, 23, 2));
        assert_eq!(a.len(), 23);
        for i in 0..5 {
            let k = a.iter().filter(|&&x| x == i).count();
            assert!((4..=5).contains(&k), "prompt {i} used {k} times");
        }
        // Each pass is a permutation.
        let mut first: Vec<usize> = a[..5].to_vec();
        first.sort_unstable();
        assert_eq!(first, [0, 1, 2, 3, 4]);
        assert!(pick(0, 3, 1).is_empty());
    }
}
