//! The ratio of two medians with a bootstrap confidence interval: how much faster or slower
//! a candidate is than a baseline, and how sure we are.
//!
//! For a baseline sample b₁…bₘ and a candidate sample c₁…cₙ (per-request values of one
//! metric in one case):
//!
//! - the point estimate is r = median(c) / median(b);
//! - the 95% CI is the percentile bootstrap of r: B times, draw m values from b and n values
//!   from c, each with replacement and independently (the two runs are independent
//!   experiments), compute r* = median(c*) / median(b*); the interval is the 2.5th and 97.5th
//!   percentiles (type 7) of the B values of r*.
//!
//! Large samples (more than [`BOOTSTRAP_MAX_N`] values on a side, e.g. a report over a
//! million requests) are not bootstrapped, which would cost B·n: each median's CI is then the
//! distribution-free order-statistic interval of [`median_ci_sorted`] (the one summary.csv
//! and [`median_ci`] give at every n), and the ratio's CI is formed on the log scale, where
//! the two errors add: with sᵢ = (ln hiᵢ − ln loᵢ) / (2·1.96),
//! CI = exp(ln r ± 1.96·√(s_b² + s_c²)). At such n the two methods agree closely.
//!
//! Several runs per side (the same build run more than once) turn the bootstrap
//! hierarchical, so that the noise *between* runs counts, not only the noise between the
//! requests of one run: each resample first draws as many runs as there are, with
//! replacement, then draws each drawn run's requests with replacement, pools them and takes
//! the median. One run per side gives exactly the single-level bootstrap above. Between-run
//! drift (another job on the machine, thermal state) is what makes two runs of one build
//! differ by more than their per-request intervals allow; only repeated runs can measure it.
//!
//! The generator is ChaCha8 with a fixed seed, so the same two runs always give the same
//! interval and a CI gate never flips on a re-run of the comparison itself. A resample whose
//! baseline median is zero gives no ratio and is skipped; if more than half are skipped the
//! interval is undefined (NaN).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::stats::{
    BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, median_ci_sorted, median_in_place, percentile_sorted,
};

/// Above this many values on a side, closed-form intervals replace the bootstrap.
pub const BOOTSTRAP_MAX_N: usize = 5000;

/// A median with its 95% CI.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MedianCi {
    pub n: usize,
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

/// The median of a sample with its 95% CI, the order-statistic interval of
/// [`median_ci_sorted`] (as summary.csv has it). NaN values are dropped; `None` for an empty
/// sample.
pub fn median_ci(values: &[f64]) -> Option<MedianCi> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (low, high) = median_ci_sorted(&v);
    Some(MedianCi {
        n: v.len(),
        median: percentile_sorted(&v, 50.0),
        low,
        high,
    })
}

/// A ratio of medians with its 95% CI; `low <= ratio <= high` for all but degenerate data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RatioCi {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// r = median(candidate) / median(baseline) with its seeded percentile-bootstrap 95% CI
/// (`BOOTSTRAP_RESAMPLES` resamples). NaN values are dropped first. `None` when either side is
/// empty or the baseline median is zero.
pub fn median_ratio_ci(baseline: &[f64], candidate: &[f64]) -> Option<RatioCi> {
    median_ratio_ci_with(baseline, candidate, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED)
}

