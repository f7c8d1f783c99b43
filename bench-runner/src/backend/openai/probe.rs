//! Helper calls that are not timed: what the server says about itself (`/props`,
//! `/v1/models`), exact token counts (`/apply-template`, `/tokenize`), with their own limits
//! and wait notices.

use std::time::Duration;

use serde_json::{Value, json};

use super::errors::{prepare_error, scrubbed, status_error, transport_error};
use super::{Dialect, OpenAiBackend, strip_credentials};
use crate::backend::{BackendFacts, ErrorCategory, Prompt, RequestError};
use crate::error::{Error, Result};

impl OpenAiBackend {
    /// Helper calls (not timed) are retried on connection errors: a keep-alive socket that
    /// the server closed at the same moment must not fail a request it never saw.
    pub(super) async fn get_json(&self, url: &str) -> std::result::Result<Value, RequestError> {
        let mut tries = 0;
        loop {
            match self.get_json_once(url).await {
                Err(e) if e.category == ErrorCategory::Connect && tries < 2 => tries += 1,
                other => return other.map_err(scrubbed),
            }
        }
    }

    pub(super) async fn post_json(
        &self,
        url: &str,
        body: &Value,
    ) -> std::result::Result<Value, RequestError> {
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
    pub(super) fn helper_limit(&self, cap: Duration) -> Duration {
        self.timeout.min(cap)
    }

    pub(super) async fn get_json_once(
        &self,
        url: &str,
    ) -> std::result::Result<Value, RequestError> {
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

    pub(super) async fn post_json_once(
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
    pub(super) async fn awaiting<F: std::future::Future>(
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
                    crate::backend::wait::wait_notice(&format!(
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

    pub(super) async fn read_facts(&mut self) -> Result<BackendFacts> {
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

    pub(super) async fn count_prompt(
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

    pub(super) async fn count_text(&self, text: &str) -> Option<u32> {
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
}

/// The longest a probe (`/props`, `/v1/models`) may take, below `timeout_s`.
pub(super) const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// The longest `/tokenize` or `/apply-template` may take, below `timeout_s`.
pub(super) const HELPER_POST_LIMIT: Duration = Duration::from_secs(60);

/// The longest silence before the first "waiting for" line, and between two of them.
pub(super) const NOTICE_EVERY: Duration = Duration::from_secs(30);

/// A line every 30 s of waiting, or at half of a shorter limit (so a short limit still says
/// what it waited for before giving up), but not more often than once a second.
pub(super) fn notice_period(limit: Duration) -> Duration {
    (limit / 2).clamp(Duration::from_secs(1), NOTICE_EVERY)
}

/// The path of a URL, for messages: `http://h:1/v1/models` → `/v1/models`.
pub(super) fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

pub(super) fn no_response_within(limit: Duration) -> RequestError {
    RequestError::new(
        ErrorCategory::Timeout,
        format!("no response within {:.1} s", limit.as_secs_f64()),
    )
}
