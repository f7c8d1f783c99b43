//! Finding and loading libonnxruntime, once per process.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, and the library is
//! opened with `ort::init_from`, which returns an error. (Its lazy path through
//! `ORT_DYLIB_PATH` panics when the file is missing, so we never let `ort` get there: every
//! session is made after [`environment`] succeeded.)
//!
//! Where the library is looked for, first found wins:
//! 1. the backend's `library` key;
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. `.venv/onnxruntime/libonnxruntime.so.1.31.1`, the copy scripts/setup takes out of the
//!    onnxruntime wheel, looked for above the config file's folder and above the current folder.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

/// The file scripts/setup copies out of the `onnxruntime==1.31.1` wheel.
pub const DEFAULT_LIBRARY: &str = ".venv/onnxruntime/libonnxruntime.so.1.31.1";

/// ONNX Runtime allows one environment per process, and a library once opened stays.
static LOADED: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Where the library is, by the rules in the module comment; `Err` says where it looked.
pub fn locate(configured: Option<&Path>, config_dir: &Path) -> Result<PathBuf, String> {
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("ORT_DYLIB_PATH")
        && !p.is_empty()
    {
        return Ok(PathBuf::from(p));
    }
    let mut looked = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_default();
    for start in [config_dir, cwd.as_path()] {
        let start = if start.as_os_str().is_empty() {
            cwd.as_path()
        } else {
            start
        };
        for dir in start.ancestors() {
            let candidate = dir.join(DEFAULT_LIBRARY);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(candidate.display().to_string());
        }
    }
    Err(format!(
        "ONNX Runtime not found: set `library` in the backend config or ORT_DYLIB_PATH, or run \
         scripts/setup (it copies libonnxruntime.so.1.31.1 from the onnxruntime wheel to {DEFAULT_LIBRARY}); looked at: {}",
        looked.join(", ")
    ))
}

/// Opens the library at `path` (once per process) and makes the process's ONNX Runtime
/// environment. A second call with another path fails: the first library stays loaded.
pub fn environment(path: &Path) -> Result<&'static Environment, String> {
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((loaded, env)) = LOADED.get() {
        if same_file(loaded, path) {
            return Ok(env);
        }
        return Err(format!(
            "ONNX Runtime is already loaded from {} in this process; cannot also load {}",
            loaded.display(),
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!(
            "ONNX Runtime library {} does not exist (run scripts/setup, or point `library` / ORT_DYLIB_PATH at libonnxruntime)",
            path.display()
        ));
    }
    let builder = ort::init_from(path).map_err(|e| {
        format!(
            "cannot load ONNX Runtime from {}: {e} (expected libonnxruntime 1.{} or newer)",
            path.display(),
            ort::MINOR_VERSION
        )
    })?;
    let env = builder
        .with_name("edgebench")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))?;
    let _ = LOADED.set((path.to_path_buf(), env));
    match LOADED.get() {
        Some((_, env)) => Ok(env),
        None => Err("the ONNX Runtime environment was not kept".into()),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The ONNX Runtime release: from the build string where it names a release branch
/// (`git-branch=rel-1.31.1`), else from the library's file name (`libonnxruntime.so.1.31.1`,
/// `libonnxruntime.1.31.1.dylib`); the wheel's build string says only `git-branch=HEAD`.
pub fn version(path: &Path) -> String {
    let info = ort::info();
    if let Some(v) = info
        .split(|c: char| c == ',' || c.is_whitespace())
        .find_map(|part| part.strip_prefix("git-branch=rel-"))
    {
        return v.to_string();
    }
    version_from_file_name(path).unwrap_or_else(|| "unknown".into())
}

fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("libonnxruntime.")?;
    let rest = rest.strip_prefix("so.").unwrap_or(rest);
    let v = rest.strip_suffix(".dylib").unwrap_or(rest);
    let parts: Vec<&str> = v.split('.').collect();
    (parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| v.to_string())
}

/// ONNX Runtime's build string (branch, commit, build type), for the record.
pub fn build_info() -> String {
    ort::info().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_the_library_file_name() {
        let v = |n: &str| version_from_file_name(Path::new(n));
        assert_eq!(v("/x/libonnxruntime.so.1.31.1").as_deref(), Some("1.31.1"));
        assert_eq!(v("libonnxruntime.1.31.1.dylib").as_deref(), Some("1.31.1"));
        assert_eq!(v("libonnxruntime.so"), None);
        assert_eq!(v("onnxruntime.dll"), None);
    }

    #[test]
    fn configured_path_wins_and_a_missing_default_says_where_it_looked() {
        let p = locate(Some(Path::new("/x/libonnxruntime.so")), Path::new("/tmp")).unwrap();
        assert_eq!(p, PathBuf::from("/x/libonnxruntime.so"));
        if std::env::var_os("ORT_DYLIB_PATH").is_none() {
            let dir = std::env::temp_dir().join("edgebench-no-ort-here");
            match locate(None, &dir) {
                Ok(found) => assert!(found.ends_with(DEFAULT_LIBRARY)),
                Err(e) => assert!(
                    e.contains("scripts/setup") && e.contains("looked at"),
                    "{e}"
                ),
            }
        }
    }
}