/// [`median_ratio_ci`] with the number of resamples and the seed chosen.
pub fn median_ratio_ci_with(
    baseline: &[f64],
    candidate: &[f64],
    resamples: usize,
    seed: u64,
) -> Option<RatioCi> {
    let b: Vec<f64> = baseline.iter().copied().filter(|x| !x.is_nan()).collect();
    let c: Vec<f64> = candidate.iter().copied().filter(|x| !x.is_nan()).collect();
    if b.is_empty() || c.is_empty() {
        return None;
    }
    if b.len() > BOOTSTRAP_MAX_N || c.len() > BOOTSTRAP_MAX_N {
        return log_scale_ratio(&b, &c);
    }
    let mb = median_in_place(&mut b.clone());
    let mc = median_in_place(&mut c.clone());
    if mb == 0.0 {
        return None;
    }
    let ratio = mc / mb;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut bb, mut cb) = (vec![0.0; b.len()], vec![0.0; c.len()]);
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in bb.iter_mut() {
            *slot = b[rng.random_range(0..b.len())];
        }
        for slot in cb.iter_mut() {
            *slot = c[rng.random_range(0..c.len())];
        }
        let db = median_in_place(&mut bb);
        if db != 0.0 {
            ratios.push(median_in_place(&mut cb) / db);
        }
    }
    if ratios.len() * 2 < resamples.max(1) {
        return Some(RatioCi {
            ratio,
            low: f64::NAN,
            high: f64::NAN,
        });
    }
    ratios.sort_by(f64::total_cmp);
    Some(RatioCi {
        ratio,
        low: percentile_sorted(&ratios, 2.5),
        high: percentile_sorted(&ratios, 97.5),
    })
}

/// The ratio of pooled medians with a hierarchical bootstrap CI over runs (see the module
/// docs). `baseline` and `candidate` hold one vector of per-request values per run; empty
/// runs are ignored. With one run on each side this is [`median_ratio_ci`].
pub fn median_ratio_ci_runs(baseline: &[Vec<f64>], candidate: &[Vec<f64>]) -> Option<RatioCi> {
    let clean = |runs: &[Vec<f64>]| -> Vec<Vec<f64>> {
        runs.iter()
            .map(|r| {
                r.iter()
                    .copied()
                    .filter(|x| !x.is_nan())
                    .collect::<Vec<f64>>()
            })
            .filter(|r| !r.is_empty())
            .collect()
    };
    let (b, c) = (clean(baseline), clean(candidate));
    if b.is_empty() || c.is_empty() {
        return None;
    }
    if b.len() == 1 && c.len() == 1 {
        return median_ratio_ci(&b[0], &c[0]);
    }
    let pooled = |runs: &[Vec<f64>]| runs.iter().flatten().copied().collect::<Vec<f64>>();
    let mb = median_in_place(&mut pooled(&b));
    let mc = median_in_place(&mut pooled(&c));
    if mb == 0.0 {
        return None;
    }
    let ratio = mc / mb;
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut draw = |runs: &[Vec<f64>], buf: &mut Vec<f64>| -> f64 {
        buf.clear();
        for _ in 0..runs.len() {
            let run = &runs[rng.random_range(0..runs.len())];
            for _ in 0..run.len() {
                buf.push(run[rng.random_range(0..run.len())]);
            }
        }
        median_in_place(buf)
    };
    let (mut bb, mut cb) = (Vec::new(), Vec::new());
    let mut ratios = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        let db = draw(&b, &mut bb);
        let dc = draw(&c, &mut cb);
        if db != 0.0 {
            ratios.push(dc / db);
        }
    }
    if ratios.len() * 2 < BOOTSTRAP_RESAMPLES {
        return Some(RatioCi {
            ratio,
            low: f64::NAN,
            high: f64::NAN,
        });
    }
    ratios.sort_by(f64::total_cmp);
    Some(RatioCi {
        ratio,
        low: percentile_sorted(&ratios, 2.5),
        high: percentile_sorted(&ratios, 97.5),
    })
}

