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
//! In process (`llamacpp`) a test times exactly what llama-bench times. Over HTTP a pp test
//! is a request with `max_tokens = 1` and a tg test generates `tg` tokens after a minimal
//! prompt, so the same file measures the serving overhead beside the engine's own speed.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Common, check_grid};
use crate::error::Result;
use crate::source;

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    name: Option<String>,
    description: Option<String>,
    mode: Option<Spanned<String>>,
    prompt_tokens: Option<Spanned<Vec<u32>>>,
    max_tokens: Option<Spanned<Vec<u32>>>,
    concurrency: Option<Spanned<Vec<u32>>>,
    pp: Option<Spanned<Vec<u32>>>,
    tg: Option<Spanned<Vec<u32>>>,
    depth: Option<Spanned<Vec<u32>>>,
    warmup: Option<Spanned<u32>>,
    repetitions: Option<Spanned<u32>>,
    seed: Option<u64>,
    temperature: Option<Spanned<f64>>,
    top_p: Option<Spanned<f64>>,
    ignore_eos: Option<bool>,
    duration: Option<Spanned<String>>,
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

pub(super) fn parse(path: &Path, text: &str) -> Result<(Common, Throughput)> {
    let raw: Raw = toml::from_str(text).map_err(|e| source::toml_error(path, text, &e))?;
    let pp_tg_mode = match &raw.mode {
        None => false,
        Some(m) if m.get_ref() == "serving" => false,
        Some(m) if m.get_ref() == "pp_tg" => true,
        Some(m) => {
            return Err(source::error_at(
                path,
                text,
                Some(m.span()),
                format!(
                    "unknown mode `{}`; expected \"serving\" (the default) or \"pp_tg\"",
                    m.get_ref()
                ),
            ));
        }
    };
    // Keys of the other mode are mistakes, not silently ignored settings.
    let (ours, theirs, mode_name) = if pp_tg_mode {
        (
            [("pp", &raw.pp), ("tg", &raw.tg)],
            [
                ("prompt_tokens", &raw.prompt_tokens),
                ("max_tokens", &raw.max_tokens),
                ("concurrency", &raw.concurrency),
            ],
            "pp_tg",
        )
    } else {
        (
            [
                ("prompt_tokens", &raw.prompt_tokens),
                ("max_tokens", &raw.max_tokens),
            ],
            [("pp", &raw.pp), ("tg", &raw.tg), ("depth", &raw.depth)],
            "serving",
        )
    };
    if let Some((key, v)) = theirs.iter().find_map(|(k, v)| v.as_ref().map(|v| (k, v))) {
        return Err(source::error_at(
            path,
            text,
            Some(v.span()),
            format!(
                "`{key}` does not belong to mode {mode_name}{}",
                if pp_tg_mode {
                    " (use pp, tg and depth)"
                } else {
                    " (add mode = \"pp_tg\" for llama-bench's tests)"
                }
            ),
        ));
    }
    let (mut prompt_tokens, mut max_tokens, mut concurrency, mut pp_tg) =
        (Vec::new(), Vec::new(), Vec::new(), None);
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
    } else {
        // A missing key is reported after the other checks: a key blanked out because its
        // value was wrong (see `source::parse_all`) must not hide the mistakes after it.
        prompt_tokens = match &raw.prompt_tokens {
            // A prompt needs room for the per-request salt that defeats prefix caches.
            Some(g) => check_grid(path, text, "prompt_tokens", g, 16, MAX_PROMPT)?,
            None => {
                missing_key.get_or_insert("prompt_tokens");
                Vec::new()
            }
        };
        max_tokens = match &raw.max_tokens {
            Some(g) => check_grid(path, text, "max_tokens", g, 1, MAX_OUTPUT)?,
            None => {
                missing_key.get_or_insert("max_tokens");
                Vec::new()
            }
        };
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
    if let Some(k) = missing_key {
        return Err(source::error_at(
            path,
            text,
            Some(0..0),
            format!("missing key `{k}` (a list of token counts)"),
        ));
    }
    Ok((
        Common {
            name: raw.name,
            description: raw.description,
        },
        Throughput {
            pp_tg,
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
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::Scenario;
    use crate::error::Error;
    use std::path::Path;

    fn parse(text: &str) -> Result<Scenario, Error> {
        Scenario::parse(Path::new("s.toml"), text)
    }

    fn located(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(Error::Input {
                line, col, message, ..
            }) => (line, col, message),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_full_grid() {
        let s = parse("kind = \"throughput\"\nprompt_tokens = [64, 128]\nmax_tokens = [16]\nconcurrency = [1, 2]\nrepetitions = 3\n").unwrap();
        assert_eq!(s.cases().len(), 4);
        assert_eq!(s.name, "s");
    }

    #[test]
    fn unknown_key_is_located() {
        let (line, col, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitons = 3\n",
        );
        assert_eq!((line, col), (4, 1));
        assert!(msg.contains("unknown field `repetitons`"), "{msg}");
    }

    #[test]
    fn wrong_type_is_located() {
        let (line, col, msg) =
            located("kind = \"throughput\"\nprompt_tokens = \"64\"\nmax_tokens = [16]\n");
        assert_eq!((line, col), (2, 17));
        assert!(msg.contains("expected a sequence"), "{msg}");
    }

    #[test]
    fn empty_grid_is_an_error() {
        let (line, col, msg) =
            located("kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = []\n");
        assert_eq!((line, col), (3, 14));
        assert!(msg.contains("empty grid"), "{msg}");
    }

    #[test]
    fn negative_numbers_are_errors() {
        let (line, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nconcurrency = [-2]\n",
        );
        assert_eq!(line, 4);
        assert!(msg.contains("-2"), "{msg}");
    }

    #[test]
    fn unknown_kind_is_located() {
        let (line, col, msg) = located("\nkind = \"speed\"\n");
        assert_eq!((line, col), (2, 8));
        assert!(msg.contains("throughput"), "{msg}");
    }

    #[test]
    fn sustained_duration() {
        assert_eq!(super::parse_duration("10m"), Some(600.0));
        assert_eq!(super::parse_duration("90s"), Some(90.0));
        assert_eq!(super::parse_duration("1.5h"), Some(5400.0));
        assert_eq!(super::parse_duration("ten"), None);
        let s = parse(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nduration = \"30s\"\n",
        )
        .unwrap();
        assert_eq!(s.cases()[0].duration_s, Some(30.0));
        assert_eq!(s.cases()[0].id, "pp64_tg16_c1_30s");
        let (line, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nduration = \"30 parsecs\"\n",
        );
        assert_eq!(line, 4);
        assert!(msg.contains("duration"), "{msg}");
        let (line, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nduration = \"30s\"\nrepetitions = 3\n",
        );
        assert_eq!(line, 5);
        assert!(msg.contains("not both"), "{msg}");
    }

    #[test]
    fn impossible_values_are_errors() {
        let (_, _, msg) =
            located("kind = \"throughput\"\nprompt_tokens = [4]\nmax_tokens = [16]\n");
        assert!(msg.contains("from 16"), "{msg}");
        let (_, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\ntop_p = 0.0\n",
        );
        assert!(msg.contains("top_p"), "{msg}");
        let (_, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitions = 0\n",
        );
        assert!(msg.contains("repetitions"), "{msg}");
    }

    #[test]
    fn pp_tg_mode_expands_like_llama_bench() {
        let s = parse("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\ntg = [128]\ndepth = [0, 4096]\nrepetitions = 3\n").unwrap();
        let ids: Vec<String> = s.cases().iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids, ["pp512", "tg128", "pp512_d4096", "tg128_d4096"]);
        let c = &s.cases()[3];
        let t = c.pp_tg.unwrap();
        assert_eq!(
            (t.n_prompt, t.n_gen, t.n_depth, c.repetitions),
            (0, 128, 4096, 3)
        );
        assert_eq!(t.name(), "tg128 @ d4096");
    }

    #[test]
    fn pp_tg_mistakes_are_located() {
        let (line, col, msg) =
            located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\nprompt_tokens = [64]\n");
        assert_eq!((line, col), (4, 17));
        assert!(msg.contains("does not belong to mode pp_tg"), "{msg}");
        let (line, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\ndepth = [0]\n",
        );
        assert_eq!(line, 4);
        assert!(msg.contains("pp_tg"), "{msg}");
        let (line, col, msg) = located("kind = \"throughput\"\nmode = \"llama\"\n");
        assert_eq!((line, col), (2, 8));
        assert!(msg.contains("unknown mode"), "{msg}");
        let (line, _, msg) = located("kind = \"throughput\"\nmode = \"pp_tg\"\n");
        assert_eq!(line, 2);
        assert!(msg.contains("needs `pp`"), "{msg}");
        let (line, col, msg) = located("kind = \"throughput\"\nmode = \"pp_tg\"\ntg = [1]\n");
        assert_eq!((line, col), (3, 6));
        assert!(msg.contains("from 2"), "{msg}");
        let (_, _, msg) =
            located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\ndepth = []\n");
        assert!(msg.contains("empty grid"), "{msg}");
        let (_, _, msg) =
            located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\ndepth = [-1]\n");
        assert!(msg.contains("-1"), "{msg}");
    }
}
