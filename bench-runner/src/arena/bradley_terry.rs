//! Bradley-Terry maximum likelihood on aggregated pair counts, and the sandwich covariance.
//!
//! Model: P(i beats j) = σ(θᵢ − θⱼ), σ(x) = 1 / (1 + e⁻ˣ). A battle's outcome from model A's
//! side is y = 1 (A wins), ½ (either kind of tie) or 0 (B wins); its log-likelihood is
//! y log σ(d) + (1 − y) log σ(−d) with d = θ_A − θ_B. Because that depends on the battle only
//! through (unordered pair, y), battles are first aggregated into per-pair counts
//! (wins of i, ties, wins of j), and the fit costs O(pairs) per iteration, not O(battles).
//!
//! Objective (minimised): L(θ) = −Σₚ wₚ [sₚ log σ(dₚ) + (nₚ − sₚ) log σ(−dₚ)] + λ/2 ‖θ‖²,
//! with sₚ = winsᵢ + ½ ties, nₚ the pair's battles, wₚ a per-battle weight (1, or the inverse
//! pair frequency), and λ = 10⁻⁶: FastChat's `LogisticRegression(C=1e6)`. The ridge keeps a
//! model that never lost finite and fixes the gauge: the minimiser has Σθ = 0 exactly, since
//! adding a constant to every θ leaves the likelihood unchanged and only grows ‖θ‖².
//!
//! Newton: g = ∇L, H = ∇²L with, per pair, h = wₚ nₚ σ(d)(1 − σ(d)) added at (i,i), (j,j) and
//! subtracted at (i,j), (j,i), plus λI. The step solves (H + α 11ᵀ) Δ = −g: the added α 11ᵀ
//! lifts the flat gauge direction (eigenvalue λ alone) so the solve is well conditioned, and
//! it changes nothing orthogonal to 1, where the likelihood lives. θ is re-centred after each
//! step; steps are halved while they do not decrease L.
//!
//! Sandwich (robust) covariance: Cov(θ̂) = H⁻¹ G H⁻¹ with G = Σ_battles gᵦ gᵦᵀ, the outer
//! products of per-battle score vectors gᵦ = wₚ (y − σ(dₚ)) (eᵢ − eⱼ). Per pair that is
//! wₚ² [winsᵢ (1 − p)² + ties (½ − p)² + winsⱼ p²] on the same four entries as h.

use super::battles::{Battles, Winner};
use super::linalg::{cholesky, cholesky_solve, matmul, spd_inverse};
use super::logistic::{log_sigmoid, sigmoid};

/// FastChat's C = 1e6 as a ridge on θ.
pub const DEFAULT_RIDGE: f64 = 1e-6;
/// Elo points per unit of θ: 400 / ln 10.
pub const ELO_PER_THETA: f64 = 400.0 / std::f64::consts::LN_10;

/// One unordered pair's battle counts, i < j; counts are f64 so weights and resamples fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairCount {
    pub i: u32,
    pub j: u32,
    pub wins_i: f64,
    pub ties: f64,
    pub wins_j: f64,
}

impl PairCount {
    pub fn n(&self) -> f64 {
        self.wins_i + self.ties + self.wins_j
    }
}

/// All battles as per-pair counts among `models` models.
#[derive(Debug, Clone, PartialEq)]
pub struct PairCounts {
    pub models: usize,
    pub pairs: Vec<PairCount>,
}

impl PairCounts {
    /// Aggregates battles: A/B order is dropped (BT has no side effect), ties of both kinds
    /// become one count.
    pub fn from_battles(b: &Battles) -> Self {
        let k = b.models.len();
        // A dense k × k index is fine for tens to hundreds of models.
        let mut slot = vec![u32::MAX; k * k];
        let mut pairs: Vec<PairCount> = Vec::new();
        for x in &b.battles {
            let (i, j, w) = if x.a < x.b {
                (x.a, x.b, x.winner)
            } else {
                (x.b, x.a, x.winner.mirrored())
            };
            let s = &mut slot[i as usize * k + j as usize];
            if *s == u32::MAX {
                *s = pairs.len() as u32;
                pairs.push(PairCount {
                    i,
                    j,
                    wins_i: 0.0,
                    ties: 0.0,
                    wins_j: 0.0,
                });
            }
            let p = &mut pairs[*s as usize];
            match w {
                Winner::A => p.wins_i += 1.0,
                Winner::B => p.wins_j += 1.0,
                Winner::Tie | Winner::BothBad => p.ties += 1.0,
            }
        }
        pairs.sort_by_key(|p| (p.i, p.j));
        PairCounts { models: k, pairs }
    }

