//! How a failed HTTP call or a refusal becomes a categorised `RequestError`.

use serde_json::Value;

use crate::backend::{ErrorCategory, RequestError};

/// Whether an error answer to a request with media says the server cannot take that media
/// (llama-server without `--mmproj`: "image input is not supported - hint: … mmproj";
/// servers that reject the content-part type outright).
pub(super) fn refuses_media(message: &str) -> bool {
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

pub(super) fn scrubbed(mut e: RequestError) -> RequestError {
    crate::secret::scrub_message_in_place(&mut e.message);
    e
}

/// A failed helper call while preparing a prompt: a dead server stays `connect`, the rest is `prepare`.
pub(super) fn prepare_error(what: &str, e: RequestError) -> RequestError {
    let cat = if matches!(e.category, ErrorCategory::Connect | ErrorCategory::Timeout) {
        e.category
    } else {
        ErrorCategory::Prepare
    };
    RequestError::new(cat, format!("{what}: {}", e.message))
}

pub(super) fn transport_error(e: reqwest::Error) -> RequestError {
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

pub(super) fn status_error(status: reqwest::StatusCode, body: &str) -> RequestError {
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
