//! Backends turn a [`Request`] into a stream of timestamped events and a final [`Response`].
//!
//! One folder per backend kind: `openai/`, `llamacpp/`, `onnx/`, `replay/`. Each owns its
//! config (`foo/config.rs`, read after the common keys in [`config`]) and implements
//! [`BackendImpl`] (what a backend can do, with defaults for optional capabilities);
//! [`Backend`] is the enum that picks the implementation (the way hyperfine picks its executor)
//! and delegates to it in one place, `each_kind!`. Every kind is registered once, in the
//! `backend_kinds!` list below (`registry.rs` turns it into the enums and the dispatch). The
//! wire vocabulary shared by all kinds is in [`protocol`]. The backend knows nothing of
//! scenarios, results or reports.
//!
//! # Adding a backend kind
//!
//! A kind is one new folder plus two lines in this file (`pub mod foo;` and its line in the
//! registry, `backend_kinds!`). For a kind `foo`:
//!
//! 1. `backend/foo/config.rs` (new): `FooConfig` and its raw keys, `RawFoo` (a
//!    `#[serde(deny_unknown_fields)]` struct whose fields *are* the keys the kind takes, with
//!    `toml::Spanned` values where a check points at one), and `impl KindConfig for FooConfig`
//!    (`entry.rs`; `from_raw`: check and convert, locating mistakes with `Entry::error`; optionally
//!    `check_inputs` for files or variables it names outside the config). The common keys
//!    (`kind`, `device`, timeouts, retries) are read before, in `config.rs`; a key of another
//!    kind is refused for it, saying whose key it is.
//! 2. `backend/foo/mod.rs` (new): `pub mod config;`, `FooBackend` and
//!    `impl BackendImpl for FooBackend`. Required: `open` (connect from a config entry),
//!    `name`, `endpoint`, `probe` (the [`BackendFacts`] for run.json),
//!    `count_prompt_tokens`, `generate`. Optional, with defaults: `count_text_tokens`
//!    (`None`), `supports` / `media_limits` (unknown / none declared), `restart_log` (empty),
//!    `in_process` (`None`), and the token scoring of the drift scenario (`tokenize`,
//!    `score_tokens`, `greedy_tokens`: "cannot" by default; types in `scoring.rs`). Failures are [`RequestError`]s with an [`ErrorCategory`] (add a
//!    category in the `error_categories!` table of `protocol.rs` only if none fits;
//!    docs/results.md lists them).
//! 3. `backend/mod.rs` (this file): `pub mod foo;` and the kind's line in `backend_kinds!`
//!    below (`Foo = "foo" => foo::config::FooConfig, foo::FooBackend;`). That line makes the
//!    `BackendKind::Foo` and `Backend::Foo` variants, `"foo"` in [`BACKEND_KINDS`], its
//!    config parsing and check, its `connect` and its arm of the delegating `match`
//!    (`registry.rs`).
//!
//! Only if the kind has more than the trait asks:
//! - an in-process engine that runs llama-bench's tests (`mode = "pp_tg"`) returns an
//!   [`InProcess`] variant from `in_process` (a variant and an arm in [`InProcess::bench`]);
//! - facts only this kind has: a field in [`BackendFacts`] (as `engine` and `onnx`), and
//!   [`BackendFacts::model_columns`] if the pp_tg table should read them.
//!
//! Then docs/backends.md (its keys). Nothing outside `backend/` changes: the runner, arena and
//! reports see only [`Backend`].

mod api;
#[macro_use]
mod registry;
pub mod bench;
pub mod config;
mod engine_thread;
pub(crate) mod entry;
pub mod llamacpp;
pub mod onnx;
pub mod openai;
pub mod protocol;
pub mod replay;
pub mod scoring;
pub mod wait;

use serde::Serialize;

pub use api::BackendImpl;
pub use config::{BackendConfig, Config, MediaLimits};
// Only the openai backend uses these; the paths stay for tests and benches.
pub use openai::{launch, sse, tool_stream};
pub use protocol::{
    ContentChunk, Endpoint, ErrorCategory, MediaPart, Message, Modality, Prompt, RawCall, Request,
    RequestError, Response, ServerTimings, ToolRequest, UnknownCategory, Usage,
};

use crate::error::Result;

/// What a backend tells about itself for the run manifest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackendFacts {
    pub name: String,
    pub kind: String,
    pub model: Option<String>,
    pub endpoint: Option<Endpoint>,
    /// Base URL with any credentials stripped.
    pub base_url: Option<String>,
    /// "llama.cpp", "vllm", … where it can be told.
    pub server: Option<String>,
    pub server_version: Option<String>,
    /// Parallel slots the server has (requests beyond this queue).
    pub slots: Option<u32>,
    /// The model's context size as the server reports it (per slot where it says).
    pub n_ctx: Option<u64>,
    pub model_path: Option<String>,
    pub model_sha256: Option<String>,
    pub model_bytes: Option<u64>,
    pub device: Option<String>,
    pub exact_prompt_tokens: bool,
    /// Raw `/props` and `/v1/models` answers (chat template and all) for the record.
    pub props: Option<serde_json::Value>,
    pub models: Option<serde_json::Value>,
    pub launched: Option<launch::LaunchFacts>,
    /// In-process engines: GGUF metadata, the llama.cpp build and the settings in effect.
    pub engine: Option<llamacpp::EngineFacts>,
    /// The `onnx` engine: ONNX Runtime version, providers, model file hashes, opset, layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onnx: Option<onnx::OnnxFacts>,
}