/// The closed-form ratio CI for large samples (see the module docs).
fn log_scale_ratio(b: &[f64], c: &[f64]) -> Option<RatioCi> {
    let (mb, mc) = (median_ci(b)?, median_ci(c)?);
    if mb.median == 0.0 {
        return None;
    }
    let ratio = mc.median / mb.median;
    if [mb.low, mb.high, mc.low, mc.high, mb.median, mc.median]
        .iter()
        .any(|x| *x <= 0.0)
    {
        return Some(RatioCi {
            ratio,
            low: f64::NAN,
            high: f64::NAN,
        });
    }
    let s = |m: &MedianCi| (m.high.ln() - m.low.ln()) / (2.0 * 1.96);
    let half = 1.96 * (s(&mb).powi(2) + s(&mc).powi(2)).sqrt();
    Some(RatioCi {
        ratio,
        low: (ratio.ln() - half).exp(),
        high: (ratio.ln() + half).exp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_ratio_one_bracketed() {
        let v: Vec<f64> = (0..40).map(|i| 100.0 + (i % 7) as f64).collect();
        let r = median_ratio_ci(&v, &v).unwrap();
        assert_eq!(r.ratio, 1.0);
        assert!(r.low < 1.0 && r.high > 1.0, "{r:?}");
        assert!(r.high - r.low < 0.1, "{r:?}");
    }

    #[test]
    fn known_shift_is_found_and_seeded() {
        let b: Vec<f64> = (0..30).map(|i| 100.0 + (i % 5) as f64).collect();
        let c: Vec<f64> = b.iter().map(|x| x * 0.8).collect();
        let r = median_ratio_ci(&b, &c).unwrap();
        assert!((r.ratio - 0.8).abs() < 1e-12);
        assert!(r.high < 0.9 && r.low > 0.7, "{r:?}");
        assert_eq!(median_ratio_ci(&b, &c), Some(r));
    }

    #[test]
    fn large_samples_use_closed_forms_that_agree() {
        let b: Vec<f64> = (0..20_000)
            .map(|i| 100.0 + (i % 101) as f64 / 10.0)
            .collect();
        let c: Vec<f64> = b.iter().map(|x| x * 1.1).collect();
        let m = median_ci(&b).unwrap();
        assert!(
            m.low <= m.median && m.median <= m.high && m.high - m.low < 0.5,
            "{m:?}"
        );
        let r = median_ratio_ci(&b, &c).unwrap();
        assert!((r.ratio - 1.1).abs() < 1e-9);
        assert!(
            r.low < 1.1 && r.high > 1.1 && r.high - r.low < 0.01,
            "{r:?}"
        );
        // Same data, bootstrapped on a subsample of the same shape: intervals of similar width.
        let small = median_ratio_ci(&b[..4000], &c[..4000]).unwrap();
        assert!(small.low < 1.1 && small.high > 1.1);
    }

    #[test]
    fn runs_that_disagree_widen_the_interval() {
        // Two baseline runs 20% apart (drift), two candidate runs like them: per-request noise
        // is small, so pooling everything as one run would call a difference; by runs, the
        // interval covers 1.
        let run = |level: f64| {
            (0..12)
                .map(|i| level + (i % 4) as f64 * 0.2)
                .collect::<Vec<f64>>()
        };
        let base = vec![run(100.0), run(120.0)];
        let cand = vec![run(101.0), run(119.0)];
        let r = median_ratio_ci_runs(&base, &cand).unwrap();
        assert!(r.low < 0.95 && r.high > 1.05, "{r:?}");
        // One run per side is the plain bootstrap.
        assert_eq!(
            median_ratio_ci_runs(&base[..1], &cand[..1]),
            median_ratio_ci(&base[0], &cand[0])
        );
        // A uniform 30% slowdown in every run is still found.
        let slow = vec![run(70.0), run(84.0)];
        let r = median_ratio_ci_runs(&base, &slow).unwrap();
        assert!(r.high < 1.0, "{r:?}");
    }

    #[test]
    fn degenerate_inputs() {
        assert!(median_ratio_ci(&[], &[1.0]).is_none());
        assert!(median_ratio_ci(&[0.0, 0.0], &[1.0]).is_none());
        let r = median_ratio_ci(&[2.0], &[3.0]).unwrap();
        assert_eq!((r.ratio, r.low, r.high), (1.5, 1.5, 1.5));
    }
}
