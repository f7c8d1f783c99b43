//! Secrets (API keys) that edgebench holds in memory, and the scrubber that keeps them out of
//! everything it writes or prints.
//!
//! A key is registered where it is read from the environment. Servers repeat it back (an
//! error body saying "Incorrect API key provided: Bearer sk-…", a proxy echoing headers), so
//! every string that came from a server is scrubbed where the backend turns it into an error
//! or a result, and the writers (CSV rows, run.json, launched servers' logs, the terminal)
//! scrub once more as the last line of defence.
//!
//! A key is matched in every form in which it can appear in our outputs: as is, doubled
//! quotes (CSV), backslash-escaped (JSON), and HTML-escaped.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Keys shorter than this are replaced only after `Bearer ` (everywhere) and as whole words
/// in server messages (`scrub_message`), not anywhere inside a string. A short key is a
/// placeholder (vLLM's "EMPTY", `--api-key 1`, "none") or could be guessed in seconds anyway,
/// while replacing it anywhere would corrupt the results: a key "1" would turn every figure
/// containing a 1 in samples.csv into `***`, and "none" would eat words of model output.
pub const MIN_BARE_LEN: usize = 8;

struct Secret {
    value: String,
    /// The value in each form it can take in our outputs, longest first.
    forms: Vec<String>,
    /// `Bearer <form>` for each form: replaced whatever the key's length.
    bearer: Vec<String>,
    /// Long enough to be replaced anywhere.
    bare: bool,
}

static SECRETS: RwLock<Vec<Secret>> = RwLock::new(Vec::new());

/// Registers a secret value for the life of the process. Empty values are ignored.
pub fn register(value: &str) {
    if value.is_empty() {
        return;
    }
    let Ok(mut all) = SECRETS.write() else {
        return;
    };
    if all.iter().any(|s| s.value == value) {
        return;
    }
    let mut forms = vec![
        value.to_string(),
        value.replace('"', "\"\""),
        json_escaped(value),
        html_escaped(value),
    ];
    // Longest first, so that no form is masked piecewise by a shorter one it contains.
    forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    forms.dedup();
    let bearer = forms.iter().map(|f| format!("Bearer {f}")).collect();
    all.push(Secret {
        value: value.to_string(),
        forms,
        bearer,
        bare: value.chars().count() >= MIN_BARE_LEN,
    });
}

/// Whether any secret is registered (lets writers of big files skip the work).
pub fn any() -> bool {
    SECRETS.read().is_ok_and(|s| !s.is_empty())
}

/// Scrubs a file that another process wrote (a launched server's log) in place.
pub fn scrub_file(path: &std::path::Path) -> std::io::Result<()> {
    if !any() {
        return Ok(());
    }
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    if let Cow::Owned(clean) = scrub(&text) {
        let tmp = path.with_extension("scrub.tmp");
        std::fs::write(&tmp, clean)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// The string with every registered secret (of at least `MIN_BARE_LEN` characters) and every
/// `Bearer <secret>` replaced by `***`. Safe on whole serialised files: it never touches
/// text that does not contain a secret.
pub fn scrub(text: &str) -> Cow<'_, str> {
    scrub_with(text, false)
}

/// `scrub`, and short secrets too where they stand as a whole word. For messages that came
/// from a server (error bodies), where masking a short word by mistake costs nothing.
pub fn scrub_message(text: &str) -> Cow<'_, str> {
    scrub_with(text, true)
}

/// Scrubs a `String` in place (no copy when it holds no secret).
pub fn scrub_in_place(text: &mut String) {
    if let Cow::Owned(s) = scrub(text) {
        *text = s;
    }
}

/// `scrub_message` in place.
pub fn scrub_message_in_place(text: &mut String) {
    if let Cow::Owned(s) = scrub_message(text) {
        *text = s;
    }
}

fn scrub_with(text: &str, short_words: bool) -> Cow<'_, str> {
    let Ok(all) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for s in all.iter() {
        for b in &s.bearer {
            if out.contains(b.as_str()) {
                out = Cow::Owned(out.replace(b.as_str(), &format!("Bearer {MASK}")));
            }
        }
        for f in &s.forms {
            if s.bare {
                if out.contains(f.as_str()) {
                    out = Cow::Owned(out.replace(f.as_str(), MASK));
                }
            } else if short_words && out.contains(f.as_str()) {
                out = Cow::Owned(replace_words(&out, f));
            }
        }
    }
    out
}

/// Replaces `word` where it is not part of a longer word (letters, digits, `-`, `_`).
fn replace_words(text: &str, word: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(i) = rest.find(word) {
        let prev = rest[..i].chars().next_back().or(before);
        let next = rest[i + word.len()..].chars().next();
        out.push_str(&rest[..i]);
        if prev.is_some_and(is_word) || next.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(MASK);
        }
        before = word.chars().next_back();
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

fn json_escaped(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(value)
        .to_string()
}

fn html_escaped(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide: each test uses its own values.

    #[test]
    fn long_keys_are_masked_in_every_form() {
        let key = r#"sk-unit-"q"\b<&>-0123"#;
        register(key);
        let raw = format!("Incorrect API key provided: Bearer {key}.");
        assert_eq!(scrub(&raw), "Incorrect API key provided: Bearer ***.");
        let csv = format!("a,\"x {} y\",1", key.replace('"', "\"\""));
        assert_eq!(scrub(&csv), "a,\"x *** y\",1");
        let json = serde_json::to_string(&format!("key {key}")).unwrap();
        assert_eq!(scrub(&json), "\"key ***\"");
        let html = format!("<td>{}</td>", html_escaped(key));
        assert_eq!(scrub(&html), "<td>***</td>");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_keys_are_masked_after_bearer_and_as_words_in_messages_only() {
        register("k7");
        // A figure or a word that merely contains the short key is left alone.
        assert_eq!(scrub("ttft_ms,k7x,1k7"), "ttft_ms,k7x,1k7");
        assert_eq!(scrub("auth: Bearer k7"), "auth: Bearer ***");
        assert_eq!(
            scrub_message("bad key k7 (k7x, xk7, k7)"),
            "bad key *** (k7x, xk7, ***)"
        );
        assert_eq!(scrub_message("k7"), "***");
    }

    #[test]
    fn empty_values_are_not_secrets() {
        register("");
        assert_eq!(scrub("a b"), "a b");
    }
}
