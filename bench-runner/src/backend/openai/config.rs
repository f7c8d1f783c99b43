//! An `openai` backend's own keys (`base_url`, `model`, `endpoint`, `api_key_env`,
//! `extra_body`, `[…launch]`, `[…media]`; see `backend/config.rs` for a full entry), and the
//! same config built from code for a server named without a config file.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::backend::config::MediaLimits;
use crate::backend::entry::{Entry, KindConfig};
use crate::backend::protocol::Endpoint;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
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

impl OpenAiConfig {
    /// A server already running at `base_url`, named without a config file (for
    /// `edgebench run --url`): the same config as an entry that writes only these keys
    /// (no launch block, no extra body, no declared media). A malformed URL or variable
    /// name is bad usage (exit 2). Wrap it with `BackendConfig::new(name, BackendKind::OpenAi(…))`.
    pub fn ad_hoc(
        base_url: &str,
        model: Option<&str>,
        endpoint: Endpoint,
        api_key_env: Option<&str>,
    ) -> Result<Self> {
        check_base_url(base_url).map_err(Error::Usage)?;
        if let Some(var) = api_key_env {
            check_key_variable(var).map_err(Error::Usage)?;
        }
        Ok(OpenAiConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.map(str::to_string),
            api_key_env: api_key_env.map(str::to_string),
            endpoint,
            extra_body: Default::default(),
            launch: None,
            media: MediaLimits::default(),
        })
    }

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

fn check_base_url(url: &str) -> std::result::Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("`base_url` must start with http:// or https://".into())
    }
}

fn check_key_variable(var: &str) -> std::result::Result<(), String> {
    if !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err("`api_key_env` is the *name* of an environment variable (letters, digits, _), not the key itself".into())
    }
}

/// The keys an `openai` entry takes besides the common ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpenAi {
    base_url: Option<Spanned<String>>,
    model: Option<String>,
    api_key_env: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    extra_body: Option<Spanned<toml::Table>>,
    launch: Option<Spanned<RawLaunch>>,
    media: Option<Spanned<RawMedia>>,
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

impl KindConfig for OpenAiConfig {
    type Raw = RawOpenAi;

    fn from_raw(raw: RawOpenAi, entry: &Entry<'_>) -> Result<Self> {
        let Some(base_url) = raw.base_url else {
            return Err(entry.error(
                entry.span.clone(),
                format!("backend `{}` (kind openai) needs `base_url`", entry.name),
            ));
        };
        check_base_url(base_url.get_ref()).map_err(|m| entry.error(base_url.span(), m))?;
        let endpoint = match raw
            .endpoint
            .as_ref()
            .map(|e| (e.get_ref().as_str(), e.span()))
        {
            None | Some(("chat", _)) => Endpoint::Chat,
            Some(("completions", _)) => Endpoint::Completions,
            Some((other, s)) => {
                return Err(entry.error(
                    s,
                    format!("unknown endpoint `{other}`; expected \"chat\" or \"completions\""),
                ));
            }
        };
        if let Some(k) = &raw.api_key_env {
            check_key_variable(k.get_ref()).map_err(|m| entry.error(k.span(), m))?;
        }
        let extra_body = match raw.extra_body {
            Some(t) => match serde_json::to_value(t.get_ref()) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(entry.error(t.span(), "`extra_body` must be a table")),
            },
            None => Default::default(),
        };
        let launch = match raw.launch {
            Some(l) => Some(launch(entry, &base_url, l)?),
            None => None,
        };
        let media = match raw.media {
            Some(m) => media(entry, m.into_inner())?,
            None => MediaLimits::default(),
        };
        Ok(OpenAiConfig {
            base_url: base_url.into_inner().trim_end_matches('/').to_string(),
            model: raw.model,
            api_key_env: raw.api_key_env.map(Spanned::into_inner),
            endpoint,
            extra_body,
            launch,
            media,
        })
    }

    fn check_inputs(&self, backend: &str) -> Result<()> {
        match &self.api_key_env {
            Some(var) if std::env::var_os(var).is_none() => Err(unset_key(backend, var)),
            _ => Ok(()),
        }
    }
}

/// A `[backends.NAME.launch]` block: the server edgebench starts on a free port.
fn launch(
    entry: &Entry<'_>,
    base_url: &Spanned<String>,
    l: Spanned<RawLaunch>,
) -> Result<LaunchConfig> {
    let span = l.span();
    let l = l.into_inner();
    let startup_timeout_s = entry.seconds(&l.startup_timeout_s, "startup_timeout_s", 300.0)?;
    if !base_url.get_ref().contains("{port}") {
        return Err(entry.error(
            base_url.span(),
            "with a `launch` block, `base_url` must contain {port}: edgebench picks a free port",
        ));
    }
    let health_url = l.health_url.unwrap_or_else(|| {
        // The server root: strip a trailing /v1 from base_url.
        let b = base_url.get_ref().trim_end_matches('/');
        format!("{}/health", b.strip_suffix("/v1").unwrap_or(b))
    });
    if l.command.trim().is_empty() {
        return Err(entry.error(span, "`launch.command` is empty"));
    }
    let max_restarts = match &l.max_restarts {
        Some(m) if *m.get_ref() > 100 => {
            return Err(entry.error(m.span(), "`max_restarts` must be at most 100"));
        }
        Some(m) => *m.get_ref(),
        None => 1,
    };
    Ok(LaunchConfig {
        command: entry.command_of(&l.command),
        args: l.args,
        model: l.model.map(|m| entry.path_of(&m)),
        mmproj: l.mmproj.map(|m| entry.path_of(&m)),
        health_url,
        startup_timeout_s,
        max_restarts,
    })
}

