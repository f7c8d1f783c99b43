//! File names of the site's pages: a readable part (ASCII letters, digits, `.`, `_`, `-`, at
//! most 40) and 8 hex digits of the name's SHA-256, so that names differing only in
//! characters that are dropped (`a/b`, `a b`) never share a page, and no name — markup, `..`,
//! a slash — can reach outside its folder or need escaping in a link.

use crate::hash::sha256_hex;

pub fn slug(name: &str) -> String {
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    // One dash for every run of dropped characters.
    let mut squeezed = String::new();
    for c in readable.chars() {
        if !(c == '-' && squeezed.ends_with('-')) {
            squeezed.push(c);
        }
    }
    let readable = squeezed.trim_matches('-');
    let h = &sha256_hex(name.as_bytes())[..8];
    if readable.is_empty() {
        h.to_string()
    } else {
        format!("{readable}-{h}")
    }
}

pub fn model_page(slug: &str) -> String {
    format!("models/{slug}.html")
}

pub fn device_page(slug: &str) -> String {
    format!("devices/{slug}.html")
}

pub fn category_page(slug: &str) -> String {
    format!("category-{slug}.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_and_distinct() {
        let a = slug(r#"x" onload="alert(1)"#);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
        assert_ne!(slug("a/b"), slug("a b"));
        assert_eq!(slug("../.."), slug("../..")); // stable
        assert!(!slug("../..").contains('.'));
        assert_eq!(slug("Gemma").len(), "gemma-".len() + 8);
    }
}
