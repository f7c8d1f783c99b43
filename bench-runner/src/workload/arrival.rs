//! When each request of an open-loop (request-rate) case is sent: the schedule, made up front
//! from a seed so that two runs of the same scenario offer exactly the same load.
//!
//! For an offered rate `r` requests/s the gaps between sends are drawn as vLLM's
//! `bench serve` draws them:
//!
//! ```text
//! constant:  gap = 1/r                                   (no randomness)
//! poisson:   gap ~ Exp(r)            mean 1/r, CV 1
//! gamma:     gap ~ Gamma(shape = k, scale = 1/(r·k))    mean 1/r, CV 1/√k
//! ```
//!
//! `k` is the `burstiness`: k = 1 is exactly Poisson, k < 1 is burstier (clumps of requests
//! with long quiet spells between them), k > 1 is more even, tending to constant.
//!
//! The first request is sent at offset 0 (the case starts working at once, as vLLM's does);
//! each later one a drawn gap after the one before. A schedule bounded by a request count
//! has exactly that many sends; one bounded by a duration has every send at an offset
//! strictly below it. The gaps come from one ChaCha8 stream seeded with `seed`, drawn in
//! order, so a schedule's first n sends do not depend on how it is bounded.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma};

/// How the gaps between sends are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    Constant,
    Poisson,
    /// Gamma-distributed gaps with shape `burstiness` (vLLM's `--burstiness`).
    Gamma {
        burstiness: f64,
    },
}

impl Arrival {
    /// The scenario-file spelling: `"constant"`, `"poisson"`, `"gamma"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Gamma { .. } => "gamma",
        }
    }
}

/// Where a schedule stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    /// Exactly this many sends.
    Requests(u32),
    /// Every send before this many seconds.
    Seconds(f64),
}

/// Most sends one schedule may hold (80 MB of offsets): far beyond a real case, low enough
/// that a typo such as `request_rate = [1e6]` with `duration = "24h"` is refused, not allocated.
pub const MAX_SENDS: u64 = 10_000_000;

/// Why a schedule cannot be made; the scenario parser turns it into a located error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the request rate must be a positive, finite number of requests/s, not {0}")]
    Rate(f64),
    #[error("burstiness must be a positive, finite number (1 = Poisson, < 1 burstier), not {0}")]
    Burstiness(f64),
    #[error("the duration must be a positive, finite number of seconds, not {0}")]
    Duration(f64),
    #[error("about {0} requests in one case, more than the {MAX_SENDS} one schedule may hold")]
    TooMany(u64),
}

/// The send offsets, in seconds from the case's start, ascending; see the module comment.
pub fn schedule(
    rate: f64,
    arrival: Arrival,
    seed: u64,
    extent: Extent,
) -> Result<Vec<f64>, ScheduleError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ScheduleError::Rate(rate));
    }
    let expected = match extent {
        Extent::Requests(n) => u64::from(n),
        Extent::Seconds(d) if d.is_finite() && d > 0.0 => (rate * d).ceil() as u64 + 1,
        Extent::Seconds(d) => return Err(ScheduleError::Duration(d)),
    };
    if expected > MAX_SENDS {
        return Err(ScheduleError::TooMany(expected));
    }
    let mut gaps = Gaps::new(rate, arrival, seed)?;
    // A bursty schedule over a duration may hold more sends than r·d; grow as needed.
    let mut offsets = Vec::with_capacity(expected as usize);
    let mut t = 0.0;
    loop {
        match extent {
            Extent::Requests(n) if offsets.len() >= n as usize => break,
            Extent::Seconds(d) if t >= d => break,
            _ => {}
        }
        if offsets.len() as u64 >= MAX_SENDS {
            return Err(ScheduleError::TooMany(MAX_SENDS + 1));
        }
        offsets.push(t);
        t = match &mut gaps {
            // i/r, not a running sum of 1/r, which would drift for rates like 3.
            Gaps::Constant(_) => offsets.len() as f64 / rate,
            g => t + g.next_gap(),
        };
    }
    Ok(offsets)
}

/// The gap generator behind `schedule`.
enum Gaps {
    Constant(f64),
    Exp(Exp<f64>, ChaCha8Rng),
    Gamma(Gamma<f64>, ChaCha8Rng),
}

impl Gaps {
    fn new(rate: f64, arrival: Arrival, seed: u64) -> Result<Self, ScheduleError> {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        Ok(match arrival {
            Arrival::Constant => Gaps::Constant(1.0 / rate),
            Arrival::Poisson => {
                Gaps::Exp(Exp::new(rate).map_err(|_| ScheduleError::Rate(rate))?, rng)
            }
            Arrival::Gamma { burstiness: k } => {
                if !(k.is_finite() && k > 0.0) {
                    return Err(ScheduleError::Burstiness(k));
                }
                let g =
                    Gamma::new(k, 1.0 / (rate * k)).map_err(|_| ScheduleError::Burstiness(k))?;
                Gaps::Gamma(g, rng)
            }
        })
    }

