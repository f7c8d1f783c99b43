//! Arena-style rankings: pairwise battles (from a judge model, from people on a vote page, or
//! imported from FastChat) turned into a Bradley-Terry leaderboard with honest intervals,
//! next to measured speed per device.
//!
//! battles.csv ──read──▶ pair counts ──Newton──▶ θ̂ ──bootstrap/sandwich──▶ intervals, ranks
//! ──▶ leaderboard.{csv,md,html} (+ quality × speed, Pareto charts per device)

pub mod answers;
pub mod battles;
pub mod bootstrap;
pub mod bradley_terry;
pub mod elo;
pub mod import;
pub mod judge;
pub mod leaderboard;
pub mod linalg;
pub mod logistic;
pub mod pareto;
pub mod rate;
pub mod row;
pub mod serve;
pub mod speed;
pub mod style;
pub mod synth;

pub use battles::{BattleRow, Battles, Winner};
pub use rate::{Leaderboard, RateOptions, rate};
