//! The `onnx` backend: ONNX Runtime in process through `ort`, on a decoder LLM exported in the
//! optimum / onnxruntime-genai layout (model.onnx, tokenizer.json, config files in a folder).
//!
//! Built like the `llamacpp` backend: the async side only sends commands to the engine thread
//! ([`engine`]) and awaits its answers; a request's `sent_at` is stamped when it is handed to
//! the engine, and the engine has one sequence (one slot). Loading fails with a clear error,
//! never a panic: a missing or wrong library ([`library`]), or a model whose inputs are not the
//! expected ones (the message lists what it has, [`layout`]).

pub mod config;
mod engine;
mod kv_cache;
pub mod layout;
pub mod library;
mod logits;
pub mod quant;
mod sampler;
mod session;
mod tokenizer;
mod tool_calls;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::oneshot;

use super::BackendKind;
use super::bench::{BenchSample, BenchTest};
use super::config::BackendConfig;
use super::engine_thread::{self, Command, EngineHandle};
use super::{BackendFacts, ModelColumns, Prompt, Request, RequestError, Response};
use super::{BackendImpl, Endpoint};
use crate::error::{Error, Result};
pub use config::{GraphOptimization, OnnxConfig};
use engine::{Engine, Greedy};

/// What the engine knows once the model is loaded, for run.json and the pp_tg table.
#[derive(Debug, Clone, Serialize)]
pub struct OnnxFacts {
    /// The `ort` crate this edgebench was built with.
    pub ort_crate: String,
    /// ONNX Runtime's release, from the loaded library's build string.
    pub onnxruntime_version: String,
    /// ONNX Runtime's build string (branch, commit, build type).
    pub build_info: String,
    pub library: String,
    /// The provider the session was made with (ONNX Runtime's name).
    pub execution_provider: String,
    /// Providers compiled into this edgebench that the loaded library also has.
    pub providers_available: Vec<String>,
    pub intra_op_threads: u32,
    pub inter_op_threads: u32,
    pub graph_optimization: GraphOptimization,
    /// The graph file and the default-domain opset it imports.
    pub model_file: String,
    pub opset: Option<u32>,
    pub producer: Option<String>,
    /// SHA-256 of every file in the model folder (graph, external weights, tokenizer, configs).
    pub files_sha256: BTreeMap<String, String>,
    /// Bytes of the graph and its external weights.
    pub model_bytes: u64,
    pub layout: layout::DecoderLayout,
    /// How the weights are quantised, read from the graph's nodes (`None`: unreadable).
    pub quantization: Option<quant::Quantization>,
    pub ctx_size: u32,
    pub chat_template: bool,
    /// SHA-256 of the chat template's source (`None`: the folder has none).
    pub chat_template_sha256: Option<String>,
    pub eos_token_ids: Vec<u32>,
    /// Seconds to load the library, the tokenizer and the session (and hash the files).
    pub load_s: f64,
}

impl OnnxFacts {
    pub fn model_columns(&self, model: &str) -> ModelColumns {
        ModelColumns {
            model: model.to_string(),
            size_bytes: Some(self.model_bytes),
            n_params: None,
            backend: format!(
                "ONNX Runtime {} ({})",
                self.onnxruntime_version,
                self.execution_provider
                    .trim_end_matches("ExecutionProvider")
            ),
            threads: Some(self.intra_op_threads),
        }
    }
}

pub struct OnnxBackend {
    name: String,
    device: Option<String>,
    model_dir: PathBuf,
    facts: OnnxFacts,
    engine: EngineHandle<logits::Extra<Greedy>>,
}

/// llama-bench's default thread count: the physical cores.
fn default_threads() -> u32 {
    sysinfo::System::physical_core_count()
        .ok()
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(4) as u32
}

