//! Goodput under service-level objectives, as vLLM's `bench serve --goodput` defines it.
//!
//! An SLO is any subset of per-request bounds (`slo = { ttft_ms = 2000, tpot_ms = 100 }`).
//! A request is **good** when it succeeded and meets every bound, each judged on that one
//! request (no percentiles): `ttft ≤ ttft_ms`, `tpot ≤ tpot_ms`, `e2e ≤ e2e_ms`, and — beyond
//! vLLM, which has no ITL bound — every inter-token gap ≤ `itl_ms` (its largest gap, so a
//! request that stalled once mid-stream is not good even if its mean pace is). Bounds are
//! inclusive, as vLLM's are.
//!
//! ```text
//! share   = good / requests            (failed requests count in the denominator)
//! goodput = good / window_s            (good requests per second of the measured window)
//! ```
//!
//! Values a successful request may lack: TPOT and ITL exist only with two or more output
//! tokens, so a one-token answer meets those bounds (vLLM counts its TPOT as 0); TTFT and
//! E2E exist for every request that streamed content, so a success without them cannot be
//! certified and misses those bounds.
//!
//! The same definition serves the tool-call scenarios' `correct_goodput`: there a request is
//! an item, "succeeded" is "scored correct", the SLO is `e2e_ms = latency_target_ms` (or none),
//! and the window is the items' summed E2E (see `goodput`'s doc and the test
//! `tool_call_correct_goodput_is_this_goodput`).

use std::fmt;

use super::proportion::{Proportion, wilson};
use super::request::RequestMetrics;

/// Per-request bounds in milliseconds; `None` means not bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// Largest inter-token gap.
    pub itl_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

/// One of an SLO's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    Ttft,
    Tpot,
    Itl,
    E2e,
}

impl Bound {
    pub const ALL: [Bound; 4] = [Bound::Ttft, Bound::Tpot, Bound::Itl, Bound::E2e];

    /// The scenario key: `ttft_ms`, `tpot_ms`, `itl_ms`, `e2e_ms`.
    pub fn key(self) -> &'static str {
        match self {
            Bound::Ttft => "ttft_ms",
            Bound::Tpot => "tpot_ms",
            Bound::Itl => "itl_ms",
            Bound::E2e => "e2e_ms",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What one request gave, as the SLO sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// The request succeeded (for a tool-call item: it was scored correct).
    pub ok: bool,
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    /// The request's largest inter-token gap.
    pub max_itl_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
}

impl Outcome {
    /// The outcome of a streamed request from its metrics.
    pub fn from_metrics(ok: bool, m: &RequestMetrics) -> Self {
        Outcome {
            ok,
            ttft_ms: m.ttft_ms,
            tpot_ms: m.tpot_ms,
            max_itl_ms: m.itl_ms.iter().copied().reduce(f64::max),
            e2e_ms: m.e2e_ms,
        }
    }
}

impl Slo {
    /// True when no bound is set: then every successful request is good.
    pub fn is_empty(&self) -> bool {
        Bound::ALL.iter().all(|b| self.bound(*b).is_none())
    }

    pub fn bound(&self, b: Bound) -> Option<f64> {
        match b {
            Bound::Ttft => self.ttft_ms,
            Bound::Tpot => self.tpot_ms,
            Bound::Itl => self.itl_ms,
            Bound::E2e => self.e2e_ms,
        }
    }

    /// The bounds a successful request missed (empty: it is good). A failed request is
    /// judged by `is_good` alone; its timings, if any, mean nothing.
    pub fn missed(&self, o: &Outcome) -> Vec<Bound> {
        Bound::ALL
            .into_iter()
            .filter(|&b| {
                let Some(limit) = self.bound(b) else {
                    return false;
                };
                let (value, absent_meets) = match b {
                    Bound::Ttft => (o.ttft_ms, false),
                    Bound::Tpot => (o.tpot_ms, true),
                    Bound::Itl => (o.max_itl_ms, true),
                    Bound::E2e => (o.e2e_ms, false),
                };
                match value {
                    // A NaN (a broken clock) is never within a bound.
                    Some(v) => v.is_nan() || v > limit,
                    None => !absent_meets,
                }
            })
            .collect()
    }

