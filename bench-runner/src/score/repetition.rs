//! "The same text repeated without finishing": a model stuck in a loop. Detected on the tail
//! of the output: a block of `p` bytes (1 ≤ p ≤ 256) repeated at least [`MIN_REPEATS`] times
//! back to back, covering at least [`MIN_SPAN`] bytes, at the very end of the text.

pub const MIN_REPEATS: usize = 4;
pub const MIN_SPAN: usize = 64;
const MAX_PERIOD: usize = 256;

/// True when the text ends in a loop.
pub fn ends_in_loop(text: &str) -> bool {
    let b = text.as_bytes();
    let n = b.len();
    if n < MIN_SPAN {
        return false;
    }
    for p in 1..=MAX_PERIOD.min(n / MIN_REPEATS) {
        let block = &b[n - p..];
        let mut r = 1;
        while (r + 1) * p <= n && &b[n - (r + 1) * p..n - r * p] == block {
            r += 1;
        }
        if r >= MIN_REPEATS && r * p >= MIN_SPAN {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_found_and_prose_is_not() {
        assert!(ends_in_loop(&format!(
            "Sure. {}",
            "I will call the tool. ".repeat(6)
        )));
        assert!(ends_in_loop(&"\n".repeat(80)));
        assert!(!ends_in_loop("short"));
        assert!(!ends_in_loop(
            "The weather in Paris is sunny with a light breeze from the west, and it will stay so until the evening."
        ));
        // Three repeats are not enough.
        assert!(!ends_in_loop(&format!(
            "x{}",
            "abcdefghijklmnopqrstuvwxyz".repeat(3)
        )));
    }
}
