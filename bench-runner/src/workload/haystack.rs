//! Needle-in-a-haystack prompts of an exact token length, made without any external corpus.
//!
//! The haystack is RULER's "noise" filler: the same five sentences repeated. Needles read
//! "One of the special magic numbers for {key} is: {value}." (values: 7-digit numbers,
//! UUIDs or words). Variants: a single needle; multi-key (distractor needles with other
//! keys); multi-value (several needles with the asked key, all expected in the answer).
//!
//! Placement: the asked needle goes at the token position of its depth (per cent of the
//! haystack), moved back to the sentence boundary before it. Token positions come from the
//! per-sentence token counts measured with the backend's tokenizer. Other needles go at
//! seeded random depths.
//!
//! Length: the whole prompt (chat template included) is made exactly `target` tokens by a
//! binary search on the number of filler sentences, then one-token padding — the same
//! counter the throughput prompts use. Every prompt starts with a unique salt.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::needle::{NeedleKind, NeedleVariant, Needles};

const FILLER: &[&str] = &[
    "The grass is green.",
    "The sky is blue.",
    "The sun is yellow.",
    "Here we go.",
    "There and back again.",
];

const KEY_WORDS: &[&str] = &[
    "amber", "basil", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
    "kestrel", "lagoon", "meadow", "nimbus", "orchid", "pebble", "quartz", "raven", "saffron",
    "thistle", "umber", "violet", "willow", "yarrow", "zephyr",
];

const VALUE_WORDS: &[&str] = &[
    "lantern", "compass", "velvet", "granite", "falcon", "whistle", "marble", "canyon", "beacon",
    "saddle", "trumpet", "glacier", "pepper", "ribbon", "anchor", "mosaic", "tunnel", "copper",
];

/// One needle: the sentence and the value it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Needle {
    pub key: String,
    pub value: String,
    /// Depth in per cent of the haystack where it was placed (after moving to a boundary).
    pub depth_pct: f64,
}

/// The plan of a haystack prompt: everything but the filler length, fixed by the seed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub salt: String,
    pub key: String,
    /// Needles with their target depths (per cent); the asked ones first.
    pub needles: Vec<(String, String, f64)>,
    /// Values the answer must contain.
    pub expected: Vec<String>,
    pub noun: &'static str,
}

fn value(kind: NeedleKind, r: &mut ChaCha8Rng) -> String {
    match kind {
        NeedleKind::Number => format!("{}", r.random_range(1_000_000..10_000_000u32)),
        NeedleKind::Uuid => {
            let b: [u8; 16] = r.random();
            let h = hex::encode(b);
            format!(
                "{}-{}-4{}-a{}-{}",
                &h[0..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..32]
            )
        }
        NeedleKind::Word => VALUE_WORDS[r.random_range(0..VALUE_WORDS.len())].to_string(),
    }
}

/// Draws keys, values and depths for one request.
pub fn plan(spec: &Needles, depth_pct: u32, seed: u64, salt: String) -> Plan {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let mut keys: Vec<&str> = KEY_WORDS.to_vec();
    // Partial Fisher–Yates: distinct keys.
    for i in 0..keys.len() {
        let j = r.random_range(i..keys.len());
        keys.swap(i, j);
    }
    let key = format!("{}-{}", keys[0], r.random_range(100..1000u32));
    let noun = match spec.kind {
        NeedleKind::Number => "special magic numbers",
        NeedleKind::Uuid => "special magic uuids",
        NeedleKind::Word => "special magic words",
    };
    let mut needles = Vec::new();
    let mut expected = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut fresh = |r: &mut ChaCha8Rng| loop {
        let v = value(spec.kind, r);
        if used.insert(v.clone()) {
            break v;
        }
    };
    let v = fresh(&mut r);
    expected.push(v.clone());
    needles.push((key.clone(), v, depth_pct as f64));
    for i in 1..spec.count as usize {
        let d = r.random_range(0.0..=100.0);
        match spec.variant {
            NeedleVariant::MultiValue => {
                let v = fresh(&mut r);
                expected.push(v.clone());
                needles.push((key.clone(), v, d));
            }
            NeedleVariant::MultiKey => {
                let other = format!("{}-{}", keys[i % keys.len()], r.random_range(100..1000u32));
                let v = fresh(&mut r);
                needles.push((other, v, d));
            }
            NeedleVariant::Single => {}
        }
    }
    Plan {
        salt,
        key,
        needles,
        expected,
        noun,
    }
}

