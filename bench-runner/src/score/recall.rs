//! Needle recall, scored as RULER scores it, and the effective context length.
//!
//! - `string_match_all(output, expected)` = (1/|E|) · Σ_{e∈E} [lower(e) ⊂ lower(output)]:
//!   the fraction of expected values that appear in the output, case-insensitively.
//! - The effective context length is the longest tested length whose mean recall is at
//!   least the threshold (0.85 by default, RULER's bar).

/// Fraction of `expected` values found in `output`, ignoring case. No expected values: 1.
pub fn string_match_all(output: &str, expected: &[String]) -> f64 {
    if expected.is_empty() {
        return 1.0;
    }
    let out = output.to_lowercase();
    let hits = expected
        .iter()
        .filter(|e| out.contains(&e.to_lowercase()))
        .count();
    hits as f64 / expected.len() as f64
}

/// The longest length whose mean recall reaches `threshold`; `None` if none does.
/// `per_length` holds (length, mean recall) pairs in any order.
pub fn effective_length(per_length: &[(u32, f64)], threshold: f64) -> Option<u32> {
    per_length
        .iter()
        .filter(|(_, r)| *r >= threshold)
        .map(|(l, _)| *l)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn string_match_all_counts_each_expected_value_once() {
        assert_eq!(
            string_match_all(
                "The numbers are 1234567 and 7654321.",
                &s(&["1234567", "7654321"])
            ),
            1.0
        );
        assert_eq!(
            string_match_all("only 1234567", &s(&["1234567", "7654321"])),
            0.5
        );
        assert_eq!(string_match_all("nothing", &s(&["1234567"])), 0.0);
        assert_eq!(
            string_match_all("UUID: ABCDEF01-2345", &s(&["abcdef01-2345"])),
            1.0
        );
        assert_eq!(
            string_match_all("1234567 1234567", &s(&["1234567", "7654321"])),
            0.5
        );
        assert_eq!(string_match_all("", &[]), 1.0);
    }

    #[test]
    fn effective_length_is_the_longest_passing_length() {
        let r = [(1024, 1.0), (2048, 0.9), (4096, 0.85), (8192, 0.4)];
        assert_eq!(effective_length(&r, 0.85), Some(4096));
        assert_eq!(effective_length(&r, 0.95), Some(1024));
        assert_eq!(effective_length(&r, 1.01), None);
        // A length that passes after a failing one still counts, as the rule says.
        assert_eq!(
            effective_length(&[(1024, 0.2), (2048, 0.9)], 0.85),
            Some(2048)
        );
    }
}
