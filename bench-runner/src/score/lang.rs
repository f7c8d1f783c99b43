//! BFCL's Java and JavaScript categories: every argument travels as a string written in the
//! language's own syntax (`"5L"`, `"new int[]{1, 2}"`, `"true"`), and BFCL converts it to a
//! value of the declared type before the usual checks. This is a compact version of its
//! `java_type_converter` / `js_type_converter` covering the literal forms the data uses:
//! numbers with or without suffix (`L`, `f`, `d`, `n`), booleans, quoted strings and chars,
//! arrays (`[…]`, `{…}`, `new T[]{…}`, `Arrays.asList(…)`, `new ArrayList<>(Arrays.asList(…))`,
//! `List.of(…)`) and maps (JSON objects, or Java's `put("k", v)` initialisers). A string that
//! is none of these is kept as a string, so it can still match a variable name.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    Java,
    JavaScript,
}

impl Language {
    /// As BFCL tells them: by the category name.
    pub fn of(category: &str) -> Self {
        if category.contains("javascript") {
            Language::JavaScript
        } else if category.contains("java") {
            Language::Java
        } else {
            Language::Python
        }
    }
}

/// Converts an argument string of a declared type (and item type for arrays).
pub fn convert(s: &str, type_name: &str, nested: Option<&str>, lang: Language) -> Value {
    let t = s.trim();
    match type_name {
        "boolean" | "Boolean" => match t {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s.to_string()),
        },
        "integer" | "long" | "short" | "byte" | "Bigint" => {
            let n = t.trim_end_matches(['L', 'l', 'n']);
            n.parse::<i64>()
                .map_or_else(|_| Value::String(s.to_string()), Value::from)
        }
        "float" | "double" => {
            let n = t.trim_end_matches(['f', 'F', 'd', 'D']);
            match n.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(f) => Value::Number(f),
                None => Value::String(s.to_string()),
            }
        }
        "char" => Value::String(unquote(t, lang).to_string()),
        "String" | "string" | "any" => Value::String(unquote(t, lang).to_string()),
        "Array" | "ArrayList" | "array" | "Queue" | "Stack" | "Set" | "list" => {
            match list_body(t) {
                Some(body) => Value::Array(
                    split_top_level(body)
                        .into_iter()
                        .map(|e| convert(e, nested.unwrap_or("String"), None, lang))
                        .collect(),
                ),
                None => Value::String(s.to_string()),
            }
        }
        "HashMap" | "Hashtable" | "dict" | "object" => {
            map_value(t, lang).unwrap_or_else(|| Value::String(s.to_string()))
        }
        _ => Value::String(s.to_string()),
    }
}

fn unquote(t: &str, lang: Language) -> &str {
    let quoted = |q: char| t.len() >= 2 && t.starts_with(q) && t.ends_with(q);
    if quoted('"')
        || (quoted('\'') && (lang == Language::JavaScript || t.chars().count() == 3))
        || (lang == Language::JavaScript && quoted('`'))
    {
        &t[1..t.len() - 1]
    } else {
        t
    }
}

/// The text between the brackets of an array literal, in any of the supported forms.
fn list_body(t: &str) -> Option<&str> {
    let t = t.trim();
    for prefix in [
        "new ArrayList<>(Arrays.asList(",
        "Arrays.asList(",
        "List.of(",
        "new ArrayList<>(List.of(",
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let close = ")".repeat(prefix.matches('(').count());
            return rest.strip_suffix(close.as_str());
        }
    }
    if t.starts_with("new ") {
        let open = t.find('{')?;
        return t[open + 1..].strip_suffix('}');
    }
    if let Some(r) = t.strip_prefix('[') {
        return r.strip_suffix(']');
    }
    if let Some(r) = t.strip_prefix('{') {
        return r.strip_suffix('}');
    }
    None
}

/// Splits at commas outside brackets and quotes; empty input gives no elements.
pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start, mut escaped) = (0i32, None::<char>, 0usize, false);
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = s[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

fn map_value(t: &str, lang: Language) -> Option<Value> {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    // Java: new HashMap<…>() {{ put("k", v); put("k2", v2); }}
    if t.contains("put(") {
        let mut m = Map::new();
        for part in t.split("put(").skip(1) {
            let inner = part.split(");").next()?.trim_end_matches(')');
            let kv = split_top_level(inner);
            if kv.len() != 2 {
                return None;
            }
            m.insert(
                unquote(kv[0], lang).to_string(),
                Value::String(unquote(kv[1], lang).to_string()),
            );
        }
        return Some(Value::Object(m));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_literals() {
        let j = Language::Java;
        assert_eq!(convert("5L", "long", None, j), json!(5));
        assert_eq!(convert("2.5f", "float", None, j), json!(2.5));
        assert_eq!(convert("true", "boolean", None, j), json!(true));
        assert_eq!(convert("\"abc\"", "String", None, j), json!("abc"));
        assert_eq!(
            convert("mapController", "any", None, j),
            json!("mapController")
        );
        assert_eq!(
            convert("new int[]{1, 2}", "Array", Some("integer"), j),
            json!([1, 2])
        );
        assert_eq!(
            convert(
                "new ArrayList<>(Arrays.asList(\"a\", \"b\"))",
                "ArrayList",
                Some("String"),
                j
            ),
            json!(["a", "b"])
        );
        assert_eq!(
            convert(
                "new HashMap<String, String>() {{ put(\"k\", \"v\"); }}",
                "HashMap",
                None,
                j
            ),
            json!({"k": "v"})
        );
        assert_eq!(convert("x", "integer", None, j), json!("x"));
    }

    #[test]
    fn javascript_literals() {
        let js = Language::JavaScript;
        assert_eq!(convert("'submit'", "String", None, js), json!("submit"));
        assert_eq!(
            convert("[60, 30]", "array", Some("integer"), js),
            json!([60, 30])
        );
        assert_eq!(convert("10n", "Bigint", None, js), json!(10));
        assert_eq!(Language::of("simple_javascript"), Language::JavaScript);
        assert_eq!(Language::of("simple_java"), Language::Java);
        assert_eq!(Language::of("live_simple"), Language::Python);
    }

    #[test]
    fn splits_outside_brackets_and_quotes() {
        assert_eq!(
            split_top_level("1, [2, 3], \"a,b\", f(x, y)"),
            vec!["1", "[2, 3]", "\"a,b\"", "f(x, y)"]
        );
        assert!(split_top_level("").is_empty());
    }
}