fn needle_sentence(plan: &Plan, key: &str, value: &str) -> String {
    let singular = plan.noun.trim_end_matches('s');
    format!("One of the {singular}s for {key} is: {value}.")
}

/// Token counts of the filler sentences (as they appear mid-text, after a space).
pub type SentenceTokens = [u32; 5];

/// Renders the user message for a haystack of `sentences` filler sentences plus `pads`
/// one-token pad pieces. `weights` are the filler sentences' token counts, used to find the
/// sentence boundary at each needle's token depth. Returns the text and the needles placed.
pub fn render(
    plan: &Plan,
    sentences: usize,
    pads: usize,
    weights: &SentenceTokens,
) -> (String, Vec<Needle>) {
    // Cumulative token position of each sentence boundary.
    let mut cum = Vec::with_capacity(sentences + 1);
    let mut t = 0u64;
    cum.push(0u64);
    for i in 0..sentences {
        t += weights[i % FILLER.len()].max(1) as u64;
        cum.push(t);
    }
    let total = t.max(1);
    // Boundary index for each needle: the last boundary at or before its token depth.
    let mut at: Vec<(usize, usize)> = plan
        .needles
        .iter()
        .enumerate()
        .map(|(i, (_, _, d))| {
            let pos = (d / 100.0 * total as f64).floor() as u64;
            let b = cum.partition_point(|&c| c <= pos).saturating_sub(1);
            (b, i)
        })
        .collect();
    at.sort();
    let mut placed = Vec::new();
    let mut s = String::with_capacity(sentences * 22 + 400);
    s.push_str(&plan.salt);
    s.push_str(&format!(
        " Some {} are hidden within the following text. Make sure to memorize them. I will quiz you about the {} afterwards.\n",
        plan.noun, plan.noun
    ));
    let mut next = at.iter().peekable();
    for i in 0..=sentences {
        while let Some(&&(b, n)) = next.peek() {
            if b != i {
                break;
            }
            let (k, v, _) = &plan.needles[n];
            s.push(' ');
            s.push_str(&needle_sentence(plan, k, v));
            placed.push(Needle {
                key: k.clone(),
                value: v.clone(),
                depth_pct: 100.0 * cum[b] as f64 / total as f64,
            });
            next.next();
        }
        if i < sentences {
            s.push(' ');
            s.push_str(FILLER[i % FILLER.len()]);
        }
    }
    for _ in 0..pads {
        s.push_str(" .");
    }
    s.push_str(&format!(
        "\nWhat are all the {} for {} mentioned in the provided text? The {} for {} mentioned in the provided text are",
        plan.noun, plan.key, plan.noun, plan.key
    ));
    (s, placed)
}

/// The filler sentences, for measuring their token counts.
pub fn filler_sentences() -> &'static [&'static str] {
    FILLER
}

/// A rendered haystack prompt.
#[derive(Debug, Clone)]
pub struct Haystack {
    pub text: String,
    pub tokens: Option<u32>,
    pub needles: Vec<Needle>,
    pub expected: Vec<String>,
}

