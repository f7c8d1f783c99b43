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

/// Reads a text file, mapping failures to a file error.
pub fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::file(path, e))
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
    }
}
