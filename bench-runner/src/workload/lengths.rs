//! Prompt and output lengths drawn from a distribution instead of one fixed count.
//!
//! ```toml
//! prompt_tokens = [512]                                                       # fixed
//! prompt_tokens = [{ dist = "normal", mean = 512, stddev = 128, min = 16, max = 4096 }]
//! prompt_tokens = [{ dist = "lognormal", mean = 512, stddev = 256, min = 16, max = 8192 }]
//! prompt_tokens = [{ dist = "uniform", min = 128, max = 1024 }]
//! max_tokens = [{ values = [64, 128, 512], weights = [0.5, 0.3, 0.2] }]
//! ```
//!
//! Each draw is rounded to the nearest integer and clamped to `[min, max]` (clamping, not
//! redrawing, so the share of requests at a bound is visible in the recorded counts and the
//! mean of what is sent stays close to `mean` when the bounds are far from it). `lognormal`
//! takes the mean and standard deviation of the lengths themselves, not of their logarithm:
//! σ² = ln(1 + (stddev/mean)²), μ = ln(mean) − σ²/2. `uniform` draws every integer of
//! `[min, max]` equally often. A weighted list draws `values[i]` with probability
//! `weights[i] / Σ weights` (equal weights when none are given).
//!
//! Draws are seeded (ChaCha8): the same distribution and seed give the same lengths.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::weighted::WeightedIndex;
use rand_distr::{Distribution, LogNormal, Normal};

/// How many tokens a prompt or an output has.
#[derive(Debug, Clone, PartialEq)]
pub enum LengthDist {
    Fixed(u32),
    Normal {
        mean: f64,
        stddev: f64,
        min: u32,
        max: u32,
    },
    LogNormal {
        mean: f64,
        stddev: f64,
        min: u32,
        max: u32,
    },
    Uniform {
        min: u32,
        max: u32,
    },
    Weighted {
        values: Vec<u32>,
        weights: Vec<f64>,
    },
}

