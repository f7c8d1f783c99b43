//! `kind = "throughput"`: a grid of prompt length × output length × concurrency.
//!
//! ```toml
//! kind = "throughput"
//! prompt_tokens = [512]      # exact prompt length, chat template included
//! max_tokens = [128]         # output length (exact with ignore_eos)
//! concurrency = [1, 2, 4, 8] # requests in flight
//! warmup = 1                 # discarded rounds before each case
//! repetitions = 5            # measured requests per concurrent stream
//! seed = 42
//! temperature = 0.0
//! top_p = 1.0
//! ignore_eos = true
//! # duration = "10m"       # sustained instead of repetitions: each stream sends requests
//! #                        # back to back until the time is up (reports show tok/s over time)
//! ```
//!
//! `mode = "pp_tg"` runs llama-bench's tests instead of the serving grid: each `pp` is a
//! prompt-processing test, each `tg` a generation test, each at every `depth` (tokens already
//! in the KV cache, like `llama-bench -d`), `repetitions` times after one warm-up run:
//!
//! ```toml
//! kind = "throughput"
//! mode = "pp_tg"
//! pp = [512]
//! tg = [128]
//! depth = [0, 4096]
//! repetitions = 5
//! ```
//!
//! `mode = "batched"` runs llama-batched-bench's grid (`npp`, `ntg`, `npl`, `shared_prompt`;
//! see `batched.rs`), in process on llamacpp only.
//!
//! `request_rate = [...]` (an open loop: requests sent on a seeded schedule), `mode = "sweep"`
//! (the maximum sustainable rate under an `slo`) and their keys are in `open_loop.rs`; length
//! distributions in `prompt_tokens`/`max_tokens` and `prompts_file` in `lengths.rs`; they run
//! in closed-loop and request-rate cases alike.
//!
//! In process (`llamacpp`) a test times exactly what llama-bench times. Over HTTP a pp test
//! is a request with `max_tokens = 1` and a tg test generates `tg` tokens after a minimal
//! prompt, so the same file measures the serving overhead beside the engine's own speed.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::batched::{self, Batched};
use super::lengths::{Axis, RawLength, check_axis};
use super::open_loop::{self, Keys, Load, RateCase, RawSlo};
use super::{Common, check_grid};
use crate::error::Result;
use crate::measure::slo::Slo;
use crate::source;
use crate::workload::lengths::LengthDist;
use crate::workload::prompts_file::{self, UserPrompt};

#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    /// Keep generating past end-of-sequence so output length is exactly `max_tokens`.
    pub ignore_eos: bool,
}

/// llama-bench's tests (`mode = "pp_tg"`); empty `pp` or `tg` means none of that kind.
#[derive(Debug, Clone, PartialEq)]
pub struct PpTg {
    pub pp: Vec<u32>,
    pub tg: Vec<u32>,
    pub depth: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct Throughput {
    /// Set in `mode = "pp_tg"`; the serving grid below is then empty.
    pub pp_tg: Option<PpTg>,
    /// Set in `mode = "batched"`; the serving grid below is then empty.
    pub batched: Option<Batched>,
    pub prompt_tokens: Vec<u32>,
    pub max_tokens: Vec<u32>,
    pub concurrency: Vec<u32>,
    pub warmup: u32,
    pub repetitions: u32,
    pub seed: u64,
    pub sampling: Sampling,
    /// Sustained mode (`duration = "10m"`): each stream sends requests back to back until
    /// this many seconds have passed, instead of `repetitions` requests.
    pub duration_s: Option<f64>,
    /// Line and column that a "this plan cannot fit" message points at: `repetitions`, else
    /// `concurrency`, else the start of the file.
    pub plan_at: (usize, usize),
    /// Every `prompt_tokens` entry in file order, distributions included (`prompt_tokens`
    /// above holds the fixed counts alone); empty with `prompts_file`. The cases' grid.
    pub prompt_lengths: Vec<LengthDist>,
    /// Every `max_tokens` entry in file order (`max_tokens` above: the fixed counts alone).
    pub output_lengths: Vec<LengthDist>,
    /// `prompts_file`: the user's prompts, checked, instead of `prompt_tokens`.
    pub prompts: Option<Box<PromptsFile>>,
    /// Closed loop (`concurrency`, today's cases), request rates, or a sweep. With request
    /// rates or a sweep, `concurrency` is empty: no closed-loop case is made. (Boxed, as is
    /// `prompts`: they would make every `ScenarioBody` as large as a throughput one.)
    pub load: Box<Load>,
    /// `slo = { … }`: the bounds a request must meet to count as good.
    pub slo: Option<Slo>,
}

/// A scenario's `prompts_file`, resolved against the scenario's folder and read.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptsFile {
    pub path: std::path::PathBuf,
    pub prompts: Vec<UserPrompt>,
}

