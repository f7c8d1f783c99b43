//! `run.json`: what was run, where, with what, and what to watch out for. Written at the
//! start (status "running") and rewritten at the end, atomically (temporary file + rename),
//! so a reader never sees half a manifest.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SCHEMA_VERSION;
use super::device::HostFingerprint;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub sha256: String,
    /// The sampling settings the scenario sends (`temperature=0 top_p=1 ignore_eos=true`),
    /// part of the comparability key of reports. Absent in manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunManifest {
    pub schema_version: u32,
    pub run_id: String,
    pub status: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub edgebench_version: String,
    pub git_commit: String,
    pub command_line: Vec<String>,
    pub scenarios: Vec<ScenarioRecord>,
    /// Per backend: kind, model, server facts (`/props`, `/v1/models`), launch details.
    pub backends: Vec<serde_json::Value>,
    /// The machine that ran edgebench (the client, for remote servers).
    pub host: HostFingerprint,
    /// The device label results belong to (`--label`, the backend's `device`, or the host).
    pub device: String,
    pub requests_total: usize,
    pub requests_failed: usize,
    /// Things a reader of the figures must know: buffered streams, queued requests, noise.
    pub warnings: Vec<String>,
    /// Peak resident memory of the edgebench process during the run (in-process models
    /// included), from getrusage; absent where the OS does not tell.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// How the run was asked for, so `--resume` can finish it and `merge` can check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
}

/// The inputs of a run beyond the scenario files (which `scenarios` records with hashes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Invocation {
    pub config_path: String,
    pub config_sha256: String,
    /// Backend names in run order.
    pub backends: Vec<String>,
    pub label: Option<String>,
    /// `I/N` when the run is one shard of a case list.
    pub shard: Option<String>,
    /// When `--resume` continued this run.
    #[serde(default)]
    pub resumed_at: Vec<String>,
    /// Run ids this run was merged from (`edgebench merge`).
    #[serde(default)]
    pub merged_from: Vec<String>,
}

impl RunManifest {
    /// A manifest stamped now, by this edgebench build and commit, with nothing recorded yet:
    /// the caller fills in scenarios, backends, device and invocation as it learns them.
    pub fn new(
        run_id: &str,
        status: &str,
        command_line: Vec<String>,
        host: HostFingerprint,
    ) -> Self {
        RunManifest {
            schema_version: SCHEMA_VERSION,
            run_id: run_id.to_string(),
            status: status.to_string(),
            started_at: now_rfc3339(),
            ended_at: None,
            edgebench_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: git_commit(),
            command_line,
            scenarios: Vec::new(),
            backends: Vec::new(),
            host,
            device: String::new(),
            requests_total: 0,
            requests_failed: 0,
            warnings: Vec::new(),
            peak_rss_bytes: None,
            invocation: None,
        }
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("run.json");
        let tmp = dir.join("run.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::write(&path, e))?;
        // Server facts, restart logs and warnings come from servers: no secret goes to disk.
        let text = crate::secret::scrub(&text);
        std::fs::write(&tmp, text.as_bytes()).map_err(|e| Error::write(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::write(&path, e))
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("run.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
        let m: RunManifest = serde_json::from_str(&text).map_err(|e| Error::read(&path, e))?;
        if m.schema_version != SCHEMA_VERSION {
            return Err(Error::file(
                &path,
                format!(
                    "schema version {} is not the one this edgebench reads ({SCHEMA_VERSION})",
                    m.schema_version
                ),
            ));
        }
        Ok(m)
    }
}

/// The process's peak resident set size so far, in bytes.
#[allow(unsafe_code)]
pub fn peak_rss_bytes() -> Option<u64> {
    let mut ru: libc::rusage = unsafe {
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        std::mem::zeroed()
    };
    // SAFETY: getrusage writes only into the struct we pass.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 || ru.ru_maxrss <= 0 {
        return None;
    }
    // Linux reports KiB, macOS bytes.
    let unit = if cfg!(target_os = "macos") { 1 } else { 1024 };
    Some(ru.ru_maxrss as u64 * unit)
}

pub fn git_commit() -> String {
    option_env!("EDGEBENCH_GIT_COMMIT")
        .unwrap_or("unknown")
        .to_string()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_manifest_is_stamped_and_reads_back() {
        let m = RunManifest::new(
            "r1",
            "running",
            vec!["edgebench".into(), "run".into()],
            HostFingerprint::default(),
        );
        assert_eq!(m.schema_version, SCHEMA_VERSION);
        assert_eq!((m.run_id.as_str(), m.status.as_str()), ("r1", "running"));
        assert_eq!(m.edgebench_version, env!("CARGO_PKG_VERSION"));
        assert!(!m.started_at.is_empty() && m.ended_at.is_none());
        assert!(m.scenarios.is_empty() && m.backends.is_empty() && m.invocation.is_none());
        let dir = std::env::temp_dir().join(format!("edgebench-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        m.write(&dir).unwrap();
        let back = RunManifest::read(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.command_line, ["edgebench", "run"]);
        assert_eq!(back.started_at, m.started_at);
    }
}
