//! What the model's graph looks like: the optimum / onnxruntime-genai decoder layout, checked
//! once when the session is made.
//!
//! Inputs `input_ids`, `attention_mask`, `position_ids` (optional), `past_key_values.N.key`,
//! `past_key_values.N.value` (and optimum's `use_cache_branch` where a merged decoder has it);
//! outputs `logits`, `present.N.key`, `present.N.value`. The cache is
//! `[batch, kv_heads, sequence, head_dim]`. Layers are counted from the inputs; heads and head
//! size come from the inputs' shapes, else from `config.json` / `genai_config.json` beside the
//! model, because exports often leave them symbolic.

use std::path::Path;

use ort::session::Session;
use ort::value::{TensorElementType, ValueType};
use serde::Serialize;

/// The decoder's interface as this backend uses it.
#[derive(Debug, Clone, Serialize)]
pub struct DecoderLayout {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Element type of the cache tensors (`Float32`, `Float16`, …).
    #[serde(serialize_with = "debug_str")]
    pub cache_type: TensorElementType,
    #[serde(serialize_with = "debug_str")]
    pub input_ids_type: TensorElementType,
    #[serde(serialize_with = "debug_str")]
    pub attention_mask_type: TensorElementType,
    /// `None` when the model computes positions itself.
    #[serde(serialize_with = "debug_opt")]
    pub position_ids_type: Option<TensorElementType>,
    pub use_cache_branch: bool,
    pub vocab_size: Option<usize>,
    /// `past_key_values.N.key`, `….value` for N in order, made once (they are named every step).
    #[serde(skip)]
    pub past_names: Vec<String>,
    /// `present.N.key`, `….value`, in the same order.
    #[serde(skip)]
    pub present_names: Vec<String>,
}

fn debug_str<S: serde::Serializer>(t: &TensorElementType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{t:?}"))
}

fn debug_opt<S: serde::Serializer>(t: &Option<TensorElementType>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format!("{t:?}")),
        None => s.serialize_none(),
    }
}

/// Names of the cache inputs and outputs of layer `i`.
pub fn past_name(i: usize, kind: &str) -> String {
    format!("past_key_values.{i}.{kind}")
}

pub fn present_name(i: usize, kind: &str) -> String {
    format!("present.{i}.{kind}")
}

/// Dimensions read from the config files beside the model (all optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigDims {
    pub layers: Option<usize>,
    pub kv_heads: Option<usize>,
    pub head_dim: Option<usize>,
    pub vocab_size: Option<usize>,
    pub context_length: Option<usize>,
    pub eos_token_ids: Vec<u32>,
}

/// `config.json` (transformers) and `genai_config.json` (onnxruntime-genai), where present.
pub fn read_config_dims(dir: &Path) -> Result<ConfigDims, String> {
    let mut d = ConfigDims::default();
    let read = |name: &str| -> Result<Option<serde_json::Value>, String> {
        let p = dir.join(name);
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| format!("{}: not valid JSON: {e}", p.display())),
            Err(_) => Ok(None),
        }
    };
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).map(|x| x as usize);
    if let Some(c) = read("config.json")? {
        // Multimodal configs keep the language model's settings under text_config.
        let c = c.get("text_config").cloned().unwrap_or(c);
        d.layers = n(&c, "num_hidden_layers");
        let heads = n(&c, "num_attention_heads");
        d.kv_heads = n(&c, "num_key_value_heads").or(heads);
        d.head_dim = n(&c, "head_dim").or_else(|| Some(n(&c, "hidden_size")? / heads?));
        d.vocab_size = n(&c, "vocab_size");
        d.context_length = n(&c, "max_position_embeddings");
        d.eos_token_ids = ids(c.get("eos_token_id"));
    }
    if let Some(g) = read("genai_config.json")?
        && let Some(m) = g.get("model")
    {
        if let Some(dec) = m.get("decoder") {
            d.layers = d.layers.or(n(dec, "num_hidden_layers"));
            d.kv_heads = d
                .kv_heads
                .or(n(dec, "num_key_value_heads"))
                .or(n(dec, "num_attention_heads"));
            d.head_dim = d.head_dim.or(n(dec, "head_size"));
        }
        d.vocab_size = d.vocab_size.or(n(m, "vocab_size"));
        d.context_length = d.context_length.or(n(m, "context_length"));
        for id in ids(m.get("eos_token_id")) {
            if !d.eos_token_ids.contains(&id) {
                d.eos_token_ids.push(id);
            }
        }
    }
    if let Some(g) = read("generation_config.json")? {
        for id in ids(g.get("eos_token_id")) {
            if !d.eos_token_ids.contains(&id) {
                d.eos_token_ids.push(id);
            }
        }
    }
    Ok(d)
}

/// A token id or a list of them.
fn ids(v: Option<&serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|x| vec![x as u32]).unwrap_or_default()
        }
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64().map(|x| x as u32))
            .collect(),
        _ => Vec::new(),
    }
}

