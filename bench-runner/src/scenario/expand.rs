//! Expands a scenario's grid into cases: the cartesian product, in file order.

use super::{Sampling, Scenario, ScenarioBody};

/// One point of a scenario's grid, run `repetitions × concurrency` times on each backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Stable, human-readable id, unique within the scenario: `pp512_tg128_c1`.
    pub id: String,
    pub scenario: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub concurrency: u32,
    pub warmup: u32,
    pub repetitions: u32,
    pub seed: u64,
    pub sampling: Sampling,
    /// Sustained case: streams send back to back for this many seconds (see `Throughput`).
    pub duration_s: Option<f64>,
}

impl Case {
    /// Measured requests in this case: each of the `concurrency` streams makes `repetitions`
    /// (a sustained case makes as many as fit its duration; counted as 0 here).
    pub fn requests(&self) -> u32 {
        if self.duration_s.is_some() { 0 } else { self.repetitions * self.concurrency }
    }
}

pub(super) fn expand(s: &Scenario) -> Vec<Case> {
    match &s.body {
        ScenarioBody::Throughput(t) => {
            let mut cases = Vec::new();
            for &p in &t.prompt_tokens {
                for &g in &t.max_tokens {
                    for &c in &t.concurrency {
                        cases.push(Case {
                            id: match t.duration_s {
                                None => format!("pp{p}_tg{g}_c{c}"),
                                Some(d) => format!("pp{p}_tg{g}_c{c}_{}s", d.round()),
                            },
                            scenario: s.name.clone(),
                            prompt_tokens: p,
                            max_tokens: g,
                            concurrency: c,
                            warmup: t.warmup,
                            repetitions: t.repetitions,
                            seed: t.seed,
                            sampling: t.sampling.clone(),
                            duration_s: t.duration_s,
                        });
                    }
                }
            }
            cases
        }
        ScenarioBody::Context(_) => Vec::new(),
        // Tool calls: mode × depth; `prompt_tokens` holds the depth, `repetitions` the items.
        ScenarioBody::ToolCalls(t) => {
            let mut cases = Vec::new();
            for &mode in &t.modes {
                for &d in &t.depths {
                    cases.push(Case {
                        id: format!("{}_d{d}", mode.as_str()),
                        scenario: s.name.clone(),
                        prompt_tokens: d,
                        max_tokens: t.max_tokens,
                        concurrency: 1,
                        warmup: 0,
                        repetitions: t.items.len() as u32,
                        seed: t.seed,
                        sampling: t.sampling.clone(),
                        duration_s: None,
                    });
                }
            }
            cases
        }
        ScenarioBody::Structured(t) => {
            let ids: &[&str] = if t.compare_unconstrained { &["constrained", "unconstrained"] } else { &["constrained"] };
            ids.iter()
                .map(|id| Case {
                    id: (*id).to_string(),
                    scenario: s.name.clone(),
                    prompt_tokens: 0,
                    max_tokens: t.max_tokens,
                    concurrency: 1,
                    warmup: 0,
                    repetitions: t.items.len() as u32,
                    seed: t.seed,
                    sampling: t.sampling.clone(),
                    duration_s: None,
                })
                .collect()
        }
    }
}