    pub fn total(&self) -> f64 {
        self.pairs.iter().map(PairCount::n).sum()
    }
}

/// Per-battle weights by pair: 1 each, or inversely proportional to how often the pair
/// was played, scaled so the weights still sum to the number of battles.
pub fn pair_weights(pc: &PairCounts, inverse_frequency: bool) -> Vec<f64> {
    if !inverse_frequency {
        return vec![1.0; pc.pairs.len()];
    }
    let played = pc.pairs.iter().filter(|p| p.n() > 0.0).count().max(1) as f64;
    let total = pc.total();
    pc.pairs
        .iter()
        .map(|p| {
            if p.n() > 0.0 {
                total / (played * p.n())
            } else {
                0.0
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub ridge: f64,
    pub max_iter: usize,
    /// Stop when the largest step is below this (in θ).
    pub tol: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            ridge: DEFAULT_RIDGE,
            max_iter: 100,
            tol: 1e-11,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fit {
    /// Strengths, Σθ = 0.
    pub theta: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

/// The objective L(θ). Per pair, s log σ(d) + (n − s) log σ(−d) = n log σ(d) − (n − s) d,
/// so one logarithm per pair.
pub fn loss(pc: &PairCounts, w: &[f64], ridge: f64, theta: &[f64]) -> f64 {
    let mut l = 0.0;
    for (p, &wp) in pc.pairs.iter().zip(w) {
        let d = theta[p.i as usize] - theta[p.j as usize];
        let s = p.wins_i + 0.5 * p.ties;
        let n = p.n();
        l -= wp * (n * log_sigmoid(d) - (n - s) * d);
    }
    l + 0.5 * ridge * theta.iter().map(|t| t * t).sum::<f64>()
}

/// L(θ), and its gradient and Hessian (row-major) in the same pass over the pairs: one
/// exponential and one logarithm per pair.
fn eval(
    pc: &PairCounts,
    w: &[f64],
    ridge: f64,
    theta: &[f64],
    g: &mut [f64],
    h: &mut [f64],
) -> f64 {
    let k = pc.models;
    g.iter_mut().zip(theta).for_each(|(gi, t)| *gi = ridge * t);
    h.iter_mut().for_each(|x| *x = 0.0);
    for i in 0..k {
        h[i * k + i] = ridge;
    }
    let mut l = 0.5 * ridge * theta.iter().map(|t| t * t).sum::<f64>();
    for (p, &wp) in pc.pairs.iter().zip(w) {
        let (i, j) = (p.i as usize, p.j as usize);
        let n = p.n();
        if n == 0.0 || wp == 0.0 {
            continue;
        }
        let d = theta[i] - theta[j];
        // e = exp(−|d|): σ(d) and log σ(d) both follow without overflow.
        let e = (-d.abs()).exp();
        let (q, log_q) = if d >= 0.0 {
            (1.0 / (1.0 + e), -e.ln_1p())
        } else {
            (e / (1.0 + e), d - e.ln_1p())
        };
        let s = p.wins_i + 0.5 * p.ties;
        l -= wp * (n * log_q - (n - s) * d);
        let r = wp * (s - n * q);
        g[i] -= r;
        g[j] += r;
        let c = wp * n * q * (1.0 - q);
        h[i * k + i] += c;
        h[j * k + j] += c;
        h[i * k + j] -= c;
        h[j * k + i] -= c;
    }
    l
}

/// Gradient and Hessian (row-major) of L at θ.
fn grad_hess(pc: &PairCounts, w: &[f64], ridge: f64, theta: &[f64], g: &mut [f64], h: &mut [f64]) {
    eval(pc, w, ridge, theta, g, h);
}

/// Adds α 11ᵀ with α the mean diagonal: lifts the gauge direction, leaves the rest alone.
fn lift_gauge(h: &mut [f64], k: usize) {
    let alpha = (0..k).map(|i| h[i * k + i]).sum::<f64>() / k as f64;
    let alpha = if alpha > 0.0 { alpha } else { 1.0 };
    h.iter_mut().for_each(|x| *x += alpha);
}

fn recenter(theta: &mut [f64]) {
    let m = theta.iter().sum::<f64>() / theta.len().max(1) as f64;
    theta.iter_mut().for_each(|t| *t -= m);
}

/// Newton's method from `start` (or zeros). Always returns the best point reached.
///
/// Each trial point is evaluated once for loss, gradient and Hessian together; an accepted
/// point's derivatives are the next iteration's, so an iteration costs one pass over the
/// pairs unless a step has to be halved. Stops when the step just taken is below `tol`
/// (Newton converges quadratically: the error left is then of the order of tol²).
pub fn fit(pc: &PairCounts, w: &[f64], opts: &FitOptions, start: Option<&[f64]>) -> Fit {
    let k = pc.models;
    let mut theta = start.map_or_else(|| vec![0.0; k], <[f64]>::to_vec);
    if k < 2 {
        return Fit {
            theta,
            iterations: 0,
            converged: true,
        };
    }
    recenter(&mut theta);
    let (mut g, mut h) = (vec![0.0; k], vec![0.0; k * k]);
    let (mut g2, mut h2) = (vec![0.0; k], vec![0.0; k * k]);
    let mut cur = eval(pc, w, opts.ridge, &theta, &mut g, &mut h);
    let mut next = vec![0.0; k];
    let mut step = vec![0.0; k];
    for it in 1..=opts.max_iter {
        lift_gauge(&mut h, k);
        if cholesky(&mut h, k).is_none() {
            return Fit {
                theta,
                iterations: it,
                converged: false,
            };
        }
        step.iter_mut().zip(&g).for_each(|(s, x)| *s = -x);
        cholesky_solve(&h, k, &mut step);
        let mut t = 1.0;
        let mut taken = None;
        for _ in 0..40 {
            for i in 0..k {
                next[i] = theta[i] + t * step[i];
            }
            recenter(&mut next);
            let l = eval(pc, w, opts.ridge, &next, &mut g2, &mut h2);
            // Accept a decrease, or a change too small for the loss to resolve.
            if l <= cur || (l - cur).abs() <= 1e-15 * cur.abs().max(1.0) {
                taken = Some(step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max));
                std::mem::swap(&mut theta, &mut next);
                std::mem::swap(&mut g, &mut g2);
                std::mem::swap(&mut h, &mut h2);
                cur = l;
                break;
            }
            t *= 0.5;
        }
        match taken {
            None => {
                return Fit {
                    theta,
                    iterations: it,
                    converged: false,
                };
            }
            Some(m) if m < opts.tol => {
                return Fit {
                    theta,
                    iterations: it,
                    converged: true,
                };
            }
            Some(_) => {}
        }
    }
    Fit {
        theta,
        iterations: opts.max_iter,
        converged: false,
    }
}

/// Sandwich covariance H⁻¹ G H⁻¹ of θ̂ (row-major k × k), projected onto Σθ = 0.
pub fn sandwich(pc: &PairCounts, w: &[f64], ridge: f64, theta: &[f64]) -> Option<Vec<f64>> {
    let k = pc.models;
    let mut g = vec![0.0; k];
    let mut h = vec![0.0; k * k];
    grad_hess(pc, w, ridge, theta, &mut g, &mut h);
    lift_gauge(&mut h, k);
    let hinv = spd_inverse(&h, k)?;
    let mut gm = vec![0.0; k * k];
    for (p, &wp) in pc.pairs.iter().zip(w) {
        let (i, j) = (p.i as usize, p.j as usize);
        let q = sigmoid(theta[i] - theta[j]);
        let c = wp
            * wp
            * (p.wins_i * (1.0 - q).powi(2) + p.ties * (0.5 - q).powi(2) + p.wins_j * q * q);
        gm[i * k + i] += c;
        gm[j * k + j] += c;
        gm[i * k + j] -= c;
        gm[j * k + i] -= c;
    }
    let cov = matmul(&matmul(&hinv, &gm, k), &hinv, k);
    // Project onto the gauge Σθ = 0: P C P with P = I − 11ᵀ/k.
    let mut row = vec![0.0; k];
    let mut col = vec![0.0; k];
    let mut all = 0.0;
    for i in 0..k {
        for j in 0..k {
            row[i] += cov[i * k + j] / k as f64;
            col[j] += cov[i * k + j] / k as f64;
            all += cov[i * k + j] / (k * k) as f64;
        }
    }
    Some(
        (0..k * k)
            .map(|x| cov[x] - row[x / k] - col[x % k] + all)
            .collect(),
    )
}

/// Ratings on the Elo scale: 1000 + 400/ln 10 × θ (mean 1000), or shifted so that the anchor
/// model sits at the anchor rating.
pub fn to_elo(theta: &[f64], anchor: Option<(usize, f64)>) -> Vec<f64> {
    let r: Vec<f64> = theta.iter().map(|t| 1000.0 + ELO_PER_THETA * t).collect();
    match anchor {
        Some((m, at)) => {
            let shift = at - r[m];
            r.iter().map(|x| x + shift).collect()
        }
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(models: usize, pairs: &[(u32, u32, f64, f64, f64)]) -> PairCounts {
        PairCounts {
            models,
            pairs: pairs
                .iter()
                .map(|&(i, j, a, t, b)| PairCount {
                    i,
                    j,
                    wins_i: a,
                    ties: t,
                    wins_j: b,
                })
                .collect(),
        }
    }

    #[test]
    fn two_models_closed_form() {
        // With 2 models and no ridge the MLE is d = logit(s/n): 30 + 10/2 of 50 → 0.7.
        let pc = counts(2, &[(0, 1, 30.0, 10.0, 10.0)]);
        let w = pair_weights(&pc, false);
        let f = fit(
            &pc,
            &w,
            &FitOptions {
                ridge: 0.0,
                ..Default::default()
            },
            None,
        );
        let d = f.theta[0] - f.theta[1];
        assert!((d - (0.7f64 / 0.3).ln()).abs() < 1e-10, "{d}");
        assert!(f.converged);
        assert!(f.theta.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn undefeated_model_stays_finite() {
        let pc = counts(3, &[(0, 1, 10.0, 0.0, 0.0), (1, 2, 5.0, 0.0, 5.0)]);
        let f = fit(&pc, &pair_weights(&pc, false), &FitOptions::default(), None);
        assert!(f.theta.iter().all(|t| t.is_finite()));
        assert!(f.theta[0] > f.theta[1] + 5.0);
    }

    #[test]
    fn sandwich_is_positive_on_the_diagonal() {
        let pc = counts(
            3,
            &[
                (0, 1, 30.0, 5.0, 20.0),
                (1, 2, 25.0, 5.0, 25.0),
                (0, 2, 35.0, 0.0, 15.0),
            ],
        );
        let w = pair_weights(&pc, false);
        let f = fit(&pc, &w, &FitOptions::default(), None);
        let c = sandwich(&pc, &w, DEFAULT_RIDGE, &f.theta).unwrap();
        for i in 0..3 {
            assert!(c[i * 3 + i] > 0.0 && c[i * 3 + i] < 0.1, "{c:?}");
        }
        let row0: f64 = (0..3).map(|j| c[j]).sum();
        assert!(row0.abs() < 1e-12);
    }

    #[test]
    fn inverse_frequency_weights_sum_to_battles() {
        let pc = counts(3, &[(0, 1, 90.0, 0.0, 10.0), (1, 2, 5.0, 0.0, 5.0)]);
        let w = pair_weights(&pc, true);
        let s: f64 = pc.pairs.iter().zip(&w).map(|(p, w)| p.n() * w).sum();
        assert!((s - 110.0).abs() < 1e-9);
        assert!((w[1] / w[0] - 10.0).abs() < 1e-12);
    }
}
