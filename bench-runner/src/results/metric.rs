//! The per-request values of a samples.csv row: what each is called in summary.csv's `metric`
//! column, its unit, which way is better, and how to read it from a [`SampleRow`]. Summaries
//! (here and in the runner) and reports (`report::metric`) all read columns through this one
//! catalogue, so a name or unit is written once.

use super::SampleRow;

/// Which way is better. Tok/s: higher; milliseconds: lower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// One per-request value of a samples.csv row.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The name in summary.csv's `metric` column (and on the command line).
    pub name: &'static str,
    pub unit: &'static str,
    /// `None` for counts, where neither way is better.
    pub direction: Option<Direction>,
    read: fn(&SampleRow) -> Option<f64>,
}

impl Column {
    pub fn read(&self, row: &SampleRow) -> Option<f64> {
        (self.read)(row)
    }

    /// The function that reads this column (for `const` tables built from the catalogue).
    pub const fn reader(&self) -> fn(&SampleRow) -> Option<f64> {
        self.read
    }
}

use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower};

const fn col(
    name: &'static str,
    unit: &'static str,
    direction: Option<Direction>,
    read: fn(&SampleRow) -> Option<f64>,
) -> Column {
    Column {
        name,
        unit,
        direction,
        read,
    }
}

pub const DECODE_TOK_S: Column = col("decode_tok_s", "tok/s", Some(Higher), |r| r.decode_tok_s);
pub const PREFILL_TOK_S: Column = col("prefill_tok_s", "tok/s", Some(Higher), |r| r.prefill_tok_s);
pub const TTFT_MS: Column = col("ttft_ms", "ms", Some(Lower), |r| r.ttft_ms);
pub const TPOT_MS: Column = col("tpot_ms", "ms", Some(Lower), |r| r.tpot_ms);
pub const E2E_MS: Column = col("e2e_ms", "ms", Some(Lower), |r| r.e2e_ms);
pub const ITL_P50_MS: Column = col("itl_p50_ms", "ms", Some(Lower), |r| r.itl_p50_ms);
pub const ITL_P99_MS: Column = col("itl_p99_ms", "ms", Some(Lower), |r| r.itl_p99_ms);
pub const SERVER_DECODE_TOK_S: Column = col("server_decode_tok_s", "tok/s", Some(Higher), |r| {
    r.server_decode_tok_s
});
pub const SERVER_PREFILL_TOK_S: Column = col("server_prefill_tok_s", "tok/s", Some(Higher), |r| {
    r.server_prefill_tok_s
});
pub const SERVER_PROMPT_MS: Column = col("server_prompt_ms", "ms", Some(Lower), |r| {
    r.server_prompt_ms
});
pub const SERVER_PREDICTED_MS: Column = col("server_predicted_ms", "ms", Some(Lower), |r| {
    r.server_predicted_ms
});
pub const PROMPT_TOKENS: Column = col("prompt_tokens", "tokens", None, |r| {
    r.prompt_tokens.map(|v| v as f64)
});
pub const OUTPUT_TOKENS: Column = col("output_tokens", "tokens", None, |r| {
    r.output_tokens.map(|v| v as f64)
});
pub const CACHED_TOKENS: Column = col("cached_tokens", "tokens", None, |r| {
    r.cached_tokens.map(|v| v as f64)
});
/// Context scenarios: needle recall per request.
pub const RECALL: Column = col("recall", "fraction", Some(Higher), |r| r.recall);
/// Context scenarios: where the needle sat.
pub const DEPTH_PCT: Column = col("depth_pct", "%", Some(Higher), |r| r.depth_pct);
/// llama-bench-style tests: tokens per second of one repetition, as llama-bench reports it.
pub const TEST_TOK_S: Column = col("test_tok_s", "tok/s", Some(Higher), |r| r.test_tok_s);
pub const TEST_NS: Column = col("test_ns", "ns", Some(Lower), |r| {
    r.test_ns.map(|v| v as f64)
});
/// llama-batched-bench-style cells: the KV cells a cell needs (N_KV) and its decode time (T_TG).
pub const N_KV: Column = col("n_kv", "tokens", None, |r| r.n_kv.map(|v| v as f64));
pub const TG_MS: Column = col("tg_ms", "ms", Some(Lower), |r| r.tg_ms);
/// Time outside prompt evaluation: tokenizing, templating, queueing, transport.
pub const TTFT_MINUS_SERVER_PROMPT_MS: Column =
    col("ttft_minus_server_prompt_ms", "ms", Some(Lower), |r| {
        Some(r.ttft_ms? - r.server_prompt_ms?)
    });
