//! The engine thread: owns the model and its contexts, and runs one command at a time.
//!
//! llama.cpp calls block, and a context borrows its model, so both live on one dedicated OS
//! thread (not the async runtime). Commands arrive over a channel and answers go back on
//! oneshot channels. Requests are served one after another: the engine has one sequence,
//! like a llama-server with one slot, and a request that waits is counted as queued.
//!
//! Timing follows llama-bench: prefill is the prompt batches alone, decode is one token per
//! `decode` call, each stamped with `Instant::now()` as soon as its token is sampled. llama.cpp's
//! own perf counters (`llama_perf_context`) are read after `synchronize()` so the last decode
//! is counted, and reported beside our clocks.

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::{LlamaStateSeqFlags, SeqState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

use super::super::bench::{BenchSample, BenchTest};
use super::super::engine_thread;
use super::super::{ErrorCategory, Prompt, Request, RequestError, Response};
use super::config::{FlashAttn, LlamaCppConfig};
use super::streams::{Job, Streams};

/// Sequences for a request-rate case without `max_concurrency` (llama-server's default slots).
const AUTO_OPEN_STREAMS: u32 = 4;

pub(super) struct Engine<'m> {
    model: &'m LlamaModel,
    cfg: LlamaCppConfig,
    threads: i32,
    template: Option<LlamaChatTemplate>,
    /// End-of-generation tokens, banned when a request asks for exact output length.
    eog: Vec<LlamaToken>,
    /// The context requests run in, made on first use (for `streams.n_seq()` sequences).
    ctx: Option<LlamaContext<'m>>,
    /// The sequences of `ctx` and the requests waiting for one (see `streams.rs`).
    streams: Streams,
    /// Sequences the next context gets when `parallel` is not set (the case's streams).
    want_seq: u32,
    /// The KV state after `depth` prompt tokens, kept between tests as llama-bench keeps it.
    depth_state: Option<(u32, SeqState)>,
    /// The context of a `mode = "batched"` grid, kept from cell to cell as llama-batched-bench
    /// keeps one for its whole grid (see `batched.rs`).
    batched: Option<super::batched::GridContext<'m>>,
}

fn kv_type(name: &str) -> KvCacheType {
    match name {
        "f32" => KvCacheType::F32,
        "bf16" => KvCacheType::BF16,
        "q8_0" => KvCacheType::Q8_0,
        "q4_0" => KvCacheType::Q4_0,
        "q4_1" => KvCacheType::Q4_1,
        "iq4_nl" => KvCacheType::IQ4_NL,
        "q5_0" => KvCacheType::Q5_0,
        "q5_1" => KvCacheType::Q5_1,
        _ => KvCacheType::F16,
    }
}

fn engine_error(message: impl std::fmt::Display) -> RequestError {
    RequestError::new(ErrorCategory::Engine, message.to_string())
}

impl<'m> Engine<'m> {
    pub(super) fn new(model: &'m LlamaModel, cfg: LlamaCppConfig, threads: u32) -> Self {
        let vocab = model.vocab();
        let eog = vocab.tokens().filter(|t| vocab.is_eog(*t)).collect();
        let cfg_batch = cfg.batch_size;
        Engine {
            model,
            cfg,
            threads: threads as i32,
            // A GGUF without a template gets llama-server's fallback, so both paths send the same prompt.
            template: model
                .chat_template(None)
                .ok()
                .or_else(|| LlamaChatTemplate::new(super::gguf::FALLBACK_TEMPLATE).ok()),
            eog,
            ctx: None,
            streams: Streams::new(1, cfg_batch),
            want_seq: 1,
            depth_state: None,
            batched: None,
        }
    }

