//! Several sequences in one llama.cpp context: llama-server's slots, in process.
//!
//! The context is made with `n_seq_max` sequences and `kv_unified = false`, so llama.cpp gives
//! each sequence `ctx_size / n_seq` cells of the KV cache, as llama-server gives each slot
//! `-c / -np`. A request whose prompt + `max_tokens` do not fit that share fails with
//! `prepare` before it takes a sequence; the others go on.
//!
//! Scheduling follows llama-server's `update_slots`. Each step makes one batch for one
//! `llama_decode`: first the last sampled token of every sequence that is generating, then
//! prompt tokens of the sequences still reading their prompt, in arrival order, until the
//! batch holds `batch_size` tokens; a longer prompt goes on in the next steps (chunked
//! prefill). A request that arrives joins at the next step (the engine thread takes new
//! commands between steps), so this is continuous batching.
//!
//! Why prompt and generated tokens share a batch, in chunks, rather than a new prompt being
//! read whole before the others decode again: it is what llama-server does, so the in-process
//! engine and a server on the same machine schedule the same work and their ratio is the
//! serving overhead alone; and a running stream waits at most one `batch_size` chunk for a
//! newcomer's prompt instead of the whole prompt, the trade-off llama-server makes. The cost,
//! visible in ITL, is that a step with a prompt chunk in it is slower for everyone in it.
//!
//! Each sequence has its own sampler chain (own seed, own state). A finished sequence's cells
//! are removed (`llama_memory_seq_rm`) and its sequence id serves the next waiting request.
//! Requests beyond the sequences wait in arrival order; their wait is part of their TTFT.
//!
//! Timing. Every token is stamped with the monotonic clock as soon as it is sampled. The
//! `server_*` figures of a request are llama.cpp's own time spent on it, per sequence: with one
//! sequence in the context, llama.cpp's perf counters (reset when the request starts), as
//! before; with several, the wall time of each `llama_decode` (+ synchronize) is given to every
//! sequence that had a token in it: `prompt_ms` sums the steps that carried its prompt tokens
//! (`prompt_n` = its prompt tokens), `predicted_ms` the steps that carried its generated tokens
//! (`predicted_n` = those steps). A step shared by four sequences counts whole for each.

use std::collections::VecDeque;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use super::super::bench::{Perf, timings};
use super::super::{ContentChunk, ErrorCategory, RequestError, Response, Usage};

/// A request ready to run: its prompt tokenized and checked against its share.
pub(super) struct Job {
    pub reply: oneshot::Sender<Response>,
    pub sent_at: Instant,
    pub prompt: Vec<LlamaToken>,
    pub max_tokens: u32,
    pub sampler: LlamaSampler,
}

/// One sequence of the context at work on a request.
struct Slot {
    job: Job,
    /// Prompt tokens already in the batch of a past step.
    n_read: usize,
    /// The next position of this sequence.
    pos: i32,
    /// The sampled token to decode in the next step (generating), `None` while reading.
    next: Option<LlamaToken>,
    /// Where this sequence's logits are in the current batch.
    logits_at: Option<i32>,
    /// Whether the current batch holds a token of this sequence.
    in_step: bool,
    out: Response,
    bytes: Vec<u8>,
    n_out: u32,
    /// llama.cpp time given to this sequence (see the module's "Timing").
    perf: Perf,
}

/// The sequences of one context, and the requests waiting for one.
pub(super) struct Streams {
    slots: Vec<Option<Slot>>,
    waiting: VecDeque<Job>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    piece: Vec<u8>,
}

impl Streams {
    /// `n_seq` sequences of a context that takes `n_batch` tokens per decode.
    pub fn new(n_seq: u32, n_batch: u32) -> Self {
        let n_batch = n_batch.max(n_seq).max(1) as usize;
        Streams {
            slots: (0..n_seq.max(1)).map(|_| None).collect(),
            waiting: VecDeque::new(),
            batch: LlamaBatch::new(n_batch, 1),
            n_batch,
            piece: Vec::new(),
        }
    }

    pub fn n_seq(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn busy(&self) -> bool {
        !self.waiting.is_empty() || self.slots.iter().any(Option::is_some)
    }

    /// Queues a request; it takes a free sequence at the next step.
    pub fn push(&mut self, job: Job) {
        self.waiting.push_back(job);
    }

    /// Gives free sequences to waiting requests, emptying their cells first.
    fn admit(&mut self, ctx: &mut LlamaContext<'_>) {
        let single = self.slots.len() == 1;
        for (seq, slot) in self.slots.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let Some(job) = self.waiting.pop_front() else {
                return;
            };
            // No prefix is ever reused: a request starts from an empty sequence.
            if single {
                ctx.clear_kv_cache();
                ctx.reset_timings();
            } else {
                let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            }
            let mut out = Response::failed(
                job.sent_at,
                RequestError::new(ErrorCategory::EmptyResponse, ""),
            );
            out.error = None;
            *slot = Some(Slot {
                job,
                n_read: 0,
                pos: 0,
                next: None,
                logits_at: None,
                in_step: false,
                out,
                bytes: Vec::new(),
                n_out: 0,
                perf: Perf::default(),
            });
        }
    }

