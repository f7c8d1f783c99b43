//! One request of a tool-call or structured-output item: send it, time it, and record it
//! (a `samples.csv` row and a `transcripts.jsonl` line) before it is scored.

use crate::backend::replay::Recorded;
use crate::backend::{Backend, ErrorCategory, Response};
use crate::results::SampleRow;
use crate::score::Outcome;

/// The sample row of one response: the same row as a throughput request's.
pub(crate) async fn sample_row(backend: &Backend, base: &SampleRow, resp: &Response) -> SampleRow {
    crate::runner::request::measure_response(backend, base, None, resp)
        .await
        .row
}

/// What the scorer is told about a request's fate. An empty answer is the model's doing
/// (it stopped at once), so it is scored, not counted as a server failure; a refused
/// request that carried a schema is `schema_unsupported`.
pub(crate) fn outcome(resp: &Response, had_schema: bool) -> Outcome {
    match &resp.error {
        None => Outcome::Answered,
        Some(e) => match e.category {
            ErrorCategory::EmptyResponse => Outcome::Answered,
            ErrorCategory::Timeout => Outcome::Stalled(e.message.clone()),
            ErrorCategory::HttpClient if had_schema => Outcome::SchemaRefused(e.message.clone()),
            ErrorCategory::ServerError | ErrorCategory::HttpServer
                if had_schema && mentions_schema(&e.message) =>
            {
                Outcome::SchemaRefused(e.message.clone())
            }
            _ => Outcome::Failed(format!("{}: {}", e.category.as_str(), e.message)),
        },
    }
}

fn mentions_schema(m: &str) -> bool {
    let m = m.to_lowercase();
    m.contains("schema") || m.contains("grammar") || m.contains("response_format")
}

/// True when the request failed at the server (counted for exit code 3), as opposed to an
/// answer that is merely wrong.
pub(crate) fn is_backend_failure(resp: &Response) -> bool {
    resp.error
        .as_ref()
        .is_some_and(|e| e.category != ErrorCategory::EmptyResponse)
}

pub(crate) fn transcript(
    key: String,
    backend: &str,
    model: &str,
    resp: &Response,
    row: &SampleRow,
) -> Recorded {
    Recorded {
        key,
        backend: backend.to_string(),
        model: model.to_string(),
        text: resp.text.clone(),
        tool_calls: resp.tool_calls.clone(),
        finish_reason: resp.finish_reason.clone(),
        prompt_tokens: row.prompt_tokens,
        output_tokens: row.output_tokens,
        ttft_ms: row.ttft_ms,
        e2e_ms: resp
            .content
            .last()
            .map(|c| c.at.saturating_duration_since(resp.sent_at).as_secs_f64() * 1000.0),
        error_category: resp.error.as_ref().map(|e| e.category),
        error_message: resp.error.as_ref().map(|e| e.message.clone()),
    }
}
