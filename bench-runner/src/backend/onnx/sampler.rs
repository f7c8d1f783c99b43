//! Picking the next token from the last position's logits: greedy, or temperature and top-p
//! with a seeded generator, so a seeded request draws the same tokens on every run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Sampler {
    temperature: f32,
    top_p: f32,
    rng: ChaCha8Rng,
    /// Token ids that may never be drawn (end-of-generation when a request wants exact length).
    banned: Vec<u32>,
    /// Reused buffer of (probability, id) for the top-p path.
    probs: Vec<(f32, u32)>,
}

impl Sampler {
    pub fn new(temperature: f64, top_p: f64, seed: u64, banned: Vec<u32>) -> Self {
        Sampler {
            temperature: temperature as f32,
            top_p: (top_p as f32).clamp(f32::MIN_POSITIVE, 1.0),
            rng: ChaCha8Rng::seed_from_u64(seed),
            banned,
            probs: Vec::new(),
        }
    }

    /// Picks a token from the logits as ONNX Runtime returned them (not copied).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.temperature <= 0.0 {
            let best = argmax(logits);
            if !self.banned.contains(&best) {
                return best;
            }
            // Rare: the top token is banned; scan again without the banned ids.
            return argmax_except(logits, &self.banned);
        }
        // Softmax with temperature, then the smallest set whose mass reaches top_p.
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        self.probs.clear();
        let mut sum = 0.0f32;
        for (i, &l) in logits.iter().enumerate() {
            let p = ((l - max) / self.temperature).exp();
            if p > 0.0 && !self.banned.contains(&(i as u32)) {
                self.probs.push((p, i as u32));
                sum += p;
            }
        }
        if self.probs.is_empty() || !sum.is_finite() {
            return argmax_except(logits, &self.banned);
        }
        let len = self.probs.len();
        if self.top_p >= 1.0 {
            // No nucleus to find: draw over the whole vocabulary without sorting it.
            let mut r = self.rng.random::<f32>() * sum;
            for &(p, id) in &self.probs {
                if r < p {
                    return id;
                }
                r -= p;
            }
            return self.probs[len - 1].1;
        }
        // The nucleus is usually a few tokens out of 150K: order only the largest k (a
        // partial selection, then a sort of those k), growing k until they hold top_p. The
        // order is total (ties by id), so the prefix is the same as a full sort's.
        let by_prob = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        let mut k = len.min(64);
        let n = loop {
            if k < len {
                self.probs.select_nth_unstable_by(k - 1, by_prob);
            }
            self.probs[..k].sort_unstable_by(by_prob);
            let mut kept = 0.0f32;
            let found = self.probs[..k].iter().position(|(p, _)| {
                kept += p / sum;
                kept >= self.top_p
            });
            match found {
                Some(i) => break i + 1,
                None if k == len => break len,
                None => k = (k * 8).min(len),
            }
        };
        let total: f32 = self.probs[..n].iter().map(|(p, _)| p).sum();
        let mut r = self.rng.random::<f32>() * total;
        for &(p, id) in &self.probs[..n] {
            if r < p {
                return id;
            }
            r -= p;
        }
        self.probs[n - 1].1
    }
}

/// The first index of the largest value (ties go to the lower id, as numpy's argmax).
///
/// Runs once per generated token over the whole vocabulary (32K–256K logits), so it is written
/// to vectorise: the maximum by lanes of 8 without a data-dependent branch, then one scan for
/// the first index holding it.
pub fn argmax(v: &[f32]) -> u32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for &x in lanes.iter().chain(chunks.remainder()) {
        if x > max {
            max = x;
        }
    }
    // NaN everywhere (or an empty slice) leaves max at -inf: fall back to id 0.
    v.iter().position(|&x| x == max).unwrap_or(0) as u32
}

fn argmax_except(v: &[f32], banned: &[u32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in v.iter().enumerate() {
        if !banned.contains(&(i as u32)) && best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map_or(0, |(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_bans_and_ties() {
        let mut s = Sampler::new(0.0, 1.0, 1, vec![2]);
        assert_eq!(s.sample(&[0.0, 1.0, 5.0, 1.0]), 1);
        assert_eq!(argmax(&[3.0, 3.0]), 0);
        // The lane maximum finds the first index of the maximum wherever it sits.
        for n in [1, 7, 8, 9, 33, 1000] {
            for at in [0, n / 2, n - 1] {
                let mut v: Vec<f32> = (0..n).map(|i| (i % 5) as f32).collect();
                v[at] = 10.0;
                assert_eq!(argmax(&v), at as u32, "n {n} at {at}");
            }
        }
        let v = vec![1.0, f32::NAN, 3.0, 3.0];
        assert_eq!(argmax(&v), 2);
    }

    #[test]
    fn top_p_keeps_the_nucleus_and_a_seed_repeats() {
        // One token holds nearly all the mass: top_p 0.5 can only draw it.
        let logits = [10.0, 0.0, 0.0, 0.0];
        let mut s = Sampler::new(1.0, 0.5, 7, vec![]);
        assert!((0..50).all(|_| s.sample(&logits) == 0));
        let draw = |seed| {
            let mut s = Sampler::new(1.0, 1.0, seed, vec![]);
            (0..20)
                .map(|_| s.sample(&[1.0, 1.0, 1.0, 1.0]))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().any(|&t| t != draw(3)[0]));
    }

    #[test]
    fn the_partial_nucleus_equals_a_full_sort() {
        // A flat vocabulary of 5,000 (the nucleus outgrows the first 64 and 512) and a peaked
        // one: with one seed, the draws are what the nucleus of a full sort allows.
        let flat: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0)
            .collect();
        let mut peaked = flat.clone();
        peaked[4321] = 30.0;
        for logits in [&flat, &peaked] {
            for top_p in [0.3, 0.9] {
                let max = logits.iter().copied().fold(f32::MIN, f32::max);
                let mut all: Vec<(f32, u32)> = logits
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| ((l - max).exp(), i as u32))
                    .collect();
                let sum: f32 = all.iter().map(|p| p.0).sum();
                all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut kept = 0.0;
                let n = all
                    .iter()
                    .position(|(p, _)| {
                        kept += p / sum;
                        kept >= top_p
                    })
                    .map_or(all.len(), |i| i + 1);
                let nucleus: std::collections::HashSet<u32> =
                    all[..n].iter().map(|p| p.1).collect();
                let mut s = Sampler::new(1.0, top_p as f64, 9, vec![]);
                for _ in 0..200 {
                    assert!(nucleus.contains(&s.sample(logits)), "top_p {top_p}");
                }
            }
        }
    }
}
