//! `edgebench run --url`: a server named on the command line instead of in a config file.
//!
//! The backend is written as a one-entry config file, `backends.toml`, into the run folder
//! before the run starts, and the run uses that file as its config. So run.json records it
//! exactly as it records a configured backend (config path and hash, backend name), `--resume`
//! and `merge` read it like any other, and the file is the entry to copy into a config of
//! one's own (`edgebench run SCENARIO -c results/<run>/backends.toml` runs it again).

use std::path::{Path, PathBuf};

use edgebench::backend::openai::config::OpenAiConfig;
use edgebench::backend::protocol::Endpoint;
use edgebench::backend::{BackendConfig, BackendKind};
use edgebench::error::{Error, Result};
use edgebench::runner::RunOptions;
use edgebench::scenario::Scenario;

/// The name of the generated config in the run folder.
pub const CONFIG_FILE: &str = "backends.toml";

/// What the command line says about the server.
pub struct AdHoc {
    pub url: String,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub endpoint: Endpoint,
    /// `--name`; default: the URL's host:port.
    pub name: Option<String>,
}

impl AdHoc {
    /// Checks the server's description, claims the run folder, writes the backend's config
    /// into it and points `opts` at it (config, backend, run id). Mistakes are bad usage
    /// (exit 2) and leave nothing behind.
    pub fn prepare(&self, opts: &mut RunOptions) -> Result<()> {
        if has_credentials(&self.url) {
            return Err(Error::Usage(format!(
                "--url {}: a user or password in the URL would be recorded in run.json; \
                 put the key in an environment variable and name it with --api-key-env",
                strip_userinfo(&self.url)
            )));
        }
        let cfg = OpenAiConfig::ad_hoc(
            &self.url,
            self.model.as_deref(),
            self.endpoint,
            self.api_key_env.as_deref(),
        )
        .map_err(|e| {
            Error::Usage(format!(
                "--url: {}",
                e.to_string().replace("`base_url`", "it")
            ))
        })?;
        let name = match &self.name {
            Some(n) if n.trim().is_empty() => {
                return Err(Error::Usage("--name must not be empty".into()));
            }
            Some(n) => n.clone(),
            None => host_port(&cfg.base_url),
        };
        let text = config_text(&name, &cfg)?;
        // What can be checked is checked before the run folder is claimed.
        BackendConfig::new(&name, BackendKind::OpenAi(cfg)).check_inputs()?;
        let scenarios = opts
            .scenarios
            .iter()
            .map(|p| Scenario::load(p))
            .collect::<Result<Vec<_>>>()?;
        let run_dir = claim_run_dir(opts, &scenarios)?;
        let path = run_dir.join(CONFIG_FILE);
        std::fs::write(&path, text).map_err(|e| Error::write(&path, e))?;
        opts.config = path;
        opts.backends = vec![name];
        Ok(())
    }
}

/// `host:port` of a URL (`host` alone when it names no port): the default backend name.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.to_string()
}

/// A URL's authority holds `user:password@`.
fn has_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).contains('@')
}

fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://…@{host}/{path}")
        }
        None => url.to_string(),
    }
}

/// The one-entry config, as a user would write it (only the keys the command line gave).
fn config_text(name: &str, cfg: &OpenAiConfig) -> Result<String> {
    let mut entry = toml::Table::new();
    entry.insert("kind".into(), "openai".into());
    entry.insert("base_url".into(), cfg.base_url.clone().into());
    if let Some(m) = &cfg.model {
        entry.insert("model".into(), m.clone().into());
    }
    let endpoint = match cfg.endpoint {
        Endpoint::Chat => "chat",
        Endpoint::Completions => "completions",
    };
    entry.insert("endpoint".into(), endpoint.into());
    if let Some(v) = &cfg.api_key_env {
        entry.insert("api_key_env".into(), v.clone().into());
    }
    let mut backends = toml::Table::new();
    backends.insert(name.into(), entry.into());
    let mut root = toml::Table::new();
    root.insert("default".into(), name.into());
    root.insert("backends".into(), backends.into());
    let body = toml::to_string(&root).map_err(|e| Error::Usage(format!("--url: {e}")))?;
    Ok(format!(
        "# Written by `edgebench run --url`: the server named on the command line, as a config\n\
         # entry. `--resume` reads it; copy the entry into a config of your own to reuse it.\n{body}"
    ))
}

/// The run folder, claimed before the run starts (the config goes into it): the `--run-id`
/// given, or a fresh default one, which then becomes the run's `--run-id`.
fn claim_run_dir(opts: &mut RunOptions, scenarios: &[Scenario]) -> Result<PathBuf> {
    if let Some(id) = &opts.run_id {
        let dir = opts.out.join(id);
        if dir.join("samples.csv").exists() {
            return Err(Error::RunFolderExists {
                path: dir,
                instead: "choose another --run-id, or --resume it",
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        return Ok(dir);
    }
    let base = edgebench::runner::new_run_id(scenarios);
    let (id, dir) = claim(&opts.out, &base)?;
    opts.run_id = Some(id);
    Ok(dir)
}

/// `create_dir` fails if another run took the name first; then `-2`, `-3`, … are tried (the
/// same rule as the runner's default run folders).
fn claim(out: &Path, base: &str) -> Result<(String, PathBuf)> {
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    for n in 1..1000u32 {
        let id = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let dir = out.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::write(&dir, e)),
        }
    }
    Err(Error::Usage(format!(
        "no free run folder named {base}-N in {}",
        out.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_servers_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:8080/v1"), "127.0.0.1:8080");
        assert_eq!(host_port("https://api.example.com/v1"), "api.example.com");
        assert_eq!(host_port("http://[::1]:8000"), "[::1]:8000");
        assert!(has_credentials("http://u:p@h:1/v1"));
        assert!(!has_credentials("http://h:1/v1/a@b"));
        assert_eq!(strip_userinfo("http://u:p@h:1/v1"), "http://…@h:1/v1");
    }

    #[test]
    fn the_written_entry_parses_back_to_the_same_backend() {
        let cfg = OpenAiConfig::ad_hoc(
            "http://h:8/v1",
            Some("m"),
            Endpoint::Completions,
            Some("KEY_VAR"),
        )
        .unwrap();
        let text = config_text("h:8", &cfg).unwrap();
        let parsed = edgebench::backend::Config::parse(Path::new("b.toml"), &text).unwrap();
        assert_eq!(parsed.default.as_deref(), Some("h:8"));
        assert_eq!(
            parsed.backends["h:8"],
            BackendConfig::new("h:8", BackendKind::OpenAi(cfg))
        );
    }
}