/// A `[backends.NAME.media]` block: what the server takes.
fn media(entry: &Entry<'_>, m: RawMedia) -> Result<MediaLimits> {
    if let Some(n) = &m.max_images
        && *n.get_ref() == 0
    {
        return Err(entry.error(
            n.span(),
            "`max_images` must be at least 1 (set `image = false` for none)",
        ));
    }
    Ok(MediaLimits {
        image: m.image,
        audio: m.audio,
        max_images: m.max_images.map(Spanned::into_inner),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::{BackendConfig, BackendKind, Config};

    fn openai(c: &Config, name: &str) -> OpenAiConfig {
        match &c.backends[name].kind {
            BackendKind::OpenAi(o) => o.clone(),
            other => panic!("openai expected, got {other:?}"),
        }
    }

    #[test]
    fn an_ad_hoc_server_is_the_entry_that_writes_only_its_keys() {
        let parsed = Config::parse(
            Path::new("b.toml"),
            "[backends.remote]\nkind = \"openai\"\nbase_url = \"http://host:8080/v1/\"\nmodel = \"m\"\nendpoint = \"completions\"\napi_key_env = \"MY_KEY\"\n",
        )
        .unwrap();
        let built = OpenAiConfig::ad_hoc(
            "http://host:8080/v1/",
            Some("m"),
            Endpoint::Completions,
            Some("MY_KEY"),
        )
        .unwrap();
        assert_eq!(
            BackendConfig::new("remote", BackendKind::OpenAi(built)),
            parsed.backends["remote"]
        );
        // And the bare minimum: a URL.
        let parsed = Config::parse(
            Path::new("b.toml"),
            "[backends.u]\nkind = \"openai\"\nbase_url = \"https://h/v1\"\n",
        )
        .unwrap();
        let built = OpenAiConfig::ad_hoc("https://h/v1", None, Endpoint::Chat, None).unwrap();
        assert_eq!(
            BackendConfig::new("u", BackendKind::OpenAi(built)),
            parsed.backends["u"]
        );
    }

    #[test]
    fn an_ad_hoc_server_refuses_what_the_config_refuses() {
        let e = OpenAiConfig::ad_hoc("host:8080/v1", None, Endpoint::Chat, None).unwrap_err();
        assert!(e.to_string().contains("must start with http://"), "{e}");
        assert_eq!(e.exit_code(), 2);
        let e =
            OpenAiConfig::ad_hoc("http://h/v1", None, Endpoint::Chat, Some("sk-123")).unwrap_err();
        assert!(
            e.to_string().contains("*name* of an environment variable"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn the_shipped_remote_backend_needs_no_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/backends.toml");
        let o = openai(&Config::load(&path).unwrap(), "remote");
        assert_eq!(o.api_key_env, None);
        assert_eq!(o.api_key("remote").unwrap(), None);
    }

    #[test]
    fn an_api_key_variable_that_is_not_set_is_bad_input() {
        let cfg = |var: &str| OpenAiConfig {
            api_key_env: Some(var.into()),
            ..OpenAiConfig::ad_hoc("http://h/v1", None, Endpoint::Chat, None).unwrap()
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
    fn parses_launch_block_and_resolves_paths() {
        let c = Config::parse(
            Path::new("conf/b.toml"),
            "default = \"s\"\n[backends.s]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[backends.s.launch]\ncommand = \"../bin/server\"\nargs = [\"--port\", \"{port}\"]\nmodel = \"m.gguf\"\n",
        )
        .unwrap();
        let o = openai(&c, "s");
        let l = o.launch.as_ref().unwrap();
        assert_eq!(l.command, PathBuf::from("conf/../bin/server"));
        assert_eq!(l.model.as_deref(), Some(Path::new("conf/m.gguf")));
        assert_eq!(l.health_url, "http://127.0.0.1:{port}/health");
        assert_eq!(l.args, ["--port", "{port}"]);
    }

    #[test]
    fn media_limits_and_mmproj() {
        let c = Config::parse(
            Path::new("/cfg/b.toml"),
            "[backends.o]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[backends.o.media]\naudio = false\nmax_images = 4\n[backends.o.launch]\ncommand = \"srv\"\nmmproj = \"p.gguf\"\n",
        )
        .unwrap();
        let o = openai(&c, "o");
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
    fn openai_mistakes_are_located() {
        let bad = |t: &str| {
            Config::parse(Path::new("b.toml"), t)
                .unwrap_err()
                .to_string()
        };
        let e = bad("[backends.s]\nkind = \"openai\"\n");
        assert!(
            e.starts_with("b.toml:1:1:") && e.contains("needs `base_url`"),
            "{e}"
        );
        let e = bad("[backends.s]\nkind = \"openai\"\nbase_url = \"h/v1\"\n");
        assert!(
            e.starts_with("b.toml:3:12: `base_url` must start with"),
            "{e}"
        );
        let e =
            bad("[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\nendpoint = \"grpc\"\n");
        assert!(e.starts_with("b.toml:4:12: unknown endpoint `grpc`"), "{e}");
        let e = bad(
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://x\"\napi_key_env = \"sk-1\"\n",
        );
        assert!(
            e.starts_with("b.toml:4:15: `api_key_env` is the *name*"),
            "{e}"
        );
        let e = bad(
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://x/v1\"\n[backends.s.launch]\ncommand = \"srv\"\n",
        );
        assert!(e.starts_with("b.toml:3:12: with a `launch` block"), "{e}");
        let e = bad(
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://x:{port}\"\n[backends.s.launch]\ncommand = \"srv\"\nport = 1\n",
        );
        assert!(e.starts_with("b.toml:6:1: unknown field `port`"), "{e}");
    }
}