    /// llama-bench's context parameters, with `n_ctx` chosen by the caller.
    fn ctx_params(&self, n_ctx: u32) -> LlamaContextParams {
        let fa = match self.cfg.flash_attn {
            FlashAttn::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
            FlashAttn::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
            FlashAttn::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
        };
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(self.cfg.batch_size)
            .with_n_ubatch(self.cfg.ubatch_size)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads)
            .with_flash_attention_policy(fa)
            .with_type_k(kv_type(&self.cfg.cache_type_k))
            .with_type_v(kv_type(&self.cfg.cache_type_v))
            .with_swa_full(false)
            // Perf counters stay at zero unless asked for.
            .with_no_perf(false)
    }

    fn new_ctx(&self, n_ctx: u32) -> Result<LlamaContext<'m>, String> {
        let backend = super::llama_backend()?;
        self.model
            .new_context(backend, self.ctx_params(n_ctx))
            .map_err(|e| format!("cannot create a context of {n_ctx} tokens: {e}"))
    }

    /// The context requests run in: `n_seq` sequences, each with `n_ctx / n_seq` of the KV
    /// cache (not unified, as llama-server's slots), and a batch that holds one token of each.
    fn new_ctx_seq(&self, n_ctx: u32, n_seq: u32) -> Result<LlamaContext<'m>, String> {
        if n_seq == 1 {
            return self.new_ctx(n_ctx);
        }
        let backend = super::llama_backend()?;
        let params = self
            .ctx_params(n_ctx)
            .with_n_seq_max(n_seq)
            .with_kv_unified(false)
            .with_n_batch(self.cfg.batch_size.max(n_seq));
        self.model.new_context(backend, params).map_err(|e| {
            format!("cannot create a context of {n_ctx} tokens for {n_seq} sequences: {e}")
        })
    }

    /// The tokens the model processes for a prompt: the GGUF's chat template applied to a
    /// chat, then tokenized with special tokens parsed and BOS added where the model wants it
    /// (as llama-server does).
    fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<LlamaToken>, RequestError> {
        let text = match prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(messages) => {
                let Some(tmpl) = &self.template else {
                    return Err(RequestError::new(
                        ErrorCategory::Prepare,
                        "the GGUF has no chat template; use endpoint completions",
                    ));
                };
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        RequestError::new(ErrorCategory::Prepare, format!("message: {e}"))
                    })?;
                self.model
                    .apply_chat_template(tmpl, &chat, true)
                    .map_err(|e| {
                        RequestError::new(ErrorCategory::Prepare, format!("chat template: {e}"))
                    })?
            }
        };
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }

    fn sampler(&self, req: &Request) -> LlamaSampler {
        let mut chain = Vec::new();
        if req.ignore_eos && !self.eog.is_empty() {
            // Exact output length: end-of-generation tokens can never be drawn (llama-server's
            // ignore_eos does the same with a logit bias of -inf).
            let biases: Vec<LlamaLogitBias> = self
                .eog
                .iter()
                .map(|t| LlamaLogitBias::new(*t, f32::NEG_INFINITY))
                .collect();
            chain.push(LlamaSampler::logit_bias(self.model.n_vocab(), &biases));
        }
        if req.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_p(req.top_p as f32, 1));
            chain.push(LlamaSampler::temp(req.temperature as f32));
            chain.push(LlamaSampler::dist(req.seed.unwrap_or(42) as u32));
        }
        LlamaSampler::chain(chain, true)
    }

    /// A request made ready to run: its prompt tokenized and checked against the share of the
    /// context each sequence has, the context (re)made for the streams wanted, its sampler.
    fn job(
        &mut self,
        req: &Request,
        sent_at: Instant,
        reply: oneshot::Sender<Response>,
    ) -> Result<Job, (RequestError, oneshot::Sender<Response>)> {
        let tokens = match self.prompt_tokens(&req.prompt) {
            Ok(t) => t,
            Err(e) => return Err((e, reply)),
        };
        if tokens.is_empty() {
            // A sequence with nothing to read would never make logits to sample from.
            let e = RequestError::new(ErrorCategory::Prepare, "the prompt has no tokens");
            return Err((e, reply));
        }
        let n_seq = self.cfg.parallel.unwrap_or(self.want_seq).max(1);
        // What llama.cpp gives each sequence (llama_n_ctx_seq), rounded down where it pads up.
        let share = self.cfg.ctx_size / n_seq;
        if tokens.len() + req.max_tokens as usize > share as usize {
            let whose = if n_seq == 1 {
                format!("ctx_size {share}")
            } else {
                format!(
                    "this sequence's share of the context, {share} tokens (ctx_size {} / {n_seq} sequences)",
                    self.cfg.ctx_size
                )
            };
            let message = format!(
                "prompt ({} tokens) + max_tokens ({}) exceed {whose}",
                tokens.len(),
                req.max_tokens
            );
            return Err((RequestError::new(ErrorCategory::Prepare, message), reply));
        }
        if self.ctx.is_none() || self.streams.n_seq() != n_seq {
            self.ctx = None;
            self.batched = None;
            match self.new_ctx_seq(self.cfg.ctx_size, n_seq) {
                Ok(ctx) => self.ctx = Some(ctx),
                Err(e) => return Err((engine_error(e), reply)),
            }
            self.streams = Streams::new(n_seq, self.cfg.batch_size);
        }
        Ok(Job {
            reply,
            sent_at,
            prompt: tokens,
            max_tokens: req.max_tokens,
            sampler: self.sampler(req),
        })
    }

    /// One llama-bench test, repeated: a fresh context of pp + tg + depth tokens, a warm-up
    /// run, then per repetition an emptied cache, the depth restored (or computed once), and
    /// the timed prompt batches or generated tokens. Tokens are random, as llama-bench's are.
    fn bench(&mut self, t: BenchTest) -> Result<Vec<BenchSample>, String> {
        if let Some(b) = t.batched {
            self.ctx = None;
            let grid = super::batched::GridContext::reuse_or_make(
                self.batched.take(),
                self.model,
                self.ctx_params(b.n_ctx),
                t,
                b,
            )?;
            let out = self.batched.insert(grid).run(self.model, t, b);
            if out.is_err() {
                // A context left mid-decode is not reused.
                self.batched = None;
            }
            return out;
        }
        let n_ctx = t.n_prompt + t.n_gen + t.n_depth;
        // Requests and tests never run at once (the engine thread finishes the requests in
        // flight first); free the request context's memory.
        self.ctx = None;
        self.batched = None;
        let mut ctx = self.new_ctx(n_ctx.max(16))?;
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed);
        let n_batch = self.cfg.batch_size;
        if t.warmup {
            if t.n_prompt > 0 {
                self.test_prompt(&mut ctx, &mut rng, t.n_prompt, n_batch)?;
            }
            if t.n_gen > 0 {
                self.test_gen(&mut ctx, &mut rng, 1)?;
            }
        }
        let mut samples = Vec::with_capacity(t.repetitions as usize);
        for _ in 0..t.repetitions {
            ctx.clear_kv_cache();
            if t.n_depth > 0 {
                let restored = match &self.depth_state {
                    Some((d, state)) if *d == t.n_depth => ctx.state_seq_set(state, 0).is_ok(),
                    _ => false,
                };
                if !restored {
                    ctx.clear_kv_cache();
                    self.test_prompt(&mut ctx, &mut rng, t.n_depth, n_batch)?;
                    let state = ctx
                        .state_seq_get(0, LlamaStateSeqFlags::empty())
                        .map_err(|e| format!("saving the depth state: {e}"))?;
                    self.depth_state = Some((t.n_depth, state));
                }
            }
            ctx.reset_timings();
            let start = Instant::now();
            if t.n_prompt > 0 {
                self.test_prompt(&mut ctx, &mut rng, t.n_prompt, n_batch)?;
            }
            if t.n_gen > 0 {
                self.test_gen(&mut ctx, &mut rng, t.n_gen)?;
            }
            let ns = start.elapsed().as_nanos() as u64;
            ctx.synchronize();
            samples.push(BenchSample {
                ns,
                perf: super::perf_of(&ctx.timings()),
                pp_ns: None,
            });
        }
        Ok(samples)
    }

    /// llama-bench's `test_prompt`: `n` tokens in batches of `n_batch`, appended after what the
    /// cache holds, synchronized at the end.
    fn test_prompt(
        &self,
        ctx: &mut LlamaContext<'m>,
        rng: &mut ChaCha8Rng,
        n: u32,
        n_batch: u32,
    ) -> Result<(), String> {
        let vocab = self.model.vocab();
        let n_vocab = self.model.n_vocab().max(1);
        let mut pos = ctx.kv_cache_seq_pos_max(0) + 1;
        let mut batch = LlamaBatch::new(n_batch as usize, 1);
        let mut done = 0;
        while done < n {
            let k = (n - done).min(n_batch);
            batch.clear();
            for i in 0..k {
                let tok = if done == 0 && i == 0 && vocab.should_add_bos() {
                    vocab.bos()
                } else {
                    LlamaToken::new(rng.random_range(0..n_vocab))
                };
                batch
                    .add(tok, pos, &[0], i + 1 == k)
                    .map_err(|e| e.to_string())?;
                pos += 1;
            }
            ctx.decode(&mut batch)
                .map_err(|e| format!("prompt batch: {e}"))?;
            done += k;
        }
        ctx.synchronize();
        Ok(())
    }

    /// llama-bench's `test_gen`: `n` single-token decodes, each synchronized.
    fn test_gen(
        &self,
        ctx: &mut LlamaContext<'m>,
        rng: &mut ChaCha8Rng,
        n: u32,
    ) -> Result<(), String> {
        let vocab = self.model.vocab();
        let n_vocab = self.model.n_vocab().max(1);
        let mut token = if vocab.should_add_bos() {
            vocab.bos()
        } else {
            LlamaToken::new(rng.random_range(0..n_vocab))
        };
        let mut pos = ctx.kv_cache_seq_pos_max(0) + 1;
        let mut batch = LlamaBatch::new(1, 1);
        for _ in 0..n {
            batch.clear();
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| e.to_string())?;
            pos += 1;
            ctx.decode(&mut batch)
                .map_err(|e| format!("generation decode: {e}"))?;
            ctx.synchronize();
            token = LlamaToken::new(rng.random_range(0..n_vocab));
        }
        Ok(())
    }
}