fn describe(session: &Session) -> String {
    let list = |outlets: &[ort::value::Outlet]| {
        outlets
            .iter()
            .map(|o| format!("{} {}", o.name(), o.dtype()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "found inputs: {}; outputs: {}",
        list(session.inputs()),
        list(session.outputs())
    )
}

fn tensor(v: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match v {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.iter().copied().collect())),
        _ => None,
    }
}

/// Checks the graph against the layout and reads its dimensions. The error names what the
/// model has instead, so a user sees at once which export they pointed at.
pub fn inspect(session: &Session, cfg: &ConfigDims) -> Result<DecoderLayout, String> {
    let input = |name: &str| session.inputs().iter().find(|o| o.name() == name);
    let output = |name: &str| session.outputs().iter().find(|o| o.name() == name);
    let layers = (0..)
        .take_while(|i| input(&past_name(*i, "key")).is_some())
        .count();
    let mut missing: Vec<String> = Vec::new();
    for name in ["input_ids", "attention_mask"] {
        if input(name).is_none() {
            missing.push(format!("input {name}"));
        }
    }
    if layers == 0 {
        missing.push("inputs past_key_values.N.key / .value".into());
    }
    if output("logits").is_none() {
        missing.push("output logits".into());
    }
    for i in 0..layers {
        for kind in ["key", "value"] {
            if input(&past_name(i, kind)).is_none() {
                missing.push(format!("input {}", past_name(i, kind)));
            }
            if output(&present_name(i, kind)).is_none() {
                missing.push(format!("output {}", present_name(i, kind)));
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "not a decoder with a KV cache in the optimum / onnxruntime-genai layout: missing {}; {}",
            missing.join(", "),
            describe(session)
        ));
    }
    let ty = |name: &str| input(name).and_then(|o| tensor(o.dtype())).map(|t| t.0);
    let Some((cache_type, shape)) = input(&past_name(0, "key")).and_then(|o| tensor(o.dtype()))
    else {
        return Err(format!(
            "past_key_values.0.key is not a tensor; {}",
            describe(session)
        ));
    };
    if shape.len() != 4 {
        return Err(format!(
            "past_key_values.0.key has {} dimensions; expected [batch, kv_heads, sequence, head_dim]",
            shape.len()
        ));
    }
    let dim = |v: i64| (v > 0).then_some(v as usize);
    let kv_heads = dim(shape[1]).or(cfg.kv_heads).ok_or_else(|| {
        "the number of KV heads is symbolic in the model and config.json / genai_config.json do not give it (num_key_value_heads)".to_string()
    })?;
    let head_dim = dim(shape[3]).or(cfg.head_dim).ok_or_else(|| {
        "the head size is symbolic in the model and config.json / genai_config.json do not give it (head_dim)".to_string()
    })?;
    if let Some(l) = cfg.layers
        && l != layers
    {
        return Err(format!(
            "the model has KV-cache inputs for {layers} layers but its config says num_hidden_layers = {l}"
        ));
    }
    let vocab_size = output("logits")
        .and_then(|o| tensor(o.dtype()))
        .and_then(|(_, s)| s.last().copied())
        .and_then(dim)
        .or(cfg.vocab_size);
    Ok(DecoderLayout {
        layers,
        kv_heads,
        head_dim,
        cache_type,
        input_ids_type: ty("input_ids").unwrap_or(TensorElementType::Int64),
        attention_mask_type: ty("attention_mask").unwrap_or(TensorElementType::Int64),
        position_ids_type: ty("position_ids"),
        use_cache_branch: input("use_cache_branch").is_some(),
        vocab_size,
        past_names: (0..layers)
            .flat_map(|i| [past_name(i, "key"), past_name(i, "value")])
            .collect(),
        present_names: (0..layers)
            .flat_map(|i| [present_name(i, "key"), present_name(i, "value")])
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_dims_from_transformers_and_genai_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
                "hidden_size": 640, "head_dim": 256, "vocab_size": 262144, "eos_token_id": [1, 106]}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("genai_config.json"),
            r#"{"model": {"context_length": 32768, "eos_token_id": 106,
                "decoder": {"num_hidden_layers": 18, "head_size": 256}}}"#,
        )
        .unwrap();
        let d = read_config_dims(dir.path()).unwrap();
        assert_eq!(
            d,
            ConfigDims {
                layers: Some(18),
                kv_heads: Some(1),
                head_dim: Some(256),
                vocab_size: Some(262144),
                context_length: Some(32768),
                eos_token_ids: vec![1, 106],
            }
        );
        // head_dim derived from hidden_size / heads when absent; nothing there is no error.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"num_attention_heads": 8, "hidden_size": 512}"#,
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("genai_config.json")).unwrap();
        let d = read_config_dims(dir.path()).unwrap();
        assert_eq!((d.kv_heads, d.head_dim), (Some(8), Some(64)));
        assert_eq!(
            read_config_dims(&dir.path().join("none")).unwrap(),
            ConfigDims::default()
        );
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(
            read_config_dims(dir.path())
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
