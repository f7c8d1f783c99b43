//! Where in a text file something is: turns byte offsets (from toml's spans) into
//! 1-based line and column, so every input mistake can be reported as `file:line:col`.

use std::path::Path;

use crate::error::Error;

/// 1-based (line, column) of a byte offset; the column counts characters, not bytes,
/// so that editors jump to the right place in lines with non-ASCII text.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// An input error at a byte span of a file.
pub fn error_at(
    path: &Path,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: impl Into<String>,
) -> Error {
    let (line, col) = span.map_or((1, 1), |s| line_col(text, s.start));
    Error::Input {
        path: path.to_path_buf(),
        line,
        col,
        message: message.into(),
    }
}

/// Turns a toml deserialisation error into a located input error. toml's own message
/// repeats the source line with a caret; we keep only the first line (the explanation).
pub fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> Error {
    let message = err.message().trim().to_string();
    error_at(path, text, err.span(), message)
}

/// Runs `parse` over `text` until it has found every independent mistake, not just the first.
///
/// serde stops at the first mistake, and so do the checks after it. So after each located
/// mistake the `key = value` entry it points into is blanked out (each character but newlines
/// becomes one space, so every line and column stays where the user sees it) and the text is
/// parsed again. It stops when the text parses, at a mistake no single entry holds (a missing
/// key, a syntax error, a file that cannot be read), at a mistake in `kind` or `mode` (which
/// decide what every other key means), or after a few dozen rounds.
pub fn parse_all<T>(text: &str, parse: impl Fn(&str) -> Result<T, Error>) -> Result<T, Error> {
    const MAX_ROUNDS: usize = 50;
    let mut errors: Vec<Error> = Vec::new();
    let mut blanked_keys: Vec<String> = Vec::new();
    let mut current = text.to_string();
    for round in 0..MAX_ROUNDS {
        let err = match parse(&current) {
            Ok(v) if errors.is_empty() => return Ok(v),
            Ok(_) => break,
            Err(e) => e,
        };
        let found: Vec<Error> = match err {
            Error::Inputs(v) => v,
            e => vec![e],
        };
        let mut progressed = false;
        for e in found {
            let Error::Input {
                line, col, message, ..
            } = &e
            else {
                errors.push(e);
                continue;
            };
            let at = offset_of(&current, *line, *col);
            let entry = (!(at == 0 && message.contains("missing")))
                .then(|| entry_at(&current, at))
                .flatten();
            // After a blanking round, a mistake that no entry holds ("missing key `k`"), or one
            // that names a key blanked out ("needs `k`"), may follow from the blanking itself:
            // only the first round reports those.
            // (What follows "expected" lists what may be written, not what is wrong.)
            let what = message.split("expected").next().unwrap_or_default();
            let names_blanked = blanked_keys
                .iter()
                .any(|k| what.contains(&format!("`{k}`")));
            if round > 0 && (entry.is_none() || names_blanked) {
                continue;
            }
            if errors.iter().any(|x| x.to_string() == e.to_string()) {
                continue;
            }
            errors.push(e);
            // The top-level `kind` and `mode` decide what the other keys mean: without them,
            // the others would be judged by another schema.
            if let Some((path, range)) = entry.filter(|(p, _)| p != "kind" && p != "mode") {
                let key = path.rsplit('.').next().unwrap_or_default().to_string();
                let blanked = blank(&current, range);
                if toml::de::DeTable::parse(&blanked).is_ok() && blanked != current {
                    current = blanked;
                    blanked_keys.push(key);
                    progressed = true;
                }
            }
        }
        if !progressed {
            break;
        }
    }
    // In file order, as an editor lists them.
    errors.sort_by_key(|e| match e {
        Error::Input { line, col, .. } => (*line, *col),
        _ => (usize::MAX, 0),
    });
    Err(if errors.len() == 1 {
        errors.remove(0)
    } else {
        Error::Inputs(errors)
    })
}

/// The byte offset of a 1-based line and (character) column.
fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    text[start..]
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(text.len(), |(i, _)| start + i)
}

