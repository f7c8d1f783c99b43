//! The `llamacpp` backend: llama.cpp in process through the `llama-cpp-2` crate, on a GGUF.
//!
//! The async side here only sends commands to the engine thread ([`engine`]) and awaits its
//! answers, so the runtime never blocks on llama.cpp. The engine serves several sequences in
//! one context ([`streams`]): `parallel` of them, or, where that key is not set, as many as
//! each case keeps in flight (the runner says so through `reserve_streams` before the case).
//! A request's `sent_at` is stamped when it is handed to the engine: one that waits for a free
//! sequence shows the wait in its TTFT, and a case with more streams than sequences is
//! flagged `queued`.

mod batched;
mod build_info;
pub mod config;
mod engine;
pub mod gguf;
mod logits;
mod streams;

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use serde::Serialize;
use tokio::sync::oneshot;

pub use super::bench::{BenchSample, BenchTest, Perf, timings};
use super::engine_thread::{self, EngineHandle};
pub use build_info::EngineBuild;
use engine::Engine;

use super::BackendKind;
use super::config::BackendConfig;
use super::{BackendFacts, ErrorCategory, Prompt, Request, RequestError, Response};
use super::{BackendImpl, Endpoint};
use crate::error::{Error, Result};
pub use config::{FlashAttn, LlamaCppConfig};

/// llama.cpp's global state may be initialised once per process; every backend and test shares it.
static LLAMA: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();