    /// One step: admit waiting requests, decode one batch, sample every sequence whose
    /// logits it made, and answer the requests that finished.
    pub fn step(&mut self, ctx: &mut LlamaContext<'_>, model: &LlamaModel) {
        self.admit(ctx);
        if let Err(e) = self.fill_batch() {
            self.fail_all(ctx, &e);
            return;
        }
        if self.batch.n_tokens() == 0 {
            return;
        }
        let started = Instant::now();
        let decoded = ctx.decode(&mut self.batch);
        ctx.synchronize();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = decoded {
            self.fail_all(ctx, &format!("decode: {e}"));
            return;
        }
        let single = self.slots.len() == 1;
        for seq in 0..self.slots.len() {
            let Some(slot) = self.slots[seq].as_mut() else {
                continue;
            };
            if !single && slot.in_step {
                // Generating sequences had their token in this step; reading ones a chunk.
                if slot.next.is_some() {
                    slot.perf.eval_ms += ms;
                    slot.perf.eval_n += 1;
                } else {
                    slot.perf.prompt_ms += ms;
                }
            }
            let Some(idx) = slot.logits_at.take() else {
                continue;
            };
            if sample(slot, ctx, model, idx, &mut self.piece) {
                let slot = self.slots[seq].take();
                if let Some(slot) = slot {
                    let perf = if single {
                        ctx.synchronize();
                        super::perf_of(&ctx.timings())
                    } else {
                        slot.perf
                    };
                    finish(slot, perf);
                }
                if !single {
                    let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
                }
            }
        }
        self.admit(ctx);
    }

    /// The batch of this step: generating sequences' next tokens, then prompt chunks.
    fn fill_batch(&mut self) -> Result<(), String> {
        self.batch.clear();
        for (seq, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot.as_mut() else { continue };
            slot.in_step = slot.next.is_some();
            if let Some(t) = slot.next {
                slot.logits_at = Some(self.batch.n_tokens());
                self.batch
                    .add(t, slot.pos, &[seq as i32], true)
                    .map_err(|e| e.to_string())?;
                slot.pos += 1;
            }
        }
        for (seq, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot.as_mut() else { continue };
            let n = slot.job.prompt.len();
            while slot.next.is_none()
                && slot.n_read < n
                && (self.batch.n_tokens() as usize) < self.n_batch
            {
                let last = slot.n_read + 1 == n;
                if last {
                    slot.logits_at = Some(self.batch.n_tokens());
                }
                self.batch
                    .add(slot.job.prompt[slot.n_read], slot.pos, &[seq as i32], last)
                    .map_err(|e| e.to_string())?;
                slot.n_read += 1;
                slot.pos += 1;
                slot.perf.prompt_n += 1;
                slot.in_step = true;
            }
        }
        Ok(())
    }

    /// A failed decode ends every request in flight (their cells are emptied).
    fn fail_all(&mut self, ctx: &mut LlamaContext<'_>, message: &str) {
        for seq in 0..self.slots.len() {
            if let Some(slot) = self.slots[seq].take() {
                let err = RequestError::new(ErrorCategory::Engine, message.to_string());
                let _ = slot.job.reply.send(Response::failed(slot.job.sent_at, err));
                let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            }
        }
    }
}

/// Samples a sequence's next token at batch index `idx` and stamps it; true when the request
/// is done (an end-of-generation token, or `max_tokens` reached).
fn sample(
    slot: &mut Slot,
    ctx: &LlamaContext<'_>,
    model: &LlamaModel,
    idx: i32,
    piece: &mut Vec<u8>,
) -> bool {
    slot.next = None;
    if slot.n_out >= slot.job.max_tokens {
        // `max_tokens = 0`: the prompt was read, nothing is generated.
        slot.out.finish_reason = Some("length".into());
        return true;
    }
    let vocab = model.vocab();
    let token = slot.job.sampler.sample(ctx, idx);
    let at = Instant::now();
    if vocab.is_eog(token) {
        slot.out.finish_reason = Some("stop".into());
        return true;
    }
    piece.clear();
    vocab.token_to_piece_into(token, piece, false, None);
    slot.bytes.extend_from_slice(piece);
    slot.out.content.push(ContentChunk {
        at,
        tokens: Some(1),
        text_bytes: piece.len(),
    });
    slot.n_out += 1;
    if slot.n_out >= slot.job.max_tokens {
        slot.out.finish_reason = Some("length".into());
        return true;
    }
    slot.next = Some(token);
    false
}

/// Answers a finished request with its text, usage and llama.cpp's time for it.
fn finish(slot: Slot, mut perf: Perf) {
    let Slot {
        job,
        mut out,
        bytes,
        n_out,
        ..
    } = slot;
    out.text = String::from_utf8_lossy(&bytes).into_owned();
    out.usage = Some(Usage {
        prompt_tokens: Some(job.prompt.len() as u64),
        completion_tokens: Some(n_out as u64),
        cached_tokens: Some(0),
    });
    if n_out <= 1 {
        // llama.cpp reports at least one of each; no token was decoded singly here.
        (perf.eval_n, perf.eval_ms) = (0, 0.0);
    }
    out.timings = Some(timings(&perf));
    if out.content.is_empty() {
        out.error = Some(RequestError::new(
            ErrorCategory::EmptyResponse,
            "the model ended before the first token",
        ));
    }
    let _ = job.reply.send(out);
}