/// Finds the haystack whose whole prompt is exactly `target` tokens. `count` counts the
/// whole prompt for a user text (template included); `None` when the backend cannot count
/// (then sentences are estimated from the weights).
pub async fn exact<E>(
    plan: &Plan,
    target: u32,
    weights: &SentenceTokens,
    mut count: impl AsyncFnMut(&str) -> Result<Option<u32>, E>,
) -> Result<Haystack, E> {
    let per_sentence = weights.iter().map(|&w| w.max(1) as f64).sum::<f64>() / weights.len() as f64;
    let guess = ((target as f64 - 120.0).max(0.0) / per_sentence) as usize;
    let mut c = async |n: usize, pads: usize| -> Result<Option<u32>, E> {
        count(&render(plan, n, pads, weights).0).await
    };
    let Some(at_guess) = c(guess, 0).await? else {
        let (text, needles) = render(plan, guess, 0, weights);
        return Ok(Haystack {
            text,
            tokens: None,
            needles,
            expected: plan.expected.clone(),
        });
    };
    // Bracket [lo, hi) with count(lo) ≤ target < count(hi), then bisect.
    let (mut lo, mut lo_n, mut hi) = if at_guess <= target {
        let mut lo = guess;
        let mut lo_n = at_guess;
        let mut step = (((target - at_guess) as f64 / per_sentence) as usize).max(1) + 1;
        loop {
            let n = c(lo + step, 0).await?.unwrap_or(u32::MAX);
            if n > target {
                break (lo, lo_n, lo + step);
            }
            lo += step;
            lo_n = n;
            step *= 2;
        }
    } else {
        let mut hi = guess;
        let mut step = (((at_guess - target) as f64 / per_sentence) as usize).max(1) + 1;
        loop {
            let lo = hi.saturating_sub(step);
            let n = c(lo, 0).await?.unwrap_or(0);
            if n <= target || lo == 0 {
                break (lo, n, hi);
            }
            hi = lo;
            step *= 2;
        }
    };
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let n = c(mid, 0).await?.unwrap_or(u32::MAX);
        if n <= target {
            lo = mid;
            lo_n = n;
        } else {
            hi = mid;
        }
    }
    // Pad with one-token pieces until exact.
    let mut pads = 0;
    while lo_n < target && pads < 64 {
        let n = c(lo, pads + 1).await?.unwrap_or(u32::MAX);
        if n > target {
            break;
        }
        pads += 1;
        lo_n = n;
    }
    let (text, needles) = render(plan, lo, pads, weights);
    Ok(Haystack {
        text,
        tokens: Some(lo_n),
        needles,
        expected: plan.expected.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::recall::string_match_all;

    fn spec(variant: NeedleVariant, count: u32) -> Needles {
        Needles {
            kind: NeedleKind::Number,
            variant,
            count,
        }
    }

    /// A stand-in tokenizer for unit tests: one token per whitespace-separated word.
    async fn words(t: &str) -> Result<Option<u32>, ()> {
        Ok(Some(t.split_whitespace().count() as u32 + 3))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn exact_length_and_needle_depth() {
        let w: SentenceTokens = [4, 4, 4, 3, 4];
        for target in [300u32, 1000, 4096] {
            for depth in [0u32, 50, 100] {
                let p = plan(&spec(NeedleVariant::Single, 1), depth, 9, "[req 1]".into());
                let h = block_on(exact(&p, target, &w, words)).unwrap();
                assert_eq!(h.tokens, Some(target));
                assert_eq!(block_on(words(&h.text)).unwrap(), Some(target));
                assert_eq!(h.needles.len(), 1);
                // Within one sentence (≤ 4 of the haystack's tokens) of the requested depth.
                let haystack_tokens = (target - 60) as f64;
                assert!(
                    (h.needles[0].depth_pct - depth as f64).abs() <= 100.0 * 5.0 / haystack_tokens,
                    "{:?}",
                    h.needles
                );
                assert!(h.text.contains(&h.expected[0]));
                assert_eq!(string_match_all(&h.text, &h.expected), 1.0);
            }
        }
    }

    #[test]
    fn variants_and_determinism() {
        let w: SentenceTokens = [4, 4, 4, 3, 4];
        let a = plan(&spec(NeedleVariant::MultiKey, 4), 50, 3, "s".into());
        let b = plan(&spec(NeedleVariant::MultiKey, 4), 50, 3, "s".into());
        assert_eq!(a.needles, b.needles);
        assert_eq!(a.expected.len(), 1);
        assert_eq!(a.needles.len(), 4);
        assert!(a.needles[1..].iter().all(|(k, _, _)| k != &a.key));
        let m = plan(&spec(NeedleVariant::MultiValue, 3), 25, 3, "s".into());
        assert_eq!(m.expected.len(), 3);
        assert!(m.needles.iter().all(|(k, _, _)| k == &m.key));
        let (text, placed) = render(&m, 200, 0, &w);
        assert_eq!(placed.len(), 3);
        assert_eq!(string_match_all(&text, &m.expected), 1.0);
        let u = plan(
            &Needles {
                kind: NeedleKind::Uuid,
                variant: NeedleVariant::Single,
                count: 1,
            },
            0,
            1,
            "s".into(),
        );
        assert_eq!(u.expected[0].len(), 36);
    }
}
