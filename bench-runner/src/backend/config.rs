//! The backend config file (`scenarios/backends.toml` by default): named backends.
//!
//! ```toml
//! default = "llama-server"
//!
//! [backends.llama-server]
//! kind = "openai"
//! base_url = "http://127.0.0.1:{port}/v1"   # {port} is filled in when edgebench launches it
//! model = "gemma-3-270m"
//! endpoint = "chat"                         # or "completions"
//! api_key_env = "OPENAI_API_KEY"            # the *name* of a variable; the key stays in memory
//! extra_body = { top_k = 1 }                # merged into every request body
//! device = "laptop"                         # device label for results of this backend
//!
//! [backends.llama-server.launch]
//! command = "../.venv/llama-bin/llama-server"   # relative paths are relative to this file
//! args = ["-m", "{model}", "--port", "{port}"]
//! model = "../models/gemma-3-270m-q4_k_m.gguf"
//! health_url = "http://127.0.0.1:{port}/health"
//! startup_timeout_s = 120
//!
//! [backends.gemma3-270m]
//! kind = "llamacpp"                          # llama.cpp in process, no server
//! model = "../models/gemma-3-270m-q4_k_m.gguf"
//! threads = 2                                # default: physical cores
//! batch_size = 2048                          # llama-bench's defaults below
//! ubatch_size = 512
//! ctx_size = 8192                            # context for requests (pp_tg tests size their own)
//! flash_attn = "auto"                        # "auto" | "on" | "off" (or true / false)
//! cache_type_k = "f16"
//! cache_type_v = "f16"
//! n_gpu_layers = 99                          # with a GPU feature (metal, vulkan, cuda)
//! mmap = true
//!
//! [backends.tiny-onnx]
//! kind = "onnx"                              # ONNX Runtime in process, through `ort`
//! model = "../models/onnx-tiny"              # a folder with model.onnx + tokenizer.json, or a .onnx file
//! library = "../.venv/onnxruntime/libonnxruntime.so.1.31.1"  # else ORT_DYLIB_PATH, else that default
//! intra_op_threads = 2                       # default: physical cores
//! inter_op_threads = 1
//! graph_optimization = "all"                 # "disable" | "basic" | "extended" | "all"
//! execution_provider = "cpu"                 # "cpu", or one built in with a cargo feature (README)
//! ctx_size = 8192                            # the longest prompt + output a request may have
//! ```
//!
//! Unknown keys are errors; so are keys that belong to another kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::protocol::Endpoint;
use crate::error::{Error, Result};
use crate::source;

pub const BACKEND_KINDS: &[&str] = &["openai", "llamacpp", "onnx", "replay"];

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub default: Option<String>,
    /// In file order is not kept; names sort, which keeps runs reproducible.
    pub backends: BTreeMap<String, BackendConfig>,
}

#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    pub kind: BackendKind,
    pub device: Option<String>,
    /// Per-request limit, and the longest silence allowed inside a stream.
    pub timeout_s: f64,
    pub stall_timeout_s: f64,
    /// Retries of a request refused before generation (connection refused, 429, 503).
    pub retries: u32,
    /// First back-off in seconds; doubles per retry (capped at 60 s) unless the server
    /// says `Retry-After`.
    pub retry_backoff_s: f64,
}

/// A `replay` backend: recorded responses read back from a transcripts file.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub file: PathBuf,
    pub source_backend: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone)]
pub enum BackendKind {
    OpenAi(OpenAiConfig),
    /// Recorded responses (see `backend/replay.rs`).
    Replay(ReplayConfig),
    LlamaCpp(LlamaCppConfig),
    /// ONNX Runtime in process (see `backend/onnx/`).
    Onnx(OnnxConfig),
}

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// May contain `{port}` when a launch block picks the port.
    pub base_url: String,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub endpoint: Endpoint,
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    pub launch: Option<LaunchConfig>,
    /// What media the server takes, where the user says (`[backends.X.media]`).
    pub media: MediaLimits,
}

impl OpenAiConfig {
    /// The API key to send, read from the variable `api_key_env` names. `None` where the config
    /// names no variable, or the variable is empty: a server without keys (said on stderr, so
    /// a 401 later is not a mystery). A named variable that is not set at all is a mistake in
    /// the input (exit 2), not a backend failure.
    pub fn api_key(&self, backend: &str) -> Result<Option<String>> {
        let Some(var) = &self.api_key_env else {
            return Ok(None);
        };
        match std::env::var(var) {
            Ok(key) if key.is_empty() => {
                eprintln!(
                    "note: backend '{backend}': {var} is empty, so requests carry no API key"
                );
                Ok(None)
            }
            Ok(key) => Ok(Some(key)),
            Err(std::env::VarError::NotPresent) => Err(unset_key(backend, var)),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Usage(format!(
                "backend '{backend}': environment variable {var} (its api_key_env) is not valid UTF-8"
            ))),
        }
    }
}

fn unset_key(backend: &str, var: &str) -> Error {
    Error::Usage(format!(
        "backend '{backend}': environment variable {var} (its api_key_env) is not set; \
         export it with the key, export it empty ({var}=) for a server without keys, \
         or remove api_key_env from the backend config"
    ))
}

