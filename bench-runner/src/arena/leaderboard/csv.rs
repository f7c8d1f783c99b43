//! `leaderboard.csv` (one row per model, full precision), `quality_speed.csv` (one row per
//! device × model) and `judges.csv` (one row per judge). Columns are documented in docs/arena.md.

use serde::Serialize;

use crate::arena::rate::Leaderboard;
use crate::error::{Cause, Error, Result};

/// The leaderboard row as written: `Row` plus the rank spread as text.
#[derive(Serialize)]
struct CsvRow<'a> {
    rank_ub: usize,
    rank_worst: usize,
    rank_spread: String,
    model: &'a str,
    rating: f64,
    ci_low: f64,
    ci_high: f64,
    bootstrap_low: Option<f64>,
    bootstrap_high: Option<f64>,
    sandwich_low: Option<f64>,
    sandwich_high: Option<f64>,
    votes: u64,
    wins: u64,
    ties: u64,
    losses: u64,
    win_rate: f64,
    provisional: bool,
    online_elo: f64,
    style_rating: Option<f64>,
    style_rank_ub: Option<usize>,
    style_rank_worst: Option<usize>,
}

pub const LEADERBOARD_COLUMNS: &[&str] = &[
    "rank_ub",
    "rank_worst",
    "rank_spread",
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "bootstrap_low",
    "bootstrap_high",
    "sandwich_low",
    "sandwich_high",
    "votes",
    "wins",
    "ties",
    "losses",
    "win_rate",
    "provisional",
    "online_elo",
    "style_rating",
    "style_rank_ub",
    "style_rank_worst",
];

fn err(e: impl Into<Cause>) -> Error {
    Error::write("leaderboard.csv", e)
}

pub fn leaderboard(lb: &Leaderboard) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &lb.rows {
        w.serialize(CsvRow {
            rank_ub: r.rank_ub,
            rank_worst: r.rank_worst,
            rank_spread: format!("{}-{}", r.rank_ub, r.rank_worst),
            model: &r.model,
            rating: r.rating,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            bootstrap_low: r.bootstrap_low,
            bootstrap_high: r.bootstrap_high,
            sandwich_low: r.sandwich_low,
            sandwich_high: r.sandwich_high,
            votes: r.votes,
            wins: r.wins,
            ties: r.ties,
            losses: r.losses,
            win_rate: r.win_rate,
            provisional: r.provisional,
            online_elo: r.online_elo,
            style_rating: r.style_rating,
            style_rank_ub: r.style_rank_ub,
            style_rank_worst: r.style_rank_worst,
        })
        .map_err(err)?;
    }
    if lb.rows.is_empty() {
        w.write_record(LEADERBOARD_COLUMNS).map_err(err)?;
    }
    w.into_inner().map_err(|e| err(e.into_error()))
}

pub fn quality_speed(lb: &Leaderboard) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &lb.speed {
        w.serialize(r).map_err(err)?;
    }
    w.into_inner().map_err(|e| err(e.into_error()))
}

/// Every judge with its battle count, most battles first: `judge`, `battles`.
pub fn judges(lb: &Leaderboard) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["judge", "battles"]).map_err(err)?;
    for j in &lb.judges {
        w.write_record([j.judge.as_str(), &j.battles.to_string()])
            .map_err(err)?;
    }
    w.into_inner().map_err(|e| err(e.into_error()))
}
