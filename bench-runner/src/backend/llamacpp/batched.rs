//! llama-batched-bench's loop, run on the engine's model (`mode = "batched"`).
//!
//! It mirrors tools/batched-bench/batched-bench.cpp of the llama.cpp this crate vendors, so the
//! two can be set side by side (scripts/parity-llama-batched-bench):
//! - one context of `n_ctx` cells and `n_seq_max` sequences (the grid's largest `npl`), with the
//!   engine's other settings; the KV cache is not unified (llama.cpp's default, and
//!   llama-batched-bench's without `-kvu`), so each sequence has `n_ctx / n_seq_max` cells
//!   (llama.cpp pads that share up to a multiple of 256, as it does for the tool);
//! - that context is kept for the whole grid, cell after cell, as llama-batched-bench keeps its
//!   one context: the engine holds it between cells ([`GridContext`]) and drops it when anything
//!   else runs. A warm-up of 16 random tokens is decoded once, when it is made;
//! - per repetition: every prompt (B of `pp` random tokens, or one with a shared prompt) built,
//!   the cache's cells emptied (its data left as is, as `llama_memory_clear(mem, false)`), then
//!   timed: the prompt tokens decoded in chunks of `n_batch`, one synchronize at the end (T_PP).
//!   With a shared prompt, sequence 0 is copied to the others and one dummy token applies the
//!   copy (untimed, as there). Then `tg` decode steps of one token per sequence, each
//!   synchronized (T_TG). T = T_PP + T_TG.
//!
//! Tokens are random (seeded), as llama-batched-bench's `std::rand()` ones are.

use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::super::bench::{Batched, BenchSample, BenchTest, Perf};

/// One token of a batch: token, position, sequence, whether its logits are wanted.
type Item = (LlamaToken, i32, i32, bool);

/// The one context a grid's cells run in, and the size it was made for.
pub(super) struct GridContext<'m> {
    n_ctx: u32,
    n_seq_max: u32,
    ctx: LlamaContext<'m>,
}

impl<'m> GridContext<'m> {
    /// The grid's context: `kept` when it was made for the same size, else a new one from
    /// `params` (the engine's llama-bench parameters for `b.n_ctx` cells), warmed up when the
    /// cell asks for a warm-up.
    pub(super) fn reuse_or_make(
        kept: Option<Self>,
        model: &'m LlamaModel,
        params: LlamaContextParams,
        t: BenchTest,
        b: Batched,
    ) -> Result<Self, String> {
        if let Some(g) = kept {
            if (g.n_ctx, g.n_seq_max) == (b.n_ctx, b.n_seq_max) {
                return Ok(g);
            }
            drop(g); // its memory is freed before the next context takes its own
        }
        let backend = super::llama_backend()?;
        let p = params.with_n_seq_max(b.n_seq_max);
        let n_batch = p.n_batch().max(1) as usize;
        let mut ctx = model
            .new_context(backend, p)
            .map_err(|e| format!("cannot create a context of {} tokens: {e}", b.n_ctx))?;
        if t.warmup {
            let mut token = random_tokens(model, t.seed ^ WARMUP_SEED);
            let items: Vec<Item> = (0..16).map(|i| (token(), i, 0, false)).collect();
            decode(&mut ctx, &mut batches(&items, n_batch)?, true)?;
        }
        Ok(GridContext {
            n_ctx: b.n_ctx,
            n_seq_max: b.n_seq_max,
            ctx,
        })
    }

