//! The model folder's tokenizer and chat template.
//!
//! `tokenizer.json` goes through the `tokenizers` crate built without its C/C++ parts and
//! without hub access: only the local file is ever read. The chat template comes from
//! `tokenizer_config.json` (`chat_template`, a string or a list of named templates) or from a
//! `chat_template.jinja` beside it, and is rendered with minijinja plus pycompat, as
//! transformers renders it with Jinja2: `messages`, `add_generation_prompt`, `bos_token`,
//! `eos_token`, and `raise_exception`.

use std::path::Path;

use minijinja::{Environment, ErrorKind, context};
use serde_json::Value;

use super::super::Message;

pub struct TextCodec {
    tokenizer: tokenizers::Tokenizer,
    template: Option<Environment<'static>>,
    /// SHA-256 of the chat template's source, as the GGUF engine and a server's `/props` hash
    /// theirs: the same template gives the same comparability key on every engine.
    pub template_sha256: Option<String>,
    bos_token: String,
    eos_token: String,
    /// End-of-generation token ids: the config files' and the tokenizer's `eos_token`.
    pub eos_ids: Vec<u32>,
    /// Bytes of each token's text alone, made once: asking the tokenizer per generated token
    /// allocates, and that would be on the timed decode path.
    token_len: Vec<u32>,
}

/// A special token in tokenizer_config.json: a string, or an object with `content`.
fn token_str(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

impl TextCodec {
    pub fn load(dir: &Path, config_eos: &[u32]) -> Result<Self, String> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(format!(
                "{} does not exist: the onnx backend needs the model's tokenizer.json beside model.onnx",
                path.display()
            ));
        }
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| format!("{}: cannot load the tokenizer: {e}", path.display()))?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Value = match std::fs::read_to_string(&cfg_path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| format!("{}: not valid JSON: {e}", cfg_path.display()))?,
            Err(_) => Value::Null,
        };
        let source = match cfg.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            // Several named templates: the default one is the chat template.
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|t| t.get("template").and_then(Value::as_str))
                .map(str::to_string),
            _ => std::fs::read_to_string(dir.join("chat_template.jinja")).ok(),
        };
        let template_sha256 = source
            .as_deref()
            .map(|t| crate::hash::sha256_hex(t.as_bytes()));
        let template = match source {
            Some(src) => Some(compile(src).map_err(|e| {
                format!(
                    "{}: the chat template does not compile: {e}",
                    cfg_path.display()
                )
            })?),
            None => None,
        };
        let bos_token = token_str(cfg.get("bos_token"));
        let eos_token = token_str(cfg.get("eos_token"));
        let mut eos_ids: Vec<u32> = config_eos.to_vec();
        if let Some(id) = tokenizer.token_to_id(&eos_token)
            && !eos_ids.contains(&id)
        {
            eos_ids.push(id);
        }
        let token_len = (0..tokenizer.get_vocab_size(true) as u32)
            .map(|id| tokenizer.decode(&[id], true).map_or(0, |t| t.len() as u32))
            .collect();
        Ok(TextCodec {
            token_len,
            tokenizer,
            template,
            template_sha256,
            bos_token,
            eos_token,
            eos_ids,
        })
    }

    pub fn has_template(&self) -> bool {
        self.template.is_some()
    }

    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The chat rendered as the model expects it, ready for the assistant's turn.
    pub fn render_chat(&self, messages: &[Message]) -> Result<String, String> {
        self.render(
            minijinja::Value::from(minijinja::value::Serde(messages)),
            &[],
        )
    }

    /// A chat with tools: whole OpenAI-style messages (assistant `tool_calls`, `tool` results)
    /// and the OpenAI `tools` list, given to the template as transformers'
    /// `apply_chat_template(messages, tools=…)` gives them. A call's `arguments` string is
    /// parsed into an object first, as transformers expects it and as llama-server does
    /// before rendering (Qwen's template writes `arguments | tojson`).
    pub fn render_with_tools(&self, messages: &[Value], tools: &[Value]) -> Result<String, String> {
        let messages: Vec<Value> = messages.iter().map(arguments_as_objects).collect();
        self.render(
            minijinja::Value::from(minijinja::value::Serde(&messages)),
            tools,
        )
    }

    fn render(&self, messages: minijinja::Value, tools: &[Value]) -> Result<String, String> {
        let Some(env) = &self.template else {
            return Err(
                "the model folder has no chat template (tokenizer_config.json chat_template); use endpoint completions"
                    .into(),
            );
        };
        let tmpl = env.get_template("chat").map_err(|e| e.to_string())?;
        // No tools: `tools` is undefined, as transformers leaves it (templates test `if tools`).
        let tools =
            (!tools.is_empty()).then(|| minijinja::Value::from(minijinja::value::Serde(tools)));
        tmpl.render(context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => true,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| format!("chat template: {e}"))
    }

    /// Token ids of text. A rendered chat already holds its special tokens (as transformers'
    /// `apply_chat_template` tokenizes it); raw text gets the tokenizer's own (BOS…).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode(text, add_special_tokens)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| format!("tokenize: {e}"))
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, true).unwrap_or_default()
    }

    /// The text with special tokens written out: tool-call markers such as Qwen's
    /// `<tool_call>` are control tokens in some vocabularies (the GGUF's), and the parser
    /// needs them, as llama-server's does.
    pub fn decode_with_special(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, false).unwrap_or_default()
    }

    /// Bytes of one token's text, for the content chunk (the whole text is decoded at the end).
    pub fn token_bytes(&self, id: u32) -> usize {
        self.token_len.get(id as usize).map_or(0, |&n| n as usize)
    }
}

