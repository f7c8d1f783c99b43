//! One llama-bench test and its samples, shared by the in-process engines (`llamacpp`, `onnx`):
//! the runner's `pp_tg` path asks either engine the same question and gets the same answer.

use super::ServerTimings;

/// One llama-bench test: `n_prompt` prompt tokens or `n_gen` generated ones, after `n_depth`
/// tokens already in the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchTest {
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_depth: u32,
    pub repetitions: u32,
    pub warmup: bool,
    pub seed: u64,
    /// llama-batched-bench's test instead (`n_prompt` and `n_gen` per sequence); llamacpp only.
    pub batched: Option<Batched>,
}

/// One cell of llama-batched-bench's grid: `n_parallel` sequences in one context of
/// `n_seq_max` sequences and `n_ctx` cells (as llama-batched-bench sizes it: the largest
/// `npl` of the grid, and `-c`), each with its own prompt or one prompt shared by all (`-pps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batched {
    pub n_parallel: u32,
    pub shared_prompt: bool,
    pub n_seq_max: u32,
    pub n_ctx: u32,
}

/// The engine's own counters for one measured repetition (llama.cpp's perf counters, or the
/// summed `session.run` times of ONNX Runtime).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Perf {
    pub prompt_n: u64,
    pub prompt_ms: f64,
    pub eval_n: u64,
    pub eval_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BenchSample {
    /// Wall time of the test (prompt batches and/or generated tokens), as llama-bench's `samples_ns`.
    pub ns: u64,
    pub perf: Perf,
    /// The prompt phase's part of `ns` where a test times it apart (batched: T_PP).
    pub pp_ns: Option<u64>,
}

/// An engine's counters in the shape llama-server reports them, so client ÷ server ratios work.
pub fn timings(p: &Perf) -> ServerTimings {
    let per_s = |n: u64, ms: f64| (ms > 0.0).then(|| n as f64 * 1000.0 / ms);
    ServerTimings {
        cache_n: Some(0),
        prompt_n: Some(p.prompt_n),
        prompt_ms: Some(p.prompt_ms),
        prompt_per_second: per_s(p.prompt_n, p.prompt_ms),
        predicted_n: Some(p.eval_n),
        predicted_ms: Some(p.eval_ms),
        predicted_per_second: per_s(p.eval_n, p.eval_ms),
    }
}
