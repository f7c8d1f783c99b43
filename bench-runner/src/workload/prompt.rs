//! Salted filler prompts of an exact token length.
//!
//! Every prompt starts with a unique salt, so no prefix cache (server or proxy) can serve
//! any of it. The rest is filler drawn from common English words with a seeded generator,
//! so the same seed gives the same text (apart from the salt).
//!
//! Exact length: the backend counts the tokens it will process for the whole prompt, chat
//! template included (llama-server: `/apply-template` + `/tokenize`). We start from a guess of
//! one token per word, correct by the difference a few times, then walk word by word, and
//! pad with one-token pieces when words jump by two. Backends that cannot count return
//! `None`: the prompt is then made by the same guess and the actual count is recorded later
//! from the server's `usage`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Common words that are one token in most vocabularies when preceded by a space.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "water", "house",
    "world", "city", "river", "light", "small", "great", "old", "new", "long", "day", "year",
    "work", "part", "place", "made", "found", "home", "people", "number", "music", "book", "road",
    "black", "white", "green", "red", "blue", "line", "side", "back", "hand", "high", "left",
    "right", "open", "story", "school", "paper", "group", "north", "south", "east", "west",
];

/// A unique salt of six common words, e.g. `[river blue hand of paper east]`: about seven
/// tokens in most vocabularies (a hex salt costs three times that, which made short
/// prompts impossible to hit exactly), and 95⁶ ≈ 7·10¹¹ combinations. Uniqueness comes from
/// the run's own randomness plus the request index, not from the scenario seed (which fixes
/// the filler).
pub fn salt(run_nonce: u64, index: u64) -> String {
    let mut r = ChaCha8Rng::seed_from_u64(run_nonce ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let words: Vec<&str> = (0..6)
        .map(|_| WORDS[r.random_range(0..WORDS.len())])
        .collect();
    format!("[{}]", words.join(" "))
}

/// `salt` followed by `words` filler words from the seeded sequence.
pub fn text(salt: &str, seed: u64, words: usize) -> String {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::with_capacity(salt.len() + words * 6);
    s.push_str(salt);
    for _ in 0..words {
        s.push(' ');
        s.push_str(WORDS[r.random_range(0..WORDS.len())]);
    }
    s
}

/// The outcome of the search: the prompt text and its count, when the backend can count.
#[derive(Debug, Clone)]
pub struct Exact {
    pub text: String,
    pub tokens: Option<u32>,
    /// Words used, a good first guess for the next prompt of the same target.
    pub words: usize,
}

/// Finds a prompt of exactly `target` tokens. `count(text)` returns the backend's count of
/// the whole prompt for that user text, or `None` when the backend cannot count.
/// `guess` is the word count to start from (from the previous prompt of this target).
pub async fn exact<E>(
    target: u32,
    salt: &str,
    seed: u64,
    guess: Option<usize>,
    mut count: impl AsyncFnMut(&str) -> Result<Option<u32>, E>,
) -> Result<Exact, E> {
    let target_i = target as i64;
    let mut words = guess.unwrap_or((target as usize).saturating_sub(8)).max(1);
    let mut best_under: Option<(usize, u32)> = None;
    // 1) Newton-like correction: tokens grow about one per word.
    for _ in 0..6 {
        let t = text(salt, seed, words);
        let Some(n) = count(&t).await? else {
            return Ok(Exact {
                text: t,
                tokens: None,
                words,
            });
        };
        if n == target {
            return Ok(Exact {
                text: t,
                tokens: Some(n),
                words,
            });
        }
        if n < target && best_under.is_none_or(|(w, _)| w < words) {
            best_under = Some((words, n));
        }
        let next = (words as i64 + (target_i - n as i64)).max(1) as usize;
        if next == words {
            break;
        }
        words = next;
    }
    // 2) Walk up one word at a time from the longest prompt still under the target.
    let (mut w, mut n) = match best_under {
        Some(b) => b,
        None => {
            // Every try was too long: shrink until under.
            let mut w = words;
            loop {
                w = w.saturating_sub(1).max(1);
                let c = count(&text(salt, seed, w)).await?.unwrap_or(0);
                if c <= target || w == 1 {
                    break (w, c);
                }
            }
        }
    };
    while n < target {
        let c = count(&text(salt, seed, w + 1)).await?.unwrap_or(0);
        if c > target {
            break;
        }
        w += 1;
        n = c;
    }
    // 3) Pad with one-token pieces (" ." in most vocabularies) until exact.
    let mut t = text(salt, seed, w);
    let mut pads = 0;
    while n < target && pads < 64 {
        let cand = format!("{t} .");
        let c = count(&cand).await?.unwrap_or(0);
        if c > target {
            break;
        }
        t = cand;
        n = c;
        pads += 1;
    }
    Ok(Exact {
        text: t,
        tokens: Some(n),
        words: w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy counter: 5 template tokens + 1 per word + salt 3 tokens, except that every
    /// 7th word counts two tokens, so that the search must walk and pad.
    async fn count_words(t: &str) -> Result<Option<u32>, ()> {
        let words = t.split(' ').count() as u32 - 1;
        let dots = t.matches(" .").count() as u32;
        Ok(Some(8 + (words - dots) + (words - dots) / 7 + dots))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn finds_exact_lengths() {
        for target in [16u32, 17, 64, 100, 513, 2048] {
            let e = block_on(exact(target, "[req 1]", 7, None, count_words)).unwrap();
            assert_eq!(e.tokens, Some(target), "target {target}");
            assert_eq!(block_on(count_words(&e.text)).unwrap(), Some(target));
        }
    }

    #[test]
    fn salts_differ_and_filler_is_seeded() {
        assert_ne!(salt(1, 0), salt(1, 1));
        assert_eq!(text("s", 5, 10), text("s", 5, 10));
        assert_ne!(text("s", 5, 10), text("s", 6, 10));
    }

    #[test]
    fn no_counter_gives_a_guess() {
        let e = block_on(exact(100, "s", 1, None, async |_: &str| Ok::<_, ()>(None))).unwrap();
        assert_eq!(e.tokens, None);
        assert_eq!(e.words, 92);
    }
}
