//! The sweep planner (`mode = "sweep"`): which offered rates to run, in what order, to find
//! the **maximum sustainable rate** — the highest request rate at which at least `target` of
//! the requests are good under the SLO (see `slo.rs`) — to a stated relative tolerance.
//!
//! It is pure: the runner asks `next_rate()`, runs a case at that offered rate, gives the
//! result to `record()`, and repeats until `next_rate()` says `None`; `answer()` is then the
//! interval `[last pass, first fail]`. The steps, after the runner's two bounding runs (one
//! request at a time, which gives `sync_rate` and its SLO counts; as many in flight as the
//! server takes, which gives the saturated throughput `saturated_rate`):
//!
//! 1. **Grid** (GuideLLM's sweep): `grid` rates evenly spaced above the synchronous rate up to
//!    the saturated one, `sync + (sat − sync)·i/grid` for i = 1..=grid. They draw the
//!    throughput–latency curve whatever the answer.
//! 2. **Bisection** between the highest passing rate and the lowest failing one above it, at
//!    their geometric mean (relative tolerance is a distance in log-rate), until
//!    `first_fail / last_pass ≤ 1 + tolerance`.
//! 3. **Confirmation**: the rate about to be claimed is measured a second time; the claim
//!    stands only if the two runs together still meet the target, else bisection goes on
//!    below it.
//!
//! A run passes when its share of good requests is ≥ `target`; a rate passes when most of its
//! runs passed (a tie fails). Most runs, not pooled counts: one run that collapsed (a stall,
//! a hiccup of the machine) would sink a pooled share however many good runs followed it.
//!
//! **Noise.** Measured shares are noisy, so the results need not be monotone in the rate.
//! The lowest failing rate bounds the answer from above: a pass observed above a fail is
//! treated as noise, never as evidence that the higher rate is sustainable. Because one
//! unlucky run at a low rate would then cap the answer, a fail that has a pass above it is
//! measured again (up to `max_repeats` runs in all, majority decides) before it is believed;
//! and a lucky pass is caught by the confirmation (one pass and one fail is a tie, which
//! fails). What remains can only make the answer lower than the truth (an unlucky midpoint
//! failing once), never claim a rate that did not pass most of its runs.
//! `max_runs` bounds the whole sweep; an answer cut short says `converged = false`.

/// What the planner is asked to find, and how hard it may try.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepConfig {
    /// Rates in the grid (`sweep_rates`), ≥ 1.
    pub grid: u32,
    /// Share of good requests a sustainable rate must reach (`slo_target`), in (0, 1].
    pub target: f64,
    /// Stop when `first_fail / last_pass ≤ 1 + tolerance` (`tolerance`), in (0, 1).
    pub tolerance: f64,
    /// Most runs of one rate when its fail sits below a pass, ≥ 1 (odd avoids ties).
    pub max_repeats: u32,
    /// Most runs in the whole sweep, the bounding runs' synchronous record included.
    pub max_runs: u32,
}

impl SweepConfig {
    /// The scenario's keys with the defaults for the rest: 3 runs per disputed rate, and room
    /// for the grid plus 20 more runs (bisection of a 100× range to 5% takes about 7).
    pub fn new(grid: u32, target: f64, tolerance: f64) -> Self {
        SweepConfig {
            grid,
            target,
            tolerance,
            max_repeats: 3,
            max_runs: grid + 21,
        }
    }
}

/// One rate and what its runs gave, summed over its runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateResult {
    pub rate: f64,
    pub good: usize,
    pub requests: usize,
    pub runs: u32,
    /// Runs whose own share met the target.
    pub passed_runs: u32,
}

impl RateResult {
    /// Whether most of the runs passed (a tie fails).
    pub fn passes(&self) -> bool {
        2 * self.passed_runs > self.runs
    }

    /// good ÷ requests over all runs; 0 for a rate whose runs made no request at all.
    pub fn share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.good as f64 / self.requests as f64
        }
    }
}

/// The interval the sweep found; see the module comment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// The highest rate that met the target (the maximum sustainable rate, conservatively);
    /// `None` when no rate did, not even one request at a time.
    pub last_pass: Option<RateResult>,
    /// The lowest rate that missed it; `None` when none did: the SLO held up to the server's
    /// saturated throughput, which no offered rate can exceed for long.
    pub first_fail: Option<RateResult>,
    /// The planner has nothing left to run (not stopped by `max_runs`).
    pub converged: bool,
    pub runs: u32,
}

