//! Exact-match scoring of short answers (multimodal items): the answer is normalised —
//! lower case, number words to digits, everything but letters and digits dropped — and must
//! then equal the expected answer, normalised the same way. The prompt states the format
//! ("the digit only", "one word: left or right"), so a chatty but right answer still fails:
//! that is the point of stating it.

const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
];

/// `" Three."` → `"3"`, `"7, 3, 1"` → `"731"`, `"Left!"` → `"left"`.
pub fn normalize(s: &str) -> String {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            NUMBER_WORDS
                .iter()
                .find(|(word, _)| *word == w)
                .map_or(w, |(_, d)| d)
        })
        .collect()
}

/// Whether `answer` matches `expected` after normalisation (an empty answer never does).
pub fn exact_match(answer: &str, expected: &str) -> bool {
    let a = normalize(answer);
    !a.is_empty() && a == normalize(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_punctuation_and_number_words() {
        assert_eq!(normalize(" Three."), "3");
        assert_eq!(normalize("7, 3, 1"), "731");
        assert_eq!(normalize("Left!"), "left");
        assert!(exact_match("CAT", "cat"));
        assert!(exact_match("four", "4"));
        assert!(!exact_match("The answer is 4", "4"));
        assert!(!exact_match("", ""));
    }
}
