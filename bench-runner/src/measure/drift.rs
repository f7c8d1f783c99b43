//! How far a candidate's next-token distributions drift from a reference's, as
//! `llama-perplexity --kl-divergence` defines it (tools/perplexity/perplexity.cpp), for one
//! position at a time and summed up over many:
//!
//! - KL divergence of the candidate Q from the reference P at one position:
//!   `KL(P‖Q) = Σ_t P(t) · (ln P(t) − ln Q(t))` (nats), over the whole vocabulary. The mean over
//!   positions is reported with its standard error `√((E[KL²] − E[KL]²) / (n − 1))`, as
//!   llama-perplexity prints `Mean KLD: x ± se`; the 95% interval is mean ± 1.96·se.
//! - Top-1 agreement ("Same top p"): the share of positions where both sides' most likely
//!   token is the same (Wilson 95% interval here; llama-perplexity prints √(p(1−p)/(n−1))).
//! - Perplexity of each side on the sequence's own next tokens, `exp(mean(−ln P(target)))`,
//!   and their ratio `PPL(Q)/PPL(P) = exp(mean(ln P(target) − ln Q(target)))`, with the 95%
//!   interval of that mean taken through exp (llama-perplexity's `Mean ln(PPL(Q)/PPL(base))`).
//! - Where a side gave only its top-k tokens, the KL is taken on the shared support: the tokens
//!   in both sides' top-k, each side renormalised over them
//!   (`P'(t) = P(t) / Σ_{s∈S} P(s)`). It is not the KL of llama-perplexity — it ignores the
//!   tail and the tokens only one side ranks — and is labelled as such wherever it is shown.
//!
//! Free-running drift compares greedy continuations: identical or not, and the first token
//! position where they differ.
//!
//! Pure: slices of log-probabilities in, numbers out.

use super::proportion::{Proportion, wilson};

/// One side's next-token distribution at one position, as log-probabilities.
#[derive(Debug, Clone, Copy)]
pub enum Dist<'a> {
    /// The whole vocabulary, indexed by token id.
    Full(&'a [f32]),
    /// The top-k (token id, log-probability), most likely first.
    TopK(&'a [(u32, f32)]),
}

impl Dist<'_> {
    /// The most likely token (the first of several equal ones).
    pub fn top1(&self) -> Option<u32> {
        match self {
            Dist::Full(v) => {
                let mut best: Option<(usize, f32)> = None;
                for (i, &x) in v.iter().enumerate() {
                    if best.is_none_or(|(_, b)| x > b) {
                        best = Some((i, x));
                    }
                }
                best.map(|(i, _)| i as u32)
            }
            Dist::TopK(t) => t.first().map(|(id, _)| *id),
        }
    }

    /// The `k` most likely tokens, most likely first.
    fn top_k(&self, k: usize) -> Vec<(u32, f32)> {
        match self {
            Dist::TopK(t) => t.iter().take(k).copied().collect(),
            Dist::Full(v) => {
                let mut idx: Vec<u32> = (0..v.len() as u32).collect();
                let k = k.min(idx.len());
                if k == 0 {
                    return Vec::new();
                }
                idx.select_nth_unstable_by(k - 1, |&a, &b| v[b as usize].total_cmp(&v[a as usize]));
                idx.truncate(k);
                idx.sort_by(|&a, &b| v[b as usize].total_cmp(&v[a as usize]));
                idx.into_iter().map(|i| (i, v[i as usize])).collect()
            }
        }
    }

    fn len_k(&self) -> Option<usize> {
        match self {
            Dist::TopK(t) => Some(t.len()),
            Dist::Full(_) => None,
        }
    }
}

/// `KL(P‖Q)` over the whole vocabulary, in nats. A token P gives no mass adds nothing; a
/// token Q gives no mass where P gives some makes it infinite.
pub fn kl_full(p: &[f32], q: &[f32]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&lp, &lq)| {
            let pp = (lp as f64).exp();
            if pp == 0.0 {
                0.0
            } else {
                pp * (lp as f64 - lq as f64)
            }
        })
        .sum()
}

