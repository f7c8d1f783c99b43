//! Proportions (accuracy, compliance rate) with a Wilson score interval.
//!
//! For k successes in n trials, p̂ = k/n and z = 1.96 (95%):
//!
//! ```text
//! centre    = (p̂ + z²/2n) / (1 + z²/n)
//! half      = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²)
//! interval  = [centre − half, centre + half]
//! ```
//!
//! Unlike the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n,
//! which small suites on small models hit often.

pub const Z95: f64 = 1.959_963_984_540_054;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Proportion {
    pub k: usize,
    pub n: usize,
    pub p: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// The proportion k/n with its Wilson 95% interval; `None` for n = 0.
pub fn wilson(k: usize, n: usize) -> Option<Proportion> {
    if n == 0 {
        return None;
    }
    let k = k.min(n);
    let p = k as f64 / n as f64;
    let (ci_low, ci_high) = wilson_bounds(p, n as f64);
    Some(Proportion {
        k,
        n,
        p,
        ci_low,
        ci_high,
    })
}

/// The Wilson 95% interval of a share `p` observed over `n` trials (`n` > 0). `p` may be a
/// mean of per-item shares (an item answered in several runs), hence the floats.
pub fn wilson_bounds(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The difference of two independent proportions, d = p₂ − p₁, with Newcombe's hybrid score
/// 95% interval (his method 10), built from the two Wilson intervals [l₁, u₁] and [l₂, u₂]:
///
/// ```text
/// low  = d − √((p₂ − l₂)² + (u₁ − p₁)²)
/// high = d + √((u₂ − p₂)² + (p₁ − l₁)²)
/// ```
///
/// Like Wilson's it behaves at 0/n and n/n, where the normal (Wald) difference interval
/// collapses. Returns (d, low, high); `n₁` and `n₂` must be > 0.
pub fn newcombe_difference(p1: f64, n1: f64, p2: f64, n2: f64) -> (f64, f64, f64) {
    let (l1, u1) = wilson_bounds(p1, n1);
    let (l2, u2) = wilson_bounds(p2, n2);
    let d = p2 - p1;
    let low = d - ((p2 - l2).powi(2) + (u1 - p1).powi(2)).sqrt();
    let high = d + ((u2 - p2).powi(2) + (p1 - l1).powi(2)).sqrt();
    (d, low, high)
}

/// BFCL's overall figure: the unweighted mean of the non-live categories' accuracies, and
/// the item-weighted mean over the live ones (all live items pooled). Each entry is
/// (category, successes, items). Returns (non-live mean, live pooled) where present.
pub fn bfcl_overall(categories: &[(String, usize, usize)]) -> (Option<f64>, Option<Proportion>) {
    let non_live: Vec<f64> = categories
        .iter()
        .filter(|(c, _, n)| !c.contains("live") && *n > 0)
        .map(|(_, k, n)| *k as f64 / *n as f64)
        .collect();
    let mean = (!non_live.is_empty()).then(|| non_live.iter().sum::<f64>() / non_live.len() as f64);
    let (k, n) = categories
        .iter()
        .filter(|(c, _, _)| c.contains("live"))
        .fold((0, 0), |(a, b), (_, k, n)| (a + k, b + n));
    (mean, wilson(k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 8 of 10: the textbook interval is [0.490, 0.943].
        let w = wilson(8, 10).unwrap();
        assert!(
            (w.ci_low - 0.4902).abs() < 1e-3 && (w.ci_high - 0.9433).abs() < 1e-3,
            "{w:?}"
        );
        let z = wilson(0, 20).unwrap();
        assert_eq!(z.ci_low, 0.0);
        assert!((z.ci_high - 0.1611).abs() < 1e-3, "{z:?}");
        let a = wilson(20, 20).unwrap();
        assert!((a.ci_high - 1.0).abs() < 1e-12 && (a.ci_low - 0.8389).abs() < 1e-3);
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn newcombe_matches_his_worked_example() {
        // Newcombe (1998), table II, example (a): 56/70 − 48/80, method 10: 0.0524 … 0.3339.
        let (d, lo, hi) = newcombe_difference(48.0 / 80.0, 80.0, 56.0 / 70.0, 70.0);
        assert!((d - 0.2).abs() < 1e-12);
        assert!(
            (lo - 0.0524).abs() < 1e-3 && (hi - 0.3339).abs() < 1e-3,
            "{lo} {hi}"
        );
        // (c): 5/56 − 0/29, where a zero count breaks the Wald interval: −0.0381 … 0.1926.
        let (_, lo, hi) = newcombe_difference(0.0, 29.0, 5.0 / 56.0, 56.0);
        assert!(
            (lo + 0.0381).abs() < 1e-3 && (hi - 0.1926).abs() < 1e-3,
            "{lo} {hi}"
        );
    }

    #[test]
    fn overall_is_unweighted_over_non_live_and_pooled_over_live() {
        let cats = vec![
            ("simple".to_string(), 9, 10),
            ("parallel".to_string(), 1, 100),
            ("live_simple".to_string(), 5, 10),
            ("live_multiple".to_string(), 15, 90),
        ];
        let (m, live) = bfcl_overall(&cats);
        assert!((m.unwrap() - (0.9 + 0.01) / 2.0).abs() < 1e-12);
        assert_eq!((live.unwrap().k, live.unwrap().n), (20, 100));
    }
}
