//! Expands a scenario's grid into cases: the cartesian product, in file order.

use super::batched::Batched;
use super::{PpTg, Sampling, Scenario, ScenarioBody, Throughput};
use crate::workload::lengths::LengthDist;

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
    /// A llama-bench test (`mode = "pp_tg"`), else a serving case.
    pub pp_tg: Option<PpTgTest>,
    /// A cell of llama-batched-bench's grid (`mode = "batched"`).
    pub batched: Option<BatchedCell>,
}

/// One cell of llama-batched-bench's grid: `npl` sequences of `npp` prompt and `ntg`
/// generated tokens each, in a context of `n_seq_max` sequences and `n_ctx` cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchedCell {
    pub npp: u32,
    pub ntg: u32,
    pub npl: u32,
    pub shared_prompt: bool,
    pub n_seq_max: u32,
    pub n_ctx: u32,
}

impl BatchedCell {
    /// The test's name: `pp128+tg128 x4`, `pp128+tg128 x4 shared`.
    pub fn name(&self) -> String {
        let shared = if self.shared_prompt { " shared" } else { "" };
        format!("pp{}+tg{} x{}{shared}", self.npp, self.ntg, self.npl)
    }

    /// The case id: `pp128_tg128_b4`, `pp128_tg128_b4_pps` with a shared prompt.
    pub fn id(&self) -> String {
        let shared = if self.shared_prompt { "_pps" } else { "" };
        format!("pp{}_tg{}_b{}{shared}", self.npp, self.ntg, self.npl)
    }

    /// llama-batched-bench's N_KV, the cells the cell needs: B·(pp + tg). With a shared prompt
    /// too, as its KV cache is not unified: the prompt is copied into every sequence's cells
    /// (llama-batched-bench counts pp + B·tg only with `-kvu`, which edgebench does not use).
    pub fn n_kv(&self) -> u64 {
        self.npl as u64 * (self.npp as u64 + self.ntg as u64)
    }

    /// Prompt tokens the timed prompt phase decodes: B·pp, or pp with a shared prompt.
    pub fn prompt_tokens(&self) -> u64 {
        if self.shared_prompt {
            self.npp as u64
        } else {
            self.npl as u64 * self.npp as u64
        }
    }

    /// Tokens the decode steps generate: B·tg.
    pub fn output_tokens(&self) -> u64 {
        self.npl as u64 * self.ntg as u64
    }
}

/// One llama-bench test: `n_prompt` prompt tokens or `n_gen` generated ones after `n_depth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PpTgTest {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_depth: u32,
}

impl PpTgTest {
    /// llama-bench's test name: `pp512`, `tg128`, `pp512 @ d4096`.
    pub fn name(&self) -> String {
        let base = match (self.n_prompt, self.n_gen) {
            (p, 0) => format!("pp{p}"),
            (0, g) => format!("tg{g}"),
            (p, g) => format!("pp{p}+tg{g}"),
        };
        if self.n_depth > 0 {
            format!("{base} @ d{}", self.n_depth)
        } else {
            base
        }
    }

    /// The case id: the name without spaces, `pp512_d4096`.
    pub fn id(&self) -> String {
        self.name().replace(" @ ", "_")
    }
}

impl Case {
    /// Measured requests in this case: each of the `concurrency` streams makes `repetitions`
    /// (a sustained case makes as many as fit its duration; counted as 0 here).
    pub fn requests(&self) -> u32 {
        if self.duration_s.is_some() {
            0
        } else {
            self.repetitions * self.concurrency
        }
    }
}

pub(super) fn expand(s: &Scenario) -> Vec<Case> {
    match &s.body {
        ScenarioBody::Throughput(t) if t.batched.is_some() => {
            batched_cases(s, t, t.batched.as_ref().expect("checked"))
        }
        ScenarioBody::Throughput(t) if t.pp_tg.is_some() => {
            pp_tg_cases(s, t, t.pp_tg.as_ref().expect("checked"))
        }
        ScenarioBody::Throughput(t) => closed_grid(t)
            .into_iter()
            .map(|(id, p, g, c)| Case {
                id,
                scenario: s.name.clone(),
                // A drawn length or the user's prompts: 0 here, each row records its own.
                prompt_tokens: fixed(p),
                max_tokens: fixed(Some(g)),
                concurrency: c,
                warmup: t.warmup,
                repetitions: t.repetitions,
                seed: t.seed,
                sampling: t.sampling.clone(),
                duration_s: t.duration_s,
                pp_tg: None,
                batched: None,
            })
            .collect(),
        ScenarioBody::Context(_) => Vec::new(),
        // Drift: one teacher-forced case per length (`repetitions` = sequences), then the
        // free-running one (`repetitions` = prompts).
        ScenarioBody::Drift(d) => {
            let case = |id: String, prompt_tokens, max_tokens, n| Case {
                id,
                scenario: s.name.clone(),
                prompt_tokens,
                max_tokens,
                concurrency: 1,
                warmup: 0,
                repetitions: n,
                seed: d.seed,
                sampling: d.sampling(),
                duration_s: None,
                pp_tg: None,
                batched: None,
            };
            let mut cases: Vec<Case> = d
                .lengths
                .iter()
                .map(|&l| case(format!("forced_{l}"), l, 0, d.sequences))
                .collect();
            if d.prompts > 0 {
                cases.push(case(
                    "free".into(),
                    d.prompt_tokens,
                    d.continuation_tokens,
                    d.prompts,
                ));
            }
            cases
        }
        // Multimodal: one case per grid point; each item is two requests (media + text twin).
        ScenarioBody::Multimodal(m) => m
            .plan()
            .into_iter()
            .map(|c| Case {
                id: c.id,
                scenario: s.name.clone(),
                prompt_tokens: 0,
                max_tokens: m.max_tokens,
                concurrency: 1,
                warmup: 0,
                repetitions: 2 * m.items,
                seed: m.seed,
                sampling: m.sampling.clone(),
                duration_s: None,
                pp_tg: None,
                batched: None,
            })
            .collect(),
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
                        pp_tg: None,
                        batched: None,
                    });
                }
            }
            cases
        }
        ScenarioBody::Structured(t) => {
            let ids: &[&str] = if t.compare_unconstrained {
                &["constrained", "unconstrained"]
            } else {
                &["constrained"]
            };
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
                    pp_tg: None,
                    batched: None,
                })
                .collect()
        }
    }
}

