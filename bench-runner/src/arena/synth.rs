//! Synthetic battles from known strengths, for the benchmark, demos and tests:
//! model m has θₘ drawn uniformly from [−1.5, 1.5] (seeded); each battle picks two distinct
//! models uniformly; A wins with probability σ(θ_A − θ_B) − t/2, it is a tie with probability
//! t = `tie_rate` (one in five ties is `tie (bothbad)`), else B wins. So E[y] = σ(θ_A − θ_B)
//! with ties as y = ½, exactly the Bradley-Terry model the fit assumes (while σ ≥ t/2).

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::battles::{BATTLE_COLUMNS, BattleRow, Winner};
use crate::error::{Error, Result};

pub struct Synth {
    pub models: Vec<String>,
    pub theta: Vec<f64>,
}

impl Synth {
    pub fn new(models: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let theta = (0..models).map(|_| rng.random_range(-1.5..1.5)).collect();
        Synth {
            models: (0..models).map(|m| format!("model-{m:02}")).collect(),
            theta,
        }
    }

    /// Calls `f` for each battle (a, b, winner) in order.
    pub fn battles(
        &self,
        n: usize,
        tie_rate: f64,
        seed: u64,
        mut f: impl FnMut(usize, usize, usize, Winner),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_ba77);
        let k = self.models.len();
        for i in 0..n {
            let a = rng.random_range(0..k);
            let mut b = rng.random_range(0..k - 1);
            if b >= a {
                b += 1;
            }
            // Ties count y = ½ in the fit, so they are drawn to keep E[y] = σ(θ_A − θ_B): A wins
            // with probability σ − t/2, a tie with t, B wins with the rest.
            let p = 1.0 / (1.0 + (self.theta[b] - self.theta[a]).exp());
            let p_a = (p - tie_rate / 2.0).clamp(0.0, 1.0 - tie_rate);
            let u = rng.random::<f64>();
            let w = if u < p_a {
                Winner::A
            } else if u < p_a + tie_rate {
                if rng.random::<f64>() < 0.2 {
                    Winner::BothBad
                } else {
                    Winner::Tie
                }
            } else {
                Winner::B
            };
            f(i, a, b, w);
        }
    }

    pub fn rows(&self, n: usize, tie_rate: f64, seed: u64) -> Vec<BattleRow> {
        let mut v = Vec::with_capacity(n);
        self.battles(n, tie_rate, seed, |i, a, b, w| {
            v.push(BattleRow {
                battle_id: format!("s{i}"),
                model_a: self.models[a].clone(),
                model_b: self.models[b].clone(),
                winner: w.as_str().into(),
                judge: "synthetic".into(),
                prompt_id: format!("p{}", i % 500),
                turn: 1,
                tstamp: i as f64,
                ..Default::default()
            })
        });
        v
    }

    /// Writes a battles.csv quickly (a million rows in about a second).
    pub fn write_csv(&self, path: &Path, n: usize, tie_rate: f64, seed: u64) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::write(path, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut res = writeln!(w, "{}", BATTLE_COLUMNS.join(","));
        self.battles(n, tie_rate, seed, |i, a, b, win| {
            if res.is_ok() {
                res = writeln!(
                    w,
                    "s{i},{},{},{},synthetic,p{},1,{i},,,,,,,,,",
                    self.models[a],
                    self.models[b],
                    win.as_str(),
                    i % 500
                );
            }
        });
        res.and_then(|_| w.flush())
            .map_err(|e| Error::write(path, e))
    }
}