    /// Runs `t.repetitions` repetitions of one grid cell.
    pub(super) fn run(
        &mut self,
        model: &LlamaModel,
        t: BenchTest,
        b: Batched,
    ) -> Result<Vec<BenchSample>, String> {
        let (pp, tg, pl) = (t.n_prompt as i32, t.n_gen as i32, b.n_parallel as i32);
        if pl < 1 || b.n_parallel > b.n_seq_max || pp < 1 || tg < 1 {
            return Err(format!(
                "batched test pp {pp}, tg {tg}, {pl} sequences does not fit a context of {} sequences",
                b.n_seq_max
            ));
        }
        let ctx = &mut self.ctx;
        let n_batch = ctx.n_batch().max(1) as usize;
        // llama-batched-bench runs a cell only if its cells fit the whole cache; each sequence
        // must also fit its own share of it (the cache is not unified).
        let per_seq = ctx.n_ctx() / b.n_seq_max;
        if (pp + tg) as u32 > per_seq {
            return Err(format!(
                "pp {pp} + tg {tg} exceed a sequence's share of the context ({} cells / {} sequences = {per_seq})",
                ctx.n_ctx(),
                b.n_seq_max
            ));
        }
        let mut token = random_tokens(model, t.seed);
        let mut samples = Vec::with_capacity(t.repetitions as usize);
        for _ in 0..t.repetitions {
            let prompts = if b.shared_prompt { 1 } else { pl };
            let items: Vec<Item> = (0..prompts)
                .flat_map(|j| (0..pp).map(move |i| (j, i)))
                .map(|(j, i)| (token(), i, j, i == pp - 1))
                .collect();
            let mut prompt = batches(&items, n_batch)?;
            // Every sequence's cells emptied, their data left (llama_memory_clear(mem, false)).
            ctx.clear_kv_cache_seq(None, None, None)
                .map_err(|e| e.to_string())?;

            let pp_start = Instant::now();
            decode(ctx, &mut prompt, false)?;
            ctx.synchronize();
            let pp_ns = pp_start.elapsed().as_nanos() as u64;

            if b.shared_prompt {
                for j in 1..pl {
                    ctx.copy_kv_cache_seq(0, j, None, None)
                        .map_err(|e| e.to_string())?;
                }
                // One dummy token applies the copy across the sequences' streams.
                let dummy = [(token(), pp, 0, true)];
                decode(ctx, &mut batches(&dummy, n_batch)?, true)?;
                ctx.clear_kv_cache_seq(Some(0), Some(pp as u32), None)
                    .map_err(|e| e.to_string())?;
            }

            let tg_start = Instant::now();
            let mut step = LlamaBatch::new(pl as usize, 1);
            for i in 0..tg {
                step.clear();
                for j in 0..pl {
                    step.add(token(), pp + i, &[j], true)
                        .map_err(|e| e.to_string())?;
                }
                decode_one(ctx, &mut step, n_batch, true)?;
            }
            let tg_ns = tg_start.elapsed().as_nanos() as u64;
            samples.push(BenchSample {
                ns: pp_ns + tg_ns,
                perf: Perf::default(),
                pp_ns: Some(pp_ns),
            });
        }
        Ok(samples)
    }
}

/// Mixed into the seed of the warm-up's tokens, so they are not the first cell's prompt.
const WARMUP_SEED: u64 = 0x5741_524d;

/// Random tokens of the model's vocabulary, seeded.
fn random_tokens(model: &LlamaModel, seed: u64) -> impl FnMut() -> LlamaToken {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_vocab = model.n_vocab().max(1);
    move || LlamaToken::new(rng.random_range(0..n_vocab))
}

/// `items` in batches of at most `n_batch` tokens, built before any timing starts (as
/// llama-batched-bench builds its whole batch and decodes views of it).
fn batches(items: &[Item], n_batch: usize) -> Result<Vec<LlamaBatch<'_>>, String> {
    items
        .chunks(n_batch)
        .map(|chunk| {
            let mut batch = LlamaBatch::new(chunk.len(), 1);
            for &(tok, pos, seq, logits) in chunk {
                batch
                    .add(tok, pos, &[seq], logits)
                    .map_err(|e| e.to_string())?;
            }
            Ok(batch)
        })
        .collect()
}

/// llama-batched-bench's `decode_helper` over prepared batches.
fn decode(ctx: &mut LlamaContext, batches: &mut [LlamaBatch], sync: bool) -> Result<(), String> {
    for batch in batches {
        ctx.decode(batch)
            .map_err(|e| format!("failed to decode a batch: {e}"))?;
        if sync {
            ctx.synchronize();
        }
    }
    Ok(())
}

/// One decode step: a batch never larger than `n_batch` (more sequences than `n_batch` are
/// refused by the scenario's checks).
fn decode_one(
    ctx: &mut LlamaContext,
    batch: &mut LlamaBatch,
    n_batch: usize,
    sync: bool,
) -> Result<(), String> {
    if batch.n_tokens() as usize > n_batch {
        return Err(format!(
            "{} sequences exceed batch_size {n_batch}",
            batch.n_tokens()
        ));
    }
    decode(ctx, std::slice::from_mut(batch), sync)
}
