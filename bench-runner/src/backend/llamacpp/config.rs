//! A `llamacpp` backend's own keys: llama.cpp in process. Defaults are llama-bench's, so the
//! same settings mean the same run.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::backend::entry::{Entry, KindConfig};
use crate::error::{Error, Result};

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
    /// Sequences served at once (llama-server's `--parallel`), each with `ctx_size / parallel`
    /// of the context. `None`: as many as the case keeps in flight, the context re-made for
    /// each case (see `streams.rs`).
    pub parallel: Option<u32>,
}

/// The most sequences one context serves (llama.cpp's `LLAMA_MAX_SEQ`).
pub const MAX_PARALLEL: u32 = 256;

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

/// The keys a `llamacpp` entry takes besides the common ones (`model` is a GGUF path here).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLlamaCpp {
    model: Option<Spanned<String>>,
    threads: Option<Spanned<i64>>,
    batch_size: Option<Spanned<i64>>,
    ubatch_size: Option<Spanned<i64>>,
    ctx_size: Option<Spanned<i64>>,
    flash_attn: Option<Spanned<toml::Value>>,
    cache_type_k: Option<Spanned<String>>,
    cache_type_v: Option<Spanned<String>>,
    n_gpu_layers: Option<Spanned<i64>>,
    mmap: Option<Spanned<bool>>,
    parallel: Option<Spanned<i64>>,
}

impl KindConfig for LlamaCppConfig {
    type Raw = RawLlamaCpp;

    fn from_raw(raw: RawLlamaCpp, entry: &Entry<'_>) -> Result<Self> {
        let Some(model) = &raw.model else {
            return Err(entry.error(
                entry.span.clone(),
                format!(
                    "backend `{}` (kind llamacpp) needs `model`, the path of a GGUF file",
                    entry.name
                ),
            ));
        };
        if model.get_ref().trim().is_empty() {
            return Err(entry.error(
                model.span(),
                "`model` is empty; expected the path of a GGUF file",
            ));
        }
        let flash_attn = match raw.flash_attn.as_ref().map(|v| (v.get_ref(), v.span())) {
            None => FlashAttn::Auto,
            Some((toml::Value::Boolean(true), _)) => FlashAttn::On,
            Some((toml::Value::Boolean(false), _)) => FlashAttn::Off,
            Some((toml::Value::String(s), _)) if s == "auto" => FlashAttn::Auto,
            Some((toml::Value::String(s), _)) if s == "on" => FlashAttn::On,
            Some((toml::Value::String(s), _)) if s == "off" => FlashAttn::Off,
            Some((_, s)) => {
                return Err(entry.error(
                    s,
                    "`flash_attn` must be \"auto\", \"on\", \"off\", true or false",
                ));
            }
        };
        let cache_type = |v: &Option<Spanned<String>>, key: &str| -> Result<String> {
            match v {
                None => Ok("f16".into()),
                Some(s) if CACHE_TYPES.contains(&s.get_ref().as_str()) => Ok(s.get_ref().clone()),
                Some(s) => Err(entry.error(
                    s.span(),
                    format!(
                        "unknown `{key}` `{}`; expected one of: {}",
                        s.get_ref(),
                        CACHE_TYPES.join(", ")
                    ),
                )),
            }
        };
        let int_in = |v, key, min, max| entry.int_in(v, key, min, max);
        Ok(LlamaCppConfig {
            model: entry.path_of(model.get_ref()),
            threads: int_in(&raw.threads, "threads", 1, 1024)?,
            batch_size: int_in(&raw.batch_size, "batch_size", 1, 1 << 20)?.unwrap_or(2048),
            ubatch_size: int_in(&raw.ubatch_size, "ubatch_size", 1, 1 << 20)?.unwrap_or(512),
            ctx_size: int_in(&raw.ctx_size, "ctx_size", 16, 1 << 24)?.unwrap_or(8192),
            flash_attn,
            cache_type_k: cache_type(&raw.cache_type_k, "cache_type_k")?,
            cache_type_v: cache_type(&raw.cache_type_v, "cache_type_v")?,
            n_gpu_layers: int_in(&raw.n_gpu_layers, "n_gpu_layers", 0, 100_000)?,
            mmap: raw.mmap.as_ref().is_none_or(|m| *m.get_ref()),
            parallel: int_in(&raw.parallel, "parallel", 1, i64::from(MAX_PARALLEL))?,
        })
    }

    fn check_inputs(&self, backend: &str) -> Result<()> {
        check_model_path(backend, &self.model)
    }
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
    use crate::backend::{BackendKind, Config};

    fn llamacpp(c: &Config, name: &str) -> LlamaCppConfig {
        match &c.backends[name].kind {
            BackendKind::LlamaCpp(l) => l.clone(),
            other => panic!("llamacpp expected, got {other:?}"),
        }
    }

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
    fn parses_llamacpp_with_defaults_and_settings() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "default = \"g\"\n[backends.g]\nkind = \"llamacpp\"\nmodel = \"../m.gguf\"\n",
        )
        .unwrap();
        let l = llamacpp(&c, "g");
        assert_eq!(l.model, PathBuf::from("conf/../m.gguf"));
        assert_eq!(
            (l.batch_size, l.ubatch_size, l.flash_attn, l.mmap),
            (2048, 512, FlashAttn::Auto, true)
        );
        assert_eq!((l.cache_type_k.as_str(), l.threads), ("f16", None));
        assert_eq!(l.parallel, None, "streams follow each case by default");
        let c = Config::parse(Path::new("b.toml"), "[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nthreads = 2\nflash_attn = false\ncache_type_v = \"q8_0\"\nmmap = false\nn_gpu_layers = 0\nparallel = 4\n").unwrap();
        let l = llamacpp(&c, "g");
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
        assert_eq!(l.parallel, Some(4));
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
        let e = bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nparallel = 0\n");
        assert!(
            e.starts_with("b.toml:4:12: `parallel` must be from 1 to 256"),
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
        // A value of the wrong type is located by serde, in the kind's own phase.
        let e = bad("[backends.g]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nmmap = \"yes\"\n");
        assert!(e.starts_with("b.toml:4:8:"), "{e}");
    }
}