/// Client ÷ server decode speed per request: 1.0 means our clock agrees with the server's.
pub const DECODE_CLIENT_SERVER_RATIO: Column =
    col("decode_client_server_ratio", "ratio", None, |r| {
        Some(r.decode_tok_s? / r.server_decode_tok_s.filter(|s| *s > 0.0)?)
    });
/// Every inter-token gap of every request, pooled. A row carries its gaps as a list
/// (`itl_list_ms`), not one value, so its reader gives nothing: the summary pools the lists.
pub const ITL_MS: Column = col("itl_ms", "ms", Some(Lower), |_| None);

/// The summary.csv rows of a generation case, in order (case-wide throughput follows them).
pub const REQUEST_SUMMARY: &[Column] = &[
    TTFT_MS,
    TPOT_MS,
    ITL_MS,
    E2E_MS,
    PREFILL_TOK_S,
    DECODE_TOK_S,
    PROMPT_TOKENS,
    OUTPUT_TOKENS,
    SERVER_PROMPT_MS,
    SERVER_PREFILL_TOK_S,
    SERVER_DECODE_TOK_S,
    TTFT_MINUS_SERVER_PROMPT_MS,
    DECODE_CLIENT_SERVER_RATIO,
];

/// The summary.csv rows of a llama-bench-style test (pp/tg), in order.
pub const PP_TG_SUMMARY: &[Column] = &[
    TEST_TOK_S,
    TEST_NS,
    TTFT_MS,
    E2E_MS,
    PREFILL_TOK_S,
    DECODE_TOK_S,
    PROMPT_TOKENS,
    OUTPUT_TOKENS,
    CACHED_TOKENS,
    SERVER_PROMPT_MS,
    SERVER_PREFILL_TOK_S,
    SERVER_PREDICTED_MS,
    SERVER_DECODE_TOK_S,
];

/// The summary.csv rows of a llama-batched-bench-style cell, in order: S, T (ns), T_PP, T_TG,
/// T (ms), S_PP, S_TG, the time of one decode step, the token counts and N_KV.
pub const BATCHED_SUMMARY: &[Column] = &[
    TEST_TOK_S,
    TEST_NS,
    TTFT_MS,
    TG_MS,
    E2E_MS,
    PREFILL_TOK_S,
    DECODE_TOK_S,
    TPOT_MS,
    PROMPT_TOKENS,
    OUTPUT_TOKENS,
    N_KV,
];

/// The speed rows of a tool-call or structured-output case, in order.
pub const TOOL_SPEED_SUMMARY: &[Column] =
    &[TTFT_MS, DECODE_TOK_S, E2E_MS, PROMPT_TOKENS, OUTPUT_TOKENS];

/// Case-wide throughput over the measured phase's wall time: not a value of one request, so
/// its reader gives nothing; the runner computes it.
pub const OUTPUT_TOK_S: Column = col("output_tok_s", "tok/s", Some(Higher), |_| None);
/// Case-wide request rate; computed by the runner like [`OUTPUT_TOK_S`].
pub const REQUESTS_PER_S: Column = col("requests_per_s", "req/s", Some(Higher), |_| None);

/// Request-rate cases: how late the client sent each request against its schedule.
pub const SEND_LAG_MS: Column = col("send_lag_ms", "ms", Some(Lower), |r| r.send_lag_ms);
/// Request-rate cases with `max_concurrency`: how long a due request waited for a slot.
pub const QUEUE_WAIT_MS: Column = col("queue_wait_ms", "ms", Some(Lower), |r| r.queue_wait_ms);