    /// vLLM's "good request": it succeeded and met every bound.
    pub fn is_good(&self, o: &Outcome) -> bool {
        o.ok && self.missed(o).is_empty()
    }
}

/// A case's goodput under one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Goodput {
    /// Requests judged (failed ones included).
    pub requests: usize,
    pub failed: usize,
    pub good: usize,
    /// good / requests with its Wilson 95% interval; `None` without requests.
    pub share: Option<Proportion>,
    /// Good requests per second of the window; `None` when the window is not positive.
    pub per_second: Option<f64>,
    /// How many successful requests missed each bound (indexed as `Bound::ALL`); one request
    /// may miss several.
    pub missed: [usize; 4],
}

impl Goodput {
    /// How many successful requests missed bound `b`.
    pub fn missed_of(&self, b: Bound) -> usize {
        self.missed[b.index()]
    }

    /// The bound missed most often (the first in `Bound::ALL` order on a tie); `None` when
    /// no successful request missed any.
    pub fn worst_bound(&self) -> Option<(Bound, usize)> {
        Bound::ALL
            .into_iter()
            .map(|b| (b, self.missed_of(b)))
            .filter(|(_, k)| *k > 0)
            .fold(None, |best, cur| match best {
                Some((_, k)) if k >= cur.1 => best,
                _ => Some(cur),
            })
    }
}