impl Throughput {
    /// The request-rate cases (`request_rate = [...]`): prompt length × output length × rate,
    /// in file order; empty for closed-loop scenarios and sweeps.
    pub fn rate_cases(&self) -> Vec<RateCase> {
        open_loop::rate_cases(
            &self.prompt_lengths,
            self.prompts.is_some(),
            &self.output_lengths,
            &self.load,
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    mode: Option<Spanned<String>>,
    prompt_tokens: Option<Spanned<Vec<Spanned<RawLength>>>>,
    max_tokens: Option<Spanned<Vec<Spanned<RawLength>>>>,
    concurrency: Option<Spanned<Vec<u32>>>,
    pp: Option<Spanned<Vec<u32>>>,
    tg: Option<Spanned<Vec<u32>>>,
    depth: Option<Spanned<Vec<u32>>>,
    // mode = "batched": see batched.rs.
    npp: Option<Spanned<Vec<u32>>>,
    ntg: Option<Spanned<Vec<u32>>>,
    npl: Option<Spanned<Vec<u32>>>,
    shared_prompt: Option<Spanned<bool>>,
    warmup: Option<Spanned<u32>>,
    repetitions: Option<Spanned<u32>>,
    seed: Option<u64>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    ignore_eos: Option<bool>,
    duration: Option<Spanned<String>>,
    // Request-rate load, SLO and sweep: see open_loop.rs.
    request_rate: Option<Spanned<Vec<f64>>>,
    arrival: Option<Spanned<String>>,
    burstiness: Option<Spanned<f64>>,
    max_concurrency: Option<Spanned<u32>>,
    requests: Option<Spanned<u32>>,
    slo: Option<Spanned<RawSlo>>,
    prompts_file: Option<Spanned<String>>,
    sweep_rates: Option<Spanned<u32>>,
    slo_target: Option<Spanned<f64>>,
    tolerance: Option<Spanned<f64>>,
}

/// Largest values we accept: far above any real model, low enough to catch typos.
const MAX_PROMPT: u32 = 4_194_304;
const MAX_OUTPUT: u32 = 1_048_576;
const MAX_CONCURRENCY: u32 = 4096;
const MAX_REPETITIONS: u32 = 100_000;
const MAX_DURATION_S: f64 = 24.0 * 3600.0;

/// `"90s"`, `"10m"`, `"1.5h"`, `"500ms"` → seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(v * scale).filter(|x| x.is_finite())
}

/// Parses a throughput scenario and refuses one whose keys the runner cannot run yet.
pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Throughput)> {
    let (common, t, not_yet_run) = parse_keys(path, text)?;
    open_loop::refuse(path, text, not_yet_run)?;
    Ok((common, t))
}

/// Where a key is, if it is there.
fn span_of<T>(v: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
    v.as_ref().map(Spanned::span)
}