impl engine_thread::Engine for Engine<'_> {
    type Extra = super::logits::Cmd;

    fn count_prompt(&mut self, prompt: &Prompt) -> Result<u32, RequestError> {
        self.prompt_tokens(prompt).map(|t| t.len() as u32)
    }

    fn count_text(&mut self, text: &str) -> Option<u32> {
        let n = self
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len();
        Some(n as u32)
    }

    /// One request alone: started, then stepped until it is answered.
    fn answer(&mut self, req: &Request, sent_at: Instant) -> Response {
        let (reply, mut rx) = oneshot::channel();
        self.start(Box::new(req.clone()), sent_at, reply);
        loop {
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            if !self.busy() {
                return Response::failed(sent_at, engine_error("the request was dropped"));
            }
            self.step();
        }
    }

    fn start(&mut self, req: Box<Request>, sent_at: Instant, reply: oneshot::Sender<Response>) {
        match self.job(&req, sent_at, reply) {
            Ok(job) => self.streams.push(job),
            Err((e, reply)) => {
                let _ = reply.send(Response::failed(sent_at, e));
            }
        }
    }

    fn busy(&self) -> bool {
        self.streams.busy()
    }

    fn step(&mut self) {
        match self.ctx.as_mut() {
            Some(ctx) => self.streams.step(ctx, self.model),
            // Jobs are only queued once the context exists; never left waiting.
            None => self.streams = Streams::new(self.streams.n_seq(), self.cfg.batch_size),
        }
    }

    /// With `parallel` unset, the next context serves `streams` sequences (0, an uncapped
    /// request-rate case: llama-server's default of 4 slots).
    fn reserve(&mut self, streams: u32) -> Option<u32> {
        if let Some(p) = self.cfg.parallel {
            return Some(p);
        }
        self.want_seq = if streams == 0 {
            AUTO_OPEN_STREAMS
        } else {
            streams.min(super::config::MAX_PARALLEL)
        };
        Some(self.want_seq)
    }

    fn run_bench(&mut self, test: BenchTest) -> Result<Vec<BenchSample>, String> {
        self.bench(test)
    }

    /// Token scoring (the drift scenario), in a context of its own; the request context's
    /// memory is freed first, as for a test.
    fn extra(&mut self, cmd: Self::Extra) {
        self.ctx = None;
        self.batched = None;
        super::logits::serve(self.model, self.cfg.batch_size, cmd, |n| self.new_ctx(n));
    }
}