/// `tool_calls[].function.arguments` as a JSON object where it is a string that parses.
fn arguments_as_objects(message: &Value) -> Value {
    let mut m = message.clone();
    if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
        for call in calls {
            if let Some(args) = call.pointer_mut("/function/arguments")
                && let Some(parsed) = args
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
            {
                *args = parsed;
            }
        }
    }
    m
}

/// transformers' `tojson` (Python `json.dumps(x, ensure_ascii=False)`: `", "` and `": "`
/// between items, or `indent=N`), which tool templates use to print the tool definitions;
/// minijinja's own filter writes compact, HTML-escaped JSON instead. Keys come out sorted
/// (serde_json's map), where Python keeps the caller's order.
fn tojson(value: minijinja::Value, indent: Option<usize>) -> Result<String, minijinja::Error> {
    use serde::Serialize;
    let json = serde_json::to_value(&value)
        .map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = Vec::new();
    let written = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            let f = serde_json::ser::PrettyFormatter::with_indent(&pad);
            json.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))
        }
        None => json.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            PythonFormatter,
        )),
    };
    written.map_err(|e| minijinja::Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// serde_json's compact output with Python's default separators.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

fn compile(src: String) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // Hugging Face templates call Python string methods (strip, startswith, …).
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_filter("tojson", tojson);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.add_template_owned("chat", src)?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(template: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        // A word-level tokenizer is enough to check the template and special tokens.
        std::fs::write(
            dir.path().join("tokenizer.json"),
            r#"{"version":"1.0","truncation":null,"padding":null,
               "added_tokens":[{"id":0,"content":"<eos>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
               "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
               "model":{"type":"WordLevel","vocab":{"<eos>":0,"<unk>":1,"hi":2,"user":3,"there":4},"unk_token":"<unk>"}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            serde_json::json!({"eos_token": {"content": "<eos>"}, "bos_token": "<s>", "chat_template": template}).to_string(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn renders_a_hugging_face_style_template_with_pycompat() {
        let dir = folder(
            "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}{{ m['role'] }} {{ m['content'].strip() }}{{ eos_token }}\n{% endfor %}{% if add_generation_prompt %}model{% endif %}",
        );
        let c = TextCodec::load(dir.path(), &[7]).unwrap();
        assert_eq!(c.eos_ids, vec![7, 0]);
        let msg = |role: &str, text: &str| Message {
            role: role.into(),
            content: text.into(),
        };
        assert_eq!(
            c.render_chat(&[msg("user", "  hi there ")]).unwrap(),
            "<s>user hi there<eos>\nmodel"
        );
        let e = c.render_chat(&[msg("system", "x")]).unwrap_err();
        assert!(e.contains("no system"), "{e}");
        assert_eq!(c.encode("hi there <eos>", false).unwrap(), vec![2, 4, 0]);
    }

    #[test]
    fn tools_and_call_arguments_reach_the_template() {
        let dir = folder(
            "{% if tools %}{% for t in tools %}[{{ t.function.name }}]{% endfor %}{% endif %}{% for m in messages %}{{ m.role }}:{% for c in m.tool_calls or [] %}{{ c.function.arguments | tojson }}{% endfor %}{{ m.content }};{% endfor %}",
        );
        let c = TextCodec::load(dir.path(), &[]).unwrap();
        let messages = [
            serde_json::json!({"role": "user", "content": "hi"}),
            serde_json::json!({"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]}),
        ];
        let tools = [serde_json::json!({"type": "function", "function": {"name": "f"}})];
        assert_eq!(
            c.render_with_tools(&messages, &tools).unwrap(),
            "[f]user:hi;assistant:{\"a\": 1};"
        );
        let nested = serde_json::json!({"b": [1, "é"], "a": {"c": null}});
        assert_eq!(
            tojson(
                minijinja::Value::from(minijinja::value::Serde(&nested)),
                None
            )
            .unwrap(),
            r#"{"a": {"c": null}, "b": [1, "é"]}"#
        );
        // Without tools the template sees none (its `if tools` branch is not taken).
        assert_eq!(
            c.render_with_tools(&messages[..1], &[]).unwrap(),
            "user:hi;"
        );
    }

    #[test]
    fn missing_tokenizer_and_bad_template_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let e = TextCodec::load(dir.path(), &[]).err().unwrap();
        assert!(e.contains("tokenizer.json"), "{e}");
        let dir = folder("{% for %}");
        let e = TextCodec::load(dir.path(), &[]).err().unwrap();
        assert!(e.contains("does not compile"), "{e}");
    }
}