/// The graph file and its folder: a folder holds `model.onnx` (or the file genai_config.json
/// names, or its only .onnx file); a file is taken as it is.
fn model_paths(model: &Path) -> std::result::Result<(PathBuf, PathBuf), String> {
    if model.is_file() {
        let dir = model.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok((model.to_path_buf(), dir));
    }
    if !model.is_dir() {
        return Err(format!(
            "{} does not exist (expected a folder with model.onnx and tokenizer.json; the tests' model is made by scripts/setup)",
            model.display()
        ));
    }
    let genai_name = std::fs::read_to_string(model.join("genai_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|g| {
            g.pointer("/model/decoder/filename")
                .and_then(|f| f.as_str())
                .map(str::to_string)
        });
    if let Some(f) = genai_name.map(|f| model.join(f)).filter(|p| p.is_file()) {
        return Ok((f, model.to_path_buf()));
    }
    if model.join("model.onnx").is_file() {
        return Ok((model.join("model.onnx"), model.to_path_buf()));
    }
    let onnx: Vec<PathBuf> = std::fs::read_dir(model)
        .map_err(|e| format!("{}: {e}", model.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    match onnx.as_slice() {
        [one] => Ok((one.clone(), model.to_path_buf())),
        [] => Err(format!("{} has no .onnx file", model.display())),
        _ => Err(format!(
            "{} has several .onnx files; name one in `model`",
            model.display()
        )),
    }
}

/// SHA-256 of each regular file in the model folder, and the bytes of the graph and its
/// external weights (the files that are not JSON or text).
fn hash_folder(dir: &Path) -> std::result::Result<(BTreeMap<String, String>, u64), String> {
    let mut hashes = BTreeMap::new();
    let mut bytes = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (sha, n) = crate::hash::sha256_file(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        if !(name.ends_with(".json") || name.ends_with(".txt") || name.ends_with(".jinja")) {
            bytes += n;
        }
        hashes.insert(name, sha);
    }
    Ok((hashes, bytes))
}

/// Everything that happens on the engine thread before it serves: library, tokenizer, session.
fn load(
    cfg: &OnnxConfig,
    config_dir: &Path,
    intra: u32,
) -> std::result::Result<(Engine, OnnxFacts), (bool, String)> {
    let started = Instant::now();
    // (true, …): the environment or the input is wrong (exit 2); (false, …): the engine failed.
    let input = |e: String| (true, e);
    let lib = library::locate(cfg.library.as_deref(), config_dir).map_err(input)?;
    let env = library::environment(&lib).map_err(input)?;
    let (graph, dir) = model_paths(&cfg.model).map_err(input)?;
    let dims = layout::read_config_dims(&dir).map_err(input)?;
    let codec = tokenizer::TextCodec::load(&dir, &dims.eos_token_ids).map_err(input)?;
    let session = session::open(env, &graph, cfg, intra).map_err(input)?;
    let layout =
        layout::inspect(&session, &dims).map_err(|e| input(format!("{}: {e}", graph.display())))?;
    let (files_sha256, model_bytes) = hash_folder(&dir).map_err(input)?;
    let facts = OnnxFacts {
        ort_crate: "2.0.0-rc.15".into(),
        onnxruntime_version: library::version(&lib),
        build_info: library::build_info(),
        library: lib.display().to_string(),
        execution_provider: session::provider_name(&cfg.execution_provider),
        providers_available: session::available_providers(),
        intra_op_threads: intra,
        inter_op_threads: cfg.inter_op_threads.unwrap_or(1),
        graph_optimization: cfg.graph_optimization,
        model_file: graph
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        opset: session.opset_for_domain(ort::editor::ONNX_DOMAIN),
        producer: session.metadata().ok().and_then(|m| m.producer()),
        files_sha256,
        model_bytes,
        layout: layout.clone(),
        quantization: quant::inspect(&graph, quant::declared(&dir)).ok(),
        ctx_size: cfg.ctx_size,
        chat_template: codec.has_template(),
        chat_template_sha256: codec.template_sha256.clone(),
        eos_token_ids: codec.eos_ids.clone(),
        load_s: started.elapsed().as_secs_f64(),
    };
    Ok((Engine::new(session, layout, codec, cfg.ctx_size), facts))
}

impl OnnxBackend {
    /// Loads ONNX Runtime and the model on a new engine thread. A missing or wrong library, a
    /// missing model, tokenizer or template, or a graph that is not a KV-cache decoder are
    /// input errors (exit code 2) with the reason; nothing here panics.
    pub async fn connect(bc: &BackendConfig) -> Result<Self> {
        let BackendKind::Onnx(cfg) = &bc.kind else {
            return Err(Error::backend(&bc.name, "not an onnx backend"));
        };
        let intra = cfg.intra_op_threads.unwrap_or_else(default_threads);
        let (tx, rx) = std::sync::mpsc::channel();
        type Ready = std::result::Result<OnnxFacts, (bool, String)>;
        let (ready_tx, ready_rx) = oneshot::channel::<Ready>();
        let (cfg2, dir2) = (cfg.clone(), cfg.config_dir.clone());
        let thread = std::thread::Builder::new()
            .name(format!("onnx-{}", bc.name))
            .spawn(move || match load(&cfg2, &dir2, intra) {
                Ok((engine, facts)) => {
                    let _ = ready_tx.send(Ok(facts));
                    engine_thread::serve(engine, rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| Error::backend_cause(&bc.name, "cannot start the engine thread", e))?;
        let facts = match ready_rx.await {
            Ok(Ok(f)) => f,
            Ok(Err((true, e))) => {
                return Err(Error::Usage(format!("backend '{}' (onnx): {e}", bc.name)));
            }
            Ok(Err((false, e))) => return Err(Error::backend(&bc.name, e)),
            Err(_) => {
                return Err(Error::backend(
                    &bc.name,
                    "the ONNX Runtime engine thread died while loading the model",
                ));
            }
        };
        let model_dir = model_paths(&cfg.model).map(|(_, d)| d).unwrap_or_default();
        Ok(OnnxBackend {
            name: bc.name.clone(),
            device: bc.device.clone(),
            model_dir,
            facts,
            engine: EngineHandle::new(tx, thread, "ONNX Runtime"),
        })
    }

    pub fn facts(&self) -> &OnnxFacts {
        &self.facts
    }

    /// The model's name in results: its folder's name.
    fn model_name(&self) -> String {
        self.model_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.facts.model_file.clone())
    }

    fn facts_for_manifest(&self) -> BackendFacts {
        let f = &self.facts;
        let graph = self.model_dir.join(&f.model_file);
        BackendFacts {
            name: self.name.clone(),
            kind: "onnx".into(),
            model: Some(self.model_name()),
            endpoint: Some(self.endpoint()),
            server: Some("ONNX Runtime (in process)".into()),
            server_version: Some(format!(
                "onnxruntime {} / ort {}",
                f.onnxruntime_version, f.ort_crate
            )),
            slots: Some(1),
            n_ctx: Some(f.ctx_size as u64),
            model_path: Some(graph.to_string_lossy().into_owned()),
            model_sha256: f.files_sha256.get(&f.model_file).cloned(),
            model_bytes: Some(f.model_bytes),
            device: self.device.clone(),
            exact_prompt_tokens: true,
            onnx: Some(f.clone()),
            ..Default::default()
        }
    }

    /// Runs one llama-bench test in the engine (see [`BenchTest`]).
    pub async fn bench(
        &self,
        test: BenchTest,
    ) -> std::result::Result<Vec<BenchSample>, RequestError> {
        self.engine.bench(test).await
    }

    /// `n` greedy tokens after raw `text`, decoded with the KV cache or by re-running the
    /// whole sequence for every token (a correctness check of the cache path).
    pub async fn greedy_tokens(
        &self,
        text: &str,
        n: usize,
        cached: bool,
    ) -> std::result::Result<Vec<u32>, String> {
        let text = text.to_string();
        self.engine
            .ask(|reply| {
                Command::Extra(logits::Extra::Own(Greedy {
                    text,
                    n,
                    cached,
                    reply,
                }))
            })
            .await
            .unwrap_or_else(|| Err(self.engine.dead().message))
    }
}

impl BackendImpl for OnnxBackend {
    async fn open(bc: &BackendConfig, _run_dir: &std::path::Path) -> Result<Self> {
        OnnxBackend::connect(bc).await
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Chat where the model folder has a chat template, else raw completions.
    fn endpoint(&self) -> Endpoint {
        if self.facts.chat_template {
            Endpoint::Chat
        } else {
            Endpoint::Completions
        }
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
        self.engine.generate(req).await
    }

    async fn probe(&mut self) -> Result<BackendFacts> {
        Ok(self.facts_for_manifest())
    }

    /// The in-process engines take text only (see README: multimodal).
    fn supports(&self, _m: super::Modality) -> Option<bool> {
        Some(false)
    }

    fn in_process(&self) -> Option<super::InProcess<'_>> {
        Some(super::InProcess::Onnx(self))
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
        self.engine.continue_greedy(tokens, n).await
    }
}
