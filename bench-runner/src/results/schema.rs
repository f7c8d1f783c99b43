//! The CSV schema: one `#[derive(Serialize)]` struct per file (as criterion does it).
//! Column meanings are documented in docs/results.md; changing a column bumps `SCHEMA_VERSION`,
//! which is written in `run.json` and checked by the reader.

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// The header of samples.csv, derived from the struct so code and check never disagree.
pub const SAMPLE_COLUMNS: &[&str] = &[
    "run_id",
    "backend",
    "model",
    "device",
    "scenario",
    "case_id",
    "kind",
    "repetition",
    "stream",
    "concurrency",
    "started_at",
    "prompt_tokens_requested",
    "prompt_tokens",
    "prompt_tokens_server",
    "max_tokens",
    "output_tokens",
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "itl_mean_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "itl_max_ms",
    "itl_exact",
    "content_reads",
    "tokens_per_read",
    "prefill_tok_s",
    "decode_tok_s",
    "server_prompt_n",
    "server_prompt_ms",
    "server_prefill_tok_s",
    "server_predicted_n",
    "server_predicted_ms",
    "server_decode_tok_s",
    "cached_tokens",
    "depth_pct",
    "needle",
    "recall",
    "output_head",
    "finish_reason",
    "retries",
    "burst_fraction",
    "itl_list_ms",
    "error_category",
    "error_message",
    "depth",
    "test",
    "test_ns",
    "test_tok_s",
    "scheduled_ms",
    "sent_ms",
    "send_lag_ms",
    "queue_wait_ms",
    "n_kv",
    "tg_ms",
];

/// One request. Empty cells mean "not measured" (never zero in disguise).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SampleRow {
    pub run_id: String,
    pub backend: String,
    pub model: String,
    pub device: String,
    pub scenario: String,
    pub case_id: String,
    pub kind: String,
    /// 0-based index of the measured request within its case.
    pub repetition: u32,
    /// Which of the `concurrency` parallel streams made the request.
    pub stream: u32,
    pub concurrency: u32,
    /// Wall-clock time the request was sent, RFC 3339 with milliseconds (for time series).
    pub started_at: String,
    pub prompt_tokens_requested: u32,
    /// Tokens the backend processed (template included): our count, else the server's usage.
    pub prompt_tokens: Option<u64>,
    /// `usage.prompt_tokens` as the server reported it.
    pub prompt_tokens_server: Option<u64>,
    pub max_tokens: u32,
    pub output_tokens: Option<u64>,
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub itl_mean_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub itl_p90_ms: Option<f64>,
    pub itl_p99_ms: Option<f64>,
    pub itl_max_ms: Option<f64>,
    pub itl_exact: Option<bool>,
    pub content_reads: Option<u32>,
    pub tokens_per_read: Option<f64>,
    pub prefill_tok_s: Option<f64>,
    pub decode_tok_s: Option<f64>,
    pub server_prompt_n: Option<u64>,
    pub server_prompt_ms: Option<f64>,
    pub server_prefill_tok_s: Option<f64>,
    pub server_predicted_n: Option<u64>,
    pub server_predicted_ms: Option<f64>,
    pub server_decode_tok_s: Option<f64>,
    /// Prompt tokens served from a cache (server's `cache_n` / `cached_tokens`); 0 expected.
    pub cached_tokens: Option<u64>,
    /// Context scenarios: where the asked needle sits, in per cent of the haystack.
    pub depth_pct: Option<f64>,
    /// Context scenarios: needle kind and variant, e.g. `number/multi_key`.
    pub needle: Option<String>,
    /// Context scenarios: RULER's string_match_all, the fraction of expected values found.
    pub recall: Option<f64>,
    /// Context scenarios: the first 200 characters of the answer, to audit the recall score.
    pub output_head: Option<String>,
    pub finish_reason: Option<String>,
    /// Attempts refused before generation and retried (connection refused, 429, 503).
    pub retries: u32,
    /// Share of inter-read gaps shorter than a tenth of the mean gap (bursts).
    pub burst_fraction: Option<f64>,
    /// Every inter-token latency of the request in ms, `;`-separated (3 decimals), so that
    /// summaries can be recomputed from samples.csv alone (resume, merge).
    pub itl_list_ms: Option<String>,
    /// Empty for a successful request; else one of the documented categories.
    pub error_category: Option<String>,
    pub error_message: Option<String>,
    /// llama-bench-style tests (`mode = "pp_tg"`, `edgebench import llama-bench`): tokens in the
    /// KV cache before the test, the test's name (`pp512 @ d4096`), its time in nanoseconds and
    /// its t/s as llama-bench computes it, (pp + tg) · 10⁹ / test_ns. Empty for serving cases.
    pub depth: Option<u32>,
    pub test: Option<String>,
    pub test_ns: Option<u64>,
    pub test_tok_s: Option<f64>,
    /// Request-rate cases (empty otherwise): when the schedule said to send, in ms from the
    /// start of the measured schedule; when the request was actually sent; how late the
    /// client was to its own schedule (`sent − scheduled − queue_wait`); and how long the
    /// request waited for a free slot under `max_concurrency` (not part of TTFT).
    pub scheduled_ms: Option<f64>,
    pub sent_ms: Option<f64>,
    pub send_lag_ms: Option<f64>,
    pub queue_wait_ms: Option<f64>,
    /// llama-batched-bench-style cells (`mode = "batched"`, `edgebench import
    /// llama-batched-bench`; empty otherwise): the KV cells the cell needs (N_KV) and the time of
    /// its decode steps (T_TG; T_PP is `ttft_ms`, T is `e2e_ms`).
    pub n_kv: Option<u64>,
    pub tg_ms: Option<f64>,
}