/// Parses and checks every key; also says which keys present the runner cannot run yet.
// Long: one straight pass over the file's keys, in the order their checks depend on each other.
#[allow(clippy::type_complexity)]
pub(super) fn parse_keys(
    path: &Path,
    text: &str,
) -> Result<(
    Common,
    Throughput,
    Vec<(&'static str, std::ops::Range<usize>)>,
)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let batched_mode = raw.mode.as_ref().is_some_and(|m| m.get_ref() == "batched");
    let (pp_tg_mode, sweep_mode) = match &raw.mode {
        None => (false, false),
        Some(m) if m.get_ref() == "serving" || batched_mode => (false, false),
        Some(m) if m.get_ref() == "pp_tg" => (true, false),
        Some(m) if m.get_ref() == "sweep" => (false, true),
        Some(m) => {
            return Err(source::error_at(
                path,
                text,
                Some(m.span()),
                format!(
                    "unknown mode `{}`; expected \"serving\" (the default), \"sweep\", \"pp_tg\" or \"batched\"",
                    m.get_ref()
                ),
            ));
        }
    };
    let batched_keys = [
        ("npp", span_of(&raw.npp)),
        ("ntg", span_of(&raw.ntg)),
        ("npl", span_of(&raw.npl)),
        ("shared_prompt", span_of(&raw.shared_prompt)),
    ];
    // Keys of the other mode are mistakes, not silently ignored settings.
    let (ours, mut theirs, mode_name): (Vec<_>, Vec<_>, _) = if batched_mode {
        (
            Vec::new(),
            vec![
                ("prompt_tokens", span_of(&raw.prompt_tokens)),
                ("max_tokens", span_of(&raw.max_tokens)),
                ("concurrency", span_of(&raw.concurrency)),
                ("pp", span_of(&raw.pp)),
                ("tg", span_of(&raw.tg)),
                ("depth", span_of(&raw.depth)),
                ("duration", span_of(&raw.duration)),
                ("request_rate", span_of(&raw.request_rate)),
                ("arrival", span_of(&raw.arrival)),
                ("burstiness", span_of(&raw.burstiness)),
                ("max_concurrency", span_of(&raw.max_concurrency)),
                ("requests", span_of(&raw.requests)),
                ("slo", span_of(&raw.slo)),
                ("prompts_file", span_of(&raw.prompts_file)),
                ("sweep_rates", span_of(&raw.sweep_rates)),
                ("slo_target", span_of(&raw.slo_target)),
                ("tolerance", span_of(&raw.tolerance)),
            ],
            "batched",
        )
    } else if pp_tg_mode {
        (
            vec![("pp", span_of(&raw.pp)), ("tg", span_of(&raw.tg))],
            vec![
                ("prompt_tokens", span_of(&raw.prompt_tokens)),
                ("max_tokens", span_of(&raw.max_tokens)),
                ("concurrency", span_of(&raw.concurrency)),
                ("request_rate", span_of(&raw.request_rate)),
                ("arrival", span_of(&raw.arrival)),
                ("burstiness", span_of(&raw.burstiness)),
                ("max_concurrency", span_of(&raw.max_concurrency)),
                ("requests", span_of(&raw.requests)),
                ("slo", span_of(&raw.slo)),
                ("prompts_file", span_of(&raw.prompts_file)),
                ("sweep_rates", span_of(&raw.sweep_rates)),
                ("slo_target", span_of(&raw.slo_target)),
                ("tolerance", span_of(&raw.tolerance)),
            ],
            "pp_tg",
        )
    } else {
        (
            vec![
                ("prompt_tokens", span_of(&raw.prompt_tokens)),
                ("max_tokens", span_of(&raw.max_tokens)),
            ],
            vec![
                ("pp", span_of(&raw.pp)),
                ("tg", span_of(&raw.tg)),
                ("depth", span_of(&raw.depth)),
            ],
            if sweep_mode { "sweep" } else { "serving" },
        )
    };
    if !batched_mode {
        theirs.extend(batched_keys.iter().cloned());
    }
    if let Some((key, v)) = theirs.iter().find_map(|(k, v)| v.as_ref().map(|v| (k, v))) {
        return Err(source::error_at(
            path,
            text,
            Some(v.clone()),
            format!(
                "`{key}` does not belong to mode {mode_name}{}",
                if batched_mode {
                    " (use npp, ntg, npl and shared_prompt)"
                } else if batched_keys.iter().any(|(k, _)| k == key) {
                    " (add mode = \"batched\" for llama-batched-bench's grid)"
                } else if pp_tg_mode {
                    " (use pp, tg and depth)"
                } else {
                    " (add mode = \"pp_tg\" for llama-bench's tests)"
                }
            ),
        ));
    }
    let (mut prompt_tokens, mut max_tokens, mut concurrency, mut pp_tg) =
        (Vec::new(), Vec::new(), Vec::new(), None);
    let mut batched = None;
    let (mut prompt_axis, mut output_axis, mut prompts) = (Axis::default(), Axis::default(), None);
    let mut missing_key: Option<&str> = None;
    if pp_tg_mode {
        if ours.iter().all(|(_, v)| v.is_none()) {
            return Err(source::error_at(
                path,
                text,
                raw.mode.as_ref().map(|m| m.span()),
                "mode pp_tg needs `pp`, `tg` or both",
            ));
        }
        // A pp prompt needs room for the per-request salt when it is sent over HTTP; a tg test
        // needs two tokens to time one decode step between them.
        let pp = match &raw.pp {
            Some(g) => check_grid(path, text, "pp", g, 16, MAX_PROMPT)?,
            None => Vec::new(),
        };
        let tg = match &raw.tg {
            Some(g) => check_grid(path, text, "tg", g, 2, MAX_OUTPUT)?,
            None => Vec::new(),
        };
        let depth = match &raw.depth {
            Some(g) => check_grid(path, text, "depth", g, 0, MAX_PROMPT)?,
            None => vec![0],
        };
        pp_tg = Some(PpTg { pp, tg, depth });
    } else if batched_mode {
        let keys = batched::Keys {
            mode: raw.mode.as_ref().map_or(0..0, Spanned::span),
            npp: &raw.npp,
            ntg: &raw.ntg,
            npl: &raw.npl,
            shared_prompt: raw.shared_prompt.as_ref().map(|b| *b.get_ref()),
        };
        batched = Some(batched::parse(path, text, &keys)?);
    } else {
        // A missing key is reported after the other checks: a key blanked out because its
        // value was wrong (see `source::parse_all`) must not hide the mistakes after it.
        match (&raw.prompt_tokens, &raw.prompts_file) {
            (Some(_), Some(f)) => {
                return Err(source::error_at(
                    path,
                    text,
                    Some(f.span()),
                    "give `prompt_tokens` (made-up prompts of a length) or `prompts_file` (your prompts), not both",
                ));
            }
            // A prompt needs room for the per-request salt that defeats prefix caches.
            (Some(g), None) => {
                prompt_axis = check_axis(path, text, "prompt_tokens", g, 16, MAX_PROMPT)?;
            }
            (None, Some(f)) => prompts = Some(Box::new(read_prompts(path, text, f)?)),
            (None, None) => {
                missing_key.get_or_insert("prompt_tokens");
            }
        }
        prompt_tokens = prompt_axis.fixed.clone();
        output_axis = match &raw.max_tokens {
            Some(g) => check_axis(path, text, "max_tokens", g, 1, MAX_OUTPUT)?,
            None => {
                missing_key.get_or_insert("max_tokens");
                Axis::default()
            }
        };
        max_tokens = output_axis.fixed.clone();
        concurrency = match &raw.concurrency {
            Some(c) => check_grid(path, text, "concurrency", c, 1, MAX_CONCURRENCY)?,
            None => vec![1],
        };
    }
    let warmup = raw.warmup.as_ref().map_or(1, |w| *w.get_ref());
    if warmup > 1000 {
        let span = raw.warmup.as_ref().map(|w| w.span());
        return Err(source::error_at(
            path,
            text,
            span,
            "`warmup` must be at most 1000",
        ));
    }
    let duration_s = match &raw.duration {
        None => None,
        Some(d) => match parse_duration(d.get_ref()) {
            Some(secs) if (1.0..=MAX_DURATION_S).contains(&secs) => Some(secs),
            _ => {
                return Err(source::error_at(
                    path,
                    text,
                    Some(d.span()),
                    format!(
                        "`duration` must be a time such as \"90s\", \"10m\" or \"1h\", from 1 s to {} h",
                        MAX_DURATION_S / 3600.0
                    ),
                ));
            }
        },
    };
    if let (Some(_), Some(r)) = (&raw.duration, &raw.repetitions) {
        return Err(source::error_at(
            path,
            text,
            Some(r.span()),
            "give `duration` (sustained: requests back to back until the time is up) or `repetitions`, not both",
        ));
    }
    let repetitions = match &raw.repetitions {
        Some(r) if *r.get_ref() == 0 || *r.get_ref() > MAX_REPETITIONS => {
            return Err(source::error_at(
                path,
                text,
                Some(r.span()),
                format!("`repetitions` must be from 1 to {MAX_REPETITIONS}"),
            ));
        }
        Some(r) => *r.get_ref(),
        None => 5,
    };
    let temperature = match &raw.temperature {
        Some(t) if !(0.0..=5.0).contains(t.get_ref()) => {
            return Err(source::error_at(
                path,
                text,
                Some(t.span()),
                "`temperature` must be from 0 to 5",
            ));
        }
        Some(t) => *t.get_ref(),
        None => 0.0,
    };
    let top_p = match &raw.top_p {
        Some(p) if !(*p.get_ref() > 0.0 && *p.get_ref() <= 1.0) => {
            return Err(source::error_at(
                path,
                text,
                Some(p.span()),
                "`top_p` must be in (0, 1]",
            ));
        }
        Some(p) => *p.get_ref(),
        None => 1.0,
    };
    let parsed = if pp_tg_mode || batched_mode {
        open_loop::Parsed {
            load: Load::Closed,
            slo: None,
            not_yet_run: Vec::new(),
        }
    } else {
        open_loop::parse(
            path,
            text,
            &Keys {
                request_rate: &raw.request_rate,
                arrival: &raw.arrival,
                burstiness: &raw.burstiness,
                max_concurrency: &raw.max_concurrency,
                requests: &raw.requests,
                slo: &raw.slo,
                sweep_rates: &raw.sweep_rates,
                slo_target: &raw.slo_target,
                tolerance: &raw.tolerance,
                concurrency: span_of(&raw.concurrency),
                repetitions: span_of(&raw.repetitions),
                duration: duration_s.zip(span_of(&raw.duration)),
                sweep_mode: sweep_mode.then(|| span_of(&raw.mode)).flatten(),
            },
        )?
    };
    if let Some(k) = missing_key {
        return Err(source::error_at(
            path,
            text,
            Some(0..0),
            format!("missing key `{k}` (a list of token counts)"),
        ));
    }
    let not_yet_run = parsed.not_yet_run;
    let (concurrency, duration_s) = match parsed.load {
        Load::Closed => (concurrency, duration_s),
        // The open loop's own extent holds the duration; no closed-loop case may be made.
        _ => (Vec::new(), None),
    };
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        Throughput {
            pp_tg,
            batched,
            prompt_tokens,
            max_tokens,
            concurrency,
            warmup,
            repetitions,
            seed: raw.seed.unwrap_or(42),
            sampling: Sampling {
                temperature,
                top_p,
                ignore_eos: raw.ignore_eos.unwrap_or(true),
            },
            duration_s,
            plan_at: raw
                .repetitions
                .as_ref()
                .map(Spanned::span)
                .or_else(|| raw.concurrency.as_ref().map(Spanned::span))
                .map_or((1, 1), |s| source::line_col(text, s.start)),
            prompt_lengths: prompt_axis.all,
            output_lengths: output_axis.all,
            prompts,
            load: Box::new(parsed.load),
            slo: parsed.slo,
        },
        not_yet_run,
    ))
}

/// Reads `prompts_file`, found beside the scenario file; a file that cannot be read is an
/// error at the key, a bad line one at that line of the prompts file.
fn read_prompts(path: &Path, text: &str, f: &Spanned<String>) -> Result<PromptsFile> {
    let file = path.parent().unwrap_or(Path::new(".")).join(f.get_ref());
    let body = std::fs::read_to_string(&file).map_err(|e| {
        source::error_at(
            path,
            text,
            Some(f.span()),
            format!(
                "`prompts_file` names {}, which cannot be read: {e}",
                file.display()
            ),
        )
    })?;
    Ok(PromptsFile {
        prompts: prompts_file::parse(&file, &body)?,
        path: file,
    })
}

#[cfg(test)]
#[path = "throughput_tests.rs"]
mod tests;