/// `KL(P'‖Q')` on the shared top-k support `S`, both renormalised over `S`; `None` when the
/// two top-k lists share no token.
pub fn kl_shared_top_k(p: &[(u32, f32)], q: &[(u32, f32)]) -> Option<f64> {
    let shared: Vec<(f64, f64)> = p
        .iter()
        .filter_map(|(t, lp)| {
            q.iter()
                .find(|(u, _)| u == t)
                .map(|(_, lq)| (*lp as f64, *lq as f64))
        })
        .collect();
    if shared.is_empty() {
        return None;
    }
    let log_sum = |xs: &mut dyn Iterator<Item = f64>| -> f64 {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    };
    let zp = log_sum(&mut shared.iter().map(|s| s.0));
    let zq = log_sum(&mut shared.iter().map(|s| s.1));
    Some(
        shared
            .iter()
            .map(|(lp, lq)| {
                let lp = lp - zp;
                let lq = lq - zq;
                lp.exp() * (lp - lq)
            })
            .sum::<f64>()
            .max(0.0),
    )
}

/// One position compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// KL of the candidate from the reference (`None` where a top-k comparison shares no
    /// token).
    pub kl: Option<f64>,
    /// True when the KL is on the shared top-k support only.
    pub kl_top_k_only: bool,
    /// Both sides' most likely token is the same.
    pub same_top: bool,
}

/// Compares the reference's and the candidate's distributions at one position: the full KL
/// when both are full, else the KL on the shared support of the shorter top-k.
pub fn compare(reference: Dist<'_>, candidate: Dist<'_>) -> Position {
    let same_top = match (reference.top1(), candidate.top1()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    match (reference, candidate) {
        (Dist::Full(p), Dist::Full(q)) if p.len() == q.len() => Position {
            kl: Some(kl_full(p, q)),
            kl_top_k_only: false,
            same_top,
        },
        _ => {
            let k = match (reference.len_k(), candidate.len_k()) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                // Full on both sides but of different sizes: not the same vocabulary.
                (None, None) => 0,
            };
            let kl = if k == 0 {
                None
            } else {
                kl_shared_top_k(&reference.top_k(k), &candidate.top_k(k))
            };
            Position {
                kl,
                kl_top_k_only: true,
                same_top,
            }
        }
    }
}

/// Mean and its standard error, as llama-perplexity prints `x ± se`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSe {
    pub n: usize,
    pub mean: f64,
    /// `√((E[x²] − E[x]²) / (n − 1))`; 0 for fewer than two values.
    pub se: f64,
}

