//! The conversation an item sends, in both modes, with filler placed before the question.
//!
//! Depth: the context is grown by earlier tool results — the model "read" notes files before
//! the question came. The filler is salted, seeded common words (one token each in most
//! vocabularies, so `depth` words ≈ `depth` tokens; the server's count of the whole prompt is
//! recorded in `prompt_tokens`), split into results of at most [`FILLER_CHUNK`] words.
//! The filler goes after the item's own leading system messages and before the rest.
//!
//! - native: OpenAI messages with assistant `tool_calls` (`read_file`) and `tool` results;
//! - prompt: plain text turns only (any chat backend can send them) — the functions in a
//!   system message, filler as "Result of read_file(…)" user turns, calls and tool results
//!   of the agent loop as text.

use serde_json::{Value, json};

use crate::backend::Message;

pub const FILLER_CHUNK: usize = 2000;

/// The filler texts for a depth (empty for 0).
pub fn filler(depth: u32, salt: &str, seed: u64) -> Vec<String> {
    let mut left = depth as usize;
    let mut out = Vec::new();
    let mut i = 0u64;
    while left > 0 {
        let n = left.min(FILLER_CHUNK);
        let s = if i == 0 {
            salt.to_string()
        } else {
            String::new()
        };
        out.push(
            super::prompt::text(&s, seed.wrapping_add(i), n)
                .trim_start()
                .to_string(),
        );
        left -= n;
        i += 1;
    }
    out
}

fn split_system(messages: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let k = messages
        .iter()
        .take_while(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .count();
    (messages[..k].to_vec(), messages[k..].to_vec())
}

fn text_of(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Native mode: raw OpenAI messages.
pub fn native(messages: &[Value], filler: &[String]) -> Vec<Value> {
    let (system, rest) = split_system(messages);
    let mut out = system;
    if !filler.is_empty() {
        out.push(json!({"role": "user", "content": "Before my question, read the project notes."}));
        for (i, f) in filler.iter().enumerate() {
            let id = format!("call_notes_{i}");
            out.push(json!({"role": "assistant", "content": "", "tool_calls": [{
                "id": id, "type": "function",
                "function": {"name": "read_file", "arguments": json!({"path": format!("notes/part{}.txt", i + 1)}).to_string()}
            }]}));
            out.push(json!({"role": "tool", "tool_call_id": id, "content": f}));
        }
        out.push(json!({"role": "assistant", "content": "I have read the notes. What is your question?"}));
    }
    out.extend(rest);
    out
}

/// Prompt mode: text turns, our system prompt first (no system message when both ours and
/// the item's are empty).
pub fn prompt(messages: &[Value], filler: &[String], system_prompt: &str) -> Vec<Message> {
    let (system, rest) = split_system(messages);
    let mut sys = system_prompt.to_string();
    for s in &system {
        sys.push('\n');
        sys.push_str(&text_of(s));
    }
    let mut out = Vec::new();
    if !sys.trim().is_empty() {
        out.push(Message {
            role: "system".into(),
            content: sys.trim_start().to_string(),
        });
    }
    if !filler.is_empty() {
        out.push(Message {
            role: "user".into(),
            content: "Before my question, read the project notes.".into(),
        });
        for (i, f) in filler.iter().enumerate() {
            out.push(Message {
                role: "assistant".into(),
                content: format!("[read_file(path='notes/part{}.txt')]", i + 1),
            });
            out.push(Message {
                role: "user".into(),
                content: format!("Result of read_file(path='notes/part{}.txt'):\n{f}", i + 1),
            });
        }
        out.push(Message {
            role: "assistant".into(),
            content: "I have read the notes. What is your question?".into(),
        });
    }
    for m in rest {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("assistant") => "assistant",
            Some("system") => "system",
            _ => "user",
        };
        out.push(Message {
            role: role.into(),
            content: text_of(&m),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_goes_after_system_and_before_the_question() {
        let msgs = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "Weather in Paris?"}),
        ];
        let f = filler(4500, "[req 1]", 7);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f.iter()
                .map(|t| t.split_whitespace().count())
                .sum::<usize>(),
            4500 + 2
        );
        let n = native(&msgs, &f);
        assert_eq!(n[0]["role"], "system");
        assert_eq!(n[2]["tool_calls"][0]["function"]["name"], "read_file");
        assert_eq!(n[3]["role"], "tool");
        assert_eq!(n.last().unwrap()["content"], "Weather in Paris?");
        assert_eq!(native(&msgs, &[]), msgs);
        let p = prompt(&msgs, &f, "FUNCS");
        assert!(p[0].content.starts_with("FUNCS") && p[0].content.ends_with("Be brief."));
        assert_eq!(p.last().unwrap().content, "Weather in Paris?");
        assert!(filler(0, "s", 1).is_empty());
        let plain = prompt(&msgs[1..], &[], "");
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].role, "user");
    }
}
