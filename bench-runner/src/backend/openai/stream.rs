//! Sending a request and reading its SSE stream: retries, per-read time stamps, and the
//! assembly of text, usage, timings and tool calls into a `Response`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::OpenAiBackend;
use super::chunk::{ReadTally, apply_event};
use super::errors::{refuses_media, status_error, transport_error};
use super::probe::{NOTICE_EVERY, no_response_within, notice_period, url_path};
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
        let mut silence = Silence::new(tokio::time::Instant::now(), self.stall, deadline);
        // One timer for the whole stream, not one per read: it is set to the next moment
        // something can be due (a notice, the stall limit, the deadline) and moved on only
        // when it fires; a read just notes its time (re-arming a timer per read was ~16% of
        // the client's CPU per token).
        let timer = tokio::time::sleep_until(silence.wake_at());
        tokio::pin!(timer);
        loop {
            let next = tokio::select! {
                biased;
                next = stream.next() => next,
                () = &mut timer => {
                    let now = tokio::time::Instant::now();
                    match silence.check(now) {
                        Check::Quiet => {}
                        Check::Notice(quiet) => crate::backend::wait::wait_notice(&format!(
                            "waiting for {} {}: no data for {:.0} s (gives up after {:.0} s)",
                            self.name,
                            url_path(&url),
                            quiet.as_secs_f64(),
                            silence.limit().as_secs_f64()
                        )),
                        Check::Over { deadline: hit } => {
                            let what = if hit {
                                format!("request exceeded {:?}", self.timeout)
                            } else {
                                format!("no data for {:?}", self.stall)
                            };
                            out.error = Some(RequestError::new(ErrorCategory::Timeout, what));
                            break;
                        }
                    }
                    timer.as_mut().reset(silence.wake_at());
                    continue;
                }
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
            silence.data_at(tokio::time::Instant::from_std(at));
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

/// The silence since the stream's last read, and what is due when: a notice every
/// `notice_period` of it, and the end at the stall limit or the request's deadline, whichever
/// comes first. Kept as plain instants so that a read costs no timer work.
struct Silence {
    since: tokio::time::Instant,
    stall: Duration,
    deadline: tokio::time::Instant,
    /// Notices given for this silence.
    notices: u32,
}

/// What a look at the silence found.
#[derive(Debug, PartialEq)]
enum Check {
    Quiet,
    /// Say that nothing came for this long.
    Notice(Duration),
    /// Give up: the deadline (true) or the stall limit (false) was reached.
    Over {
        deadline: bool,
    },
}

impl Silence {
    fn new(now: tokio::time::Instant, stall: Duration, deadline: tokio::time::Instant) -> Self {
        Silence {
            since: now,
            stall,
            deadline,
            notices: 0,
        }
    }

    fn data_at(&mut self, at: tokio::time::Instant) {
        self.since = at;
        self.notices = 0;
    }

    fn give_up_at(&self) -> tokio::time::Instant {
        (self.since + self.stall).min(self.deadline)
    }

    /// How long this silence may last.
    fn limit(&self) -> Duration {
        self.give_up_at().saturating_duration_since(self.since)
    }

    /// When the timer must next look: the next notice or the end.
    fn wake_at(&self) -> tokio::time::Instant {
        (self.since + notice_period(self.limit()) * (self.notices + 1)).min(self.give_up_at())
    }

    fn check(&mut self, now: tokio::time::Instant) -> Check {
        let give_up = self.give_up_at();
        if now >= give_up {
            return Check::Over {
                deadline: give_up == self.deadline,
            };
        }
        let quiet = now.saturating_duration_since(self.since);
        let due = (quiet.as_nanos() / notice_period(self.limit()).as_nanos().max(1)) as u32;
        if due > self.notices {
            self.notices = due;
            Check::Notice(quiet)
        } else {
            Check::Quiet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_announces_then_gives_up_and_a_read_starts_it_again() {
        let t0 = tokio::time::Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        // Stall 10 s (notices every 5 s), deadline far away.
        let mut q = Silence::new(t0, Duration::from_secs(10), s(100));
        assert_eq!(q.wake_at(), s(5));
        assert_eq!(q.check(s(3)), Check::Quiet);
        assert_eq!(q.check(s(5)), Check::Notice(Duration::from_secs(5)));
        assert_eq!(q.check(s(6)), Check::Quiet);
        assert_eq!(q.wake_at(), s(10));
        // Data at 7 s: the timer that fires at 10 s finds a fresh silence.
        q.data_at(s(7));
        assert_eq!(q.check(s(10)), Check::Quiet);
        assert_eq!(q.wake_at(), s(12));
        assert_eq!(q.check(s(17)), Check::Over { deadline: false });
        // The deadline comes first: the end says so.
        q.data_at(s(95));
        assert_eq!(q.limit(), Duration::from_secs(5));
        assert_eq!(q.check(s(100)), Check::Over { deadline: true });
    }
}
