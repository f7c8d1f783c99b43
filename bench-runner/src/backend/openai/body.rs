//! The JSON body of a chat or completions request, in the dialect of the server.

use serde_json::{Value, json};

use super::{Dialect, OpenAiBackend};
use crate::backend::{MediaPart, Prompt, Request};

impl OpenAiBackend {
    pub(super) fn body(&self, req: &Request) -> Value {
        let mut b = serde_json::Map::new();
        if let Some(m) = &self.model {
            b.insert("model".into(), json!(m));
        }
        match (&req.tools.messages, &req.prompt) {
            (Some(raw), _) => b.insert("messages".into(), json!(raw)),
            (None, Prompt::Chat(messages)) if !req.tools.media.is_empty() => {
                b.insert("messages".into(), with_media(messages, &req.tools.media))
            }
            (None, Prompt::Chat(messages)) => b.insert("messages".into(), json!(messages)),
            (None, Prompt::Text(t)) => b.insert("prompt".into(), json!(t)),
        };
        if !req.tools.tools.is_empty() {
            b.insert("tools".into(), json!(req.tools.tools));
        }
        if let Some(c) = &req.tools.tool_choice {
            b.insert("tool_choice".into(), c.clone());
        }
        if let Some(p) = req.tools.parallel_tool_calls {
            b.insert("parallel_tool_calls".into(), json!(p));
        }
        if let Some(f) = &req.tools.response_format {
            b.insert("response_format".into(), f.clone());
        }
        b.insert("max_tokens".into(), json!(req.max_tokens));
        b.insert("temperature".into(), json!(req.temperature));
        b.insert("top_p".into(), json!(req.top_p));
        if let Some(s) = req.seed {
            b.insert("seed".into(), json!(s));
        }
        b.insert("stream".into(), json!(true));
        b.insert("stream_options".into(), json!({ "include_usage": true }));
        match self.dialect {
            Dialect::LlamaCpp => {
                if !req.allow_prefix_cache {
                    b.insert("cache_prompt".into(), json!(false));
                }
                if req.ignore_eos {
                    b.insert("ignore_eos".into(), json!(true));
                }
            }
            Dialect::Vllm => {
                if req.ignore_eos {
                    b.insert("ignore_eos".into(), json!(true));
                }
            }
            Dialect::Generic => {}
        }
        for (k, v) in &self.cfg.extra_body {
            b.insert(k.clone(), v.clone());
        }
        Value::Object(b)
    }
}

/// The chat messages with the media appended, as OpenAI content parts, to the last user
/// message: `image_url` with a data URI, `input_audio` with base64 data and its format.
pub(super) fn with_media(messages: &[crate::backend::Message], media: &[MediaPart]) -> Value {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let last_user = messages.iter().rposition(|m| m.role == "user");
    let out: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if Some(i) != last_user {
                return json!(m);
            }
            let mut parts = vec![json!({"type": "text", "text": m.content})];
            for p in media {
                parts.push(match p {
                    MediaPart::Image { mime, data } => json!({
                        "type": "image_url",
                        "image_url": {"url": format!("data:{mime};base64,{}", b64(data))}
                    }),
                    MediaPart::Audio { format, data } => json!({
                        "type": "input_audio",
                        "input_audio": {"data": b64(data), "format": format}
                    }),
                });
            }
            json!({"role": m.role, "content": parts})
        })
        .collect();
    Value::Array(out)
}