    fn next_gap(&mut self) -> f64 {
        match self {
            Gaps::Constant(g) => *g,
            Gaps::Exp(d, rng) => d.sample(rng),
            Gaps::Gamma(d, rng) => d.sample(rng),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    fn gaps(offsets: &[f64]) -> Vec<f64> {
        offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Kolmogorov–Smirnov statistic of `sample` against the CDF `f`:
    /// D = max_i max(i/n − F(x₍ᵢ₎), F(x₍ᵢ₎) − (i−1)/n) over the sorted sample.
    fn ks_statistic(sample: &[f64], f: impl Fn(f64) -> f64) -> f64 {
        let mut x = sample.to_vec();
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let fv = f(v);
                ((i + 1) as f64 / n - fv).max(fv - i as f64 / n)
            })
            .fold(0.0, f64::max)
    }

    /// The α = 0.01 critical value of D for large n: K₀.₉₉ / √n, K₀.₉₉ = 1.6276 (the 0.99
    /// quantile of the Kolmogorov distribution).
    fn ks_critical_01(n: usize) -> f64 {
        1.6276 / (n as f64).sqrt()
    }

    fn mean_cv(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        for arrival in [Arrival::Poisson, Arrival::Gamma { burstiness: 0.5 }] {
            let a = schedule(4.0, arrival, 7, Extent::Requests(500)).unwrap();
            let b = schedule(4.0, arrival, 7, Extent::Requests(500)).unwrap();
            let c = schedule(4.0, arrival, 8, Extent::Requests(500)).unwrap();
            assert_eq!(a, b);
            assert_ne!(a, c);
            assert_eq!(a.len(), 500);
            assert_eq!(a[0], 0.0);
            assert!(a.windows(2).all(|w| w[1] >= w[0]), "offsets must ascend");
        }
    }

    #[test]
    fn a_duration_bound_is_a_prefix_of_the_same_stream() {
        let long = schedule(5.0, Arrival::Poisson, 3, Extent::Requests(400)).unwrap();
        let timed = schedule(5.0, Arrival::Poisson, 3, Extent::Seconds(30.0)).unwrap();
        assert!(timed.iter().all(|&t| t < 30.0));
        assert_eq!(timed[..], long[..timed.len()]);
        // The next send of the same stream falls at or after the bound.
        assert!(long[timed.len()] >= 30.0);
        // About r·d sends (Poisson(150) + 1: ±4σ is ±49).
        assert!((100..=200).contains(&timed.len()), "{}", timed.len());
    }

    #[test]
    fn poisson_gaps_fit_an_exponential_by_kolmogorov_smirnov() {
        let rate = 3.0;
        let g = gaps(&schedule(rate, Arrival::Poisson, 42, Extent::Requests(4001)).unwrap());
        let exp_cdf = |x: f64| 1.0 - (-rate * x).exp();
        let d = ks_statistic(&g, exp_cdf);
        eprintln!(
            "poisson: D = {d:.4}, critical {:.4}",
            ks_critical_01(g.len())
        );
        assert!(d < ks_critical_01(g.len()), "D = {d}");
        // The check has power: gamma gaps with the same mean but CV 2 are rejected.
        let bursty = gaps(
            &schedule(
                rate,
                Arrival::Gamma { burstiness: 0.25 },
                42,
                Extent::Requests(4001),
            )
            .unwrap(),
        );
        let d = ks_statistic(&bursty, exp_cdf);
        assert!(d > ks_critical_01(bursty.len()), "D = {d}");
    }

    #[test]
    fn gamma_with_burstiness_one_is_poisson_in_law() {
        let rate = 2.0;
        let g = gaps(
            &schedule(
                rate,
                Arrival::Gamma { burstiness: 1.0 },
                9,
                Extent::Requests(4001),
            )
            .unwrap(),
        );
        let d = ks_statistic(&g, |x| 1.0 - (-rate * x).exp());
        assert!(d < ks_critical_01(g.len()), "D = {d}");
    }

    #[test]
    fn constant_is_exactly_one_over_r_apart() {
        let s = schedule(4.0, Arrival::Constant, 1, Extent::Requests(9)).unwrap();
        assert_eq!(s, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]);
        // Over a duration: r·d sends, the last one gap short of the end.
        let s = schedule(2.0, Arrival::Constant, 1, Extent::Seconds(10.0)).unwrap();
        assert_eq!(s.len(), 20);
        assert_eq!(*s.last().unwrap(), 9.5);
        // No drift for a rate whose gap has no exact binary form.
        let s = schedule(3.0, Arrival::Constant, 1, Extent::Requests(3001)).unwrap();
        assert_eq!(s[3000], 1000.0);
    }

    #[test]
    fn gamma_gaps_have_mean_one_over_r_and_cv_one_over_root_k() {
        for (rate, k) in [(2.0, 0.25), (2.0, 0.5), (10.0, 4.0)] {
            let g = gaps(
                &schedule(
                    rate,
                    Arrival::Gamma { burstiness: k },
                    5,
                    Extent::Requests(40_001),
                )
                .unwrap(),
            );
            let (mean, cv) = mean_cv(&g);
            let want_cv = 1.0 / f64::sqrt(k);
            assert!(
                (mean * rate - 1.0).abs() < 0.05,
                "k = {k}: mean {mean}, want {}",
                1.0 / rate
            );
            assert!(
                (cv / want_cv - 1.0).abs() < 0.08,
                "k = {k}: CV {cv}, want {want_cv}"
            );
        }
    }

    #[test]
    fn impossible_inputs_are_errors_not_panics() {
        let p = Arrival::Poisson;
        assert_eq!(
            schedule(0.0, p, 1, Extent::Requests(3)),
            Err(ScheduleError::Rate(0.0))
        );
        assert!(matches!(
            schedule(f64::NAN, p, 1, Extent::Requests(3)),
            Err(ScheduleError::Rate(_))
        ));
        assert_eq!(
            schedule(
                1.0,
                Arrival::Gamma { burstiness: 0.0 },
                1,
                Extent::Requests(3)
            ),
            Err(ScheduleError::Burstiness(0.0))
        );
        assert_eq!(
            schedule(1.0, p, 1, Extent::Seconds(-1.0)),
            Err(ScheduleError::Duration(-1.0))
        );
        assert!(matches!(
            schedule(1e6, p, 1, Extent::Seconds(86_400.0)),
            Err(ScheduleError::TooMany(_))
        ));
        assert_eq!(schedule(1.0, p, 1, Extent::Requests(0)), Ok(vec![]));
    }
}