impl BackendConfig {
    /// Mistakes in what the backend names outside its config file (an API key variable that
    /// is not set, a model path that is no file), so that `run` finds them before it starts
    /// anything; each is bad input (exit 2).
    pub fn check_inputs(&self) -> Result<()> {
        match &self.kind {
            BackendKind::OpenAi(o) => match &o.api_key_env {
                Some(var) if std::env::var_os(var).is_none() => Err(unset_key(&self.name, var)),
                _ => Ok(()),
            },
            BackendKind::LlamaCpp(l) => check_model_path(&self.name, &l.model),
            _ => Ok(()),
        }
    }
}

/// Declared media limits of a server, e.g. Ollama's OpenAI endpoint: images as data URIs
/// only, no audio. `None` means "not declared": the server's own `/props` or an error decides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaLimits {
    pub image: Option<bool>,
    pub audio: Option<bool>,
    pub max_images: Option<u32>,
}

/// llama.cpp in process. Defaults are llama-bench's, so the same settings mean the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaCppConfig {
    /// The GGUF file, resolved relative to the config file.
    pub model: PathBuf,
    /// `None`: the physical cores of this machine (llama-bench's default).
    pub threads: Option<u32>,
    pub batch_size: u32,
    pub ubatch_size: u32,
    /// Context for requests; pp_tg tests make their own of pp + tg + depth, as llama-bench does.
    pub ctx_size: u32,
    pub flash_attn: FlashAttn,
    pub cache_type_k: String,
    pub cache_type_v: String,
    /// `None`: llama.cpp's default (all layers on the GPU when a GPU back end is built in).
    pub n_gpu_layers: Option<u32>,
    pub mmap: bool,
}

/// ONNX Runtime in process: a decoder in the optimum / onnxruntime-genai layout.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxConfig {
    /// The model folder (model.onnx, tokenizer.json, config files) or the .onnx file itself,
    /// resolved relative to the config file.
    pub model: PathBuf,
    /// libonnxruntime, resolved relative to the config file; `None`: ORT_DYLIB_PATH, else the
    /// copy scripts/setup makes (see `backend/onnx/library.rs`).
    pub library: Option<PathBuf>,
    /// `None`: the physical cores of this machine (as llama-bench's threads).
    pub intra_op_threads: Option<u32>,
    pub inter_op_threads: Option<u32>,
    pub graph_optimization: GraphOptimization,
    /// Lower-case provider name (`cpu`, `cuda`, `coreml`, …).
    pub execution_provider: String,
    /// The longest prompt + output a request may have.
    pub ctx_size: u32,
    /// The config file's folder: the default library is looked for above it.
    pub config_dir: PathBuf,
}

/// ONNX Runtime's graph optimisation levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphOptimization {
    Disable,
    Basic,
    Extended,
    All,
}

