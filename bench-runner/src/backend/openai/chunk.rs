//! One event of an OpenAI completion stream, applied to the response being assembled: the
//! generated text (chat `delta.content`, `delta.reasoning_content` and `delta.reasoning`, or
//! completions `choices[0].text`), tool-call deltas, the finish reason, `usage` and llama.cpp's
//! `timings`; an `error` object ends the stream.
//!
//! This runs once per streamed token, so it reads the event with a typed, borrowing parse
//! (serde derive with `Cow<str>`: text without escapes is not copied, fields nobody reads are
//! skipped without being built, only `choices[0]` is kept). Anything that shape does not
//! accept — a field of an unexpected type, an event that is not an object, a key given twice —
//! falls back to the generic reading through `serde_json::Value`, which the typed path mirrors
//! field by field, so both read every stream the same way.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Instant;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use super::tool_stream::ToolCallAssembler;
use crate::backend::{
    ContentChunk, Endpoint, ErrorCategory, RequestError, Response, ServerTimings, Usage,
};

/// The generated content that the events of one network read carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadTally {
    /// Events with generated content (llama.cpp sends one token per event).
    pub events: u32,
    /// Bytes of generated text (at least 1 per event, so a tool-call delta counts).
    pub bytes: usize,
}

impl ReadTally {
    /// Records the read as one content chunk stamped `at`, if it carried content.
    pub fn close(self, at: Instant, out: &mut Response) {
        if self.events > 0 {
            out.content.push(ContentChunk {
                at,
                // Events per read are kept as the token hint.
                tokens: Some(self.events),
                text_bytes: self.bytes,
            });
        }
    }
}

/// Applies one event's JSON `data` (not `[DONE]`) to `out`; returns true when the stream must
/// stop (an error: bad JSON, or the server's `error` object), with `out.error` set.
pub fn apply_event(
    endpoint: Endpoint,
    data: &str,
    out: &mut Response,
    tools: &mut ToolCallAssembler,
    tally: &mut ReadTally,
) -> bool {
    match serde_json::from_str::<Chunk<'_>>(data) {
        Ok(chunk) => apply_typed(endpoint, chunk, out, tools, tally),
        Err(_) => match serde_json::from_str::<Value>(data) {
            Ok(v) => apply_value(endpoint, &v, out, tools, tally),
            Err(e) => {
                out.error = Some(RequestError::new(
                    ErrorCategory::MalformedStream,
                    format!("bad JSON in stream: {e}"),
                ));
                true
            }
        },
    }
}

#[derive(Deserialize)]
struct Chunk<'a> {
    /// Present (even as `null`) means the server reports an error.
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
    #[serde(borrow, default, deserialize_with = "first")]
    choices: Option<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageIn>,
    #[serde(default)]
    timings: Option<TimingsIn>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Text<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Text<'a>>,
    #[serde(borrow, default)]
    reasoning: Option<Text<'a>>,
    /// Rare (tool scenarios), so built generically for the assembler.
    #[serde(default)]
    tool_calls: Option<Value>,
}

/// Text borrowed from the event where it has no escapes (serde borrows a `Cow<str>` field
/// only when the field's type is exactly that, hence the newtype, not `Option<Cow<str>>`).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct UsageIn {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<DetailsIn>,
}

#[derive(Deserialize)]
struct DetailsIn {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct TimingsIn {
    cache_n: Option<u64>,
    prompt_n: Option<u64>,
    prompt_ms: Option<f64>,
    prompt_per_second: Option<f64>,
    predicted_n: Option<u64>,
    predicted_ms: Option<f64>,
    predicted_per_second: Option<f64>,
}

/// A field that is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The first element of an array (`null` and `[]` give none); the rest are skipped unbuilt.
fn first<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct First<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for First<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array or null")
        }
        fn visit_unit<E>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }
    d.deserialize_any(First(PhantomData))
}

fn server_error(err: &Value) -> RequestError {
    let msg = err
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| err.to_string(), str::to_string);
    RequestError::new(ErrorCategory::ServerError, msg)
}

