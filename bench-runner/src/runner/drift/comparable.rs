//! Whether a candidate can be compared with the reference at all: the same model family and
//! vocabulary (the token ids of every shared text must be equal, position by position, or
//! nothing lines up), and the same chat template. What cannot be checked is said.

use crate::backend::BackendFacts;

/// `general.architecture` of a GGUF run in process; what `/v1/models` tells of a server's.
fn family(f: &BackendFacts) -> Option<String> {
    if let Some(a) = f.engine.as_ref().and_then(|e| e.gguf.architecture.clone()) {
        return Some(a);
    }
    f.models
        .as_ref()
        .and_then(|m| m.pointer("/data/0/meta/general.architecture"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The vocabulary size, where the facts tell it (llama-server's `/v1/models` meta).
pub fn n_vocab(f: &BackendFacts) -> Option<u64> {
    f.models
        .as_ref()
        .and_then(|m| m.pointer("/data/0/meta/n_vocab"))
        .and_then(|v| v.as_u64())
}

/// SHA-256 of the chat template: the GGUF's, or the one llama-server's `/props` shows.
fn template(f: &BackendFacts) -> Option<String> {
    if let Some(e) = &f.engine {
        return Some(e.gguf.chat_template_sha256.clone().unwrap_or_else(|| {
            format!(
                "fallback:{}",
                e.gguf.chat_template_fallback.clone().unwrap_or_default()
            )
        }));
    }
    if let Some(o) = &f.onnx {
        return o.chat_template_sha256.clone();
    }
    f.props
        .as_ref()
        .and_then(|p| p.get("chat_template"))
        .and_then(|v| v.as_str())
        .map(|t| crate::hash::sha256_hex(t.as_bytes()))
}

/// What the facts say before any token is compared.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Reasons the two cannot be compared (empty: comparable as far as checked).
    pub not_comparable: Vec<String>,
    /// What could not be checked, or differs without making the comparison meaningless.
    pub warnings: Vec<String>,
}

pub fn check(reference: &BackendFacts, candidate: &BackendFacts) -> Verdict {
    let mut v = Verdict::default();
    let (r, c) = (&reference.name, &candidate.name);
    match (family(reference), family(candidate)) {
        (Some(a), Some(b)) if a != b => v.not_comparable.push(format!(
            "{c} runs a {b} model and the reference {r} a {a} model: different model families"
        )),
        (Some(_), Some(_)) => {}
        _ => v.warnings.push(format!(
            "the model family of {} cannot be checked (only the token ids of the shared text are compared)",
            if family(reference).is_none() { r } else { c }
        )),
    }
    if let (Some(a), Some(b)) = (n_vocab(reference), n_vocab(candidate))
        && a != b
    {
        v.not_comparable.push(format!(
            "vocabularies differ: {a} tokens ({r}) and {b} tokens ({c})"
        ));
    }
    match (template(reference), template(candidate)) {
        (Some(a), Some(b)) if a != b => v.warnings.push(format!(
            "{c} and the reference {r} have different chat templates (the drift texts are plain text, so the scores stand; chat prompts would differ)"
        )),
        (Some(_), Some(_)) => {}
        _ => v.warnings.push(format!(
            "the chat templates of {c} and the reference {r} cannot be compared (one side does not tell its template)"
        )),
    }
    v
}

/// The first index where two tokenizations of the same text differ (`None`: equal).
pub fn token_mismatch(a: &[u32], b: &[u32]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, vocab: u64, template: &str) -> BackendFacts {
        BackendFacts {
            name: name.into(),
            models: Some(serde_json::json!({"data": [{"meta": {"n_vocab": vocab}}]})),
            props: Some(serde_json::json!({"chat_template": template})),
            ..Default::default()
        }
    }

    #[test]
    fn vocabularies_templates_and_what_cannot_be_checked() {
        let v = check(&facts("a", 262_144, "t"), &facts("b", 262_144, "t"));
        assert!(v.not_comparable.is_empty());
        // A server does not tell its architecture: said, not guessed.
        assert!(
            v.warnings.iter().any(|w| w.contains("cannot be checked")),
            "{v:?}"
        );
        let v = check(&facts("a", 262_144, "t"), &facts("b", 151_936, "u"));
        assert!(v.not_comparable[0].contains("vocabularies differ"), "{v:?}");
        assert!(
            v.warnings
                .iter()
                .any(|w| w.contains("different chat templates"))
        );
        assert_eq!(token_mismatch(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(token_mismatch(&[1, 2, 3], &[1, 5, 3]), Some(1));
        assert_eq!(token_mismatch(&[1, 2], &[1, 2, 3]), Some(2));
    }
}