impl LengthDist {
    /// Checks the parameters against the key's own bounds (`floor..=ceil`, e.g. 16 for a
    /// prompt, which needs room for its salt); the message names the offending field.
    pub fn validate(&self, floor: u32, ceil: u32) -> Result<(), String> {
        let in_range = |what: &str, v: u32| {
            if v < floor || v > ceil {
                Err(format!(
                    "`{what}` is {v}; expected a value from {floor} to {ceil}"
                ))
            } else {
                Ok(())
            }
        };
        match self {
            LengthDist::Fixed(n) => in_range("value", *n),
            LengthDist::Normal {
                mean,
                stddev,
                min,
                max,
            }
            | LengthDist::LogNormal {
                mean,
                stddev,
                min,
                max,
            } => {
                in_range("min", *min)?;
                in_range("max", *max)?;
                if min > max {
                    return Err(format!("`min` ({min}) is above `max` ({max})"));
                }
                if !(mean.is_finite() && *mean >= f64::from(*min) && *mean <= f64::from(*max)) {
                    return Err(format!(
                        "`mean` is {mean}; expected a value from min ({min}) to max ({max})"
                    ));
                }
                if !(stddev.is_finite() && *stddev >= 0.0) {
                    return Err(format!("`stddev` is {stddev}; expected a number ≥ 0"));
                }
                Ok(())
            }
            LengthDist::Uniform { min, max } => {
                in_range("min", *min)?;
                in_range("max", *max)?;
                if min > max {
                    return Err(format!("`min` ({min}) is above `max` ({max})"));
                }
                Ok(())
            }
            LengthDist::Weighted { values, weights } => {
                if values.is_empty() {
                    return Err("`values` is empty; expected at least one length".into());
                }
                for &v in values {
                    in_range("values", v)?;
                }
                if !weights.is_empty() && weights.len() != values.len() {
                    return Err(format!(
                        "`weights` has {} entries and `values` {}; expected one weight per value",
                        weights.len(),
                        values.len()
                    ));
                }
                if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                    return Err(format!("`weights` holds {w}; expected numbers ≥ 0"));
                }
                if !weights.is_empty() && weights.iter().sum::<f64>() <= 0.0 {
                    return Err("`weights` are all 0; expected at least one above 0".into());
                }
                Ok(())
            }
        }
    }

    /// A short label for case ids, unique per distinct distribution in practice:
    /// `512`, `n512sd128`, `ln512sd256`, `u128-1024`, `w64-128-512`.
    pub fn label(&self) -> String {
        match self {
            LengthDist::Fixed(n) => n.to_string(),
            LengthDist::Normal { mean, stddev, .. } => format!("n{mean}sd{stddev}"),
            LengthDist::LogNormal { mean, stddev, .. } => format!("ln{mean}sd{stddev}"),
            LengthDist::Uniform { min, max } => format!("u{min}-{max}"),
            LengthDist::Weighted { values, .. } => format!(
                "w{}",
                values
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("-")
            ),
        }
    }

    /// The largest length this distribution can give (for memory and context checks).
    pub fn max(&self) -> u32 {
        match self {
            LengthDist::Fixed(n) => *n,
            LengthDist::Normal { max, .. }
            | LengthDist::LogNormal { max, .. }
            | LengthDist::Uniform { max, .. } => *max,
            LengthDist::Weighted { values, .. } => values.iter().copied().max().unwrap_or(1),
        }
    }

    /// `n` lengths drawn with `seed`. Give prompt and output lengths different seeds (see
    /// `sub_seed`), or they are drawn from the same stream and move together.
    /// Expects a distribution that passed `validate`; one that did not still gives lengths ≥ 1.
    pub fn samples(&self, seed: u64, n: usize) -> Vec<u32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let clamp = |x: f64, min: u32, max: u32| -> u32 {
            let lo = min.max(1);
            x.round().clamp(f64::from(lo), f64::from(max.max(lo))) as u32
        };
        match self {
            LengthDist::Fixed(v) => vec![(*v).max(1); n],
            LengthDist::Normal {
                mean,
                stddev,
                min,
                max,
            } => match Normal::new(*mean, *stddev) {
                Ok(d) => (0..n)
                    .map(|_| clamp(d.sample(&mut rng), *min, *max))
                    .collect(),
                Err(_) => vec![clamp(*mean, *min, *max); n],
            },
            LengthDist::LogNormal {
                mean,
                stddev,
                min,
                max,
            } => match LogNormal::from_mean_cv(*mean, stddev / mean) {
                Ok(d) => (0..n)
                    .map(|_| clamp(d.sample(&mut rng), *min, *max))
                    .collect(),
                Err(_) => vec![clamp(*mean, *min, *max); n],
            },
            LengthDist::Uniform { min, max } => {
                let (lo, hi) = (*min.min(max), *max.max(min));
                (0..n).map(|_| rng.random_range(lo..=hi).max(1)).collect()
            }
            LengthDist::Weighted { values, weights } => {
                let equal = vec![1.0; values.len()];
                let w = if weights.is_empty() { &equal } else { weights };
                match WeightedIndex::new(w) {
                    Ok(d) => (0..n).map(|_| values[d.sample(&mut rng)].max(1)).collect(),
                    Err(_) => vec![values.first().copied().unwrap_or(1).max(1); n],
                }
            }
        }
    }
}

