//! An `onnx` backend's own keys: ONNX Runtime in process, a decoder in the optimum /
//! onnxruntime-genai layout.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::backend::entry::{Entry, KindConfig};
use crate::error::Result;

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

/// The keys an `onnx` entry takes besides the common ones (`model` and `ctx_size` mean what
/// they mean for `llamacpp`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOnnx {
    model: Option<Spanned<String>>,
    ctx_size: Option<Spanned<i64>>,
    library: Option<Spanned<String>>,
    intra_op_threads: Option<Spanned<i64>>,
    inter_op_threads: Option<Spanned<i64>>,
    graph_optimization: Option<Spanned<String>>,
    execution_provider: Option<Spanned<String>>,
}

impl KindConfig for OnnxConfig {
    type Raw = RawOnnx;

    fn from_raw(raw: RawOnnx, entry: &Entry<'_>) -> Result<Self> {
        let Some(model) = &raw.model else {
            return Err(entry.error(
                entry.span.clone(),
                format!(
                    "backend `{}` (kind onnx) needs `model`, a folder with model.onnx and tokenizer.json (or the .onnx file)",
                    entry.name
                ),
            ));
        };
        if model.get_ref().trim().is_empty() {
            return Err(entry.error(
                model.span(),
                "`model` is empty; expected a model folder or an .onnx file",
            ));
        }
        let library = match &raw.library {
            Some(l) if l.get_ref().trim().is_empty() => {
                return Err(entry.error(
                    l.span(),
                    "`library` is empty; expected the path of libonnxruntime",
                ));
            }
            Some(l) => Some(entry.path_of(l.get_ref())),
            None => None,
        };
        let graph_optimization = match raw
            .graph_optimization
            .as_ref()
            .map(|g| (g.get_ref().as_str(), g.span()))
        {
            None | Some(("all", _)) => GraphOptimization::All,
            Some(("disable", _)) => GraphOptimization::Disable,
            Some(("basic", _)) => GraphOptimization::Basic,
            Some(("extended", _)) => GraphOptimization::Extended,
            Some((other, s)) => {
                return Err(entry.error(
                    s,
                    format!(
                        "unknown `graph_optimization` `{other}`; expected \"disable\", \"basic\", \"extended\" or \"all\""
                    ),
                ));
            }
        };
        let int_in = |v, key, min, max| entry.int_in(v, key, min, max);
        Ok(OnnxConfig {
            model: entry.path_of(model.get_ref()),
            library,
            intra_op_threads: int_in(&raw.intra_op_threads, "intra_op_threads", 1, 1024)?,
            inter_op_threads: int_in(&raw.inter_op_threads, "inter_op_threads", 1, 1024)?,
            graph_optimization,
            execution_provider: execution_provider(entry, &raw.execution_provider)?,
            ctx_size: int_in(&raw.ctx_size, "ctx_size", 16, 1 << 24)?.unwrap_or(8192),
            config_dir: entry.base_dir.to_path_buf(),
        })
    }
}

/// The provider, lower case and without ONNX Runtime's `ExecutionProvider` suffix.
fn execution_provider(entry: &Entry<'_>, v: &Option<Spanned<String>>) -> Result<String> {
    let Some(e) = v else {
        return Ok("cpu".to_string());
    };
    let lower = e.get_ref().to_ascii_lowercase();
    let lower = lower.trim_end_matches("executionprovider").to_string();
    if !EXECUTION_PROVIDERS.contains(&lower.as_str()) {
        return Err(entry.error(
            e.span(),
            format!(
                "unknown `execution_provider` `{}`; expected one of: {}",
                e.get_ref(),
                EXECUTION_PROVIDERS.join(", ")
            ),
        ));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::{BackendKind, Config};

    fn onnx(c: &Config, name: &str) -> OnnxConfig {
        match &c.backends[name].kind {
            BackendKind::Onnx(o) => o.clone(),
            other => panic!("onnx expected, got {other:?}"),
        }
    }

    #[test]
    fn parses_onnx_with_defaults_and_settings() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "[backends.o]\nkind = \"onnx\"\nmodel = \"../m\"\n",
        )
        .unwrap();
        let o = onnx(&c, "o");
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
        let o = onnx(&c, "o");
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
