//! The comparability key: two results may be put in one ratio only if they measured the same
//! thing. The key covers the model file's hash, its quantisation, the chat template, the
//! sampling settings and the scenario file's hash. A ratio across differing keys is still
//! shown where asked for, but always beside a visible warning that names what differs.

use crate::results::RunManifest;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompKey {
    pub model_sha256: Option<String>,
    pub quant: Option<String>,
    /// SHA-256 of the chat template the server reported (`/props`).
    pub chat_template_sha256: Option<String>,
    pub sampling: Option<String>,
    pub scenario_sha256: Option<String>,
}

impl CompKey {
    /// The key of one backend's results for one scenario, from the run's manifest.
    pub fn of(manifest: Option<&RunManifest>, backend: &str, model: &str, scenario: &str) -> Self {
        let Some(m) = manifest else {
            return CompKey {
                quant: quant_from_name(model),
                ..Default::default()
            };
        };
        let facts = m
            .backends
            .iter()
            .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(backend));
        let str_at = |v: Option<&serde_json::Value>, path: &[&str]| -> Option<String> {
            let mut cur = v?;
            for p in path {
                cur = cur.get(p)?;
            }
            cur.as_str().filter(|s| !s.is_empty()).map(str::to_string)
        };
        // The file name first: every backend has one, while only llama-server reports
        // `model_ftype` (spelt differently), and the same file must give the same key.
        let quant = str_at(facts, &["model_path"])
            .and_then(|p| quant_from_name(&p))
            .or_else(|| quant_from_name(model))
            .or_else(|| str_at(facts, &["props", "model_ftype"]));
        // A server reports its template (`/props`); the in-process engine hashed the GGUF's
        // own `tokenizer.chat_template`, which hashes the same, or found none ("none").
        let engine_gguf = facts.and_then(|f| f.pointer("/engine/gguf"));
        let chat_template_sha256 = str_at(facts, &["props", "chat_template"])
            .map(|t| crate::hash::sha256_hex(t.as_bytes()))
            .or_else(|| str_at(engine_gguf, &["chat_template_sha256"]))
            .or_else(|| engine_gguf.map(|_| "none".to_string()))
            .or_else(|| str_at(facts, &["onnx", "chat_template_sha256"]));
        let sc = m.scenarios.iter().find(|s| s.name == scenario);
        CompKey {
            model_sha256: str_at(facts, &["model_sha256"]),
            quant,
            chat_template_sha256,
            sampling: sc.and_then(|s| s.sampling.clone()),
            scenario_sha256: sc.map(|s| s.sha256.clone()),
        }
    }

    /// What differs between two keys, as sentences for a warning. A field known on one side
    /// only counts as a difference ("cannot be checked"): silence would hide it.
    pub fn differences(&self, other: &CompKey) -> Vec<String> {
        let mut out = Vec::new();
        type Field<'a> = (
            &'a str,
            &'a str,
            &'a Option<String>,
            &'a Option<String>,
            bool,
        );
        let fields: [Field; 5] = [
            (
                "model file hash",
                "differs",
                &self.model_sha256,
                &other.model_sha256,
                true,
            ),
            ("quantisation", "differs", &self.quant, &other.quant, false),
            (
                "chat template",
                "differs",
                &self.chat_template_sha256,
                &other.chat_template_sha256,
                true,
            ),
            (
                "sampling settings",
                "differ",
                &self.sampling,
                &other.sampling,
                false,
            ),
            (
                "scenario file hash",
                "differs",
                &self.scenario_sha256,
                &other.scenario_sha256,
                true,
            ),
        ];
        for (name, verb, a, b, is_hash) in fields {
            let show = |v: &String| {
                if is_hash {
                    v.chars().take(12).collect::<String>()
                } else {
                    v.clone()
                }
            };
            match (a, b) {
                (Some(x), Some(y)) if x != y => {
                    out.push(format!("{name} {verb} ({} vs {})", show(x), show(y)))
                }
                (Some(_), None) | (None, Some(_)) => {
                    out.push(format!("{name} known on one side only: cannot be checked"))
                }
                _ => {}
            }
        }
        out
    }
}

