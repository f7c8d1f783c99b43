//! Bootstrap intervals of the Bradley-Terry ratings, and the ranks they imply.
//!
//! Resampling N battles with replacement is the same as drawing the N battles' cells
//! (pair × outcome) from a multinomial with probabilities cₖ / N. So each round draws the
//! cell counts directly — by sequential binomials, xₖ ~ Bin(N − Σ_{l<k} xₗ, pₖ / Σ_{l≥k} pₗ) —
//! and refits on those counts, warm-started at the full-data estimate. A round costs
//! O(cells + models³), independent of N: a million battles bootstrap as fast as a thousand.
//!
//! Round r draws from ChaCha8 seeded with `seed` on stream r, so a round's numbers do not
//! depend on how rounds are spread over threads: the same seed gives the same intervals.
//!
//! Intervals are percentile intervals (2.5th and 97.5th percentile over rounds, type 7) of
//! each model's rating, with the anchor (or the mean-1000 convention) applied in every round.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};

use super::bradley_terry::{FitOptions, PairCount, PairCounts, fit, pair_weights, to_elo};
use crate::measure::stats::percentile_sorted;

pub const DEFAULT_ROUNDS: usize = 1000;
pub const DEFAULT_SEED: u64 = 42;
/// A round's fit stops once its Newton step is below this (θ units): from a warm start that
/// takes about three passes, and the error left (~tol²) is far below a rating's resolution.
pub const ROUND_TOL: f64 = 1e-7;

#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub rounds: usize,
    pub seed: u64,
    pub inverse_frequency: bool,
    pub anchor: Option<(usize, f64)>,
    pub fit: FitOptions,
    /// Worker threads (rounds are independent); results do not depend on it.
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Intervals {
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    /// Rounds whose fit did not converge (kept, at the best point reached).
    pub unconverged: usize,
}

/// One multinomial resample of the cell counts.
pub fn resample(pc: &PairCounts, rng: &mut ChaCha8Rng, out: &mut PairCounts) {
    let total: f64 = pc.total();
    let mut left = total.round() as u64;
    let mut mass = total;
    out.models = pc.models;
    out.pairs.clear();
    for p in &pc.pairs {
        let mut cell = |c: f64| -> f64 {
            if left == 0 || c <= 0.0 {
                mass -= c;
                return 0.0;
            }
            let prob = (c / mass).clamp(0.0, 1.0);
            mass -= c;
            let x = if prob >= 1.0 {
                left
            } else {
                Binomial::new(left, prob).map_or(0, |d| d.sample(rng))
            };
            left -= x;
            x as f64
        };
        let (a, t, b) = (cell(p.wins_i), cell(p.ties), cell(p.wins_j));
        out.pairs.push(PairCount {
            i: p.i,
            j: p.j,
            wins_i: a,
            ties: t,
            wins_j: b,
        });
    }
}

/// The ratings of each round (rounds × models, Elo scale).
pub fn rounds(
    pc: &PairCounts,
    theta_hat: &[f64],
    opts: &BootstrapOptions,
) -> (Vec<Vec<f64>>, usize) {
    let threads = opts.threads.clamp(1, 64).min(opts.rounds.max(1));
    let per = opts.rounds.div_ceil(threads);
    let results: Vec<(Vec<Vec<f64>>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let lo = (t * per).min(opts.rounds);
                let hi = ((t + 1) * per).min(opts.rounds);
                s.spawn(move || {
                    let mut out = Vec::with_capacity(hi - lo);
                    let mut bad = 0;
                    let mut sample = PairCounts {
                        models: pc.models,
                        pairs: Vec::with_capacity(pc.pairs.len()),
                    };
                    let fit_opts = FitOptions {
                        tol: opts.fit.tol.max(ROUND_TOL),
                        ..opts.fit
                    };
                    for r in lo..hi {
                        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
                        rng.set_stream(r as u64);
                        resample(pc, &mut rng, &mut sample);
                        let w = pair_weights(&sample, opts.inverse_frequency);
                        let f = fit(&sample, &w, &fit_opts, Some(theta_hat));
                        if !f.converged {
                            bad += 1;
                        }
                        out.push(to_elo(&f.theta, opts.anchor));
                    }
                    (out, bad)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all = Vec::with_capacity(opts.rounds);
    let mut bad = 0;
    for (r, b) in results {
        all.extend(r);
        bad += b;
    }
    (all, bad)
}

/// Percentile 95% intervals per model from the rounds.
pub fn intervals(pc: &PairCounts, theta_hat: &[f64], opts: &BootstrapOptions) -> Intervals {
    let (rs, unconverged) = rounds(pc, theta_hat, opts);
    let k = pc.models;
    let mut low = vec![f64::NAN; k];
    let mut high = vec![f64::NAN; k];
    let mut col = Vec::with_capacity(rs.len());
    for m in 0..k {
        col.clear();
        col.extend(rs.iter().map(|r| r[m]));
        col.sort_by(f64::total_cmp);
        low[m] = percentile_sorted(&col, 2.5);
        high[m] = percentile_sorted(&col, 97.5);
    }
    Intervals {
        low,
        high,
        unconverged,
    }
}

/// Ranks from intervals. Upper-bound rank (the best the data allow): 1 + the number of
/// models whose lower bound is above this model's upper bound. Worst-case rank (the mirrored
/// rule): the number of models minus those whose upper bound is below this model's lower
/// bound.
pub fn ranks(low: &[f64], high: &[f64]) -> Vec<(usize, usize)> {
    let k = low.len();
    (0..k)
        .map(|i| {
            let above = (0..k).filter(|&j| j != i && low[j] > high[i]).count();
            let below = (0..k).filter(|&j| j != i && high[j] < low[i]).count();
            (1 + above, k - below)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_keeps_the_total_and_empty_cells() {
        let pc = PairCounts {
            models: 3,
            pairs: vec![
                PairCount {
                    i: 0,
                    j: 1,
                    wins_i: 500.0,
                    ties: 0.0,
                    wins_j: 300.0,
                },
                PairCount {
                    i: 1,
                    j: 2,
                    wins_i: 100.0,
                    ties: 100.0,
                    wins_j: 0.0,
                },
            ],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut out = PairCounts {
            models: 0,
            pairs: vec![],
        };
        resample(&pc, &mut rng, &mut out);
        assert_eq!(out.total(), 1000.0);
        assert_eq!(out.pairs[0].ties, 0.0);
        assert_eq!(out.pairs[1].wins_j, 0.0);
        assert!((out.pairs[0].wins_i - 500.0).abs() < 80.0);
    }

    #[test]
    fn ranks_from_intervals() {
        // A clearly first; B and C overlap; D clearly last.
        let low = [1100.0, 1000.0, 990.0, 800.0];
        let high = [1200.0, 1050.0, 1040.0, 900.0];
        assert_eq!(ranks(&low, &high), vec![(1, 1), (2, 3), (2, 3), (4, 4)]);
    }
}
