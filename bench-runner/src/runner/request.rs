//! What every kind of case shares about one request: its prompt made ready outside the timed
//! region, the request itself, the sample row built from its response, the salt index, and
//! the window over which case-wide throughput is measured, and `Measured` (a row with the ITL
//! gaps its summary needs).

use std::time::Instant;

use crate::backend::{Backend, Prompt, Request, RequestError, Response};
use crate::measure::request::{Timeline, compute};
use crate::measure::stats::percentile_sorted;
use crate::results::{SampleRow, SummaryRow};
use crate::scenario::Case;
use crate::workload::prompt;

pub(crate) struct CaseOutcome {
    pub total: usize,
    pub failed: usize,
    pub summary: Vec<SummaryRow>,
    pub warnings: Vec<String>,
}

/// A prepared request: prompt and the token count the backend will process.
pub(super) struct Prepared {
    pub prompt: Prompt,
    pub tokens: Option<u32>,
}

pub(super) async fn prepare(
    backend: &Backend,
    target: u32,
    salt: String,
    seed: u64,
    guess: &mut Option<usize>,
) -> std::result::Result<Prepared, RequestError> {
    let endpoint = backend.endpoint();
    let e = prompt::exact(target, &salt, seed, *guess, async |text: &str| {
        backend
            .count_prompt_tokens(&Prompt::user(endpoint, text.to_string()))
            .await
    })
    .await?;
    *guess = Some(e.words);
    Ok(Prepared {
        prompt: Prompt::user(endpoint, e.text),
        tokens: e.tokens,
    })
}

/// The time during which at least one measured request was in flight: the union of the
/// intervals from each request's send to its last byte. With the client keeping the server
/// busy this is the span from the first send to the last completion; a gap where no measured
/// request is out (a context haystack being built, a sustained stream preparing its next
/// prompt) is left out, as are warm-ups, which are never added.
#[derive(Default)]
pub(super) struct Window {
    busy: std::cell::RefCell<Vec<(Instant, Instant)>>,
}

impl Window {
    /// One measured request, sent at `sent` and received in full at `done`.
    pub fn add(&self, sent: Instant, done: Instant) {
        self.busy.borrow_mut().push((sent, done.max(sent)));
    }

    /// Seconds covered by the union of the intervals; 0 when nothing was sent.
    pub fn seconds(&self) -> f64 {
        let mut v = self.busy.borrow().clone();
        v.sort_by_key(|&(a, _)| a);
        let mut total = std::time::Duration::ZERO;
        let mut current: Option<(Instant, Instant)> = None;
        for (a, b) in v {
            current = match current {
                Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
                Some((ca, cb)) => {
                    total += cb - ca;
                    Some((a, b))
                }
                None => Some((a, b)),
            };
        }
        if let Some((ca, cb)) = current {
            total += cb - ca;
        }
        total.as_secs_f64()
    }
}

pub(super) fn request(case: &Case, p: &Prepared) -> Request {
    Request {
        prompt: p.prompt.clone(),
        max_tokens: case.max_tokens,
        temperature: case.sampling.temperature,
        top_p: case.sampling.top_p,
        seed: Some(case.seed),
        ignore_eos: case.sampling.ignore_eos,
        allow_prefix_cache: false,
        tools: Default::default(),
    }
}

/// A stable per-request index for the salt generator.
pub(super) fn hash_index(label: &str, i: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Turns a response into a sample row plus the raw ITL values the case summary pools.
pub(super) async fn to_measured(
    backend: &Backend,
    base: &SampleRow,
    p: &Prepared,
    resp: &Response,
) -> Measured {
    measure_response(backend, base, p.tokens.map(u64::from), resp).await
}

/// Every request's row, whatever the scenario kind: server counts and timings beside our
/// clocks, metrics per DESIGN.md, and no speed for a request that failed part-way.
/// `exact_prompt_tokens` is our own count where we made the prompt token-exact.
pub(crate) async fn measure_response(
    backend: &Backend,
    base: &SampleRow,
    exact_prompt_tokens: Option<u64>,
    resp: &Response,
) -> Measured {
    let mut row = base.clone();
    let usage = resp.usage.unwrap_or_default();
    let timings = resp.timings.unwrap_or_default();
    row.prompt_tokens_server = usage.prompt_tokens;
    row.prompt_tokens = exact_prompt_tokens
        .or(usage.prompt_tokens)
        .or(timings.prompt_n);
    row.finish_reason = resp.finish_reason.clone();
    row.retries = resp.retries;
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
        row.itl_p50_ms = Some(percentile_sorted(&s, 50.0));
        row.itl_p90_ms = Some(percentile_sorted(&s, 90.0));
        row.itl_p99_ms = Some(percentile_sorted(&s, 99.0));
        row.itl_max_ms = s.last().copied();
        row.itl_exact = Some(m.itl_exact);
    }
    row.burst_fraction = m.burst_fraction;
    row.itl_list_ms = itl_list(&m.itl_ms);
    if let Some(e) = &resp.error {
        // A broken stream's partial timings must not be mistaken for a whole request's:
        // the row keeps its counts, its speed columns go empty.
        row.mark_failed(e.category.as_str(), e.message.clone());
    }
    // What the case summary pools is what the row holds.
    let itl = if row.itl_list_ms.is_some() {
        m.itl_ms
    } else {
        Vec::new()
    };
    Measured {
        burst_fraction: row.burst_fraction,
        itl,
        row,
    }
}

pub(crate) struct Measured {
    pub row: SampleRow,
    pub itl: Vec<f64>,
    pub burst_fraction: Option<f64>,
}

impl Measured {
    /// A request that failed before anything was measured.
    pub fn failed(row: SampleRow) -> Self {
        Measured {
            row,
            itl: Vec::new(),
            burst_fraction: None,
        }
    }

    /// A request read back from samples.csv (for `--resume`): everything the summary needs
    /// is in the row.
    pub fn from_row(row: SampleRow) -> Self {
        let itl = row
            .itl_list_ms
            .as_deref()
            .map(|s| {
                s.split(';')
                    .filter_map(|v| v.trim().parse::<f64>().ok())
                    .collect()
            })
            .unwrap_or_default();
        Measured {
            burst_fraction: row.burst_fraction,
            itl,
            row,
        }
    }
}

/// ITL values as stored in samples.csv.
pub(crate) fn itl_list(itl: &[f64]) -> Option<String> {
    if itl.is_empty() {
        return None;
    }
    Some(
        itl.iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(";"),
    )
}

#[cfg(test)]
mod tests {
    use super::Window;
    use std::time::{Duration, Instant};

    #[test]
    fn window_is_the_union_of_busy_intervals() {
        let t = Instant::now();
        let ms = |v: u64| t + Duration::from_millis(v);
        let w = Window::default();
        assert_eq!(w.seconds(), 0.0);
        // Two overlapping streams 0–100 and 50–150, then a gap, then 200–250.
        w.add(ms(50), ms(150));
        w.add(ms(0), ms(100));
        w.add(ms(200), ms(250));
        assert!((w.seconds() - 0.2).abs() < 1e-9, "{}", w.seconds());
    }
}
