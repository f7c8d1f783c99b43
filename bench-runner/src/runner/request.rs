//! What every kind of case shares about one request: its prompt made ready outside the timed
//! region, the request itself, the sample row built from its response, the salt index, and
//! the window over which case-wide throughput is measured, and `Measured` (a row with the ITL
//! gaps its summary needs). `plan_requests` makes a case's requests with their drawn lengths
//! (closed-loop and request-rate cases share it, so the k-th request of a case gets the k-th
//! draw of the seed's sub-streams whichever loop sends it).

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use super::ctx::ScenarioRun;
use crate::backend::{Backend, Endpoint, ErrorCategory, Prompt, Request, RequestError, Response};
use crate::measure::request::{Timeline, compute};
use crate::measure::stats::percentile_sorted;
use crate::results::SampleRow;
use crate::scenario::Case;
use crate::scenario::PromptsFile;
use crate::workload::lengths::{LengthDist, sub_seed};
use crate::workload::{prompt, prompts_file};

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

/// Where a case's request lengths come from: prompt lengths drawn from `prompt` or the
/// user's prompts picked from `file` (one of them), output lengths drawn from `output`
/// (unless a prompt of the file names its own), all from sub-streams of `seed`.
pub(super) struct Lengths<'a> {
    pub prompt: Option<&'a LengthDist>,
    pub file: Option<&'a PromptsFile>,
    pub output: &'a LengthDist,
    pub seed: u64,
}

/// One request of a case, ready to send.
pub(super) struct Planned {
    pub request: Request,
    pub prepared: Prepared,
    /// The drawn prompt length (0: the user's own prompt).
    pub requested: u32,
}

impl Planned {
    /// The row a request starts from: the case's, with this request's own lengths.
    pub fn base_row(&self, case_base: &SampleRow) -> SampleRow {
        let mut base = case_base.clone();
        base.prompt_tokens_requested = self.requested;
        base.max_tokens = self.request.max_tokens;
        base
    }
}

/// Requests `range` of a case (index 0 is its first warm-up), prepared outside any timed
/// region: salted token-exact prompts of the drawn lengths, or the user's prompts picked with
/// the seed and sent as written (no salt: it would change what is measured; `cache_prompt:
/// false` still goes with every request). Request `i` gets the `i`-th draw of each
/// sub-stream, so a resumed case draws what the first sitting would have. `guesses` keeps,
/// per length, the word count that hit it (the best first guess for it again).
pub(super) async fn plan_requests(
    s: &ScenarioRun<'_>,
    lengths: &Lengths<'_>,
    case: &Case,
    label: &str,
    range: Range<usize>,
    guesses: &mut HashMap<u32, usize>,
) -> std::result::Result<Vec<Planned>, RequestError> {
    let draw = |v: Vec<u32>| v[range.clone()].to_vec();
    let outputs = draw(
        lengths
            .output
            .samples(sub_seed(lengths.seed, "max_tokens"), range.end),
    );
    let mut planned = Vec::with_capacity(range.len().min(1 << 16));
    let request = |prompt: Prompt, max_tokens: u32| Request {
        prompt,
        max_tokens,
        temperature: case.sampling.temperature,
        top_p: case.sampling.top_p,
        seed: Some(case.seed),
        ignore_eos: case.sampling.ignore_eos,
        allow_prefix_cache: false,
        tools: Default::default(),
    };
    match (lengths.prompt, lengths.file) {
        (Some(dist), _) => {
            let drawn = draw(dist.samples(sub_seed(lengths.seed, "prompt_tokens"), range.end));
            for ((i, &len), &out) in range.clone().zip(&drawn).zip(&outputs) {
                let salt = prompt::salt(s.ctx.nonce, hash_index(label, i));
                let guess = guesses.entry(len).or_default();
                let mut g = (*guess > 0).then_some(*guess);
                let p = prepare(s.backend, len, salt, case.seed, &mut g).await?;
                *guess = g.unwrap_or(0);
                planned.push(Planned {
                    request: request(p.prompt.clone(), out),
                    prepared: p,
                    requested: len,
                });
            }
        }
        (None, Some(file)) => {
            let picks = draw(
                prompts_file::pick(
                    file.prompts.len(),
                    range.end,
                    sub_seed(lengths.seed, "prompts_file"),
                )
                .into_iter()
                .map(|k| k as u32)
                .collect(),
            );
            let endpoint = s.backend.endpoint();
            for (&k, &out) in picks.iter().zip(&outputs) {
                let up = &file.prompts[k as usize];
                let prompt = match (&up.body, endpoint) {
                    (prompts_file::PromptBody::Text(text), e) => Prompt::user(e, text.clone()),
                    (body, Endpoint::Chat) => Prompt::Chat(body.messages()),
                    // A conversation on the completions endpoint: its turns, one per line.
                    (body, Endpoint::Completions) => Prompt::Text(
                        body.messages()
                            .iter()
                            .map(|m| m.content.as_str())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                };
                let tokens = s.backend.count_prompt_tokens(&prompt).await?;
                planned.push(Planned {
                    request: request(prompt.clone(), up.output_tokens.unwrap_or(out)),
                    prepared: Prepared { prompt, tokens },
                    requested: 0,
                });
            }
        }
        (None, None) => {
            return Err(RequestError::new(
                ErrorCategory::Prepare,
                "a case without prompt lengths or prompts",
            ));
        }
    }
    Ok(planned)
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