/// The execution providers the `execution_provider` key may name. All but `cpu` need the
/// matching cargo feature (`onnx-cuda`, …) and a library built with that provider.
pub const EXECUTION_PROVIDERS: &[&str] = &[
    "cpu", "cuda", "tensorrt", "coreml", "directml", "nnapi", "qnn", "xnnpack", "openvino",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttn {
    Auto,
    On,
    Off,
}

/// KV cache types llama.cpp accepts for `cache_type_k` / `cache_type_v` (llama-bench's `-ctk`).
pub const CACHE_TYPES: &[&str] = &[
    "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1",
];

#[derive(Debug, Clone)]
pub struct LaunchConfig {
    pub command: PathBuf,
    pub args: Vec<String>,
    pub model: Option<PathBuf>,
    /// Substituted for `{mmproj}` in `args`.
    pub mmproj: Option<PathBuf>,
    pub health_url: String,
    pub startup_timeout_s: f64,
    /// How often a server that died mid-run is started again (on the same port).
    pub max_restarts: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default: Option<Spanned<String>>,
    #[serde(default)]
    backends: BTreeMap<String, Spanned<RawBackend>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    kind: Spanned<String>,
    device: Option<String>,
    timeout_s: Option<Spanned<f64>>,
    stall_timeout_s: Option<Spanned<f64>>,
    retries: Option<Spanned<u32>>,
    retry_backoff_s: Option<Spanned<f64>>,
    // openai
    base_url: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    extra_body: Option<Spanned<toml::Table>>,
    launch: Option<Spanned<RawLaunch>>,
    media: Option<Spanned<RawMedia>>,
    // replay
    file: Option<Spanned<String>>,
    source_backend: Option<String>,
    // llamacpp (`model` is shared: a model name for openai, a GGUF path here)
    threads: Option<Spanned<i64>>,
    batch_size: Option<Spanned<i64>>,
    ubatch_size: Option<Spanned<i64>>,
    ctx_size: Option<Spanned<i64>>,
    flash_attn: Option<Spanned<toml::Value>>,
    cache_type_k: Option<Spanned<String>>,
    cache_type_v: Option<Spanned<String>>,
    n_gpu_layers: Option<Spanned<i64>>,
    mmap: Option<Spanned<bool>>,
    // onnx (`model` and `ctx_size` are shared with llamacpp)
    library: Option<Spanned<String>>,
    intra_op_threads: Option<Spanned<i64>>,
    inter_op_threads: Option<Spanned<i64>>,
    graph_optimization: Option<Spanned<String>>,
    execution_provider: Option<Spanned<String>>,
}

impl RawBackend {
    /// Keys only the `openai` kind understands, with their spans (for "belongs to another kind").
    fn openai_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        if let Some(x) = &self.base_url {
            v.push(("base_url", x.span()));
        }
        if let Some(x) = &self.api_key_env {
            v.push(("api_key_env", x.span()));
        }
        if let Some(x) = &self.endpoint {
            v.push(("endpoint", x.span()));
        }
        if let Some(x) = &self.extra_body {
            v.push(("extra_body", x.span()));
        }
        if let Some(x) = &self.launch {
            v.push(("launch", x.span()));
        }
        if let Some(x) = &self.media {
            v.push(("media", x.span()));
        }
        v
    }

    /// Keys only the `llamacpp` kind understands.
    fn llamacpp_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut v = Vec::new();
        for (k, s) in [
            ("threads", self.threads.as_ref().map(Spanned::span)),
            ("batch_size", self.batch_size.as_ref().map(Spanned::span)),
            ("ubatch_size", self.ubatch_size.as_ref().map(Spanned::span)),
            ("ctx_size", self.ctx_size.as_ref().map(Spanned::span)),
            ("flash_attn", self.flash_attn.as_ref().map(Spanned::span)),
            (
                "cache_type_k",
                self.cache_type_k.as_ref().map(Spanned::span),
            ),
            (
                "cache_type_v",
                self.cache_type_v.as_ref().map(Spanned::span),
            ),
            (
                "n_gpu_layers",
                self.n_gpu_layers.as_ref().map(Spanned::span),
            ),
            ("mmap", self.mmap.as_ref().map(Spanned::span)),
        ] {
            if let Some(s) = s {
                v.push((k, s));
            }
        }
        v
    }

    /// Keys only the `onnx` kind understands.
    fn onnx_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        [
            ("library", self.library.as_ref().map(Spanned::span)),
            (
                "intra_op_threads",
                self.intra_op_threads.as_ref().map(Spanned::span),
            ),
            (
                "inter_op_threads",
                self.inter_op_threads.as_ref().map(Spanned::span),
            ),
            (
                "graph_optimization",
                self.graph_optimization.as_ref().map(Spanned::span),
            ),
            (
                "execution_provider",
                self.execution_provider.as_ref().map(Spanned::span),
            ),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    image: Option<bool>,
    audio: Option<bool>,
    max_images: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLaunch {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    model: Option<String>,
    /// A multimodal projector (llama-server `--mmproj {mmproj}`), relative to the config.
    mmproj: Option<String>,
    health_url: Option<String>,
    startup_timeout_s: Option<Spanned<f64>>,
    max_restarts: Option<Spanned<u32>>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            // The default, scenarios/backends.toml, is relative to where edgebench is started.
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (relative paths are from the current directory; name a backend config with -c/--config FILE)"
            } else {
                ""
            };
            Error::file(path, format!("{e}{hint}"))
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks a config's text; every mistake is reported, not just the first.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        source::parse_all(text, |t| Self::parse_once(path, t))
    }

    fn parse_once(path: &Path, text: &str) -> Result<Self> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut backends = BTreeMap::new();
        for (name, rb) in raw.backends {
            let span = rb.span();
            let b = convert(path, text, &base_dir, &name, rb.into_inner(), span)?;
            backends.insert(name, b);
        }
        if let Some(d) = &raw.default {
            if !backends.contains_key(d.get_ref()) {
                return Err(source::error_at(
                    path,
                    text,
                    Some(d.span()),
                    format!(
                        "default backend `{}` is not defined; defined: {}",
                        d.get_ref(),
                        backends.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            default: raw.default.map(Spanned::into_inner),
            backends,
        })
    }

    /// The backends a run uses: those named, else the default.
    pub fn select(&self, names: &[String]) -> Result<Vec<BackendConfig>> {
        if names.is_empty() {
            return match &self.default {
                Some(d) => Ok(vec![self.backends[d].clone()]),
                None => Err(Error::Usage(format!(
                    "{} names no default backend; choose one with --backend ({})",
                    self.path.display(),
                    self.backends.keys().cloned().collect::<Vec<_>>().join(", ")
                ))),
            };
        }
        names
            .iter()
            .map(|n| {
                self.backends.get(n).cloned().ok_or_else(|| {
                    Error::Usage(format!(
                        "no backend named '{n}' in {}; defined: {}",
                        self.path.display(),
                        self.backends.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })
            })
            .collect()
    }
}

/// A command: a bare name ("llama-server") is looked up on PATH, a path is relative to the config.
fn resolve_command(base_dir: &Path, p: &str) -> PathBuf {
    if !p.contains('/') {
        PathBuf::from(p)
    } else {
        resolve_path(base_dir, p)
    }
}

/// A file path, relative to the config file's folder unless absolute.
fn resolve_path(base_dir: &Path, p: &str) -> PathBuf {
    let pb = PathBuf::from(p);
    if pb.is_absolute() {
        pb
    } else {
        base_dir.join(pb)
    }
}

fn positive(
    path: &Path,
    text: &str,
    v: &Option<Spanned<f64>>,
    key: &str,
    default: f64,
) -> Result<f64> {
    match v {
        Some(s) if !(*s.get_ref() > 0.0 && s.get_ref().is_finite()) => Err(source::error_at(
            path,
            text,
            Some(s.span()),
            format!("`{key}` must be a positive number of seconds"),
        )),
        Some(s) => Ok(*s.get_ref()),
        None => Ok(default),
    }
}

fn convert(
    path: &Path,
    text: &str,
    base_dir: &Path,
    name: &str,
    rb: RawBackend,
    span: std::ops::Range<usize>,
) -> Result<BackendConfig> {
    let err =
        |span: std::ops::Range<usize>, msg: String| source::error_at(path, text, Some(span), msg);
    let timeout_s = positive(path, text, &rb.timeout_s, "timeout_s", 600.0)?;
    let stall_timeout_s = positive(path, text, &rb.stall_timeout_s, "stall_timeout_s", 120.0)?;
    let retry_backoff_s = positive(path, text, &rb.retry_backoff_s, "retry_backoff_s", 1.0)?;
    let retries = match &rb.retries {
        Some(r) if *r.get_ref() > 20 => {
            return Err(err(r.span(), "`retries` must be at most 20".into()));
        }
        Some(r) => *r.get_ref(),
        None => 2,
    };
    let kind_name = rb.kind.get_ref().clone();
    let foreign = match kind_name.as_str() {
        "openai" | "replay" => {
            let mut v = rb.llamacpp_keys();
            v.extend(rb.onnx_keys());
            v
        }
        "llamacpp" => {
            let mut v = rb.openai_keys();
            if let Some(f) = &rb.file {
                v.push(("file", f.span()));
            }
            v.extend(rb.onnx_keys());
            v
        }
        "onnx" => {
            let mut v = rb.openai_keys();
            if let Some(f) = &rb.file {
                v.push(("file", f.span()));
            }
            // ctx_size means the same for both in-process engines.
            v.extend(
                rb.llamacpp_keys()
                    .into_iter()
                    .filter(|(k, _)| *k != "ctx_size"),
            );
            v
        }
        _ => Vec::new(),
    };
    if let Some((key, s)) = foreign.into_iter().min_by_key(|(_, s)| s.start) {
        return Err(err(
            s,
            format!("`{key}` does not belong to a backend of kind {kind_name}"),
        ));
    }
    let kind = match kind_name.as_str() {
        "llamacpp" => BackendKind::LlamaCpp(llamacpp(path, text, base_dir, name, &rb, span)?),
        "onnx" => BackendKind::Onnx(onnx(path, text, base_dir, name, &rb, span)?),
        "openai" => {
            if let Some(f) = &rb.file {
                return Err(err(
                    f.span(),
                    "`file` belongs to kind replay, not openai".into(),
                ));
            }
            let Some(base_url) = rb.base_url else {
                return Err(err(
                    span,
                    format!("backend `{name}` (kind openai) needs `base_url`"),
                ));
            };
            if !(base_url.get_ref().starts_with("http://")
                || base_url.get_ref().starts_with("https://"))
            {
                return Err(err(
                    base_url.span(),
                    "`base_url` must start with http:// or https://".into(),
                ));
            }
            let endpoint = match rb
                .endpoint
                .as_ref()
                .map(|e| (e.get_ref().as_str(), e.span()))
            {
                None | Some(("chat", _)) => Endpoint::Chat,
                Some(("completions", _)) => Endpoint::Completions,
                Some((other, s)) => {
                    return Err(err(
                        s,
                        format!("unknown endpoint `{other}`; expected \"chat\" or \"completions\""),
                    ));
                }
            };
            if let Some(k) = &rb.api_key_env {
                let v = k.get_ref();
                if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(err(k.span(), "`api_key_env` is the *name* of an environment variable (letters, digits, _), not the key itself".into()));
                }
            }
            let extra_body = match rb.extra_body {
                Some(t) => match serde_json::to_value(t.get_ref()) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => return Err(err(t.span(), "`extra_body` must be a table".into())),
                },
                None => Default::default(),
            };
            let launch = match rb.launch {
                Some(l) => {
                    let lspan = l.span();
                    let l = l.into_inner();
                    let startup_timeout_s =
                        positive(path, text, &l.startup_timeout_s, "startup_timeout_s", 300.0)?;
                    if !base_url.get_ref().contains("{port}") {
                        return Err(err(base_url.span(), "with a `launch` block, `base_url` must contain {port}: edgebench picks a free port".into()));
                    }
                    let health_url = l.health_url.unwrap_or_else(|| {
                        // The server root: strip a trailing /v1 from base_url.
                        let b = base_url.get_ref().trim_end_matches('/');
                        format!("{}/health", b.strip_suffix("/v1").unwrap_or(b))
                    });
                    if l.command.trim().is_empty() {
                        return Err(err(lspan, "`launch.command` is empty".into()));
                    }
                    Some(LaunchConfig {
                        command: resolve_command(base_dir, &l.command),
                        args: l.args,
                        model: l.model.map(|m| resolve_path(base_dir, &m)),
                        mmproj: l.mmproj.map(|m| resolve_path(base_dir, &m)),
                        health_url,
                        startup_timeout_s,
                        max_restarts: match &l.max_restarts {
                            Some(m) if *m.get_ref() > 100 => {
                                return Err(err(
                                    m.span(),
                                    "`max_restarts` must be at most 100".into(),
                                ));
                            }
                            Some(m) => *m.get_ref(),
                            None => 1,
                        },
                    })
                }
                None => None,
            };
            BackendKind::OpenAi(OpenAiConfig {
                base_url: base_url.into_inner().trim_end_matches('/').to_string(),
                model: rb.model.map(Spanned::into_inner),
                api_key_env: rb.api_key_env.map(Spanned::into_inner),
                endpoint,
                extra_body,
                launch,
                media: match rb.media {
                    Some(m) => {
                        let m = m.into_inner();
                        if let Some(n) = &m.max_images
                            && *n.get_ref() == 0
                        {
                            return Err(err(
                                n.span(),
                                "`max_images` must be at least 1 (set `image = false` for none)"
                                    .into(),
                            ));
                        }
                        MediaLimits {
                            image: m.image,
                            audio: m.audio,
                            max_images: m.max_images.map(Spanned::into_inner),
                        }
                    }
                    None => MediaLimits::default(),
                },
            })
        }
        "replay" => {
            let Some(file) = rb.file else {
                return Err(err(
                    span,
                    format!(
                        "backend `{name}` (kind replay) needs `file`, a transcripts.jsonl of an earlier run"
                    ),
                ));
            };
            let foreign = [
                ("base_url", rb.base_url.as_ref().map(Spanned::span)),
                ("endpoint", rb.endpoint.as_ref().map(Spanned::span)),
                ("api_key_env", rb.api_key_env.as_ref().map(Spanned::span)),
                ("extra_body", rb.extra_body.as_ref().map(Spanned::span)),
                ("launch", rb.launch.as_ref().map(Spanned::span)),
                ("media", rb.media.as_ref().map(Spanned::span)),
            ];
            if let Some((key, Some(s))) = foreign.into_iter().find(|(_, s)| s.is_some()) {
                return Err(err(
                    s,
                    format!("`{key}` belongs to kind openai, not replay"),
                ));
            }
            BackendKind::Replay(ReplayConfig {
                file: resolve_path(base_dir, file.get_ref()),
                source_backend: rb.source_backend,
                model: rb.model.map(Spanned::into_inner),
            })
        }
        other => {
            return Err(err(
                rb.kind.span(),
                format!(
                    "unknown backend kind `{other}`; expected one of: {}",
                    BACKEND_KINDS.join(", ")
                ),
            ));
        }
    };
    Ok(BackendConfig {
        name: name.to_string(),
        kind,
        device: rb.device,
        timeout_s,
        stall_timeout_s,
        retries,
        retry_backoff_s,
    })
}

/// An integer setting within `min..=max`, located on error.
fn int_in(
    path: &Path,
    text: &str,
    v: &Option<Spanned<i64>>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<u32>> {
    match v {
        Some(s) if *s.get_ref() < min || *s.get_ref() > max => Err(source::error_at(
            path,
            text,
            Some(s.span()),
            format!("`{key}` must be from {min} to {max}"),
        )),
        Some(s) => Ok(Some(*s.get_ref() as u32)),
        None => Ok(None),
    }
}

fn llamacpp(
    path: &Path,
    text: &str,
    base_dir: &Path,
    name: &str,
    rb: &RawBackend,
    span: std::ops::Range<usize>,
) -> Result<LlamaCppConfig> {
    let err =
        |span: std::ops::Range<usize>, msg: String| source::error_at(path, text, Some(span), msg);
    let Some(model) = &rb.model else {
        return Err(err(
            span,
            format!("backend `{name}` (kind llamacpp) needs `model`, the path of a GGUF file"),
        ));
    };
    if model.get_ref().trim().is_empty() {
        return Err(err(
            model.span(),
            "`model` is empty; expected the path of a GGUF file".into(),
        ));
    }
    let flash_attn = match rb.flash_attn.as_ref().map(|v| (v.get_ref(), v.span())) {
        None => FlashAttn::Auto,
        Some((toml::Value::Boolean(true), _)) => FlashAttn::On,
        Some((toml::Value::Boolean(false), _)) => FlashAttn::Off,
        Some((toml::Value::String(s), _)) if s == "auto" => FlashAttn::Auto,
        Some((toml::Value::String(s), _)) if s == "on" => FlashAttn::On,
        Some((toml::Value::String(s), _)) if s == "off" => FlashAttn::Off,
        Some((_, s)) => {
            return Err(err(
                s,
                "`flash_attn` must be \"auto\", \"on\", \"off\", true or false".into(),
            ));
        }
    };
    let cache_type = |v: &Option<Spanned<String>>, key: &str| -> Result<String> {
        match v {
            None => Ok("f16".into()),
            Some(s) if CACHE_TYPES.contains(&s.get_ref().as_str()) => Ok(s.get_ref().clone()),
            Some(s) => Err(err(
                s.span(),
                format!(
                    "unknown `{key}` `{}`; expected one of: {}",
                    s.get_ref(),
                    CACHE_TYPES.join(", ")
                ),
            )),
        }
    };
    let batch_size = int_in(path, text, &rb.batch_size, "batch_size", 1, 1 << 20)?.unwrap_or(2048);
    let ubatch_size =
        int_in(path, text, &rb.ubatch_size, "ubatch_size", 1, 1 << 20)?.unwrap_or(512);
    Ok(LlamaCppConfig {
        model: resolve_path(base_dir, model.get_ref()),
        threads: int_in(path, text, &rb.threads, "threads", 1, 1024)?,
        batch_size,
        ubatch_size,
        ctx_size: int_in(path, text, &rb.ctx_size, "ctx_size", 16, 1 << 24)?.unwrap_or(8192),
        flash_attn,
        cache_type_k: cache_type(&rb.cache_type_k, "cache_type_k")?,
        cache_type_v: cache_type(&rb.cache_type_v, "cache_type_v")?,
        n_gpu_layers: int_in(path, text, &rb.n_gpu_layers, "n_gpu_layers", 0, 100_000)?,
        mmap: rb.mmap.as_ref().is_none_or(|m| *m.get_ref()),
    })
}

fn onnx(
    path: &Path,
    text: &str,
    base_dir: &Path,
    name: &str,
    rb: &RawBackend,
    span: std::ops::Range<usize>,
) -> Result<OnnxConfig> {
    let err =
        |span: std::ops::Range<usize>, msg: String| source::error_at(path, text, Some(span), msg);
    let Some(model) = &rb.model else {
        return Err(err(
            span,
            format!(
                "backend `{name}` (kind onnx) needs `model`, a folder with model.onnx and tokenizer.json (or the .onnx file)"
            ),
        ));
    };
    if model.get_ref().trim().is_empty() {
        return Err(err(
            model.span(),
            "`model` is empty; expected a model folder or an .onnx file".into(),
        ));
    }
    let library = match &rb.library {
        Some(l) if l.get_ref().trim().is_empty() => {
            return Err(err(
                l.span(),
                "`library` is empty; expected the path of libonnxruntime".into(),
            ));
        }
        Some(l) => Some(resolve_path(base_dir, l.get_ref())),
        None => None,
    };
    let graph_optimization = match rb
        .graph_optimization
        .as_ref()
        .map(|g| (g.get_ref().as_str(), g.span()))
    {
        None | Some(("all", _)) => GraphOptimization::All,
        Some(("disable", _)) => GraphOptimization::Disable,
        Some(("basic", _)) => GraphOptimization::Basic,
        Some(("extended", _)) => GraphOptimization::Extended,
        Some((other, s)) => {
            return Err(err(
                s,
                format!(
                    "unknown `graph_optimization` `{other}`; expected \"disable\", \"basic\", \"extended\" or \"all\""
                ),
            ));
        }
    };
    let execution_provider = match &rb.execution_provider {
        None => "cpu".to_string(),
        Some(e) => {
            let lower = e.get_ref().to_ascii_lowercase();
            let lower = lower.trim_end_matches("executionprovider").to_string();
            if !EXECUTION_PROVIDERS.contains(&lower.as_str()) {
                return Err(err(
                    e.span(),
                    format!(
                        "unknown `execution_provider` `{}`; expected one of: {}",
                        e.get_ref(),
                        EXECUTION_PROVIDERS.join(", ")
                    ),
                ));
            }
            lower
        }
    };
    Ok(OnnxConfig {
        model: resolve_path(base_dir, model.get_ref()),
        library,
        intra_op_threads: int_in(
            path,
            text,
            &rb.intra_op_threads,
            "intra_op_threads",
            1,
            1024,
        )?,
        inter_op_threads: int_in(
            path,
            text,
            &rb.inter_op_threads,
            "inter_op_threads",
            1,
            1024,
        )?,
        graph_optimization,
        execution_provider,
        ctx_size: int_in(path, text, &rb.ctx_size, "ctx_size", 16, 1 << 24)?.unwrap_or(8192),
        config_dir: base_dir.to_path_buf(),
    })
}

/// A model path that is not a file is a mistake in the config (exit 2), told apart from a
/// model that exists but llama.cpp cannot load (a backend failure, exit 3).
pub(crate) fn check_model_path(backend: &str, model: &Path) -> Result<()> {
    let problem = match std::fs::metadata(model) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) if m.is_dir() => "is a folder; `model` must name the .gguf file inside it",
        Ok(_) => "is not a regular file; `model` must name a .gguf file",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "does not exist (relative paths are from the backend config's folder; \
             scripts/setup downloads the shipped models)"
        }
        Err(_) => "cannot be read",
    };
    Err(Error::file(
        model,
        format!("model of backend '{backend}' {problem}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_path_that_is_no_file_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_model_path("b", dir.path()).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e = check_model_path("b", &dir.path().join("nope.gguf")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let f = dir.path().join("m.gguf");
        std::fs::write(&f, b"GGUF").unwrap();
        assert!(check_model_path("b", &f).is_ok());
    }

    #[test]
    fn the_shipped_remote_backend_needs_no_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/backends.toml");
        let c = Config::load(&path).unwrap();
        let BackendKind::OpenAi(o) = &c.backends["remote"].kind else {
            panic!("openai expected")
        };
        assert_eq!(o.api_key_env, None);
        assert_eq!(o.api_key("remote").unwrap(), None);
    }

    #[test]
    fn an_api_key_variable_that_is_not_set_is_bad_input() {
        let cfg = |var: &str| OpenAiConfig {
            base_url: "http://h/v1".into(),
            model: None,
            api_key_env: Some(var.into()),
            endpoint: Endpoint::Chat,
            extra_body: Default::default(),
            launch: None,
            media: MediaLimits::default(),
        };
        // Names no other test uses: the environment is shared by the test threads.
        let e = cfg("EDGEBENCH_UNIT_KEY_UNSET_16").api_key("b").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("is not set"), "{e}");
        // A set variable gives its value (the empty one is tested through the CLI, in
        // tests/input_errors.rs, since this crate sets no variables).
        assert_eq!(
            cfg("PATH").api_key("b").unwrap(),
            std::env::var("PATH").ok().filter(|p| !p.is_empty())
        );
    }

    #[test]
    fn a_missing_config_says_how_to_name_one() {
        let e = Config::load(Path::new("/nonexistent/scenarios/backends.toml")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("-c/--config"), "{e}");
    }

    #[test]
    fn parses_launch_block_and_resolves_paths() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "default = \"s\"\n[backends.s]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[backends.s.launch]\ncommand = \"../bin/server\"\nargs = [\"--port\", \"{port}\"]\nmodel = \"m.gguf\"\n",
        )
        .unwrap();
        let b = &c.backends["s"];
        let BackendKind::OpenAi(o) = &b.kind else {
            panic!("openai expected")
        };
        let l = o.launch.as_ref().unwrap();
        assert_eq!(l.command, PathBuf::from("conf/../bin/server"));
        assert_eq!(l.model.as_deref(), Some(Path::new("conf/m.gguf")));
        assert_eq!(l.health_url, "http://127.0.0.1:{port}/health");
    }

    #[test]
    fn media_limits_and_mmproj() {
        let c = Config::parse(
            Path::new("/cfg/b.toml"),
            "[backends.o]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[backends.o.media]\naudio = false\nmax_images = 4\n[backends.o.launch]\ncommand = \"srv\"\nmmproj = \"p.gguf\"\n",
        )
        .unwrap();
        let BackendKind::OpenAi(o) = &c.backends["o"].kind else {
            panic!("openai")
        };
        assert_eq!(
            o.media,
            MediaLimits {
                image: None,
                audio: Some(false),
                max_images: Some(4)
            }
        );
        assert_eq!(
            o.launch.as_ref().unwrap().mmproj.as_deref(),
            Some(Path::new("/cfg/p.gguf"))
        );
        let e = Config::parse(
            Path::new("b.toml"),
            "[backends.o]\nkind = \"openai\"\nbase_url = \"http://x/v1\"\n[backends.o.media]\nmax_images = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("b.toml:5:14:"), "{e}");
        let e = Config::parse(
            Path::new("b.toml"),
            "[backends.l]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\n[backends.l.media]\naudio = false\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`media` does not belong"), "{e}");
    }

    #[test]
    fn unknown_key_and_bad_default_are_located() {
        let e = Config::parse(
            Path::new("b.toml"),
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key = \"sk-1\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("b.toml:4:1: unknown field `api_key`"),
            "{e}"
        );
        let e = Config::parse(
            Path::new("b.toml"),
            "default = \"t\"\n[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("b.toml:1:11:"), "{e}");
    }

    #[test]
    fn parses_llamacpp_with_defaults_and_settings() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "default = \"g\"\n[backends.g]\nkind = \"llamacpp\"\nmodel = \"../m.gguf\"\n",
        )
        .unwrap();
        let BackendKind::LlamaCpp(l) = &c.backends["g"].kind else {
            panic!("llamacpp expected")
        };
        assert_eq!(l.model, PathBuf::from("conf/../m.gguf"));
        assert_eq!(
            (l.batch_size, l.ubatch_size, l.flash_attn, l.mmap),
            (2048, 512, FlashAttn::Auto, true)
        );
        assert_eq!((l.cache_type_k.as_str(), l.threads), ("f16", None));
        let c = Config::parse(Path::new("b.toml"), "[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nthreads = 2\nflash_attn = false\ncache_type_v = \"q8_0\"\nmmap = false\nn_gpu_layers = 0\n").unwrap();
        let BackendKind::LlamaCpp(l) = &c.backends["g"].kind else {
            panic!("llamacpp expected")
        };
        assert_eq!(
            (
                l.threads,
                l.flash_attn,
                l.cache_type_v.as_str(),
                l.mmap,
                l.n_gpu_layers
            ),
            (Some(2), FlashAttn::Off, "q8_0", false, Some(0))
        );
    }

    #[test]
    fn llamacpp_mistakes_are_located() {
        let bad = |t: &str| {
            Config::parse(Path::new("b.toml"), t)
                .unwrap_err()
                .to_string()
        };
        let e =
            bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nbase_url = \"http://x\"\n");
        assert!(
            e.starts_with("b.toml:4:12: `base_url` does not belong to a backend of kind llamacpp"),
            "{e}"
        );
        let e = bad("[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\nthreads = 4\n");
        assert!(
            e.starts_with("b.toml:4:11: `threads` does not belong to a backend of kind openai"),
            "{e}"
        );
        let e = bad("[backends.g]\nkind = \"llamacpp\"\n");
        assert!(e.contains("needs `model`"), "{e}");
        let e = bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nthreads = 0\n");
        assert!(
            e.starts_with("b.toml:4:11: `threads` must be from 1"),
            "{e}"
        );
        let e =
            bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\ncache_type_k = \"q9\"\n");
        assert!(
            e.starts_with("b.toml:4:16: unknown `cache_type_k` `q9`"),
            "{e}"
        );
        let e =
            bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nflash_attn = \"yes\"\n");
        assert!(e.starts_with("b.toml:4:14:"), "{e}");
        let e = bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nthread = 2\n");
        assert!(e.starts_with("b.toml:4:1: unknown field `thread`"), "{e}");
    }

    #[test]
    fn parses_onnx_with_defaults_and_settings() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "[backends.o]\nkind = \"onnx\"\nmodel = \"../m\"\n",
        )
        .unwrap();
        let BackendKind::Onnx(o) = &c.backends["o"].kind else {
            panic!("onnx expected")
        };
        assert_eq!(o.model, PathBuf::from("conf/../m"));
        assert_eq!(
            (
                o.library.as_ref(),
                o.graph_optimization,
                o.execution_provider.as_str(),
                o.ctx_size
            ),
            (None, GraphOptimization::All, "cpu", 8192)
        );
        let c = Config::parse(Path::new("b.toml"), "[backends.o]\nkind = \"onnx\"\nmodel = \"m\"\nlibrary = \"/l/libonnxruntime.so\"\nintra_op_threads = 2\ninter_op_threads = 1\ngraph_optimization = \"basic\"\nexecution_provider = \"CUDAExecutionProvider\"\nctx_size = 512\n").unwrap();
        let BackendKind::Onnx(o) = &c.backends["o"].kind else {
            panic!("onnx expected")
        };
        assert_eq!(
            (
                o.library.as_deref(),
                o.intra_op_threads,
                o.inter_op_threads,
                o.graph_optimization,
                o.execution_provider.as_str(),
                o.ctx_size
            ),
            (
                Some(Path::new("/l/libonnxruntime.so")),
                Some(2),
                Some(1),
                GraphOptimization::Basic,
                "cuda",
                512
            )
        );
    }

    #[test]
    fn onnx_mistakes_are_located() {
        let bad = |t: &str| {
            Config::parse(Path::new("b.toml"), t)
                .unwrap_err()
                .to_string()
        };
        let e = bad("[backends.o]\nkind = \"onnx\"\n");
        assert!(
            e.starts_with("b.toml:1:1:") && e.contains("needs `model`"),
            "{e}"
        );
        let e = bad("[backends.o]\nkind = \"onnx\"\nmodel = \"m\"\nthreads = 2\n");
        assert!(
            e.starts_with("b.toml:4:11: `threads` does not belong to a backend of kind onnx"),
            "{e}"
        );
        let e = bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m\"\nlibrary = \"x\"\n");
        assert!(
            e.starts_with("b.toml:4:11: `library` does not belong to a backend of kind llamacpp"),
            "{e}"
        );
        let e = bad("[backends.o]\nkind = \"onnx\"\nmodel = \"m\"\nexecution_provider = \"tpu\"\n");
        assert!(
            e.starts_with("b.toml:4:22: unknown `execution_provider` `tpu`"),
            "{e}"
        );
        let e = bad("[backends.o]\nkind = \"onnx\"\nmodel = \"m\"\ngraph_optimization = \"max\"\n");
        assert!(
            e.starts_with("b.toml:4:22: unknown `graph_optimization`"),
            "{e}"
        );
        let e = bad("[backends.o]\nkind = \"onnx\"\nmodel = \"m\"\nintra_op_threads = 0\n");
        assert!(
            e.starts_with("b.toml:4:20: `intra_op_threads` must be from 1"),
            "{e}"
        );
    }
}
