//! The lexer of the architecture test: blanks comments, strings and test code, and reads
//! `use` trees and inline paths as tokens (not a Rust parser: enough for imports).

/// One name a `use` declaration brings in.
pub(super) struct UseDecl {
    pub(super) path: Vec<String>,
    /// The name it brings in (`*` for a glob).
    pub(super) name: String,
    pub(super) public: bool,
    pub(super) line: usize,
}

/// The text with comments and the insides of string and char literals replaced by spaces
/// (newlines kept, so byte offsets give the same lines).
pub(super) fn clean(t: &str) -> String {
    let b = t.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for x in &mut out[from..to] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |k| i + k);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' | b'b' if raw_string_start(b, i).is_some() => {
                let Some((hashes, open)) = raw_string_start(b, i) else {
                    unreachable!()
                };
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let end = b[open + 1..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |k| open + 1 + k + close.len());
                blank(
                    &mut out,
                    open + 1,
                    end.saturating_sub(close.len()).max(open + 1),
                );
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i + 1, j.min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a) left alone.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|k| i + 2 + k)
                } else {
                    let ch = t[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 1 + ch)
                };
                match end {
                    Some(e) => {
                        blank(&mut out, i + 1, e);
                        i = e + 1;
                    }
                    None => i += 1,
                }
            }
            // `b"…"` and `b'…'`: the string or char arm takes it from the quote.
            b'b' if matches!(b.get(i + 1), Some(b'"' | b'\'')) && !ident_before(b, i) => i += 1,
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                // Identifiers are skipped whole, so the `r` of `for"…` is never a prefix.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// At `i`, a raw string `r"`, `r#…#"`, `br"` or `br#…#"`: (hashes, index of the `"`).
pub(super) fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if ident_before(b, i) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&b'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&b'"')).then_some((hashes, j))
}

/// The cleaned text without `#[cfg(test)]` items (a `mod tests { … }` block, a function, a
/// `use`, a `mod x;`), blanked so lines stay where they were.
pub(super) fn strip_test_items(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(k) = code[from..].find("#[cfg(test)]") {
        let start = from + k;
        let mut j = start + "#[cfg(test)]".len();
        // The item ends at the first `;` before any `{`, else at its `{…}` block's end.
        let mut depth = 0usize;
        let mut end = b.len();
        while j < b.len() {
            match b[j] {
                b'[' | b'(' => depth += 1,
                b']' | b')' => depth = depth.saturating_sub(1),
                b';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                b'{' if depth == 0 => {
                    let mut d = 0usize;
                    while j < b.len() {
                        match b[j] {
                            b'{' => d += 1,
                            b'}' => {
                                d -= 1;
                                if d == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    end = (j + 1).min(b.len());
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for x in &mut out[start..end] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
        from = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Tokens with their line: identifiers, `::`, and single punctuation characters.
pub(super) fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let cs: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let s = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push((cs[s..i].iter().collect(), line));
        } else if c == ':' && cs.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((c.to_string(), line));
            i += 1;
        }
    }
    out
}

pub(super) fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The `use` declarations and the inline paths (`crate::…`, `super::…`, `self::…`,
/// `edgebench::…`) of a cleaned file.
pub(super) fn paths(code: &str) -> (Vec<UseDecl>, Vec<(Vec<String>, usize)>) {
    let toks = tokens(code);
    let mut uses = Vec::new();
    let mut inline = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].0.as_str();
        let prev = i.checked_sub(1).map(|k| toks[k].0.as_str());
        if t == "use" && !matches!(prev, Some("::")) {
            let public = matches!(prev, Some("pub" | ")"));
            let line = toks[i].1;
            let end = toks[i..]
                .iter()
                .position(|x| x.0 == ";")
                .map_or(toks.len(), |k| i + k);
            let body: Vec<&str> = toks[i + 1..end].iter().map(|x| x.0.as_str()).collect();
            let mut k = 0;
            let mut found = Vec::new();
            use_tree(&body, &mut k, &mut Vec::new(), &mut found);
            for (path, name) in found {
                uses.push(UseDecl {
                    path,
                    name,
                    public,
                    line,
                });
            }
            i = end + 1;
            continue;
        }
        let starts = matches!(t, "crate" | "super" | "self" | "edgebench")
            && toks.get(i + 1).is_some_and(|x| x.0 == "::")
            && !matches!(prev, Some("::"));
        if starts {
            let line = toks[i].1;
            let mut segs = vec![t.to_string()];
            let mut k = i + 1;
            while k + 1 < toks.len() && toks[k].0 == "::" && is_ident(&toks[k + 1].0) {
                segs.push(toks[k + 1].0.clone());
                k += 2;
            }
            inline.push((segs, line));
            i = k;
            continue;
        }
        i += 1;
    }
    (uses, inline)
}

/// Expands a use tree (`a::b::{c, d::{e as f, self}, *}`) into (path, imported name) pairs.
pub(super) fn use_tree(
    t: &[&str],
    k: &mut usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let depth = prefix.len();
    if t.get(*k) == Some(&"::") {
        *k += 1; // a leading `::`
    }
    loop {
        match t.get(*k) {
            Some(&"{") => {
                *k += 1;
                loop {
                    if t.get(*k) == Some(&"}") {
                        *k += 1;
                        break;
                    }
                    use_tree(t, k, prefix, out);
                    match t.get(*k) {
                        Some(&",") => *k += 1,
                        Some(&"}") => {
                            *k += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                break;
            }
            Some(&"*") => {
                *k += 1;
                out.push((prefix.clone(), "*".into()));
                break;
            }
            Some(&"self") if !prefix.is_empty() && t.get(*k + 1) != Some(&"::") => {
                *k += 1;
                let name =
                    alias(t, k).unwrap_or_else(|| prefix.last().cloned().unwrap_or_default());
                out.push((prefix.clone(), name));
                break;
            }
            Some(s) if is_ident(s) => {
                prefix.push(s.to_string());
                *k += 1;
                if t.get(*k) == Some(&"::") {
                    *k += 1;
                    continue;
                }
                let name = alias(t, k).unwrap_or_else(|| s.to_string());
                out.push((prefix.clone(), name));
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
}

/// `as name` after a use path, if any.
pub(super) fn alias(t: &[&str], k: &mut usize) -> Option<String> {
    if t.get(*k) == Some(&"as") {
        *k += 2;
        return t.get(*k - 1).map(|s| s.to_string());
    }
    None
}

/// The first place `word` occurs in `code` not inside a longer identifier.
pub(super) fn find_word(code: &str, word: &str) -> Option<usize> {
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(k) = code[from..].find(word) {
        let at = from + k;
        let before = at.checked_sub(1).map(|p| b[p]);
        let first_ident = ident(word.as_bytes()[0]);
        let last_ident = ident(*word.as_bytes().last().unwrap());
        let after = b.get(at + word.len()).copied();
        let ok_before = !first_ident || !before.is_some_and(ident);
        let ok_after = !last_ident || !after.is_some_and(ident);
        if ok_before && ok_after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

pub(super) fn line_of(code: &str, at: usize) -> usize {
    code[..at].bytes().filter(|&c| c == b'\n').count() + 1
}