fn apply_typed(
    endpoint: Endpoint,
    c: Chunk<'_>,
    out: &mut Response,
    tools: &mut ToolCallAssembler,
    tally: &mut ReadTally,
) -> bool {
    if let Some(err) = &c.error {
        out.error = Some(server_error(err));
        return true;
    }
    if let Some(choice) = c.choices {
        let before = out.text.len();
        let mut tool = false;
        match endpoint {
            Endpoint::Chat => {
                if let Some(d) = &choice.delta {
                    for t in [&d.content, &d.reasoning_content, &d.reasoning]
                        .into_iter()
                        .flatten()
                    {
                        out.text.push_str(t);
                    }
                    if let Some(tc) = d.tool_calls.as_ref().filter(|t| !t.is_null()) {
                        tools.feed(tc);
                        tool = true;
                    }
                }
            }
            Endpoint::Completions => {
                if let Some(t) = &choice.text {
                    out.text.push_str(t);
                }
            }
        }
        let added = out.text.len() - before;
        if added > 0 || tool {
            tally.events += 1;
            tally.bytes += added.max(1);
        }
        if let Some(f) = choice.finish_reason {
            out.finish_reason = Some(f.0.into_owned());
        }
    }
    if let Some(u) = c.usage {
        out.usage = Some(Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
        });
    }
    if let Some(t) = c.timings {
        out.timings = Some(ServerTimings {
            cache_n: t.cache_n,
            prompt_n: t.prompt_n,
            prompt_ms: t.prompt_ms,
            prompt_per_second: t.prompt_per_second,
            predicted_n: t.predicted_n,
            predicted_ms: t.predicted_ms,
            predicted_per_second: t.predicted_per_second,
        });
    }
    false
}