/// Why a sweep cannot be planned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("the synchronous rate must be a positive, finite number of requests/s, not {0}")]
    SyncRate(f64),
    #[error("the saturated rate must be a finite number ≥ 0 requests/s, not {0}")]
    SaturatedRate(f64),
    #[error("{0}")]
    Config(String),
}

#[derive(Debug, Clone)]
pub struct Sweep {
    cfg: SweepConfig,
    grid: Vec<f64>,
    records: Vec<RateResult>,
}

impl Sweep {
    /// A plan from the bounding runs: the synchronous run's achieved rate and SLO counts, and
    /// the saturated run's achieved rate. A server that is no faster saturated than
    /// synchronous has no range to sweep: the answer then rests on the synchronous run.
    pub fn new(
        cfg: SweepConfig,
        sync_rate: f64,
        sync_good: usize,
        sync_requests: usize,
        saturated_rate: f64,
    ) -> Result<Self, SweepError> {
        if !(sync_rate.is_finite() && sync_rate > 0.0) {
            return Err(SweepError::SyncRate(sync_rate));
        }
        if !(saturated_rate.is_finite() && saturated_rate >= 0.0) {
            return Err(SweepError::SaturatedRate(saturated_rate));
        }
        if cfg.grid == 0 || cfg.max_repeats == 0 {
            return Err(SweepError::Config(
                "the grid and the repeats need at least one run".into(),
            ));
        }
        if !(cfg.target > 0.0 && cfg.target <= 1.0) {
            return Err(SweepError::Config(format!(
                "the target share is {}; expected a share in (0, 1]",
                cfg.target
            )));
        }
        if !(cfg.tolerance > 0.0 && cfg.tolerance < 1.0) {
            return Err(SweepError::Config(format!(
                "the tolerance is {}; expected a fraction in (0, 1)",
                cfg.tolerance
            )));
        }
        let grid = if saturated_rate > sync_rate * (1.0 + cfg.tolerance) {
            (1..=cfg.grid)
                .map(|i| {
                    sync_rate + (saturated_rate - sync_rate) * f64::from(i) / f64::from(cfg.grid)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut s = Sweep {
            cfg,
            grid,
            records: Vec::new(),
        };
        s.record(sync_rate, sync_good, sync_requests);
        Ok(s)
    }

    /// The grid rates (step 1), for charts and progress lines.
    pub fn grid(&self) -> &[f64] {
        &self.grid
    }

    /// Records a run at `rate` (normally one `next_rate` gave): `good` of `requests` were good.
    /// A run without requests fails.
    pub fn record(&mut self, rate: f64, good: usize, requests: usize) {
        let good = good.min(requests);
        let passed = requests > 0 && good as f64 / requests as f64 >= self.cfg.target;
        self.records.push(RateResult {
            rate,
            good,
            requests,
            runs: 1,
            passed_runs: u32::from(passed),
        });
    }

    /// Every rate run so far, ascending, its runs pooled.
    pub fn results(&self) -> Vec<RateResult> {
        let mut out: Vec<RateResult> = Vec::new();
        let mut sorted = self.records.clone();
        sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        for r in sorted {
            match out.last_mut() {
                Some(last) if same_rate(last.rate, r.rate) => {
                    last.good += r.good;
                    last.requests += r.requests;
                    last.runs += 1;
                    last.passed_runs += r.passed_runs;
                }
                _ => out.push(r),
            }
        }
        out
    }

    /// The next offered rate to run, or `None` when the answer is settled (or `max_runs` is
    /// spent). Asking twice without a `record` between gives the same rate.
    pub fn next_rate(&self) -> Option<f64> {
        if self.records.len() as u32 >= self.cfg.max_runs {
            return None;
        }
        self.plan()
    }

    /// `next_rate` without the `max_runs` budget.
    fn plan(&self) -> Option<f64> {
        // 1. The grid, in ascending order.
        if let Some(&r) = self
            .grid
            .iter()
            .find(|&&g| !self.records.iter().any(|x| same_rate(x.rate, g)))
        {
            return Some(r);
        }
        let results = self.results();
        let (lo, hi) = Self::bracket(&results);
        // A fail with a pass above it: measure it again before it caps the answer.
        if let Some(h) = hi
            && results[h + 1..].iter().any(RateResult::passes)
            && results[h].runs < self.cfg.max_repeats
        {
            return Some(results[h].rate);
        }
        // 2. Bisection in log-rate.
        if let (Some(l), Some(h)) = (lo, hi)
            && results[h].rate / results[l].rate > 1.0 + self.cfg.tolerance
        {
            return Some((results[l].rate * results[h].rate).sqrt());
        }
        // 3. Confirm the rate about to be claimed.
        if let Some(l) = lo
            && results[l].runs < 2
        {
            return Some(results[l].rate);
        }
        None
    }

    /// The interval as it stands; final once `next_rate()` is `None`.
    pub fn answer(&self) -> Answer {
        let results = self.results();
        let (lo, hi) = Self::bracket(&results);
        Answer {
            last_pass: lo.map(|i| results[i]),
            first_fail: hi.map(|i| results[i]),
            converged: self.plan().is_none(),
            runs: self.records.len() as u32,
        }
    }

    /// (highest passing rate below the lowest failing one, lowest failing rate), as indices
    /// into `results`.
    fn bracket(results: &[RateResult]) -> (Option<usize>, Option<usize>) {
        let hi = results.iter().position(|r| !r.passes());
        let below = hi.unwrap_or(results.len());
        let lo = results[..below].iter().rposition(RateResult::passes);
        (lo, hi)
    }
}

/// Rates given back by the runner are the ones `next_rate` gave; allow float round trips.
fn same_rate(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const N: usize = 200;

    /// Runs a sweep to its end against `share_at`, which gives the good count of a run of N
    /// requests at a rate (and may be noisy, through its own state).
    fn drive(sweep: &mut Sweep, mut good_at: impl FnMut(f64) -> usize) -> Answer {
        let mut steps = 0;
        while let Some(r) = sweep.next_rate() {
            assert_eq!(sweep.next_rate(), Some(r), "asking must not advance");
            sweep.record(r, good_at(r), N);
            steps += 1;
            assert!(steps <= 100, "the sweep must end");
        }
        sweep.answer()
    }

    fn cfg() -> SweepConfig {
        SweepConfig::new(5, 0.95, 0.05)
    }

    /// Every rate at or below `knee` is good, every one above bad.
    fn step(knee: f64) -> impl FnMut(f64) -> usize {
        move |r| if r <= knee { N } else { N / 2 }
    }

    fn check_consistent(sweep: &Sweep, a: &Answer) {
        let (lo, hi) = (a.last_pass.unwrap().rate, a.first_fail.unwrap().rate);
        for r in sweep.results() {
            // Monotone consistency: everything up to the claim passed, the bound above failed.
            if r.rate <= lo {
                assert!(r.passes(), "{r:?} at or below the answer failed");
            }
            if same_rate(r.rate, hi) {
                assert!(!r.passes(), "{r:?}");
            }
        }
    }

    #[test]
    fn a_monotone_server_is_bracketed_within_the_tolerance() {
        for knee in [1.3, 4.0, 9.7] {
            let mut s = Sweep::new(cfg(), 1.0, N, N, 10.0).unwrap();
            assert_eq!(s.grid(), [2.8, 4.6, 6.4, 8.2, 10.0]);
            let a = drive(&mut s, step(knee));
            let (lo, hi) = (a.last_pass.unwrap().rate, a.first_fail.unwrap().rate);
            assert!(lo <= knee && knee < hi, "knee {knee}: [{lo}, {hi}]");
            assert!(hi / lo <= 1.05, "knee {knee}: [{lo}, {hi}]");
            assert!(a.converged);
            assert_eq!(a.last_pass.unwrap().runs, 2, "the claim is confirmed");
            check_consistent(&s, &a);
        }
    }

    #[test]
    fn all_pass_means_the_slo_held_to_saturation() {
        let mut s = Sweep::new(cfg(), 1.0, N, N, 10.0).unwrap();
        let a = drive(&mut s, |_| N);
        assert_eq!(a.last_pass.unwrap().rate, 10.0);
        assert_eq!(a.first_fail, None);
        assert!(a.converged);
        assert_eq!(a.runs, 1 + 5 + 1, "sync, the grid, one confirmation");
    }

    #[test]
    fn none_pass_means_not_even_one_at_a_time() {
        let mut s = Sweep::new(cfg(), 1.0, 0, N, 10.0).unwrap();
        let a = drive(&mut s, |_| 0);
        assert_eq!(a.last_pass, None);
        assert_eq!(a.first_fail.unwrap().rate, 1.0);
        assert!(a.converged);
        assert_eq!(
            a.runs,
            1 + 5,
            "the grid still draws the curve; nothing to bisect"
        );
    }

    #[test]
    fn no_range_rests_on_the_synchronous_run() {
        let mut s = Sweep::new(cfg(), 2.0, N, N, 2.05).unwrap();
        assert!(s.grid().is_empty());
        let a = drive(&mut s, |_| N);
        assert_eq!(a.last_pass.unwrap().rate, 2.0);
        assert_eq!((a.first_fail, a.runs), (None, 2));
    }

    #[test]
    fn one_unlucky_run_below_the_knee_does_not_cap_the_answer() {
        // The knee is at 7; the first run at 4.6 fails by bad luck, later ones pass.
        let mut s = Sweep::new(cfg(), 1.0, N, N, 10.0).unwrap();
        let mut flaked = false;
        let mut good = step(7.0);
        let a = drive(&mut s, |r| {
            if same_rate(r, 4.6) && !flaked {
                flaked = true;
                return N / 2;
            }
            good(r)
        });
        let (lo, hi) = (a.last_pass.unwrap().rate, a.first_fail.unwrap().rate);
        assert!(lo <= 7.0 && 7.0 < hi && hi / lo <= 1.05, "[{lo}, {hi}]");
        // 4.6 was run again: one fail and one pass is a tie, so it ran a third time.
        let r46 = s
            .results()
            .into_iter()
            .find(|r| same_rate(r.rate, 4.6))
            .unwrap();
        assert_eq!((r46.runs, r46.passed_runs), (3, 2), "{r46:?}");
    }

    #[test]
    fn a_lucky_pass_above_the_knee_is_not_claimed() {
        // The knee is at 5; the first run at 6.4 passes by luck, the confirmation fails.
        let mut s = Sweep::new(cfg(), 1.0, N, N, 10.0).unwrap();
        let mut lucky = false;
        let mut good = step(5.0);
        let a = drive(&mut s, |r| {
            if same_rate(r, 6.4) && !lucky {
                lucky = true;
                return N;
            }
            good(r)
        });
        let (lo, hi) = (a.last_pass.unwrap().rate, a.first_fail.unwrap().rate);
        assert!(lo <= 5.0 && hi / lo <= 1.05, "[{lo}, {hi}]");
        assert!(hi <= 6.4, "[{lo}, {hi}]");
    }

    #[test]
    fn a_noisy_server_is_bracketed_near_its_knee() {
        // The share falls smoothly through the target, at 5.62 req/s; each run draws N requests.
        let p = |r: f64| 1.0 / (1.0 + ((r - 6.6) * 3.0).exp());
        let knee = 6.6 - (1.0f64 / 0.95 - 1.0).ln().abs() / 3.0;
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut s = Sweep::new(cfg(), 1.0, N, N, 10.0).unwrap();
            let a = drive(&mut s, |r| (0..N).filter(|_| rng.random_bool(p(r))).count());
            let (lo, hi) = (
                a.last_pass.map_or(0.0, |x| x.rate),
                a.first_fail.map_or(f64::INFINITY, |x| x.rate),
            );
            assert!(a.converged, "seed {seed}: {a:?}");
            // Loose: noise of a 200-request share near 0.95 is ±0.03, i.e. about ±0.25 req/s.
            assert!(
                lo > knee * 0.9 && lo <= knee * 1.05,
                "seed {seed}: knee {knee}, [{lo}, {hi}]"
            );
            assert!(hi / lo <= 1.05 + 1e-9, "seed {seed}: [{lo}, {hi}]");
            check_consistent(&s, &a);
        }
    }

    #[test]
    fn the_sweep_stops_at_max_runs_and_says_so() {
        let c = SweepConfig {
            max_runs: 4,
            ..cfg()
        };
        let mut s = Sweep::new(c, 1.0, N, N, 10.0).unwrap();
        let a = drive(&mut s, step(4.0));
        assert_eq!(a.runs, 4);
        assert!(!a.converged);
        assert_eq!(a.last_pass.unwrap().rate, s.grid()[0]);
    }

    #[test]
    fn impossible_plans_are_errors() {
        assert_eq!(
            Sweep::new(cfg(), 0.0, 1, 1, 5.0).unwrap_err(),
            SweepError::SyncRate(0.0)
        );
        assert!(Sweep::new(cfg(), 1.0, 1, 1, f64::NAN).is_err());
        assert!(Sweep::new(SweepConfig::new(0, 0.95, 0.05), 1.0, 1, 1, 5.0).is_err());
        assert!(Sweep::new(SweepConfig::new(3, 1.5, 0.05), 1.0, 1, 1, 5.0).is_err());
        assert!(Sweep::new(SweepConfig::new(3, 0.9, 0.0), 1.0, 1, 1, 5.0).is_err());
    }
}
