//! The engine thread: owns the session and runs one command at a time.
//!
//! `Session::run` takes `&mut self` and blocks, so the session lives on its own OS thread,
//! like the llama.cpp engine's context. Timing follows that engine (and llama-bench): prefill
//! is the prompt pass alone, decode is one `session.run` per token, each token stamped with
//! `Instant::now()` as soon as it is sampled. Beside our clock, the time spent inside
//! `session.run` is summed (prefill and decode apart) and reported like llama-server's
//! `timings`, so the harness's own share of a token is (TPOT − run time) / TPOT.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, TensorRef};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

use super::super::bench::{BenchSample, BenchTest, Perf, timings};
use super::super::engine_thread;
use super::super::{ContentChunk, ErrorCategory, Prompt, Request, RequestError, Response, Usage};
use super::kv_cache::KvCache;
use super::layout::DecoderLayout;
use super::sampler::{Sampler, argmax};
use super::tokenizer::TextCodec;
use super::tool_calls;

/// onnx's own command: `n` greedy tokens after raw text, with the KV cache or without it.
pub(crate) struct Greedy {
    pub text: String,
    pub n: usize,
    pub cached: bool,
    pub reply: oneshot::Sender<Result<Vec<u32>, String>>,
}

/// One `session.run`: the token picked from the last position's logits (when a picker was
/// given), the grown cache, and the time spent inside ONNX Runtime.
struct Step {
    token: Option<u32>,
    cache: KvCache,
    run: Duration,
}

/// Picks the next token from logits that stay where ONNX Runtime wrote them.
type Pick<'a> = Option<&'a mut dyn FnMut(&[f32]) -> u32>;

pub(super) struct Engine {
    session: Session,
    layout: DecoderLayout,
    codec: TextCodec,
    ctx_size: u32,
    /// The cache after `depth` random tokens, kept between repetitions as llama-bench keeps it.
    depth_cache: Option<(u32, KvCache)>,
    /// Run options for one-token steps, with the `[1, 1, vocab]` logits output allocated once
    /// and written in place by every decode step (151,936 floats for Qwen2: no allocation per
    /// token). `None` when the vocabulary size is not known up front.
    decode_opts: Option<RunOptions<HasSelectedOutputs>>,
    /// int64 inputs, reused: the step's token ids, and all-ones / 0, 1, 2, … that the
    /// attention mask and position ids are views of (grown, never shrunk).
    ids: Vec<i64>,
    ones: Vec<i64>,
    positions: Vec<i64>,
}

/// Run options whose `logits` output is one preallocated `[1, 1, vocab]` tensor.
fn decode_options(vocab: Option<usize>) -> Option<RunOptions<HasSelectedOutputs>> {
    let logits = Tensor::<f32>::new(&Allocator::default(), [1usize, 1, vocab?]).ok()?;
    let opts = RunOptions::new().ok()?;
    Some(opts.with_outputs(OutputSelector::default().preallocate("logits", logits)))
}

fn engine_error(message: impl std::fmt::Display) -> RequestError {
    RequestError::new(ErrorCategory::Engine, message.to_string())
}

/// An integer tensor of the element type the model declares for that input.
fn int_tensor(
    ty: TensorElementType,
    len: usize,
    values: impl Iterator<Item = i64>,
) -> Result<DynValue, String> {
    let shape = [1usize, len];
    let made = match ty {
        TensorElementType::Int64 => {
            Tensor::from_array((shape, values.collect::<Vec<i64>>())).map(Tensor::into_dyn)
        }
        TensorElementType::Int32 => {
            Tensor::from_array((shape, values.map(|v| v as i32).collect::<Vec<i32>>()))
                .map(Tensor::into_dyn)
        }
        other => {
            return Err(format!(
                "integer inputs of type {other:?} are not supported"
            ));
        }
    };
    made.map_err(|e| format!("cannot make an input tensor: {e}"))
}

/// An integer input of shape `[1, len]`: a view of `values` when the model takes int64 (no
/// copy), else a new tensor of the declared type.
fn int_input(ty: TensorElementType, values: &[i64]) -> Result<SessionInputValue<'_>, String> {
    if ty == TensorElementType::Int64 {
        return TensorRef::from_array_view(([1usize, values.len()], values))
            .map(Into::into)
            .map_err(|e| format!("cannot make an input tensor: {e}"));
    }
    int_tensor(ty, values.len(), values.iter().copied()).map(Into::into)
}