/// The generic reading, for events the typed shape does not accept.
fn apply_value(
    endpoint: Endpoint,
    v: &Value,
    out: &mut Response,
    tools: &mut ToolCallAssembler,
    tally: &mut ReadTally,
) -> bool {
    if let Some(err) = v.get("error") {
        out.error = Some(server_error(err));
        return true;
    }
    if let Some(choice) = v.pointer("/choices/0") {
        let before = out.text.len();
        let mut tool = false;
        match endpoint {
            Endpoint::Chat => {
                let d = choice.get("delta");
                for key in ["content", "reasoning_content", "reasoning"] {
                    if let Some(t) = d.and_then(|d| d.get(key)).and_then(Value::as_str) {
                        out.text.push_str(t);
                    }
                }
                let tc = d.and_then(|d| d.get("tool_calls")).filter(|t| !t.is_null());
                if let Some(tc) = tc {
                    tools.feed(tc);
                    tool = true;
                }
            }
            Endpoint::Completions => {
                if let Some(t) = choice.get("text").and_then(Value::as_str) {
                    out.text.push_str(t);
                }
            }
        }
        let added = out.text.len() - before;
        if added > 0 || tool {
            tally.events += 1;
            tally.bytes += added.max(1);
        }
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            out.finish_reason = Some(f.to_string());
        }
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        out.usage = Some(Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
            completion_tokens: u.get("completion_tokens").and_then(Value::as_u64),
            cached_tokens: u
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64),
        });
    }
    if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
        out.timings = Some(ServerTimings {
            cache_n: t.get("cache_n").and_then(Value::as_u64),
            prompt_n: t.get("prompt_n").and_then(Value::as_u64),
            prompt_ms: t.get("prompt_ms").and_then(Value::as_f64),
            prompt_per_second: t.get("prompt_per_second").and_then(Value::as_f64),
            predicted_n: t.get("predicted_n").and_then(Value::as_u64),
            predicted_ms: t.get("predicted_ms").and_then(Value::as_f64),
            predicted_per_second: t.get("predicted_per_second").and_then(Value::as_f64),
        });
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    fn fresh() -> Response {
        let mut r = Response::failed(
            Instant::now(),
            RequestError::new(ErrorCategory::EmptyResponse, ""),
        );
        r.error = None;
        r
    }

    /// What a reading made of one event, comparable.
    fn outcome(r: Response, tools: ToolCallAssembler, tally: ReadTally, stop: bool) -> String {
        format!(
            "{stop} {tally:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.text,
            r.finish_reason,
            r.usage,
            r.timings,
            r.error.map(|e| (e.category, e.message)),
            tools.finish()
        )
    }

    const EVENTS: &[&str] = &[
        // llama-server's chat stream: role chunk, tokens, finish, usage + timings.
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"c","model":"m","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" tok"}}],"created":1,"id":"c","model":"m","system_fingerprint":"b1","object":"chat.completion.chunk"}"#,
        r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1}"#,
        r#"{"choices":[],"usage":{"completion_tokens":128,"prompt_tokens":512,"total_tokens":640,"prompt_tokens_details":{"cached_tokens":3}},"timings":{"cache_n":0,"prompt_n":512,"prompt_ms":900.1,"prompt_per_second":568.8,"predicted_n":128,"predicted_ms":1700,"predicted_per_second":75.3}}"#,
        // Completions stream.
        r#"{"choices":[{"text":" word","index":0,"logprobs":null,"finish_reason":null}],"object":"text_completion"}"#,
        r#"{"choices":[{"text":"","index":0,"finish_reason":"stop"}]}"#,
        // Escapes, reasoning fields, several choices.
        r#"{"choices":[{"delta":{"content":"\"\u00e9\n","reasoning_content":"why","reasoning":"!"}},{"delta":{"content":"second"}}]}"#,
        // Tool-call deltas (an empty array still counts as content).
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":null,"content":"x"}}]}"#,
        // Errors: an object, a string, and a present null.
        r#"{"error":{"message":"boom","code":500}}"#,
        r#"{"error":"plain"}"#,
        r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
        // Shapes the typed reading refuses, read by the generic one.
        r#"[1,2]"#,
        r#""text""#,
        r#"{"choices":{"0":{"delta":{"content":"odd"}}}}"#,
        r#"{"choices":[null]}"#,
        r#"{"choices":[{"delta":{"content":7}}]}"#,
        r#"{"choices":[{"delta":"x","text":5,"finish_reason":1}]}"#,
        r#"{"usage":{"prompt_tokens":1.5,"completion_tokens":-1}}"#,
        r#"{"usage":"none","timings":[1]}"#,
        r#"{"timings":{"prompt_ms":"fast","prompt_n":2}}"#,
        r#"{"choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}"#,
        // Not JSON.
        r#"{"choices":[{"delta":{"content":"cut"#,
    ];

    /// The typed reading gives exactly what the generic reading gives, on every shape.
    #[test]
    fn typed_and_generic_readings_agree() {
        for endpoint in [Endpoint::Chat, Endpoint::Completions] {
            for ev in EVENTS {
                let (mut r, mut t, mut n) =
                    (fresh(), ToolCallAssembler::new(), ReadTally::default());
                let stop = apply_event(endpoint, ev, &mut r, &mut t, &mut n);
                let fast = outcome(r, t, n, stop);
                let (mut r, mut t, mut n) =
                    (fresh(), ToolCallAssembler::new(), ReadTally::default());
                let slow = match serde_json::from_str::<Value>(ev) {
                    Ok(v) => {
                        let stop = apply_value(endpoint, &v, &mut r, &mut t, &mut n);
                        outcome(r, t, n, stop)
                    }
                    Err(e) => {
                        r.error = Some(RequestError::new(
                            ErrorCategory::MalformedStream,
                            format!("bad JSON in stream: {e}"),
                        ));
                        outcome(r, t, n, true)
                    }
                };
                assert_eq!(fast, slow, "{endpoint:?} {ev}");
            }
        }
    }

    /// llama-server's events take the typed path (the point of it).
    #[test]
    fn server_events_are_read_typed() {
        for ev in &EVENTS[..13] {
            assert!(serde_json::from_str::<Chunk<'_>>(ev).is_ok(), "{ev}");
        }
        let c: Chunk<'_> = serde_json::from_str(EVENTS[1]).unwrap();
        let content = c.choices.and_then(|c| c.delta).and_then(|d| d.content);
        assert!(matches!(content, Some(Text(Cow::Borrowed(" tok")))));
    }

    #[test]
    fn a_read_with_content_becomes_one_chunk() {
        let mut r = fresh();
        let (mut t, mut n) = (ToolCallAssembler::new(), ReadTally::default());
        for ev in [EVENTS[0], EVENTS[1], EVENTS[1], EVENTS[8]] {
            assert!(!apply_event(Endpoint::Chat, ev, &mut r, &mut t, &mut n));
        }
        assert_eq!(
            n,
            ReadTally {
                events: 3,
                bytes: 9
            }
        );
        n.close(Instant::now(), &mut r);
        ReadTally::default().close(Instant::now(), &mut r);
        assert_eq!(r.content.len(), 1);
        assert_eq!((r.content[0].tokens, r.content[0].text_bytes), (Some(3), 9));
        assert_eq!(r.text, " tok tok");
    }
}
