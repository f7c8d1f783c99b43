//! One model's line of the leaderboard: what `rate` produces and `speed` joins to measured
//! speed (its own file so that neither has to import the other).

use serde::Serialize;

/// One model's line of the leaderboard. Column meanings are in docs/arena.md.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub rank_ub: usize,
    pub rank_worst: usize,
    pub model: String,
    pub rating: f64,
    /// The displayed 95% interval (bootstrap unless `--intervals sandwich`).
    pub ci_low: f64,
    pub ci_high: f64,
    pub bootstrap_low: Option<f64>,
    pub bootstrap_high: Option<f64>,
    pub sandwich_low: Option<f64>,
    pub sandwich_high: Option<f64>,
    pub votes: u64,
    pub wins: u64,
    pub ties: u64,
    pub losses: u64,
    pub win_rate: f64,
    pub provisional: bool,
    pub online_elo: f64,
    pub style_rating: Option<f64>,
    pub style_rank_ub: Option<usize>,
    pub style_rank_worst: Option<usize>,
}

impl Row {
    pub fn rank_spread(&self) -> String {
        if self.rank_ub == self.rank_worst {
            self.rank_ub.to_string()
        } else {
            format!("{}–{}", self.rank_ub, self.rank_worst)
        }
    }
}
