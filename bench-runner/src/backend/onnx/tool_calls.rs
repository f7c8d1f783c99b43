//! Native tool calls out of the generated text, for templates that ask the model to write
//! them as `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen2/2.5, Hermes 2 Pro and
//! the models that copied them): what llama-server's Hermes parser does, so a tool scenario
//! scores an `onnx` backend in native mode the same way it scores llama-server.
//!
//! Only a block whose body is a JSON object with a string `name` becomes a call; anything
//! else stays in the text, where the scorer sees it as what it is (a call written as plain
//! text, or no call).

use serde_json::Value;

use super::super::RawCall;

/// The text without the calls it held, and the calls (arguments as the JSON text the model
/// wrote, re-serialised compactly; a string `arguments` is kept as it is).
pub fn extract(text: &str) -> (String, Vec<RawCall>) {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut calls = Vec::new();
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let body_at = start + OPEN.len();
        // An unclosed block (generation hit max_tokens) runs to the end of the text.
        let (body, next) = match rest[body_at..].find(CLOSE) {
            Some(end) => (&rest[body_at..body_at + end], body_at + end + CLOSE.len()),
            None => (&rest[body_at..], rest.len()),
        };
        match call(body) {
            Some(c) => {
                calls.push(c);
                kept.push_str(&rest[..start]);
            }
            None => kept.push_str(&rest[..next]),
        }
        rest = &rest[next..];
    }
    kept.push_str(rest);
    if calls.is_empty() {
        return (text.to_string(), calls);
    }
    (kept.trim().to_string(), calls)
}

fn call(body: &str) -> Option<RawCall> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    let name = v.get("name")?.as_str()?.to_string();
    let arguments = match v.get("arguments").or_else(|| v.get("parameters")) {
        None => "{}".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(a) => a.to_string(),
    };
    Some(RawCall {
        id: None,
        name,
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_well_formed_blocks_and_leaves_the_rest() {
        let (text, calls) = extract(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
        );
        assert_eq!(text, "");
        assert_eq!(
            calls
                .iter()
                .map(|c| (c.name.as_str(), c.arguments.as_str()))
                .collect::<Vec<_>>(),
            [("get_weather", r#"{"city":"Paris"}"#), ("f", "{}")]
        );
        // Not JSON, or no name: kept as text, no call.
        let t = "Sure. <tool_call>get_weather(city='Paris')</tool_call>";
        assert_eq!(extract(t), (t.to_string(), vec![]));
        // Text around a call stays; an unclosed block still parses when its JSON is whole.
        let (text, calls) = extract("Calling it.\n<tool_call>{\"name\": \"g\"}");
        assert_eq!((text.as_str(), calls.len()), ("Calling it.", 1));
        assert_eq!(extract("plain answer").1, vec![]);
    }
}
