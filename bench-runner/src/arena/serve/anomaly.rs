//! The voters' anomaly report of `arena rate`: from the votes files the vote page writes
//! beside its battles (`battles.votes.csv`, see [`super::record`]), votes per voter, voters
//! who vote implausibly fast, and voters who pick one side far more often than chance; the
//! battles of flagged voters can be left out of the rating (`--exclude-flagged`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use super::record::{self, VoteRecord};
use crate::arena::battles::{BattleRow, Battles, ReadOptions, Winner, read_rows};
use crate::error::Result;

/// A voter is judged on at least this many votes (speed) or decisive votes (side).
pub const MIN_VOTES_TO_JUDGE: u64 = 10;
/// Flag: the median time on a battle is below this (reading two answers takes longer).
pub const FAST_MEDIAN_S: f64 = 5.0;
/// Flag: the side test's p-value is below this divided by the number of voters tested
/// (Bonferroni: the chance that any honest voter is flagged stays below it).
pub const SIDE_ALPHA: f64 = 0.01;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VoterLine {
    /// The salted hash the vote page wrote.
    pub voter: String,
    pub votes: u64,
    pub median_read_s: f64,
    /// Votes for the left answer (A) and for the right one (B).
    pub left: u64,
    pub right: u64,
    /// Two-sided exact binomial test of left vs right at ½.
    pub side_p: f64,
    /// Votes on a prompt and pair this voter had already voted on.
    pub repeats: u64,
    pub why: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Anomalies {
    pub votes_files: Vec<String>,
    pub voters: usize,
    /// Battles with a voter record, and without one (judge models, older votes), in the
    /// battles files that have a votes file.
    pub with_voter: u64,
    pub without_voter: u64,
    pub max_votes_per_voter: u64,
    pub p99_votes_per_voter: u64,
    pub rules: String,
    /// Flagged voters, most votes first.
    pub flagged: Vec<VoterLine>,
    /// With `--exclude-flagged`: the battles left out and every model's rating with them
    /// kept (the raw rating), beside the table's rating without them.
    pub excluded_battles: Option<u64>,
    pub raw_ratings: Vec<(String, f64)>,
}

/// Battles read whole, and the battle ids of flagged voters.
pub struct Report {
    pub anomalies: Anomalies,
    pub rows: Vec<BattleRow>,
    pub flagged_battles: HashSet<String>,
}

/// log of the binomial coefficient via a running product: exact enough for p-values.
fn side_p(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let m = k.min(n - k);
    // P(X ≤ m) for X ~ Bin(n, ½), summed in log space from ln C(n, 0) = 0.
    let mut ln_c = 0.0f64;
    let base = -(n as f64) * std::f64::consts::LN_2;
    let mut tail = 0.0;
    for i in 0..=m {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c + base).exp();
    }
    (2.0 * tail).min(1.0)
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2] as f64,
        n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
    }
}