pub(crate) fn llama_backend() -> std::result::Result<&'static LlamaBackend, String> {
    LLAMA
        .get_or_init(|| {
            // llama.cpp logs every tensor to stderr; route its log to `tracing`, which nobody
            // subscribes to, so a run's terminal shows our progress only.
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| format!("cannot initialise llama.cpp: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What the engine knows once the model is loaded, for the run manifest and the pp_tg table.
#[derive(Debug, Clone, Serialize)]
pub struct EngineFacts {
    pub gguf: gguf::GgufFacts,
    pub build: EngineBuild,
    /// The settings in effect (threads resolved).
    pub threads: u32,
    pub batch_size: u32,
    pub ubatch_size: u32,
    pub ctx_size: u32,
    pub flash_attn: FlashAttn,
    pub cache_type_k: String,
    pub cache_type_v: String,
    pub n_gpu_layers: Option<u32>,
    pub mmap: bool,
    /// Seconds to load the model (and hash its file).
    pub load_s: f64,
}

pub struct LlamaCppBackend {
    name: String,
    device: Option<String>,
    cfg: LlamaCppConfig,
    facts: EngineFacts,
    engine: EngineHandle<logits::Cmd>,
    /// Sequences the engine serves at once now (`parallel`, or the last case's streams).
    slots: AtomicU32,
}

/// llama-bench's default thread count: the physical cores.
fn default_threads() -> u32 {
    sysinfo::System::physical_core_count()
        .ok()
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(4) as u32
}

impl LlamaCppBackend {
    /// Loads the model on a new engine thread; fails if the file is missing or not a GGUF.
    pub async fn connect(bc: &BackendConfig) -> Result<Self> {
        let BackendKind::LlamaCpp(cfg) = &bc.kind else {
            return Err(Error::backend(&bc.name, "not a llamacpp backend"));
        };
        config::check_model_path(&bc.name, &cfg.model)?;
        let threads = cfg.threads.unwrap_or_else(default_threads);
        let (tx, rx) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel::<std::result::Result<EngineFacts, String>>();
        let cfg2 = cfg.clone();
        let thread = std::thread::Builder::new()
            .name(format!("llamacpp-{}", bc.name))
            .spawn(move || {
                let started = Instant::now();
                let loaded = load(&cfg2).and_then(|model| {
                    let gguf = gguf::read(&model, &cfg2.model)
                        .map_err(|e| format!("{}: {e}", cfg2.model.display()))?;
                    Ok((model, gguf))
                });
                let (model, gguf) = match loaded {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let facts = EngineFacts {
                    gguf,
                    build: EngineBuild::read(),
                    threads,
                    batch_size: cfg2.batch_size,
                    ubatch_size: cfg2.ubatch_size,
                    ctx_size: cfg2.ctx_size,
                    flash_attn: cfg2.flash_attn,
                    cache_type_k: cfg2.cache_type_k.clone(),
                    cache_type_v: cfg2.cache_type_v.clone(),
                    n_gpu_layers: cfg2.n_gpu_layers,
                    mmap: cfg2.mmap,
                    load_s: started.elapsed().as_secs_f64(),
                };
                let _ = ready_tx.send(Ok(facts));
                engine_thread::serve(Engine::new(&model, cfg2, threads), rx);
            })
            .map_err(|e| Error::backend_cause(&bc.name, "cannot start the engine thread", e))?;
        let facts = match ready_rx.await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Err(Error::backend(&bc.name, e)),
            Err(_) => {
                return Err(Error::backend(
                    &bc.name,
                    "the engine thread died while loading the model",
                ));
            }
        };
        Ok(LlamaCppBackend {
            name: bc.name.clone(),
            device: bc.device.clone(),
            cfg: cfg.clone(),
            facts,
            engine: EngineHandle::new(tx, thread, "llama.cpp"),
            slots: AtomicU32::new(cfg.parallel.unwrap_or(1)),
        })
    }

    pub fn engine_facts(&self) -> &EngineFacts {
        &self.facts
    }

    /// Runs one llama-bench test in the engine (see [`BenchTest`]).
    pub async fn bench(
        &self,
        test: BenchTest,
    ) -> std::result::Result<Vec<BenchSample>, RequestError> {
        self.engine.bench(test).await
    }
}

impl BackendImpl for LlamaCppBackend {
    async fn open(bc: &BackendConfig, _run_dir: &std::path::Path) -> Result<Self> {
        LlamaCppBackend::connect(bc).await
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Chat, like the served backends, so one scenario measures the same prompts on both.
    fn endpoint(&self) -> Endpoint {
        Endpoint::Chat
    }

    async fn probe(&mut self) -> Result<BackendFacts> {
        let f = &self.facts;
        let file = self
            .cfg
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        Ok(BackendFacts {
            name: self.name.clone(),
            kind: "llamacpp".into(),
            model: file,
            endpoint: Some(Endpoint::Chat),
            server: Some("llama.cpp (in process)".into()),
            server_version: Some(format!(
                "llama-cpp-2 {} / llama-cpp-sys-2 {}",
                f.build.llama_cpp_2, f.build.llama_cpp_sys_2
            )),
            // `None` where the sequences follow each case (`slots_now`).
            slots: self.cfg.parallel,
            n_ctx: Some(f.ctx_size as u64),
            model_path: Some(self.cfg.model.to_string_lossy().into_owned()),
            model_sha256: Some(f.gguf.file_sha256.clone()),
            model_bytes: Some(f.gguf.file_bytes),
            device: self.device.clone(),
            exact_prompt_tokens: true,
            engine: Some(f.clone()),
            ..Default::default()
        })
    }

    async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        self.engine.count_prompt_tokens(prompt).await
    }

    async fn count_text_tokens(&self, text: &str) -> Option<u32> {
        self.engine.count_text_tokens(text).await
    }

    async fn generate(&self, req: &Request) -> Response {
        let sent_at = Instant::now();
        // The pinned llama-cpp-2 is built without its `mtmd` feature: images and audio are not
        // taken in process (README: multimodal), and a request with media says so per row.
        if let Some(m) = req.tools.media.first() {
            return Response::failed(
                sent_at,
                RequestError::new(
                    ErrorCategory::UnsupportedModality,
                    format!(
                        "the in-process llama.cpp engine takes no {} input; use llama-server with --mmproj",
                        m.modality().as_str()
                    ),
                ),
            );
        }
        self.engine.generate(req).await
    }

    /// The in-process engines take text only (see README: multimodal).
    fn supports(&self, _m: super::Modality) -> Option<bool> {
        Some(false)
    }

    fn in_process(&self) -> Option<super::InProcess<'_>> {
        Some(super::InProcess::LlamaCpp(self))
    }

    // Token scoring for the drift scenario: see `logits.rs`.
    async fn tokenize(&self, text: &str) -> std::result::Result<Vec<u32>, RequestError> {
        self.engine.tokenize(text).await
    }

    async fn score_tokens(
        &self,
        tokens: &[u32],
        _top_k: u32,
    ) -> std::result::Result<super::scoring::Scored, RequestError> {
        self.engine.score(tokens).await
    }

    async fn greedy_tokens(
        &self,
        tokens: &[u32],
        n: u32,
    ) -> std::result::Result<super::scoring::Continuation, RequestError> {
        self.engine.greedy(tokens, n).await
    }

    async fn reserve_streams(&self, streams: u32) -> Option<u32> {
        let n = self.engine.reserve(streams).await?;
        self.slots.store(n, Ordering::Relaxed);
        Some(n)
    }

    fn slots_now(&self) -> Option<u32> {
        Some(self.slots.load(Ordering::Relaxed))
    }
}

fn load(cfg: &LlamaCppConfig) -> std::result::Result<LlamaModel, String> {
    let backend = llama_backend()?;
    let mut params = LlamaModelParams::default().with_use_mmap(cfg.mmap);
    if let Some(n) = cfg.n_gpu_layers {
        params = params.with_n_gpu_layers(n);
    }
    LlamaModel::load_from_file(backend, &cfg.model, &params).map_err(|e| {
        format!(
            "cannot load {} as a GGUF model: {e}",
            Path::new(&cfg.model).display()
        )
    })
}

/// llama.cpp's perf counters of a context (read after `synchronize()`).
fn perf_of(t: &llama_cpp_2::timing::LlamaTimings) -> Perf {
    Perf {
        prompt_n: t.n_p_eval().max(0) as u64,
        prompt_ms: t.t_p_eval_ms(),
        eval_n: t.n_eval().max(0) as u64,
        eval_ms: t.t_eval_ms(),
    }
}
