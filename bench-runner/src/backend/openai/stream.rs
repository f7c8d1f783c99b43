//! Sending a request and reading its SSE stream: retries, per-read time stamps, and the
//! assembly of text, usage, timings and tool calls into a `Response`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::OpenAiBackend;
use super::chunk::{ReadTally, apply_event};
use super::errors::{refuses_media, status_error, transport_error};
use super::probe::{NOTICE_EVERY, no_response_within};
use super::sse::SseParser;
use super::tool_stream::ToolCallAssembler;
use crate::backend::{Endpoint, ErrorCategory, Request, RequestError, Response};

impl OpenAiBackend {
    pub(super) async fn generate_with_retries(&self, req: &Request) -> Response {
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
                crate::backend::wait::wait_notice(&format!(
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

    pub(super) async fn generate_once(&self, req: &Request) -> Response {
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
            if self.absorb_read(&mut parser, &bytes, at, &mut out, &mut tools, &mut done) {
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

    /// Parses one network read and applies the events it completed to the response; returns
    /// true to stop reading.
    fn absorb_read(
        &self,
        parser: &mut SseParser,
        bytes: &[u8],
        at: Instant,
        out: &mut Response,
        tools: &mut ToolCallAssembler,
        done: &mut bool,
    ) -> bool {
        let mut tally = ReadTally::default();
        let mut stop = false;
        parser.feed_with(bytes, |ev| {
            if stop {
                return; // events after an error are not read
            }
            if ev.is_done() {
                *done = true;
            } else {
                stop = apply_event(self.cfg.endpoint, ev.data, out, tools, &mut tally);
            }
        });
        if stop {
            return true;
        }
        tally.close(at, out);
        *done
    }

    /// Applies the events of one network read to the response; returns true to stop reading.
    pub(super) fn absorb(
        &self,
        events: Vec<super::sse::Event>,
        at: Instant,
        out: &mut Response,
        tools: &mut ToolCallAssembler,
        done: &mut bool,
    ) -> bool {
        let mut tally = ReadTally::default();
        for ev in events {
            if ev.is_done() {
                *done = true;
                continue;
            }
            if apply_event(self.cfg.endpoint, &ev.data, out, tools, &mut tally) {
                return true;
            }
        }
        tally.close(at, out);
        *done
    }
}