/// The per-request rows a request-rate case adds after [`REQUEST_SUMMARY`], in order.
pub const RATE_SUMMARY: &[Column] = &[SEND_LAG_MS, QUEUE_WAIT_MS];

/// Case-wide figures of a request-rate case (one value each; the runner computes them).
pub const OFFERED_RATE: Column = col("offered_rate", "req/s", None, |_| None);
pub const REQUESTS_COMPLETED: Column = col("requests_completed", "requests", None, |_| None);
pub const REQUESTS_FAILED: Column = col("requests_failed", "requests", Some(Lower), |_| None);

/// SLO goodput of a case (`slo = { … }`): good requests per second of the measured window,
/// the share of good requests (Wilson 95% interval in ci_low/ci_high) and, per bound of the
/// SLO, the share of requests that missed it (`slo_missed:<bound>`).
pub const GOODPUT: Column = col("goodput", "req/s", Some(Higher), |_| None);
pub const SLO_GOOD_SHARE: Column = col("slo_good_share", "ratio", Some(Higher), |_| None);
/// Prefix of the per-bound miss rows: `slo_missed:ttft_ms`.
pub const SLO_MISSED_PREFIX: &str = "slo_missed:";

/// A sweep's answer (`mode = "sweep"`): the highest offered rate that met the SLO target,
/// with `ci_low` = that rate and `ci_high` = the lowest rate that missed it.
pub const MAX_SUSTAINABLE_RATE: Column =
    col("max_sustainable_rate", "req/s", Some(Higher), |_| None);

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cs: &[Column]) -> Vec<(&str, &str)> {
        cs.iter().map(|c| (c.name, c.unit)).collect()
    }

    /// summary.csv's rows and their order are a format: these lists must not drift.
    #[test]
    fn summary_lists_keep_summary_csv_order() {
        assert_eq!(
            names(REQUEST_SUMMARY),
            [
                ("ttft_ms", "ms"),
                ("tpot_ms", "ms"),
                ("itl_ms", "ms"),
                ("e2e_ms", "ms"),
                ("prefill_tok_s", "tok/s"),
                ("decode_tok_s", "tok/s"),
                ("prompt_tokens", "tokens"),
                ("output_tokens", "tokens"),
                ("server_prompt_ms", "ms"),
                ("server_prefill_tok_s", "tok/s"),
                ("server_decode_tok_s", "tok/s"),
                ("ttft_minus_server_prompt_ms", "ms"),
                ("decode_client_server_ratio", "ratio"),
            ]
        );
        assert_eq!(
            names(PP_TG_SUMMARY),
            [
                ("test_tok_s", "tok/s"),
                ("test_ns", "ns"),
                ("ttft_ms", "ms"),
                ("e2e_ms", "ms"),
                ("prefill_tok_s", "tok/s"),
                ("decode_tok_s", "tok/s"),
                ("prompt_tokens", "tokens"),
                ("output_tokens", "tokens"),
                ("cached_tokens", "tokens"),
                ("server_prompt_ms", "ms"),
                ("server_prefill_tok_s", "tok/s"),
                ("server_predicted_ms", "ms"),
                ("server_decode_tok_s", "tok/s"),
            ]
        );
    }

    #[test]
    fn derived_columns_read_from_their_inputs() {
        let r = SampleRow {
            ttft_ms: Some(30.0),
            server_prompt_ms: Some(20.0),
            decode_tok_s: Some(90.0),
            server_decode_tok_s: Some(100.0),
            test_ns: Some(5),
            ..Default::default()
        };
        assert_eq!(TTFT_MINUS_SERVER_PROMPT_MS.read(&r), Some(10.0));
        assert_eq!(DECODE_CLIENT_SERVER_RATIO.read(&r), Some(0.9));
        assert_eq!(TEST_NS.read(&r), Some(5.0));
        let zero = SampleRow {
            server_decode_tok_s: Some(0.0),
            ..r
        };
        assert_eq!(DECODE_CLIENT_SERVER_RATIO.read(&zero), None);
    }
}