impl Engine {
    pub(super) fn new(
        session: Session,
        layout: DecoderLayout,
        codec: TextCodec,
        ctx_size: u32,
    ) -> Self {
        Engine {
            decode_opts: decode_options(layout.vocab_size),
            ids: Vec::new(),
            ones: Vec::new(),
            positions: Vec::new(),
            session,
            layout,
            codec,
            ctx_size,
            depth_cache: None,
        }
    }

    fn empty_cache(&self) -> Result<KvCache, String> {
        KvCache::empty(&self.layout, self.session.allocator())
    }

    /// Runs the model on `tokens` after what `cache` holds, and picks the next token.
    fn run(&mut self, tokens: &[u32], cache: &KvCache, pick: Pick<'_>) -> Result<Step, String> {
        let n = tokens.len();
        let past = cache.len();
        let total = past + n;
        if self.ones.len() < total {
            self.ones.resize(total, 1);
            self.positions = (0..total as i64).collect();
        }
        self.ids.clear();
        self.ids.extend(tokens.iter().map(|&t| i64::from(t)));
        let l = &self.layout;
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(4 + 2 * l.layers);
        inputs.push(("input_ids".into(), int_input(l.input_ids_type, &self.ids)?));
        inputs.push((
            "attention_mask".into(),
            int_input(l.attention_mask_type, &self.ones[..total])?,
        ));
        if let Some(ty) = l.position_ids_type {
            inputs.push((
                "position_ids".into(),
                int_input(ty, &self.positions[past..total])?,
            ));
        }
        if l.use_cache_branch {
            let branch = Tensor::from_array(([1usize], vec![past > 0]))
                .map_err(|e| format!("cannot make use_cache_branch: {e}"))?;
            inputs.push(("use_cache_branch".into(), branch.into()));
        }
        for (name, value) in l.past_names.iter().zip(cache.values()) {
            inputs.push((Cow::Borrowed(name.as_str()), value.into()));
        }
        let started = Instant::now();
        let outputs = match (&self.decode_opts, n) {
            (Some(opts), 1) => self.session.run_with_options(inputs, opts),
            _ => self.session.run(inputs),
        };
        let mut outputs =
            outputs.map_err(|e| format!("session.run with {n} new tokens after {past}: {e}"))?;
        let run = started.elapsed();
        let token = match pick {
            Some(pick) => {
                let value = outputs
                    .get("logits")
                    .ok_or("the model did not return logits")?;
                let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| {
                    format!("logits are not float32 ({e}); float16 logits are not supported yet")
                })?;
                // [batch, sequence, vocab]: the last position's row, borrowed where ONNX
                // Runtime wrote it.
                let vocab = data.len() / n.max(1);
                Some(pick(&data[data.len() - vocab..]))
            }
            None => None,
        };
        let cache = cache.advance(&mut outputs, &self.layout, n)?;
        Ok(Step { token, cache, run })
    }

    /// The tokens the model processes: the chat template applied to a chat (its special
    /// tokens are in the text), or raw text with the tokenizer's own special tokens.
    fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>, RequestError> {
        let prepare = |e: String| RequestError::new(ErrorCategory::Prepare, e);
        match prompt {
            Prompt::Text(t) => self.codec.encode(t, true).map_err(prepare),
            Prompt::Chat(messages) => {
                let text = self.codec.render_chat(messages).map_err(prepare)?;
                self.codec.encode(&text, false).map_err(prepare)
            }
        }
    }

    /// A request's tokens: with tools (or whole OpenAI messages) the template gets them, as
    /// llama-server's `--jinja` gives them; else as [`Self::prompt_tokens`].
    fn request_tokens(&self, req: &Request) -> Result<Vec<u32>, RequestError> {
        let prepare = |e: String| RequestError::new(ErrorCategory::Prepare, e);
        let t = &req.tools;
        let owned;
        let messages: &[serde_json::Value] = match (&t.messages, &req.prompt) {
            (Some(m), _) => m,
            (None, Prompt::Chat(msgs)) if !t.tools.is_empty() => {
                owned = msgs
                    .iter()
                    .map(|m| serde_json::json!({"role": m.role, "content": m.content}))
                    .collect::<Vec<_>>();
                &owned
            }
            _ => return self.prompt_tokens(&req.prompt),
        };
        let text = self
            .codec
            .render_with_tools(messages, &t.tools)
            .map_err(prepare)?;
        self.codec.encode(&text, false).map_err(prepare)
    }

    fn generate(&mut self, req: &Request, sent_at: Instant) -> Result<Response, RequestError> {
        let tokens = self.request_tokens(req)?;
        if tokens.is_empty() {
            return Err(RequestError::new(
                ErrorCategory::Prepare,
                "the prompt has no tokens",
            ));
        }
        if tokens.len() + req.max_tokens as usize > self.ctx_size as usize {
            return Err(RequestError::new(
                ErrorCategory::Prepare,
                format!(
                    "prompt ({} tokens) + max_tokens ({}) exceed ctx_size {}",
                    tokens.len(),
                    req.max_tokens,
                    self.ctx_size
                ),
            ));
        }
        let banned = if req.ignore_eos {
            self.codec.eos_ids.clone()
        } else {
            Vec::new()
        };
        let mut sampler = Sampler::new(req.temperature, req.top_p, req.seed.unwrap_or(42), banned);
        let mut pick = |logits: &[f32]| sampler.sample(logits);
        let empty = self.empty_cache().map_err(engine_error)?;
        // Prefill: the whole prompt in one pass.
        let step = self
            .run(&tokens, &empty, Some(&mut pick))
            .map_err(|e| engine_error(format!("prefill: {e}")))?;
        let mut perf = Perf {
            prompt_n: tokens.len() as u64,
            prompt_ms: step.run.as_secs_f64() * 1e3,
            ..Perf::default()
        };
        let (mut token, mut cache) = (step.token, step.cache);
        let mut out =
            Response::failed(sent_at, RequestError::new(ErrorCategory::EmptyResponse, ""));
        out.error = None;
        let mut generated = Vec::with_capacity(req.max_tokens as usize);
        let mut finish = "length";
        while let Some(t) = token {
            // Stamped as soon as the token is picked, as the llama.cpp engine does.
            let at = Instant::now();
            if self.codec.eos_ids.contains(&t) {
                finish = "stop";
                break;
            }
            generated.push(t);
            out.content.push(ContentChunk {
                at,
                tokens: Some(1),
                text_bytes: self.codec.token_bytes(t),
            });
            if generated.len() as u32 >= req.max_tokens {
                break;
            }
            // Decode: one token, the cache fed back.
            let step = self
                .run(&[t], &cache, Some(&mut pick))
                .map_err(|e| engine_error(format!("decode at position {}: {e}", cache.len())))?;
            perf.eval_n += 1;
            perf.eval_ms += step.run.as_secs_f64() * 1e3;
            (token, cache) = (step.token, step.cache);
        }
        out.text = self.codec.decode(&generated);
        if !req.tools.tools.is_empty() {
            let (text, calls) = tool_calls::extract(&self.codec.decode_with_special(&generated));
            if !calls.is_empty() {
                (out.text, out.tool_calls) = (text, calls);
                finish = "tool_calls";
            }
        }
        out.finish_reason = Some(finish.into());
        out.usage = Some(Usage {
            prompt_tokens: Some(tokens.len() as u64),
            completion_tokens: Some(generated.len() as u64),
            cached_tokens: Some(0),
        });
        out.timings = Some(timings(&perf));
        if out.content.is_empty() {
            out.error = Some(RequestError::new(
                ErrorCategory::EmptyResponse,
                "the model ended before the first token",
            ));
        }
        Ok(out)
    }

    /// Greedy tokens for raw text, with the cache (prefill then one token per run) or without
    /// it (the whole sequence re-run for every token): the two must agree.
    fn greedy(&mut self, text: &str, n: usize, cached: bool) -> Result<Vec<u32>, String> {
        let mut seq = self.codec.encode(text, true)?;
        let mut out = Vec::with_capacity(n);
        let empty = self.empty_cache()?;
        let mut pick = |logits: &[f32]| argmax(logits);
        let mut step = self.run(&seq, &empty, Some(&mut pick))?;
        while let Some(token) = step.token {
            out.push(token);
            seq.push(token);
            if out.len() >= n {
                break;
            }
            step = if cached {
                let cache = step.cache;
                self.run(&[token], &cache, Some(&mut pick))?
            } else {
                self.run(&seq, &empty, Some(&mut pick))?
            };
        }
        Ok(out)
    }

    fn vocab(&self) -> u32 {
        self.layout
            .vocab_size
            .unwrap_or_else(|| self.codec.vocab_size())
            .max(1) as u32
    }

    /// llama-bench's `test_prompt`: `n` random tokens in one pass after `cache`.
    fn test_prompt(
        &mut self,
        cache: &KvCache,
        rng: &mut ChaCha8Rng,
        n: u32,
    ) -> Result<(KvCache, Duration), String> {
        let vocab = self.vocab();
        let tokens: Vec<u32> = (0..n).map(|_| rng.random_range(0..vocab)).collect();
        let step = self.run(&tokens, cache, None)?;
        Ok((step.cache, step.run))
    }

    /// llama-bench's `test_gen`: `n` single-token runs of random tokens after `cache`.
    fn test_gen(
        &mut self,
        cache: &KvCache,
        rng: &mut ChaCha8Rng,
        n: u32,
    ) -> Result<Duration, String> {
        let vocab = self.vocab();
        let mut run = Duration::ZERO;
        let mut step = self.run(&[rng.random_range(0..vocab)], cache, None)?;
        run += step.run;
        for _ in 1..n {
            step = self.run(&[rng.random_range(0..vocab)], &step.cache, None)?;
            run += step.run;
        }
        Ok(run)
    }

    /// One llama-bench test, repeated: a warm-up run, then per repetition the depth (computed
    /// once and kept) and the timed prompt pass or generated tokens.
    fn bench(&mut self, t: BenchTest) -> Result<Vec<BenchSample>, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(t.seed);
        let empty = self.empty_cache()?;
        if t.warmup {
            if t.n_prompt > 0 {
                self.test_prompt(&empty, &mut rng, t.n_prompt)?;
            }
            if t.n_gen > 0 {
                self.test_gen(&empty, &mut rng, 1)?;
            }
        }
        let mut samples = Vec::with_capacity(t.repetitions as usize);
        for _ in 0..t.repetitions {
            let depth = match self.depth_cache.take() {
                Some((d, c)) if d == t.n_depth => c,
                _ if t.n_depth > 0 => self.test_prompt(&empty, &mut rng, t.n_depth)?.0,
                _ => self.empty_cache()?,
            };
            let mut perf = Perf::default();
            let start = Instant::now();
            let mut after_prompt = None;
            if t.n_prompt > 0 {
                let (c, run) = self.test_prompt(&depth, &mut rng, t.n_prompt)?;
                (perf.prompt_n, perf.prompt_ms) = (t.n_prompt as u64, run.as_secs_f64() * 1e3);
                after_prompt = Some(c);
            }
            if t.n_gen > 0 {
                let run =
                    self.test_gen(after_prompt.as_ref().unwrap_or(&depth), &mut rng, t.n_gen)?;
                (perf.eval_n, perf.eval_ms) = (t.n_gen as u64, run.as_secs_f64() * 1e3);
            }
            let ns = start.elapsed().as_nanos() as u64;
            samples.push(BenchSample {
                ns,
                perf,
                pp_ns: None,
            });
            if t.n_depth > 0 {
                self.depth_cache = Some((t.n_depth, depth));
            }
        }
        Ok(samples)
    }
}

impl engine_thread::Engine for Engine {
    type Extra = super::logits::Extra<Greedy>;

    fn count_prompt(&mut self, prompt: &Prompt) -> Result<u32, RequestError> {
        self.prompt_tokens(prompt).map(|t| t.len() as u32)
    }

    fn count_text(&mut self, text: &str) -> Option<u32> {
        self.codec.encode(text, false).ok().map(|t| t.len() as u32)
    }

    fn answer(&mut self, req: &Request, sent_at: Instant) -> Response {
        self.generate(req, sent_at)
            .unwrap_or_else(|e| Response::failed(sent_at, e))
    }

    fn run_bench(&mut self, test: BenchTest) -> Result<Vec<BenchSample>, String> {
        self.bench(test)
    }

    fn extra(&mut self, x: Self::Extra) {
        match x {
            super::logits::Extra::Own(g) => {
                let _ = g.reply.send(self.greedy(&g.text, g.n, g.cached));
            }
            // Token scoring (the drift scenario): see `logits.rs`.
            x => super::logits::serve(&mut self.session, &self.layout, &self.codec, x),
        }
    }
}
