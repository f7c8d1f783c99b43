//! What a backend answers when it is asked to score tokens rather than to generate text: the
//! next-token distribution at each position of a fixed token sequence (teacher forcing), and
//! greedy continuations as token ids. The drift scenario compares these between backends.
//! Pure data, like `protocol.rs`.

use serde::Serialize;

use super::{ErrorCategory, RequestError};

/// A token id in the backend's own vocabulary.
pub type TokenId = u32;

/// One position's distribution over the next token.
#[derive(Debug, Clone, PartialEq)]
pub enum NextToken {
    /// Log-probabilities of the whole vocabulary, indexed by token id (in-process engines).
    Full(Vec<f32>),
    /// The most likely tokens with their log-probabilities, most likely first (servers that
    /// return top-k log-probabilities only).
    TopK(Vec<(TokenId, f32)>),
}

/// The distribution after a prefix, and the log-probability the backend gave the token that
/// actually follows (`None` where a top-k-only backend did not return it).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPosition {
    pub next: NextToken,
    pub target_logprob: Option<f32>,
}

/// How a backend's scores were obtained (written beside every drift row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMethod {
    /// One batch with logits for every position (llama-perplexity's way).
    FullLogits,
    /// One single-token request per position over a growing prefix, the prefix cache on,
    /// top-k log-probabilities of the next token (a server that returns none for prompt
    /// tokens).
    PrefixSteps,
}

impl ScoreMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreMethod::FullLogits => "full_logits",
            ScoreMethod::PrefixSteps => "prefix_steps",
        }
    }
}

/// A scored sequence: `positions[i]` is the distribution after `tokens[..=i]`, predicting
/// `tokens[i + 1]`; there is one position fewer than tokens.
#[derive(Debug, Clone)]
pub struct Scored {
    pub method: ScoreMethod,
    pub positions: Vec<ScoredPosition>,
    /// The vocabulary size, where the backend tells it.
    pub n_vocab: Option<u32>,
}

/// A greedy continuation: the generated token ids, and whether it ended on an
/// end-of-generation token (which is not in `tokens`) before the length asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub tokens: Vec<TokenId>,
    pub ended: bool,
}

/// The error of a backend that cannot score tokens.
pub fn unsupported(what: &str) -> RequestError {
    RequestError::new(
        ErrorCategory::Prepare,
        format!("this backend cannot {what} (no per-token log-probabilities)"),
    )
}

/// Natural log-softmax of a logit vector, in place: `x_i − log Σ_j exp(x_j)`.
pub fn log_softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = v.iter().map(|&x| ((x - max) as f64).exp()).sum();
    let log_z = max as f64 + sum.ln();
    for x in v.iter_mut() {
        *x = (*x as f64 - log_z) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_sums_to_one() {
        let mut v = vec![1.0f32, 2.0, 3.0];
        log_softmax_in_place(&mut v);
        let s: f32 = v.iter().map(|x| x.exp()).sum();
        assert!((s - 1.0).abs() < 1e-6);
        // softmax([1,2,3])[2] = e^3 / (e + e^2 + e^3) = 0.66524
        assert!((v[2].exp() - 0.665_240_9).abs() < 1e-5);
    }
}
