//! How one case × metric is judged: a ratio CI against the threshold for per-request metrics,
//! a difference CI in percentage points for shares of items (accuracy, compliance).

use crate::error::{Error, Result};
use crate::measure::ratio::RatioCi;
use crate::report::metric::Direction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    WithinNoise,
    TooFewSamples,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::WithinNoise => "within noise",
            Verdict::TooFewSamples => "too few samples",
        }
    }
}

/// The verdict for a ratio CI (candidate ÷ baseline) of a metric with `direction`.
pub fn verdict(direction: Direction, ci: &RatioCi, threshold: f64) -> Verdict {
    if ci.low.is_nan() || ci.high.is_nan() {
        return Verdict::TooFewSamples;
    }
    let (worse, better) = match direction {
        Direction::HigherIsBetter => (ci.high < 1.0 - threshold, ci.low > 1.0 + threshold),
        Direction::LowerIsBetter => (ci.low > 1.0 + threshold, ci.high < 1.0 - threshold),
    };
    if worse {
        Verdict::Regressed
    } else if better {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    }
}

/// Parses `5%`, `5` (percent, for numbers ≥ 1) or `0.05` (a fraction) into a fraction.
pub fn parse_threshold(s: &str) -> Result<f64> {
    let t = s.trim();
    let bad = || {
        Error::Usage(format!(
            "--threshold `{s}`: expected a percentage such as 5% (or a fraction such as 0.05) between 0 and 100%"
        ))
    };
    let (num, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let frac = if percent || v >= 1.0 { v / 100.0 } else { v };
    if !frac.is_finite() || !(0.0..1.0).contains(&frac) {
        return Err(bad());
    }
    Ok(frac)
}
/// Candidate share − baseline share (fractions, so 0.05 = 5 percentage points) with its
/// Newcombe hybrid score 95% interval ([`crate::measure::proportion::newcombe_difference`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DiffCi {
    pub diff: f64,
    pub low: f64,
    pub high: f64,
}

/// The verdict for a share of items (higher is better). The threshold is absolute, in
/// percentage points: with t = 5%, *regressed* means the data say the accuracy fell by more
/// than 5 points — the whole 95% interval of the difference lies below −t (so it also
/// excludes zero). A relative threshold would make the bar depend on the baseline's level and
/// vanish near 0% accuracy; points are what an accuracy drop is read in.
pub fn difference_verdict(ci: &DiffCi, threshold: f64) -> Verdict {
    if ci.low.is_nan() || ci.high.is_nan() {
        Verdict::TooFewSamples
    } else if ci.high < -threshold {
        Verdict::Regressed
    } else if ci.low > threshold {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    }
}
