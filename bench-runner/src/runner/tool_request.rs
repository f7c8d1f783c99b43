//! One request of a tool-call or structured-output item: send it, time it, and record it
//! (a `samples.csv` row and a `transcripts.jsonl` line) before it is scored.

use crate::backend::replay::Recorded;
use crate::backend::{Backend, ErrorCategory, Response};
use crate::measure::request::{Timeline, compute};
use crate::results::SampleRow;
use crate::score::Outcome;

/// The sample row of one response (the same metrics as a throughput request).
pub(crate) async fn sample_row(backend: &Backend, base: &SampleRow, resp: &Response) -> SampleRow {
    let mut row = base.clone();
    let usage = resp.usage.unwrap_or_default();
    let timings = resp.timings.unwrap_or_default();
    row.prompt_tokens_server = usage.prompt_tokens;
    row.prompt_tokens = usage.prompt_tokens.or(timings.prompt_n);
    row.finish_reason = resp.finish_reason.clone();
    row.server_prompt_n = timings.prompt_n;
    row.server_prompt_ms = timings.prompt_ms;
    row.server_prefill_tok_s = timings.prompt_per_second;
    row.server_predicted_n = timings.predicted_n;
    row.server_predicted_ms = timings.predicted_ms;
    row.server_decode_tok_s = timings.predicted_per_second;
    row.cached_tokens = usage.cached_tokens.or(timings.cache_n);
    let mut output = usage.completion_tokens.or(timings.predicted_n);
    if output.is_none() && !resp.text.is_empty() {
        output = backend.count_text_tokens(&resp.text).await.map(u64::from);
    }
    row.output_tokens = output;
    let timeline = Timeline {
        reads: resp
            .content
            .iter()
            .map(|c| {
                (
                    c.at.saturating_duration_since(resp.sent_at).as_secs_f64() * 1000.0,
                    c.tokens.unwrap_or(1),
                )
            })
            .collect(),
    };
    let m = compute(&timeline, row.prompt_tokens, output);
    row.ttft_ms = m.ttft_ms;
    row.tpot_ms = m.tpot_ms;
    row.e2e_ms = m.e2e_ms;
    row.prefill_tok_s = m.prefill_tok_s;
    row.decode_tok_s = m.decode_tok_s;
    row.content_reads = Some(m.content_reads);
    row.tokens_per_read = m.tokens_per_read;
    if !m.itl_ms.is_empty() {
        let mut s = m.itl_ms.clone();
        s.sort_by(f64::total_cmp);
        row.itl_mean_ms = Some(s.iter().sum::<f64>() / s.len() as f64);
        row.itl_p50_ms = Some(crate::measure::stats::percentile_sorted(&s, 50.0));
        row.itl_p90_ms = Some(crate::measure::stats::percentile_sorted(&s, 90.0));
        row.itl_p99_ms = Some(crate::measure::stats::percentile_sorted(&s, 99.0));
        row.itl_max_ms = s.last().copied();
        row.itl_exact = Some(m.itl_exact);
    }
    if let Some(e) = &resp.error {
        row.error_category = Some(e.category.as_str().into());
        row.error_message = Some(e.message.clone());
        if e.category != ErrorCategory::EmptyResponse {
            row.decode_tok_s = None;
            row.tpot_ms = None;
            row.e2e_ms = None;
        }
    }
    row
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
        error_category: resp.error.as_ref().map(|e| e.category.as_str().to_string()),
        error_message: resp.error.as_ref().map(|e| e.message.clone()),
    }
}