/// A length entry's fixed count; 0 for a distribution or the user's prompts (`None`).
fn fixed(d: Option<&LengthDist>) -> u32 {
    match d {
        Some(LengthDist::Fixed(n)) => *n,
        _ => 0,
    }
}

/// The closed-loop grid, prompt length × output length × concurrency in file order: each
/// point's id (`pp512_tg128_c4`, `ppu16-64_tg8_c2`, `ppfile_tg8_c1`), its prompt lengths
/// (`None`: the user's prompts file), output lengths and concurrency.
fn closed_grid(t: &Throughput) -> Vec<(String, Option<&LengthDist>, &LengthDist, u32)> {
    let prompts: Vec<Option<&LengthDist>> = if t.prompts.is_some() {
        vec![None]
    } else {
        t.prompt_lengths.iter().map(Some).collect()
    };
    let mut out = Vec::new();
    for &p in &prompts {
        for g in &t.output_lengths {
            for &c in &t.concurrency {
                let pl = p.map_or_else(|| "file".into(), LengthDist::label);
                let id = match t.duration_s {
                    None => format!("pp{pl}_tg{}_c{c}", g.label()),
                    Some(d) => format!("pp{pl}_tg{}_c{c}_{}s", g.label(), d.round()),
                };
                out.push((id, p, g, c));
            }
        }
    }
    out
}

impl Throughput {
    /// A closed-loop case's lengths by id: the prompt length distribution (`None`: the
    /// user's prompts file) and the output length distribution.
    pub fn closed_lengths(&self, case_id: &str) -> Option<(Option<&LengthDist>, &LengthDist)> {
        closed_grid(self)
            .into_iter()
            .find(|(id, ..)| id == case_id)
            .map(|(_, p, g, _)| (p, g))
    }
}

/// llama-bench's order: for each depth, the pp tests, then the tg tests.
fn pp_tg_cases(s: &Scenario, t: &Throughput, g: &PpTg) -> Vec<Case> {
    let mut cases = Vec::new();
    for &d in &g.depth {
        let tests =
            g.pp.iter()
                .map(|&p| PpTgTest {
                    n_prompt: p,
                    n_gen: 0,
                    n_depth: d,
                })
                .chain(g.tg.iter().map(|&n| PpTgTest {
                    n_prompt: 0,
                    n_gen: n,
                    n_depth: d,
                }));
        for test in tests {
            cases.push(Case {
                id: test.id(),
                scenario: s.name.clone(),
                prompt_tokens: test.n_prompt,
                max_tokens: test.n_gen,
                concurrency: 1,
                warmup: t.warmup,
                repetitions: t.repetitions,
                seed: t.seed,
                sampling: t.sampling.clone(),
                duration_s: None,
                pp_tg: Some(test),
                batched: None,
            });
        }
    }
    cases
}

/// llama-batched-bench's order: for each npp, each ntg, each npl.
fn batched_cases(s: &Scenario, t: &Throughput, b: &Batched) -> Vec<Case> {
    let mut cases = Vec::new();
    for &npp in &b.npp {
        for &ntg in &b.ntg {
            for &npl in &b.npl {
                let cell = BatchedCell {
                    npp,
                    ntg,
                    npl,
                    shared_prompt: b.shared_prompt,
                    n_seq_max: b.n_seq_max(),
                    n_ctx: b.n_ctx(),
                };
                cases.push(Case {
                    id: cell.id(),
                    scenario: s.name.clone(),
                    prompt_tokens: npp,
                    max_tokens: ntg,
                    concurrency: npl,
                    warmup: t.warmup,
                    repetitions: t.repetitions,
                    seed: t.seed,
                    sampling: t.sampling.clone(),
                    duration_s: None,
                    pp_tg: None,
                    batched: Some(cell),
                });
            }
        }
    }
    cases
}