/// Judges every outcome against `slo`. `window_s` is the time the goodput is spread over:
/// for a request-rate case the measured window (first scheduled send to last completion,
/// warm-ups excluded); for tool-call items their summed E2E in seconds.
pub fn goodput<'a>(
    slo: &Slo,
    outcomes: impl IntoIterator<Item = &'a Outcome>,
    window_s: f64,
) -> Goodput {
    let (mut requests, mut failed, mut good, mut missed) = (0, 0, 0, [0usize; 4]);
    for o in outcomes {
        requests += 1;
        if !o.ok {
            failed += 1;
            continue;
        }
        let m = slo.missed(o);
        if m.is_empty() {
            good += 1;
        }
        for b in m {
            missed[b.index()] += 1;
        }
    }
    Goodput {
        requests,
        failed,
        good,
        share: wilson(good, requests),
        per_second: (window_s.is_finite() && window_s > 0.0).then(|| good as f64 / window_s),
        missed,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    fn ok(ttft: f64, tpot: f64, e2e: f64) -> Outcome {
        Outcome {
            ok: true,
            ttft_ms: Some(ttft),
            tpot_ms: Some(tpot),
            max_itl_ms: Some(tpot * 2.0),
            e2e_ms: Some(e2e),
        }
    }

    const SLO: Slo = Slo {
        ttft_ms: Some(200.0),
        tpot_ms: Some(50.0),
        itl_ms: None,
        e2e_ms: None,
    };

    #[test]
    fn every_request_meeting_the_slo_is_all_good_and_none_is_nothing() {
        let all: Vec<Outcome> = (0..10)
            .map(|i| ok(100.0 + f64::from(i), 20.0, 900.0))
            .collect();
        let g = goodput(&SLO, &all, 5.0);
        assert_eq!((g.requests, g.good, g.failed), (10, 10, 0));
        assert_eq!(g.share.unwrap().p, 1.0);
        assert_eq!(g.per_second, Some(2.0));
        assert_eq!(g.worst_bound(), None);
        let none: Vec<Outcome> = (0..10).map(|_| ok(300.0, 20.0, 900.0)).collect();
        let g = goodput(&SLO, &none, 5.0);
        assert_eq!(
            (g.good, g.share.unwrap().p, g.per_second),
            (0, 0.0, Some(0.0))
        );
        assert_eq!(g.worst_bound(), Some((Bound::Ttft, 10)));
    }

    #[test]
    fn bounds_are_inclusive_and_every_one_must_hold() {
        assert!(SLO.is_good(&ok(200.0, 50.0, 1e9)));
        assert_eq!(SLO.missed(&ok(200.1, 50.0, 0.0)), [Bound::Ttft]);
        assert_eq!(
            SLO.missed(&ok(201.0, 51.0, 0.0)),
            [Bound::Ttft, Bound::Tpot]
        );
        let itl = Slo {
            itl_ms: Some(30.0),
            ..Slo::default()
        };
        // Mean pace 20 ms, but one 40 ms stall: not good under an ITL bound.
        assert_eq!(itl.missed(&ok(1.0, 20.0, 1.0)), [Bound::Itl]);
        assert!(Slo::default().is_empty() && !SLO.is_empty());
    }

    #[test]
    fn failures_count_against_the_share_but_not_against_a_bound() {
        let mut v = vec![ok(100.0, 20.0, 500.0); 3];
        v.push(Outcome {
            ok: false,
            ..ok(1.0, 1.0, 1.0)
        });
        v.push(ok(250.0, 80.0, 500.0));
        let g = goodput(&SLO, &v, 0.0);
        assert_eq!((g.requests, g.failed, g.good), (5, 1, 3));
        assert_eq!(g.share.unwrap().p, 0.6);
        assert_eq!(g.per_second, None, "no window, no rate");
        assert_eq!((g.missed_of(Bound::Ttft), g.missed_of(Bound::Tpot)), (1, 1));
        // A tie goes to the earlier bound; then the larger count wins.
        assert_eq!(g.worst_bound(), Some((Bound::Ttft, 1)));
        v.push(ok(10.0, 80.0, 500.0));
        assert_eq!(goodput(&SLO, &v, 1.0).worst_bound(), Some((Bound::Tpot, 2)));
    }

    #[test]
    fn absent_values_are_judged_as_documented() {
        let one_token = Outcome {
            ok: true,
            ttft_ms: Some(10.0),
            tpot_ms: None,
            max_itl_ms: None,
            e2e_ms: Some(10.0),
        };
        let all = Slo {
            ttft_ms: Some(100.0),
            tpot_ms: Some(1.0),
            itl_ms: Some(1.0),
            e2e_ms: Some(100.0),
        };
        assert!(all.is_good(&one_token));
        let no_content = Outcome {
            ok: true,
            ..Outcome::default()
        };
        assert_eq!(all.missed(&no_content), [Bound::Ttft, Bound::E2e]);
    }

    #[test]
    fn outcomes_come_from_request_metrics() {
        let m = crate::measure::request::compute(
            &crate::measure::Timeline {
                reads: vec![(100.0, 1), (110.0, 1), (150.0, 1), (160.0, 1)],
            },
            Some(16),
            Some(4),
        );
        let o = Outcome::from_metrics(true, &m);
        assert_eq!(o.ttft_ms, Some(100.0));
        assert_eq!(o.e2e_ms, Some(160.0));
        assert_eq!(o.max_itl_ms, Some(40.0));
        assert_eq!(o.tpot_ms, Some(20.0));
    }

    /// runner/tool_summary.rs counts `correct_goodput` as: items with `pass` and
    /// `within_latency_target` (E2E present and ≤ target, or no target) per second of the
    /// items' summed E2E. The same figure, through this module.
    #[test]
    fn tool_call_correct_goodput_is_this_goodput() {
        // (pass, e2e_ms) per item.
        let items = [
            (true, Some(900.0)),
            (true, Some(1500.0)),
            (false, Some(300.0)),
            (true, None),
            (true, Some(1000.0)),
        ];
        for target in [Some(1000.0), None] {
            let busy_s: f64 = items.iter().filter_map(|i| i.1).sum::<f64>() / 1000.0;
            let tool_good = items
                .iter()
                .filter(|(pass, e2e)| {
                    let within = target.map(|t| e2e.is_some_and(|e| e <= t));
                    *pass && within.unwrap_or(true)
                })
                .count();
            let slo = Slo {
                e2e_ms: target,
                ..Slo::default()
            };
            let outcomes: Vec<Outcome> = items
                .iter()
                .map(|&(pass, e2e_ms)| Outcome {
                    ok: pass,
                    e2e_ms,
                    ..Outcome::default()
                })
                .collect();
            let g = goodput(&slo, &outcomes, busy_s);
            assert_eq!(
                g.per_second,
                Some(tool_good as f64 / busy_s),
                "target {target:?}"
            );
        }
    }
}
