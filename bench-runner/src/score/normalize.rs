//! String comparison as BFCL does it: lower-case, delete the characters ` ,./-_*^`, and turn
//! `'` into `"`, so that "April 1, 2024" and "april 1 2024" compare equal.

/// BFCL's `standardize_string`.
pub fn standardize(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .flat_map(char::to_lowercase)
        .map(|c| if c == '\'' { '"' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_punctuation_lowercases_and_swaps_quotes() {
        assert_eq!(standardize("April 1, 2024"), "april12024");
        assert_eq!(standardize("april 1 2024"), "april12024");
        assert_eq!(standardize("San_Francisco/CA-US*^."), "sanfranciscocaus");
        assert_eq!(standardize("it's"), "it\"s");
        assert_eq!(standardize("ÄB"), "äb");
    }
}
