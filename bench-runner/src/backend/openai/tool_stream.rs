//! Assembles OpenAI `tool_calls` from streamed deltas, as the wire format says:
//!
//! - one slot per `index`;
//! - a new non-empty `id` arriving on an index that already has a different id opens a new
//!   slot (servers that number every call 0 still give each call its own id);
//! - a delta without `index` continues the last slot (or opens slot 0);
//! - `function.name` is set once, by the first delta that carries a non-empty one;
//! - `function.arguments` fragments are concatenated, starting from `""`; they are parsed
//!   strictly as JSON only at the end, by the scorer — never repaired here.
//!
//! Slots come out in the order they were opened.

use serde_json::Value;

use crate::backend::RawCall;

#[derive(Debug, Default)]
struct Slot {
    index: u64,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    slots: Vec<Slot>,
}

impl ToolCallAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once any tool-call delta was seen.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Feeds the `delta.tool_calls` array of one chunk.
    pub fn feed(&mut self, tool_calls: &Value) {
        let Some(items) = tool_calls.as_array() else {
            return;
        };
        for d in items {
            let id = d
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let index = d.get("index").and_then(Value::as_u64);
            let slot = self.slot_for(index, id);
            if let Some(id) = id {
                slot.id.get_or_insert_with(|| id.to_string());
            }
            let f = d.get("function");
            if let Some(name) = f
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                slot.name.get_or_insert_with(|| name.to_string());
            }
            match f.and_then(|f| f.get("arguments")) {
                Some(Value::String(a)) => slot.arguments.push_str(a),
                // Some servers send the arguments as an object in one piece.
                Some(v @ Value::Object(_)) => slot.arguments.push_str(&v.to_string()),
                _ => {}
            }
        }
    }

    fn slot_for(&mut self, index: Option<u64>, id: Option<&str>) -> &mut Slot {
        let pos = match index {
            None => match (self.slots.last(), id) {
                (Some(last), Some(id)) if last.id.as_deref().is_some_and(|l| l != id) => None,
                (Some(_), _) => Some(self.slots.len() - 1),
                (None, _) => None,
            },
            Some(i) => match self.slots.iter().rposition(|s| s.index == i) {
                Some(p)
                    if id.is_some_and(|id| {
                        self.slots[p].id.as_deref().is_some_and(|old| old != id)
                    }) =>
                {
                    None
                }
                other => other,
            },
        };
        match pos {
            Some(p) => &mut self.slots[p],
            None => {
                let index = index.unwrap_or(self.slots.len() as u64);
                self.slots.push(Slot {
                    index,
                    ..Default::default()
                });
                let last = self.slots.len() - 1;
                &mut self.slots[last]
            }
        }
    }

    /// The assembled calls, arguments still raw.
    pub fn finish(self) -> Vec<RawCall> {
        self.slots
            .into_iter()
            .map(|s| RawCall {
                id: s.id,
                name: s.name.unwrap_or_default(),
                arguments: s.arguments,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::verdict::parse_native;
    use serde_json::json;

    fn run(chunks: &[Value]) -> Vec<RawCall> {
        let mut a = ToolCallAssembler::new();
        for c in chunks {
            a.feed(c);
        }
        a.finish()
    }

    #[test]
    fn arguments_split_inside_strings_and_escapes() {
        let calls = run(&[
            json!([{"index": 0, "id": "call_1", "type": "function", "function": {"name": "echo", "arguments": ""}}]),
            json!([{"index": 0, "function": {"arguments": "{\"text\": \"a \\"}}]),
            json!([{"index": 0, "function": {"arguments": "\"quoted\\"}}]),
            json!([{"index": 0, "function": {"arguments": "\" \\u00e9\\n"}}]),
            json!([{"index": 0, "function": {"arguments": "\"}"}}]),
        ]);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "echo");
        let parsed = parse_native(&calls, &[]).unwrap();
        assert_eq!(parsed[0].arguments["text"], json!("a \"quoted\" é\n"));
    }

    #[test]
    fn interleaved_indices_zero_and_one() {
        let calls = run(&[
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\":"}}]),
            json!([{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{\"y\":"}}]),
            json!([{"index": 0, "function": {"arguments": " 1}"}}]),
            json!([{"index": 1, "function": {"arguments": " 2}"}}]),
        ]);
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].name.as_str(), calls[0].arguments.as_str()),
            ("f", "{\"x\": 1}")
        );
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("g", "{\"y\": 2}")
        );
    }

    #[test]
    fn a_whole_call_in_one_chunk_and_name_set_once() {
        let calls = run(&[
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\": 1}"}}, {"index": 0, "function": {"name": "other"}}]),
        ]);
        assert_eq!(
            calls,
            vec![RawCall {
                id: Some("a".into()),
                name: "f".into(),
                arguments: "{\"x\": 1}".into()
            }]
        );
    }

    #[test]
    fn a_new_id_on_a_used_index_opens_a_new_slot() {
        let calls = run(&[
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]),
            json!([{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]),
            json!([{"index": 0, "id": "", "function": {"arguments": ""}}]),
        ]);
        assert_eq!(
            calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["f", "g"]
        );
    }

    #[test]
    fn merged_calls_and_truncated_json_fail_strict_parsing() {
        let merged = run(&[
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]),
            json!([{"index": 0, "function": {"arguments": "{\"x\": 2}"}}]),
        ]);
        assert_eq!(merged[0].arguments, "{\"x\": 1}{\"x\": 2}");
        assert!(parse_native(&merged, &[]).is_err());
        let truncated = run(&[
            json!([{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{\"x\": [1, 2"}}]),
        ]);
        assert!(parse_native(&truncated, &[]).is_err());
    }

    #[test]
    fn deltas_without_index_and_object_arguments() {
        let calls = run(&[
            json!([{"id": "a", "function": {"name": "f", "arguments": {"x": 1}}}]),
            json!([{"id": "b", "function": {"name": "g", "arguments": "{}"}}]),
        ]);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments, "{\"x\":1}");
        assert!(run(&[json!(null)]).is_empty());
    }
}