/// Nearest-rank percentile of sorted counts.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The report over the inputs that have a votes file beside them, or None when none has.
/// `every_row`: [`Report::rows`] also holds the other inputs' battles (for
/// `--exclude-flagged`, which then needs every input in edgebench's battles format).
pub fn analyse(inputs: &[PathBuf], every_row: bool) -> Result<Option<Report>> {
    let mut votes: HashMap<String, VoteRecord> = HashMap::new();
    let mut files = Vec::new();
    let mut voted_inputs = Vec::new();
    for p in inputs {
        let v = record::votes_path(p);
        if v.is_file() {
            voted_inputs.push(p);
            files.push(v.display().to_string());
            votes.extend(
                record::read(&v)?
                    .into_iter()
                    .map(|r| (r.battle_id.clone(), r)),
            );
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut rows = Vec::new();
    for p in &voted_inputs {
        rows.extend(read_rows(p)?);
    }
    struct Acc {
        read_ms: Vec<u64>,
        left: u64,
        right: u64,
        seen: HashSet<(String, String, String)>,
        repeats: u64,
        battles: Vec<String>,
    }
    let mut per: HashMap<&str, Acc> = HashMap::new();
    let mut without = 0u64;
    for r in &rows {
        let Some(v) = votes.get(&r.battle_id) else {
            without += 1;
            continue;
        };
        let acc = per.entry(v.voter.as_str()).or_insert_with(|| Acc {
            read_ms: Vec::new(),
            left: 0,
            right: 0,
            seen: HashSet::new(),
            repeats: 0,
            battles: Vec::new(),
        });
        acc.read_ms.push(v.read_ms);
        match Winner::parse(&r.winner) {
            Some(Winner::A) => acc.left += 1,
            Some(Winner::B) => acc.right += 1,
            _ => {}
        }
        let (x, y) = if r.model_a <= r.model_b {
            (&r.model_a, &r.model_b)
        } else {
            (&r.model_b, &r.model_a)
        };
        if !acc.seen.insert((r.prompt_id.clone(), x.clone(), y.clone())) {
            acc.repeats += 1;
        }
        acc.battles.push(r.battle_id.clone());
    }
    let tested = per
        .values()
        .filter(|a| a.left + a.right >= MIN_VOTES_TO_JUDGE)
        .count()
        .max(1);
    let side_bound = SIDE_ALPHA / tested as f64;
    let mut counts: Vec<u64> = per.values().map(|a| a.read_ms.len() as u64).collect();
    counts.sort_unstable();
    let mut flagged = Vec::new();
    let mut flagged_battles = HashSet::new();
    for (voter, mut acc) in per {
        let n = acc.read_ms.len() as u64;
        let med_s = median(&mut acc.read_ms) / 1000.0;
        let p = side_p(acc.left, acc.left + acc.right);
        let mut why = Vec::new();
        if n >= MIN_VOTES_TO_JUDGE && med_s < FAST_MEDIAN_S {
            why.push(format!("fast: median {med_s:.1} s on a battle"));
        }
        if acc.left + acc.right >= MIN_VOTES_TO_JUDGE && p < side_bound {
            let side = if acc.left > acc.right {
                "left (A)"
            } else {
                "right (B)"
            };
            why.push(format!(
                "side: {} of {} decisive votes for the {side} answer, p = {p:.1e}",
                acc.left.max(acc.right),
                acc.left + acc.right
            ));
        }
        if why.is_empty() {
            continue;
        }
        flagged_battles.extend(acc.battles);
        flagged.push(VoterLine {
            voter: voter.to_string(),
            votes: n,
            median_read_s: med_s,
            left: acc.left,
            right: acc.right,
            side_p: p,
            repeats: acc.repeats,
            why,
        });
    }
    flagged.sort_by(|a, b| b.votes.cmp(&a.votes).then_with(|| a.voter.cmp(&b.voter)));
    let anomalies = Anomalies {
        votes_files: files,
        voters: counts.len(),
        with_voter: rows.len() as u64 - without,
        without_voter: without,
        max_votes_per_voter: counts.last().copied().unwrap_or(0),
        p99_votes_per_voter: percentile(&counts, 0.99),
        rules: format!(
            "a voter with at least {MIN_VOTES_TO_JUDGE} votes is flagged when the median time on a battle is under {FAST_MEDIAN_S} s, or when left against right (decisive votes) fails an exact two-sided binomial test at ½ with p < {SIDE_ALPHA} / {tested} voters tested (Bonferroni)"
        ),
        flagged,
        excluded_battles: None,
        raw_ratings: Vec::new(),
    };
    if every_row {
        for p in inputs.iter().filter(|p| !voted_inputs.contains(p)) {
            rows.extend(read_rows(p)?);
        }
    }
    Ok(Some(Report {
        anomalies,
        rows,
        flagged_battles,
    }))
}

impl Report {
    /// The battles without flagged voters', filtered as the reader filters (`opts`).
    pub fn without_flagged(&self, opts: &ReadOptions) -> Result<Battles> {
        let listed = |m: &str| opts.models.is_empty() || opts.models.iter().any(|x| x == m);
        let kept: Vec<BattleRow> = self
            .rows
            .iter()
            .filter(|r| !self.flagged_battles.contains(&r.battle_id))
            .filter(|r| opts.judges.is_empty() || opts.judges.contains(&r.judge))
            .filter(|r| listed(&r.model_a) && listed(&r.model_b))
            .cloned()
            .collect();
        Battles::from_rows(&kept, opts.want_style)
    }

    /// The anomalies, saying that the rating left out the flagged voters' battles and what
    /// each model's rating was with them (`raw`: model and rating).
    pub fn excluded(&self, raw: Vec<(String, f64)>) -> Anomalies {
        let mut a = self.anomalies.clone();
        a.excluded_battles = Some(self.flagged_battles.len() as u64);
        a.raw_ratings = raw;
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_side_test() {
        assert!((side_p(5, 10) - 1.0).abs() < 1e-12);
        // P(X ≤ 0) for n = 10 is 1/1024; two-sided doubles it.
        assert!((side_p(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        assert!((side_p(10, 10) - 2.0 / 1024.0).abs() < 1e-12);
        // P(X ≤ 2) for n = 10: (1 + 10 + 45) / 1024.
        assert!((side_p(8, 10) - 2.0 * 56.0 / 1024.0).abs() < 1e-12);
        assert!(side_p(150, 150) < 1e-40);
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(median(&mut [3, 1, 2]), 2.0);
        assert_eq!(median(&mut [4, 1, 2, 3]), 2.5);
    }
}
