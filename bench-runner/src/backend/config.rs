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
//!
//! Parsing has two phases, as for scenario files (`scenario/mod.rs`): this file reads `kind`
//! and the keys every kind shares ([`BackendConfig`]), then hands the rest of the entry to the
//! kind's own config (`openai/config.rs`, `llamacpp/config.rs`, `onnx/config.rs`,
//! `replay/config.rs`, each a `KindConfig` of `entry.rs`), deserialised strictly and with
//! spans, so every mistake keeps its file:line:col. Which keys a kind takes is read from its
//! raw struct (no list is written twice), so a key of another kind is refused with the kind it
//! belongs to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::entry::{Entry, keys_of};
use super::{BACKEND_KINDS, BackendKind};
use crate::error::{Error, Result};
use crate::source;

/// Defaults of the common keys, for entries that leave them out and for ad-hoc backends.
const DEFAULT_TIMEOUT_S: f64 = 600.0;
const DEFAULT_STALL_TIMEOUT_S: f64 = 120.0;
const DEFAULT_RETRIES: u32 = 2;
const DEFAULT_RETRY_BACKOFF_S: f64 = 1.0;

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub default: Option<String>,
    /// In file order is not kept; names sort, which keeps runs reproducible.
    pub backends: BTreeMap<String, BackendConfig>,
}

#[derive(Debug, Clone, PartialEq)]
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

impl BackendConfig {
    /// A backend of this name and kind with every common key at its default, as an entry
    /// that writes only `kind` and the kind's own keys gets (e.g. for a server named on the
    /// command line: `BackendConfig::new(name, BackendKind::OpenAi(OpenAiConfig::ad_hoc(…)?))`).
    pub fn new(name: impl Into<String>, kind: BackendKind) -> Self {
        BackendConfig {
            name: name.into(),
            kind,
            device: None,
            timeout_s: DEFAULT_TIMEOUT_S,
            stall_timeout_s: DEFAULT_STALL_TIMEOUT_S,
            retries: DEFAULT_RETRIES,
            retry_backoff_s: DEFAULT_RETRY_BACKOFF_S,
        }
    }