/// The category of a request that ended without generated content. It is the model's doing,
/// not a broken request: its row keeps what it measured (in practice no client timing exists).
pub const EMPTY_RESPONSE: &str = "empty_response";

impl SampleRow {
    /// Marks the request failed. A failed request's speed and timing columns are emptied
    /// (docs/results.md): the timings of a stream that broke part-way are not a request's.
    /// Kept: when it was sent, its token counts, how the stream arrived (`content_reads`,
    /// `tokens_per_read`), `finish_reason` and `retries`.
    pub fn mark_failed(&mut self, category: &str, message: impl Into<String>) {
        self.error_category = Some(category.to_string());
        self.error_message = Some(message.into());
        if category != EMPTY_RESPONSE {
            self.clear_speed();
        }
    }

    /// Empties every speed and timing column (see [`SampleRow::mark_failed`]).
    fn clear_speed(&mut self) {
        for v in [
            &mut self.ttft_ms,
            &mut self.tpot_ms,
            &mut self.e2e_ms,
            &mut self.itl_mean_ms,
            &mut self.itl_p50_ms,
            &mut self.itl_p90_ms,
            &mut self.itl_p99_ms,
            &mut self.itl_max_ms,
            &mut self.prefill_tok_s,
            &mut self.decode_tok_s,
            &mut self.server_prompt_ms,
            &mut self.server_prefill_tok_s,
            &mut self.server_predicted_ms,
            &mut self.server_decode_tok_s,
            &mut self.burst_fraction,
            &mut self.test_tok_s,
            &mut self.tg_ms,
        ] {
            *v = None;
        }
        self.itl_exact = None;
        self.itl_list_ms = None;
        self.test_ns = None;
    }
}

/// One case × metric, with the statistics of its distribution.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SummaryRow {
    pub run_id: String,
    pub backend: String,
    pub model: String,
    pub device: String,
    pub scenario: String,
    pub case_id: String,
    pub kind: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub concurrency: u32,
    pub metric: String,
    pub unit: String,
    pub n: usize,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// 95% CI of the median (order-statistic interval) (for case-wide figures, equal to the value).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Requests of the case that failed (same on every metric row of the case).
    pub errors: usize,
    /// Semicolon-separated warnings: `high_variation`, `buffered_stream`, `queued`, …
    pub flags: String,
    /// Tokens in the KV cache before a llama-bench-style test; empty for serving cases.
    pub depth: Option<u32>,
}

pub const SUMMARY_COLUMNS: &[&str] = &[
    "run_id",
    "backend",
    "model",
    "device",
    "scenario",
    "case_id",
    "kind",
    "prompt_tokens",
    "max_tokens",
    "concurrency",
    "metric",
    "unit",
    "n",
    "mean",
    "stddev",
    "min",
    "p50",
    "p90",
    "p99",
    "max",
    "ci_low",
    "ci_high",
    "errors",
    "flags",
    "depth",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of<T: Serialize + Default>() -> Vec<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(T::default()).unwrap();
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        text.lines()
            .next()
            .unwrap()
            .split(',')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn column_lists_match_structs() {
        assert_eq!(header_of::<SampleRow>(), SAMPLE_COLUMNS);
        assert_eq!(header_of::<SummaryRow>(), SUMMARY_COLUMNS);
    }

    #[test]
    fn a_failed_row_keeps_its_counts_and_loses_its_speed() {
        let measured = SampleRow {
            started_at: "2026-01-01T00:00:00.000Z".into(),
            prompt_tokens: Some(32),
            output_tokens: Some(5),
            content_reads: Some(5),
            tokens_per_read: Some(1.0),
            ttft_ms: Some(40.0),
            tpot_ms: Some(12.0),
            e2e_ms: Some(90.0),
            itl_mean_ms: Some(12.0),
            itl_p50_ms: Some(12.0),
            itl_p90_ms: Some(13.0),
            itl_p99_ms: Some(13.0),
            itl_max_ms: Some(13.0),
            itl_exact: Some(true),
            itl_list_ms: Some("12.000;13.000".into()),
            burst_fraction: Some(0.0),
            prefill_tok_s: Some(800.0),
            decode_tok_s: Some(80.0),
            server_prompt_n: Some(32),
            server_prompt_ms: Some(30.0),
            server_prefill_tok_s: Some(1000.0),
            server_predicted_n: Some(5),
            server_predicted_ms: Some(60.0),
            server_decode_tok_s: Some(83.0),
            test_ns: Some(1),
            test_tok_s: Some(1.0),
            ..Default::default()
        };
        let mut failed = measured.clone();
        failed.mark_failed("stream_broken", "cut");
        assert_eq!(
            failed,
            SampleRow {
                started_at: measured.started_at.clone(),
                prompt_tokens: Some(32),
                output_tokens: Some(5),
                content_reads: Some(5),
                tokens_per_read: Some(1.0),
                server_prompt_n: Some(32),
                server_predicted_n: Some(5),
                error_category: Some("stream_broken".into()),
                error_message: Some("cut".into()),
                ..Default::default()
            }
        );
        // An empty answer is the model's doing: whatever was measured stays.
        let mut empty = measured.clone();
        empty.mark_failed(EMPTY_RESPONSE, "no content");
        assert_eq!(empty.ttft_ms, measured.ttft_ms);
        assert_eq!(empty.error_category.as_deref(), Some(EMPTY_RESPONSE));
    }
}