/// The columns llama-bench prints about a model, for the pp_tg table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelColumns {
    /// llama-bench's `model_type`, e.g. `gemma3 270M Q4_K - Medium`.
    pub model: String,
    pub size_bytes: Option<u64>,
    pub n_params: Option<u64>,
    /// ggml back end (`CPU`, `CUDA`, …) or, for a server, how it is reached.
    pub backend: String,
    pub threads: Option<u32>,
}

impl BackendFacts {
    pub fn model_columns(&self) -> ModelColumns {
        if let Some(o) = &self.onnx {
            return o.model_columns(self.model.as_deref().unwrap_or_default());
        }
        if let Some(e) = &self.engine {
            return ModelColumns {
                model: e.gguf.desc.clone(),
                size_bytes: Some(e.gguf.model_size),
                n_params: Some(e.gguf.n_params),
                backend: e.build.backend.clone(),
                threads: Some(e.threads),
            };
        }
        // llama-server tells size and parameters in /v1/models (`meta`).
        let meta = |k: &str| {
            self.models
                .as_ref()
                .and_then(|m| m.pointer(&format!("/data/0/meta/{k}")))
                .and_then(serde_json::Value::as_u64)
        };
        let threads = self
            .props
            .as_ref()
            .and_then(|p| p.pointer("/default_generation_settings/params/n_threads"))
            .and_then(serde_json::Value::as_u64);
        ModelColumns {
            model: self.model.clone().unwrap_or_default(),
            size_bytes: meta("size"),
            n_params: meta("n_params"),
            backend: format!("{} (HTTP)", self.server.as_deref().unwrap_or("openai")),
            threads: threads.map(|t| t as u32),
        }
    }
}

// The registry: one line per kind (see "Adding a backend kind" above and `registry.rs`).
backend_kinds! {
    OpenAi = "openai" => openai::OpenAiConfig, openai::OpenAiBackend;
    LlamaCpp = "llamacpp" => llamacpp::LlamaCppConfig, llamacpp::LlamaCppBackend;
    Onnx = "onnx" => onnx::OnnxConfig, onnx::OnnxBackend;
    Replay = "replay" => replay::ReplayConfig, replay::ReplayBackend;
}

/// An in-process engine, which runs llama-bench's tests itself (`mode = "pp_tg"`).
pub enum InProcess<'a> {
    LlamaCpp(&'a llamacpp::LlamaCppBackend),
    Onnx(&'a onnx::OnnxBackend),
}

impl InProcess<'_> {
    pub async fn bench(
        &self,
        test: bench::BenchTest,
    ) -> std::result::Result<Vec<bench::BenchSample>, RequestError> {
        match self {
            InProcess::LlamaCpp(b) => b.bench(test).await,
            InProcess::Onnx(b) => b.bench(test).await,
        }
    }
}

impl Backend {
    pub fn name(&self) -> &str {
        each_kind!(self, b => b.name())
    }

    /// Connects and reads what the server says about itself. Fails if unreachable.
    pub async fn probe(&mut self) -> Result<BackendFacts> {
        each_kind!(self, b => b.probe().await)
    }

    /// See [`BackendImpl::count_prompt_tokens`].
    pub async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        each_kind!(self, b => b.count_prompt_tokens(prompt).await)
    }

    /// Counts tokens of generated text (for servers that report no usage).
    pub async fn count_text_tokens(&self, text: &str) -> Option<u32> {
        each_kind!(self, b => b.count_text_tokens(text).await)
    }

    pub async fn generate(&self, req: &Request) -> Response {
        each_kind!(self, b => b.generate(req).await)
    }

    /// See [`BackendImpl::supports`].
    pub fn supports(&self, m: Modality) -> Option<bool> {
        each_kind!(self, b => b.supports(m))
    }

    /// See [`BackendImpl::media_limits`].
    pub fn media_limits(&self) -> MediaLimits {
        each_kind!(self, b => b.media_limits())
    }

    pub fn endpoint(&self) -> Endpoint {
        each_kind!(self, b => b.endpoint())
    }

    /// Restarts of a launched server during the run, described for run.json.
    pub fn restart_log(&self) -> Vec<String> {
        each_kind!(self, b => b.restart_log())
    }

    /// The in-process engine, where the backend has one (llama-bench-style tests run in it).
    pub fn in_process(&self) -> Option<InProcess<'_>> {
        each_kind!(self, b => b.in_process())
    }

    /// See [`BackendImpl::tokenize`].
    pub async fn tokenize(
        &self,
        text: &str,
    ) -> std::result::Result<Vec<scoring::TokenId>, RequestError> {
        each_kind!(self, b => b.tokenize(text).await)
    }

    /// See [`BackendImpl::score_tokens`].
    pub async fn score_tokens(
        &self,
        tokens: &[scoring::TokenId],
        top_k: u32,
    ) -> std::result::Result<scoring::Scored, RequestError> {
        each_kind!(self, b => b.score_tokens(tokens, top_k).await)
    }

    /// See [`BackendImpl::greedy_tokens`].
    pub async fn greedy_tokens(
        &self,
        tokens: &[scoring::TokenId],
        n: u32,
    ) -> std::result::Result<scoring::Continuation, RequestError> {
        each_kind!(self, b => b.greedy_tokens(tokens, n).await)
    }

    /// See [`BackendImpl::reserve_streams`].
    pub async fn reserve_streams(&self, streams: u32) -> Option<u32> {
        each_kind!(self, b => b.reserve_streams(streams).await)
    }

    /// The requests served at once now: [`BackendImpl::slots_now`], else the probe's `slots`.
    pub fn slots_now(&self, facts: &BackendFacts) -> Option<u32> {
        each_kind!(self, b => b.slots_now()).or(facts.slots)
    }
}