/// An independent seed for one named stream of a case (`"prompt_tokens"`, `"max_tokens"`,
/// `"prompts_file"`), so that streams drawn from one scenario seed do not move together.
/// FNV-1a of the name, mixed with the seed by SplitMix64's finaliser: portable and stable.
pub fn sub_seed(seed: u64, stream: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    fn mean_sd(x: &[u32]) -> (f64, f64) {
        let n = x.len() as f64;
        let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let v = x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, v.sqrt())
    }

    #[test]
    fn the_same_seed_gives_the_same_lengths() {
        let d = LengthDist::Normal {
            mean: 512.0,
            stddev: 128.0,
            min: 16,
            max: 4096,
        };
        assert_eq!(d.samples(1, 100), d.samples(1, 100));
        assert_ne!(d.samples(1, 100), d.samples(2, 100));
        assert_ne!(sub_seed(1, "prompt_tokens"), sub_seed(1, "max_tokens"));
        assert_eq!(sub_seed(1, "prompt_tokens"), sub_seed(1, "prompt_tokens"));
    }

    #[test]
    fn normal_and_lognormal_have_the_asked_mean_and_spread() {
        for d in [
            LengthDist::Normal {
                mean: 512.0,
                stddev: 128.0,
                min: 16,
                max: 4096,
            },
            LengthDist::LogNormal {
                mean: 512.0,
                stddev: 256.0,
                min: 1,
                max: 1 << 20,
            },
        ] {
            let (m, sd) = mean_sd(&d.samples(3, 20_000));
            let (want_m, want_sd) = match d {
                LengthDist::Normal { mean, stddev, .. }
                | LengthDist::LogNormal { mean, stddev, .. } => (mean, stddev),
                _ => unreachable!(),
            };
            assert!((m / want_m - 1.0).abs() < 0.03, "{d:?}: mean {m}");
            assert!((sd / want_sd - 1.0).abs() < 0.08, "{d:?}: sd {sd}");
        }
    }

    #[test]
    fn draws_are_clamped_to_the_bounds() {
        let d = LengthDist::Normal {
            mean: 100.0,
            stddev: 1000.0,
            min: 16,
            max: 200,
        };
        let s = d.samples(4, 5000);
        assert!(s.iter().all(|&v| (16..=200).contains(&v)));
        // Wide spread: both bounds are hit, and often.
        assert!(s.iter().filter(|&&v| v == 16).count() > 1000);
        assert!(s.iter().filter(|&&v| v == 200).count() > 1000);
    }

    #[test]
    fn uniform_covers_its_range_evenly() {
        let s = LengthDist::Uniform { min: 10, max: 13 }.samples(5, 8000);
        for v in 10..=13 {
            let k = s.iter().filter(|&&x| x == v).count();
            assert!((1800..=2200).contains(&k), "{v}: {k}");
        }
        assert!(s.iter().all(|&v| (10..=13).contains(&v)));
    }

    #[test]
    fn weighted_values_come_in_their_shares() {
        let d = LengthDist::Weighted {
            values: vec![64, 128, 512],
            weights: vec![0.5, 0.3, 0.2],
        };
        let s = d.samples(6, 10_000);
        let share = |v| s.iter().filter(|&&x| x == v).count() as f64 / 10_000.0;
        assert!((share(64) - 0.5).abs() < 0.03);
        assert!((share(128) - 0.3).abs() < 0.03);
        assert!((share(512) - 0.2).abs() < 0.03);
        // No weights: equal shares.
        let d = LengthDist::Weighted {
            values: vec![1, 2],
            weights: vec![],
        };
        let s = d.samples(6, 4000);
        let ones = s.iter().filter(|&&x| x == 1).count();
        assert!((1800..=2200).contains(&ones), "{ones}");
    }

    #[test]
    fn impossible_parameters_are_named() {
        let e = |d: LengthDist| d.validate(16, 4096).unwrap_err();
        assert!(e(LengthDist::Fixed(4)).contains("from 16"));
        assert!(
            e(LengthDist::Normal {
                mean: 10_000.0,
                stddev: 1.0,
                min: 16,
                max: 4096
            })
            .contains("`mean`")
        );
        assert!(
            e(LengthDist::Normal {
                mean: 100.0,
                stddev: -1.0,
                min: 16,
                max: 4096
            })
            .contains("`stddev`")
        );
        assert!(e(LengthDist::Uniform { min: 200, max: 100 }).contains("above `max`"));
        assert!(
            e(LengthDist::Weighted {
                values: vec![64, 128],
                weights: vec![1.0]
            })
            .contains("one weight per value")
        );
        assert!(
            e(LengthDist::Weighted {
                values: vec![64],
                weights: vec![0.0]
            })
            .contains("all 0")
        );
        assert!(
            e(LengthDist::Weighted {
                values: vec![],
                weights: vec![]
            })
            .contains("empty")
        );
        assert!(
            LengthDist::Uniform { min: 16, max: 16 }
                .validate(16, 4096)
                .is_ok()
        );
    }

    #[test]
    fn labels_name_the_distribution() {
        assert_eq!(LengthDist::Fixed(512).label(), "512");
        assert_eq!(
            LengthDist::Normal {
                mean: 512.0,
                stddev: 128.0,
                min: 16,
                max: 4096
            }
            .label(),
            "n512sd128"
        );
        assert_eq!(LengthDist::Uniform { min: 1, max: 9 }.label(), "u1-9");
        assert_eq!(
            LengthDist::Weighted {
                values: vec![64, 128],
                weights: vec![]
            }
            .label(),
            "w64-128"
        );
    }
}