    /// Mistakes in what the backend names outside its config file (an API key variable that
    /// is not set, a model path that is no file), so that `run` finds them before it starts
    /// anything; each is bad input (exit 2).
    pub fn check_inputs(&self) -> Result<()> {
        self.kind.check_inputs(&self.name)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default: Option<Spanned<String>>,
    #[serde(default)]
    backends: BTreeMap<String, Spanned<Common>>,
}

/// The keys every kind shares (phase one; other keys are left for the kind).
#[derive(Deserialize)]
struct Common {
    kind: Spanned<String>,
    device: Option<String>,
    timeout_s: Option<Spanned<f64>>,
    stall_timeout_s: Option<Spanned<f64>>,
    retries: Option<Spanned<u32>>,
    retry_backoff_s: Option<Spanned<f64>>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Error::read(path, e);
            }
            // The default, scenarios/backends.toml, is relative to where edgebench is started.
            // (The hint follows the cause, which `ReadFile` cannot say: a message it stays.)
            Error::file(
                path,
                format!("{e} (relative paths are from the current directory; name a backend config with -c/--config FILE)"),
            )
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks a config's text; every mistake is reported, not just the first.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        source::parse_all(text, |t| Self::parse_once(path, t))
    }

    fn parse_once(path: &Path, text: &str) -> Result<Self> {
        let toml_error = |e: toml::de::Error| source::toml_error(path, text, &e);
        let raw: RawConfig = toml::from_str(text).map_err(toml_error)?;
        // The same text again, as a tree with spans: each kind's own keys are read from it.
        let tree = DeTable::parse(text).map_err(toml_error)?.into_inner();
        let entries = tree.get("backends").and_then(|b| b.get_ref().as_table());
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut backends = BTreeMap::new();
        for (name, common) in raw.backends {
            let entry = Entry {
                path,
                text,
                base_dir: &base_dir,
                name: &name,
                span: common.span(),
            };
            let table = entries.and_then(|t| t.get(name.as_str()));
            let b = parse_entry(&entry, common.into_inner(), table)?;
            backends.insert(name, b);
        }
        if let Some(d) = &raw.default
            && !backends.contains_key(d.get_ref())
        {
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

/// Phase two of one entry: the common keys checked, then the rest handed to the kind.
fn parse_entry(
    entry: &Entry<'_>,
    c: Common,
    table: Option<&Spanned<DeValue<'_>>>,
) -> Result<BackendConfig> {
    let timeout_s = entry.seconds(&c.timeout_s, "timeout_s", DEFAULT_TIMEOUT_S)?;
    let stall_timeout_s = entry.seconds(
        &c.stall_timeout_s,
        "stall_timeout_s",
        DEFAULT_STALL_TIMEOUT_S,
    )?;
    let retry_backoff_s = entry.seconds(
        &c.retry_backoff_s,
        "retry_backoff_s",
        DEFAULT_RETRY_BACKOFF_S,
    )?;
    let retries = match &c.retries {
        Some(r) if *r.get_ref() > 20 => {
            return Err(entry.error(r.span(), "`retries` must be at most 20"));
        }
        Some(r) => *r.get_ref(),
        None => DEFAULT_RETRIES,
    };
    let kind = c.kind.get_ref().as_str();
    let Some(takes) = BackendKind::keys_of(kind) else {
        return Err(entry.error(
            c.kind.span(),
            format!(
                "unknown backend kind `{kind}`; expected one of: {}",
                BACKEND_KINDS.join(", ")
            ),
        ));
    };
    // The entry without the common keys: what the kind's own `Raw` must take.
    let common = keys_of::<Common>();
    let mut own = DeTable::new();
    if let Some(DeValue::Table(t)) = table.map(Spanned::get_ref) {
        own.extend(
            t.iter()
                .filter(|(k, _)| !common.contains(&k.get_ref().as_ref()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    refuse_stray_key(entry, kind, &own, common, takes)?;
    let own = Spanned::new(entry.span.clone(), DeValue::Table(own));
    let kind = BackendKind::parse(kind, entry, own).expect("a kind with keys has a parser")?;
    Ok(BackendConfig {
        name: entry.name.to_string(),
        kind,
        device: c.device,
        timeout_s,
        stall_timeout_s,
        retries,
        retry_backoff_s,
    })
}

/// The first key (in file order) that the kind does not take: one of another kind, said as
/// such at its value, or one of no kind, at the key (in serde's words, listing every key
/// this kind takes).
fn refuse_stray_key(
    entry: &Entry<'_>,
    kind: &str,
    own: &DeTable<'_>,
    common: &[&str],
    takes: &[&str],
) -> Result<()> {
    let stray = own
        .iter()
        .filter(|(k, _)| !takes.contains(&k.get_ref().as_ref()))
        .min_by_key(|(k, _)| k.span().start);
    let Some((key, value)) = stray else {
        return Ok(());
    };
    let key_name = key.get_ref().as_ref();
    let owners: Vec<&str> = BACKEND_KINDS
        .iter()
        .copied()
        .filter(|k| BackendKind::keys_of(k).is_some_and(|keys| keys.contains(&key_name)))
        .collect();
    if owners.is_empty() {
        let expected: Vec<String> = common
            .iter()
            .chain(takes)
            .map(|k| format!("`{k}`"))
            .collect();
        return Err(entry.error(
            key.span(),
            format!(
                "unknown field `{key_name}`, expected one of {}",
                expected.join(", ")
            ),
        ));
    }
    let kinds = if owners.len() == 1 { "kind" } else { "kinds" };
    Err(entry.error(
        value.span(),
        format!(
            "`{key_name}` does not belong to a backend of kind {kind} (it belongs to {kinds} {})",
            owners.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> String {
        Config::parse(Path::new("b.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_missing_config_says_how_to_name_one() {
        let e = Config::load(Path::new("/nonexistent/scenarios/backends.toml")).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("-c/--config"), "{e}");
    }

    #[test]
    fn the_keys_of_a_kind_are_the_fields_of_its_raw_struct() {
        assert_eq!(
            keys_of::<Common>(),
            [
                "kind",
                "device",
                "timeout_s",
                "stall_timeout_s",
                "retries",
                "retry_backoff_s"
            ]
        );
        for kind in BACKEND_KINDS {
            let keys = BackendKind::keys_of(kind).unwrap();
            assert!(!keys.is_empty(), "{kind}");
            // A kind's own keys never repeat a common one (that would be read twice).
            assert!(
                !keys.iter().any(|k| keys_of::<Common>().contains(k)),
                "{kind}"
            );
        }
        assert!(BackendKind::keys_of("grpc").is_none());
    }

    #[test]
    fn unknown_key_kind_and_bad_default_are_located() {
        let e =
            bad("[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key = \"sk-1\"\n");
        assert!(e.starts_with("b.toml:4:1: unknown field `api_key`"), "{e}");
        // The keys the kind takes are listed, the common ones too.
        assert!(
            e.contains("`timeout_s`") && e.contains("`api_key_env`"),
            "{e}"
        );
        assert!(!e.contains("`threads`"), "{e}");
        let e = bad("default = \"t\"\n[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\n");
        assert!(e.starts_with("b.toml:1:11:"), "{e}");
        let e = bad("[backends.s]\nkind = \"grpc\"\n");
        assert!(
            e.starts_with("b.toml:2:8: unknown backend kind `grpc`; expected one of: openai, llamacpp, onnx, replay"),
            "{e}"
        );
    }

    #[test]
    fn a_key_of_another_kind_says_whose_it_is() {
        let e = bad("[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\nctx_size = 512\n");
        assert!(
            e.starts_with(
                "b.toml:4:12: `ctx_size` does not belong to a backend of kind openai (it belongs to kinds llamacpp, onnx)"
            ),
            "{e}"
        );
        // The first stray key in the file is the one reported.
        let e = bad(
            "[backends.s]\nkind = \"openai\"\nfile = \"t\"\nbase_url = \"http://x\"\nthreads = 2\n",
        );
        assert!(
            e.starts_with("b.toml:3:8: `file` does not belong to a backend of kind openai (it belongs to kind replay)"),
            "{e}"
        );
    }

    /// Before each kind owned its keys, `source_backend` (a replay key) was silently ignored on
    /// every other kind, being in none of the hand-kept foreign-key lists.
    #[test]
    fn a_replay_key_on_another_kind_is_refused() {
        let e = bad(
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\nsource_backend = \"q\"\n",
        );
        assert!(
            e.starts_with(
                "b.toml:4:18: `source_backend` does not belong to a backend of kind openai (it belongs to kind replay)"
            ),
            "{e}"
        );
        let e =
            bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nsource_backend = \"q\"\n");
        assert!(
            e.contains("`source_backend` does not belong to a backend of kind llamacpp"),
            "{e}"
        );
    }

    #[test]
    fn common_keys_are_checked_for_every_kind() {
        let e = bad("[backends.r]\nkind = \"replay\"\nfile = \"t\"\nretries = 21\n");
        assert!(
            e.starts_with("b.toml:4:11: `retries` must be at most 20"),
            "{e}"
        );
        let e = bad("[backends.r]\nkind = \"onnx\"\nmodel = \"m\"\nstall_timeout_s = 0\n");
        assert!(
            e.starts_with("b.toml:4:19: `stall_timeout_s` must be a positive"),
            "{e}"
        );
        let c = Config::parse(
            Path::new("b.toml"),
            "[backends.r]\nkind = \"replay\"\nfile = \"t\"\ndevice = \"box\"\ntimeout_s = 5\n",
        )
        .unwrap();
        let r = &c.backends["r"];
        assert_eq!(
            (r.device.as_deref(), r.timeout_s, r.retries),
            (Some("box"), 5.0, 2)
        );
    }
}
