//! Speed over time: per-request decode tok/s against the time the request was sent, cut into
//! slices, and the throttle ratio of a sustained run.
//!
//! With the case's requests spanning T seconds, the slice width is w = 60 s when T ≥ 240 s
//! (so the first and last minute are slices of their own), else w = T / 4. Each slice's value
//! is the median decode tok/s of the successful requests sent in it. The throttle ratio is
//! median(requests sent in the last w) ÷ median(requests sent in the first w): 1.0 means no
//! slowdown; a phone that heats up shows, say, 0.7. Needs at least 4 requests with times.

use super::load::Cell;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Slice {
    /// Slice start, seconds since the case's first request.
    pub start_s: f64,
    pub median_tok_s: f64,
    pub n: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Timeline {
    /// (seconds since the first request, decode tok/s) per successful request.
    pub points: Vec<(f64, f64)>,
    pub span_s: f64,
    pub slice_s: f64,
    pub slices: Vec<Slice>,
    pub throttle_ratio: Option<f64>,
}

/// Fewest timed requests for a timeline.
pub const MIN_REQUESTS: usize = 4;

/// Cases shorter than this are shown over time only when they are sustained cases.
pub const LONG_CASE_S: f64 = 60.0;

/// The timeline of a case worth showing over time: a sustained case (the runner names them
/// `…_<seconds>s`, from `duration`), or any case whose requests span a minute or more. A few
/// seconds of repetitions say nothing about heat.
pub fn sustained_timeline(cell: &Cell, slot: usize) -> Option<Timeline> {
    let t = timeline(cell, slot)?;
    let named = cell
        .case
        .case_id
        .rsplit('_')
        .next()
        .and_then(|s| s.strip_suffix('s'))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    (named || t.span_s >= LONG_CASE_S).then_some(t)
}

pub fn timeline(cell: &Cell, slot: usize) -> Option<Timeline> {
    let mut pts: Vec<(i64, f64)> = cell
        .requests
        .iter()
        .filter(|r| r.ok && !r.values[slot].is_nan())
        .filter_map(|r| Some((r.t_ms?, r.values[slot])))
        .collect();
    if pts.len() < MIN_REQUESTS {
        return None;
    }
    pts.sort_by_key(|p| p.0);
    let t0 = pts[0].0;
    let points: Vec<(f64, f64)> = pts
        .iter()
        .map(|(t, v)| ((t - t0) as f64 / 1000.0, *v))
        .collect();
    let span_s = points.last().map_or(0.0, |p| p.0);
    if span_s <= 0.0 {
        return None;
    }
    let slice_s = if span_s >= 240.0 { 60.0 } else { span_s / 4.0 };
    let n_slices = ((span_s / slice_s).floor() as usize + 1).max(1);
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); n_slices];
    for &(t, v) in &points {
        buckets[((t / slice_s) as usize).min(n_slices - 1)].push(v);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        crate::measure::stats::percentile_sorted(v, 50.0)
    };
    let slices: Vec<Slice> = buckets
        .iter_mut()
        .enumerate()
        .filter(|(_, b)| !b.is_empty())
        .map(|(i, b)| Slice {
            start_s: i as f64 * slice_s,
            n: b.len(),
            median_tok_s: median(b),
        })
        .collect();
    let mut first: Vec<f64> = points
        .iter()
        .filter(|p| p.0 < slice_s)
        .map(|p| p.1)
        .collect();
    let mut last: Vec<f64> = points
        .iter()
        .filter(|p| p.0 > span_s - slice_s)
        .map(|p| p.1)
        .collect();
    let throttle_ratio = if first.is_empty() || last.is_empty() {
        None
    } else {
        let f = median(&mut first);
        (f > 0.0).then(|| median(&mut last) / f)
    };
    Some(Timeline {
        points,
        span_s,
        slice_s,
        slices,
        throttle_ratio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::load::{CaseId, CaseShape, Request};

    #[test]
    fn a_slowing_device_has_a_throttle_ratio_below_one() {
        // 40 requests, one every 10 s, speed falling linearly from 100 to 61 tok/s.
        let requests = (0..40)
            .map(|i| {
                let mut values = [f64::NAN; crate::report::metric::N_METRICS];
                values[0] = 100.0 - i as f64;
                Request {
                    t_ms: Some(1_000_000 + i * 10_000),
                    ok: true,
                    values,
                }
            })
            .collect();
        let cell = Cell {
            series: 0,
            case: CaseId {
                scenario: "s".into(),
                case_id: "c".into(),
            },
            shape: CaseShape::default(),
            requests,
            summary: vec![],
            items: vec![],
        };
        let t = timeline(&cell, 0).unwrap();
        assert_eq!(t.span_s, 390.0);
        assert_eq!(t.slice_s, 60.0);
        assert_eq!(t.slices.len(), 7);
        // First minute: requests 0..5 (medians 97.5); last minute: requests 34..39 (63.5).
        let r = t.throttle_ratio.unwrap();
        assert!((r - 63.5 / 97.5).abs() < 1e-9, "{r}");
    }
}
