//! What the run manifest records about a GGUF model and the llama.cpp that runs it.
//!
//! The model facts come from the GGUF metadata (through llama.cpp, which has parsed it) and
//! from the file itself (size, SHA-256), so two results can be told to be the same model
//! byte for byte. The chat template is hashed: a changed template changes prompt lengths.

use std::path::Path;

use serde::Serialize;

use llama_cpp_2::model::LlamaModel;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GgufFacts {
    /// `general.architecture`, e.g. `gemma3`.
    pub architecture: Option<String>,
    /// `general.name` and `general.size_label` where the file has them.
    pub name: Option<String>,
    pub size_label: Option<String>,
    /// Parameters, as llama.cpp counts them (llama-bench's `model_n_params`).
    pub n_params: u64,
    /// Bytes of all tensors (llama-bench's `model_size`; less than the file size).
    pub model_size: u64,
    /// `general.file_type` and its llama.cpp name, e.g. 15 / `Q4_K - Medium`.
    pub file_type: Option<u32>,
    pub quant: Option<String>,
    /// llama-bench's `model_type` string: architecture, size and quant.
    pub desc: String,
    pub n_ctx_train: u32,
    pub n_layer: u32,
    pub file_bytes: u64,
    pub file_sha256: String,
    /// SHA-256 of `tokenizer.chat_template` (absent when the model has none).
    pub chat_template_sha256: Option<String>,
    /// The built-in template used when the GGUF has none (`chatml`, as llama-server does).
    pub chat_template_fallback: Option<String>,
}

/// llama-server's choice for a model without a chat template.
pub const FALLBACK_TEMPLATE: &str = "chatml";

/// llama.cpp's names of `general.file_type` values (`llama_model_ftype_name`).
pub fn ftype_name(ftype: u32) -> Option<&'static str> {
    Some(match ftype {
        0 => "all F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K - Medium",
        11 => "Q3_K - Small",
        12 => "Q3_K - Medium",
        13 => "Q3_K - Large",
        14 => "Q4_K - Small",
        15 => "Q4_K - Medium",
        16 => "Q5_K - Small",
        17 => "Q5_K - Medium",
        18 => "Q6_K",
        19 => "IQ2_XXS - 2.0625 bpw",
        20 => "IQ2_XS - 2.3125 bpw",
        21 => "Q2_K - Small",
        22 => "IQ3_XS - 3.3 bpw",
        23 => "IQ3_XXS - 3.0625 bpw",
        24 => "IQ1_S - 1.5625 bpw",
        25 => "IQ4_NL - 4.5 bpw",
        26 => "IQ3_S - 3.4375 bpw",
        27 => "IQ3_S mix - 3.66 bpw",
        28 => "IQ2_S - 2.5 bpw",
        29 => "IQ2_M - 2.7 bpw",
        30 => "IQ4_XS - 4.25 bpw",
        31 => "IQ1_M - 1.75 bpw",
        32 => "BF16",
        36 => "TQ1_0 - 1.69 bpw ternary",
        37 => "TQ2_0 - 2.06 bpw ternary",
        38 => "MXFP4 MoE",
        _ => return None,
    })
}

/// `270M`, `1.5B`: a parameter count as model names write it.
pub fn params_label(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.1}B", n as f64 / 1e9)
    } else {
        format!("{}M", (n as f64 / 1e6).round())
    }
}

/// Reads the facts of a loaded model; `file` is hashed here (about a second per 250 MB).
pub fn read(model: &LlamaModel, file: &Path) -> std::io::Result<GgufFacts> {
    let meta = |k: &str| model.meta_val_str(k).ok().filter(|v| !v.is_empty());
    let architecture = meta("general.architecture");
    let file_type = meta("general.file_type").and_then(|v| v.parse::<u32>().ok());
    let quant = file_type.and_then(ftype_name).map(str::to_string);
    let n_params = model.n_params();
    let size_label = meta("general.size_label");
    // llama-bench's model column is llama.cpp's own description, whose size is the model
    // type llama.cpp infers ("270M" for 268.1 M parameters); the GGUF's size label names the
    // same, and the parameter count stands in where the file has none.
    let desc = format!(
        "{} {} {}",
        architecture.as_deref().unwrap_or("?"),
        size_label.clone().unwrap_or_else(|| params_label(n_params)),
        quant.as_deref().unwrap_or("?")
    );
    let chat_template_sha256 = model
        .chat_template(None)
        .ok()
        .and_then(|t| t.to_string().ok())
        .map(|t| crate::hash::sha256_hex(t.as_bytes()));
    let (file_sha256, file_bytes) = crate::hash::sha256_file(file)?;
    Ok(GgufFacts {
        architecture,
        name: meta("general.name"),
        size_label,
        n_params,
        model_size: model.size(),
        file_type,
        quant,
        desc,
        n_ctx_train: model.n_ctx_train(),
        n_layer: model.n_layer(),
        file_bytes,
        file_sha256,
        chat_template_fallback: chat_template_sha256
            .is_none()
            .then(|| FALLBACK_TEMPLATE.to_string()),
        chat_template_sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(ftype_name(15), Some("Q4_K - Medium"));
        assert_eq!(ftype_name(4), None);
        assert_eq!(params_label(268_098_176), "268M");
        assert_eq!(params_label(1_543_714_304), "1.5B");
    }
}