impl MeanSe {
    pub fn of(values: &[f64]) -> Option<MeanSe> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let mean2 = values.iter().map(|x| x * x).sum::<f64>() / n;
        let se = if values.len() > 1 {
            ((mean2 - mean * mean).max(0.0) / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Some(MeanSe {
            n: values.len(),
            mean,
            se,
        })
    }

    /// The 95% interval of the mean: mean ± 1.96·se.
    pub fn ci95(&self) -> (f64, f64) {
        (self.mean - 1.96 * self.se, self.mean + 1.96 * self.se)
    }
}

/// Top-1 agreement over positions, with its Wilson 95% interval.
pub fn top1_agreement(positions: &[Position]) -> Option<Proportion> {
    let k = positions.iter().filter(|p| p.same_top).count();
    wilson(k, positions.len())
}

/// Perplexity from the log-probabilities given to the actual next tokens:
/// `exp(−mean(ln P(target)))`.
pub fn perplexity(target_logprobs: &[f64]) -> Option<f64> {
    MeanSe::of(target_logprobs).map(|m| (-m.mean).exp())
}

/// `PPL(Q)/PPL(P)` from paired target log-probabilities (reference, candidate), with the 95%
/// interval of `mean(ln P − ln Q)` taken through exp.
pub fn perplexity_ratio(pairs: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let d: Vec<f64> = pairs.iter().map(|(p, q)| p - q).collect();
    let m = MeanSe::of(&d)?;
    let (lo, hi) = m.ci95();
    Some((m.mean.exp(), lo.exp(), hi.exp()))
}

/// Where two greedy continuations part: `None` when they are identical (same tokens, and
/// both ended or both ran to the length), else the first token index that differs (the
/// shorter one's length when one is a prefix of the other).
pub fn first_divergence(a: &[u32], a_ended: bool, b: &[u32], b_ended: bool) -> Option<usize> {
    if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
        return Some(i);
    }
    if a.len() == b.len() && a_ended == b_ended {
        None
    } else {
        Some(a.len().min(b.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ln(v: &[f64]) -> Vec<f32> {
        v.iter().map(|x| x.ln() as f32).collect()
    }

    #[test]
    fn kl_matches_hand_computed_values() {
        // P = (0.5, 0.25, 0.25), Q = (0.25, 0.5, 0.25):
        // KL = 0.5 ln 2 + 0.25 ln 0.5 + 0 = 0.25 ln 2 = 0.173287.
        let p = ln(&[0.5, 0.25, 0.25]);
        let q = ln(&[0.25, 0.5, 0.25]);
        assert!((kl_full(&p, &q) - 0.25 * 2f64.ln()).abs() < 1e-6);
        assert_eq!(kl_full(&p, &p), 0.0);
        let pos = compare(Dist::Full(&p), Dist::Full(&q));
        assert!(!pos.same_top && !pos.kl_top_k_only);
        assert!(compare(Dist::Full(&p), Dist::Full(&p)).same_top);
    }

    #[test]
    fn top_k_kl_is_taken_on_the_shared_support_renormalised() {
        // Shared support {1, 2}: P' = (0.4, 0.2)/0.6 = (2/3, 1/3), Q' = (0.3, 0.3)/0.6 = (1/2, 1/2).
        // KL = 2/3 ln(4/3) + 1/3 ln(2/3) = 0.056633.
        let p = [
            (1u32, 0.4f64.ln() as f32),
            (2, 0.2f64.ln() as f32),
            (5, 0.1f64.ln() as f32),
        ];
        let q = [
            (2u32, 0.3f64.ln() as f32),
            (1, 0.3f64.ln() as f32),
            (7, 0.2f64.ln() as f32),
        ];
        let want = 2.0 / 3.0 * (4.0f64 / 3.0).ln() + 1.0 / 3.0 * (2.0f64 / 3.0).ln();
        let got = kl_shared_top_k(&p, &q).unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let pos = compare(Dist::TopK(&p), Dist::TopK(&q));
        // Q lists token 2 first (a tie at 0.3): its top token is 2, the reference's is 1.
        assert!(pos.kl_top_k_only && !pos.same_top);
        assert_eq!(kl_shared_top_k(&p[..1], &q[2..]), None);
        // A full side meets a top-k side through its own top-k of the same length.
        let full = ln(&[0.05, 0.4, 0.2, 0.05, 0.1, 0.2]);
        let pos = compare(Dist::Full(&full), Dist::TopK(&q));
        assert!(pos.kl_top_k_only);
        // Full top-3 = {1: 0.4, 2: 0.2, 5: 0.2}; shared with q: {1, 2} as above.
        assert!((pos.kl.unwrap() - want).abs() < 1e-6);
    }

    #[test]
    fn mean_and_standard_error_as_llama_perplexity_prints_them() {
        // values 1, 2, 3: mean 2, E[x²] = 14/3, var = 2/3, se = √((2/3)/2) = 0.57735.
        let m = MeanSe::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(m.mean, 2.0);
        assert!((m.se - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let (lo, hi) = m.ci95();
        assert!((hi - lo - 2.0 * 1.96 * m.se).abs() < 1e-12);
        assert_eq!(MeanSe::of(&[]), None);
    }

    #[test]
    fn agreement_perplexity_and_ratio() {
        let same = Position {
            kl: Some(0.0),
            kl_top_k_only: false,
            same_top: true,
        };
        let differ = Position {
            same_top: false,
            ..same
        };
        let a = top1_agreement(&[same, same, same, differ]).unwrap();
        assert_eq!((a.k, a.n), (3, 4));
        assert_eq!(a.p, 0.75);
        // Targets given probability 1/2 and 1/8: PPL = exp((ln 2 + ln 8)/2) = 4.
        let ppl = perplexity(&[0.5f64.ln(), 0.125f64.ln()]).unwrap();
        assert!((ppl - 4.0).abs() < 1e-12);
        // Candidate gives each target half the reference's probability: ratio 2.
        let pairs = [(0.5f64.ln(), 0.25f64.ln()), (0.125f64.ln(), 0.0625f64.ln())];
        let (r, lo, hi) = perplexity_ratio(&pairs).unwrap();
        assert!((r - 2.0).abs() < 1e-12 && (lo - 2.0).abs() < 1e-12 && (hi - 2.0).abs() < 1e-12);
    }

    #[test]
    fn first_divergence_of_continuations() {
        assert_eq!(first_divergence(&[1, 2, 3], false, &[1, 2, 3], false), None);
        assert_eq!(
            first_divergence(&[1, 2, 3], false, &[1, 9, 3], false),
            Some(1)
        );
        assert_eq!(first_divergence(&[1, 2], true, &[1, 2, 3], false), Some(2));
        assert_eq!(first_divergence(&[1, 2], true, &[1, 2], false), Some(2));
        assert_eq!(first_divergence(&[], true, &[], true), None);
    }
}