/// The innermost `key = value` entry whose text holds `at`: its dotted key path (`needles.kind`)
/// and byte range. Inline
/// tables and inline arrays count as one entry (blanking inside them would break the syntax);
/// standard tables and arrays of tables are searched inside.
fn entry_at(text: &str, at: usize) -> Option<(String, std::ops::Range<usize>)> {
    use toml::de::{DeTable, DeValue};
    fn search(
        text: &str,
        table: &DeTable<'_>,
        at: usize,
    ) -> Option<(String, std::ops::Range<usize>)> {
        // A `[table]` or `[[array of tables]]`, not written inline: look inside it.
        let standard = |v: &toml::Spanned<DeValue<'_>>| {
            matches!(v.get_ref(), DeValue::Table(_))
                && !text.get(v.span()).is_some_and(|s| s.starts_with('{'))
        };
        for (k, v) in table.iter() {
            let (inner, is_leaf) = match v.get_ref() {
                DeValue::Table(t) if standard(v) => (search(text, t, at), false),
                DeValue::Array(a) if a.iter().any(&standard) => (
                    a.iter().find_map(|e| match e.get_ref() {
                        DeValue::Table(t) => search(text, t, at),
                        _ => None,
                    }),
                    false,
                ),
                _ => (None, true),
            };
            if let Some((path, range)) = inner {
                return Some((format!("{}.{path}", k.get_ref()), range));
            }
            let range = k.span().start..v.span().end;
            if is_leaf && range.contains(&at) {
                return Some((k.get_ref().to_string(), range));
            }
        }
        None
    }
    let doc = DeTable::parse(text).ok()?;
    search(text, doc.get_ref(), at)
}

/// `text` with the characters of `range` (newlines kept) replaced by one space each.
fn blank(text: &str, range: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..range.start]);
    out.extend(
        text[range.clone()]
            .chars()
            .map(|c| if c == '\n' { c } else { ' ' }),
    );
    out.push_str(&text[range.end..]);
    out
}

/// Reads a text file, mapping failures to a file error.
pub fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::read(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (1, 5));
        assert_eq!(line_col(t, 6), (2, 1));
        // 'é' is two bytes; the '=' after it is the 4th character.
        assert_eq!(line_col(t, 10), (2, 4));
        assert_eq!(line_col(t, 1000), (3, 1));
        assert_eq!(offset_of(t, 2, 4), 10);
        assert_eq!(offset_of(t, 1, 1), 0);
    }

    fn parse_u8s(path: &Path, text: &str) -> Result<(), Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Raw {
            a: Option<u8>,
            b: Option<u8>,
            c: Option<toml::Spanned<u8>>,
        }
        let raw: Raw = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        if let Some(c) = raw.c {
            if *c.get_ref() > 9 {
                return Err(error_at(path, text, Some(c.span()), "`c` must be a digit"));
            }
        }
        Ok(())
    }

    #[test]
    fn every_mistake_is_reported_where_it_is() {
        let p = Path::new("f.toml");
        let text = "a = \"x\"\nzz = 1\nb = 300\nc = 12\n";
        let err = parse_all(text, |t| parse_u8s(p, t)).unwrap_err();
        let Error::Inputs(all) = &err else {
            panic!("expected several mistakes, got {err}");
        };
        let lines: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("f.toml:1:5: "), "{lines:?}");
        assert!(
            lines[1].starts_with("f.toml:2:1: ") && lines[1].contains("zz"),
            "{lines:?}"
        );
        assert!(lines[2].starts_with("f.toml:3:5: "), "{lines:?}");
        assert!(
            lines[3].starts_with("f.toml:4:5: ") && lines[3].contains("digit"),
            "{lines:?}"
        );
        assert_eq!(err.exit_code(), 2);
        // One mistake stays a plain located error; a good file parses.
        assert!(matches!(
            parse_all("b = 1\nc = 10\n", |t| parse_u8s(p, t)),
            Err(Error::Input { line: 2, .. })
        ));
        assert!(parse_all("a = 1\n", |t| parse_u8s(p, t)).is_ok());
    }

    #[test]
    fn entries_are_found_inside_tables_with_their_path() {
        let t = "kind = \"x\"\n[[needles]]\nkind = \"emoji\"\n[b.c]\nd = { e = 1 }\n";
        let at = |needle: &str| t.find(needle).unwrap();
        assert_eq!(entry_at(t, at("\"x\"")).unwrap().0, "kind");
        assert_eq!(entry_at(t, at("\"emoji\"")).unwrap().0, "needles.kind");
        // An inline table is one entry: blanking inside it would break the syntax.
        let (path, range) = entry_at(t, at("e = 1")).unwrap();
        assert_eq!((path.as_str(), &t[range]), ("b.c.d", "d = { e = 1 }"));
        assert!(entry_at(t, at("[[needles]]")).is_none());
    }
}