/// The quantisation named in a GGUF file name (`…-q4_k_m.gguf` → `Q4_K_M`), if any.
pub fn quant_from_name(name: &str) -> Option<String> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = file
        .strip_suffix(".gguf")
        .unwrap_or(file)
        .to_ascii_lowercase();
    // Split on separators and look for the last token that reads like a quant type.
    let tokens: Vec<&str> = stem.split(['-', '.']).collect();
    tokens
        .iter()
        .rev()
        .find(|t| is_quant(t))
        .map(|t| t.to_ascii_uppercase())
}

fn is_quant(t: &str) -> bool {
    matches!(t, "f32" | "f16" | "bf16")
        || ((t.starts_with('q') || t.starts_with("iq"))
            && t.chars()
                .nth(if t.starts_with("iq") { 2 } else { 1 })
                .is_some_and(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_names() {
        assert_eq!(
            quant_from_name("models/gemma-3-270m-q4_k_m.gguf").as_deref(),
            Some("Q4_K_M")
        );
        assert_eq!(
            quant_from_name("qwen2.5-coder-0.5b-instruct-q8_0.gguf").as_deref(),
            Some("Q8_0")
        );
        assert_eq!(quant_from_name("llama-f16.gguf").as_deref(), Some("F16"));
        assert_eq!(quant_from_name("model.gguf"), None);
    }

    #[test]
    fn the_in_process_engine_has_a_template_key() {
        let manifest = |gguf: serde_json::Value| -> RunManifest {
            serde_json::from_value(serde_json::json!({
                "schema_version": 1, "run_id": "r", "status": "complete", "started_at": "",
                "ended_at": null, "edgebench_version": "", "git_commit": "", "command_line": [],
                "scenarios": [], "host": crate::results::device::HostFingerprint::default(),
                "device": "d", "requests_total": 0, "requests_failed": 0, "warnings": [],
                "backends": [{"name": "g", "kind": "llamacpp", "engine": {"gguf": gguf}}],
            }))
            .unwrap()
        };
        let with = manifest(serde_json::json!({"chat_template_sha256": "abc123"}));
        let key = CompKey::of(Some(&with), "g", "m.gguf", "s");
        assert_eq!(key.chat_template_sha256.as_deref(), Some("abc123"));
        let without = manifest(serde_json::json!({"chat_template_sha256": null,
            "chat_template_fallback": "chatml"}));
        let key = CompKey::of(Some(&without), "g", "m.gguf", "s");
        assert_eq!(key.chat_template_sha256.as_deref(), Some("none"));
    }

    #[test]
    fn an_onnx_backend_keys_its_template_hash() {
        let m: RunManifest = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "status": "complete", "started_at": "",
            "ended_at": null, "edgebench_version": "", "git_commit": "", "command_line": [],
            "scenarios": [], "host": crate::results::device::HostFingerprint::default(),
            "device": "d", "requests_total": 0, "requests_failed": 0, "warnings": [],
            "backends": [{"name": "o", "kind": "onnx", "onnx": {"chat_template_sha256": "def456"}}],
        }))
        .unwrap();
        let key = CompKey::of(Some(&m), "o", "model-int4", "s");
        assert_eq!(key.chat_template_sha256.as_deref(), Some("def456"));
    }

    #[test]
    fn differences_name_the_field() {
        let a = CompKey {
            model_sha256: Some("aaaa".into()),
            scenario_sha256: Some("s1".into()),
            ..Default::default()
        };
        let b = CompKey {
            model_sha256: Some("bbbb".into()),
            scenario_sha256: Some("s1".into()),
            sampling: Some("t=0".into()),
            ..Default::default()
        };
        let d = a.differences(&b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("model file hash differs"));
        assert!(d[1].contains("sampling settings"));
        assert!(a.differences(&a).is_empty());
    }
}
