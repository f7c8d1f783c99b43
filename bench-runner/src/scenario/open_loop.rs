//! Request-rate (open-loop) keys of a serving throughput scenario, the SLO, and the sweep.
//!
//! ```toml
//! kind = "throughput"
//! prompt_tokens = [512]
//! max_tokens = [128]
//! request_rate = [1.0, 2.0, 4.0]   # requests sent per second; instead of `concurrency`
//! arrival = "poisson"              # "poisson" (default), "constant" or "gamma"
//! burstiness = 0.5                 # gamma only: shape k (1 = Poisson, < 1 burstier)
//! max_concurrency = 16             # at most this many in flight; later sends wait
//! requests = 200                   # per rate (default 100), or `duration = "60s"`
//! slo = { ttft_ms = 2000, tpot_ms = 100 }   # any of ttft_ms, tpot_ms, itl_ms, e2e_ms
//! ```
//!
//! `mode = "sweep"` finds the maximum sustainable rate instead of running listed rates (see
//! `measure::sweep`): no `request_rate` or `concurrency`; `slo` is required and must bound
//! `ttft_ms` or `e2e_ms` (past capacity requests queue, which only those two see);
//! `sweep_rates = 5`, `slo_target = 0.95`, `tolerance = 0.05` are the defaults.
//!
//! The schedule of each rate is made from `seed` (see `workload::arrival`).

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::Result;
use crate::measure::slo::Slo;
use crate::measure::sweep::SweepConfig;
use crate::source;
use crate::workload::arrival::{Arrival, Extent, MAX_SENDS};
use crate::workload::lengths::LengthDist;

/// How a serving case loads the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// `concurrency = [...]`: that many requests kept in flight, back to back (the default).
    Closed,
    /// `request_rate = [...]`: one case per rate, requests sent on a seeded schedule.
    Rates { rates: Vec<f64>, open: OpenLoop },
    /// `mode = "sweep"`: the rates are chosen while the sweep runs.
    Sweep { sweep: SweepConfig, open: OpenLoop },
}

/// What every request-rate case of a scenario shares.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoop {
    pub arrival: Arrival,
    /// At most this many requests in flight; a send due while the cap is reached waits, and
    /// the wait is recorded apart from TTFT.
    pub max_concurrency: Option<u32>,
    /// Each case's schedule: `requests` sends, or sends for `duration`.
    pub extent: Extent,
}

/// One request-rate case: the grid point prompt length × output length × rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCase {
    /// `pp512_tg128_r2`, `ppn512sd128_tg128_r2.5`, `ppfile_tg128_r4_60s`.
    pub id: String,
    /// `None`: prompts come from the scenario's `prompts_file`.
    pub prompt_tokens: Option<LengthDist>,
    pub max_tokens: LengthDist,
    pub rate: f64,
    pub open: OpenLoop,
}

/// Largest offered rate accepted: far above what one client machine can send, low enough to
/// catch a typo.
pub const MAX_RATE: f64 = 100_000.0;
const MAX_REQUESTS: u32 = 1_000_000;
const MAX_CONCURRENCY: u32 = 4096;
const DEFAULT_REQUESTS: u32 = 100;

/// The keys as written (filled by `throughput::parse`, which owns the file's schema).
pub(super) struct Keys<'a> {
    pub request_rate: &'a Option<Spanned<Vec<f64>>>,
    pub arrival: &'a Option<Spanned<String>>,
    pub burstiness: &'a Option<Spanned<f64>>,
    pub max_concurrency: &'a Option<Spanned<u32>>,
    pub requests: &'a Option<Spanned<u32>>,
    pub slo: &'a Option<Spanned<RawSlo>>,
    pub sweep_rates: &'a Option<Spanned<u32>>,
    pub slo_target: &'a Option<Spanned<f64>>,
    pub tolerance: &'a Option<Spanned<f64>>,
    /// Keys of the closed loop and of sustained runs, which the open loop replaces.
    pub concurrency: Option<Range<usize>>,
    pub repetitions: Option<Range<usize>>,
    /// `duration` in seconds (already checked) and where it is.
    pub duration: Option<(f64, Range<usize>)>,
    /// Where `mode = "sweep"` is, when it is.
    pub sweep_mode: Option<Range<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlo {
    ttft_ms: Option<f64>,
    tpot_ms: Option<f64>,
    itl_ms: Option<f64>,
    e2e_ms: Option<f64>,
}

pub(super) struct Parsed {
    pub load: Load,
    pub slo: Option<Slo>,
    /// The keys present that the runner cannot run yet, with where they are.
    pub not_yet_run: Vec<(&'static str, Range<usize>)>,
}

pub(super) fn parse(path: &Path, text: &str, k: &Keys<'_>) -> Result<Parsed> {
    let at = |span: Range<usize>, msg: String| source::error_at(path, text, Some(span), msg);
    let sweep = k.sweep_mode.is_some();
    let open = sweep || k.request_rate.is_some();
    if sweep {
        if let Some(r) = k.request_rate {
            return Err(at(
                r.span(),
                "a sweep chooses its own rates; drop `request_rate` (or `mode = \"sweep\"`)".into(),
            ));
        }
        if let Some(c) = &k.concurrency {
            return Err(at(c.clone(), "a sweep bounds its range itself (one request at a time, then as many as the server takes); drop `concurrency`, or cap it with `max_concurrency`".into()));
        }
    } else {
        for (key, span) in [
            ("sweep_rates", k.sweep_rates.as_ref().map(Spanned::span)),
            ("slo_target", k.slo_target.as_ref().map(Spanned::span)),
            ("tolerance", k.tolerance.as_ref().map(Spanned::span)),
        ] {
            if let Some(s) = span {
                return Err(at(
                    s,
                    format!("`{key}` belongs to a sweep; add `mode = \"sweep\"`"),
                ));
            }
        }
    }
    if let (Some(r), Some(c)) = (k.request_rate, &k.concurrency) {
        // Point at whichever comes second: the first one read is what the file means.
        let later = if r.span().start > c.start {
            r.span()
        } else {
            c.clone()
        };
        return Err(at(later, "give `concurrency` (requests kept in flight) or `request_rate` (requests sent per second), not both".into()));
    }
    if !open {
        for (key, span) in [
            ("arrival", k.arrival.as_ref().map(Spanned::span)),
            ("burstiness", k.burstiness.as_ref().map(Spanned::span)),
            (
                "max_concurrency",
                k.max_concurrency.as_ref().map(Spanned::span),
            ),
            ("requests", k.requests.as_ref().map(Spanned::span)),
        ] {
            if let Some(s) = span {
                return Err(at(
                    s,
                    format!(
                        "`{key}` applies to request-rate cases, which need `request_rate` (or `mode = \"sweep\"`)"
                    ),
                ));
            }
        }
    }
    let slo = k
        .slo
        .as_ref()
        .map(|s| check_slo(s).map_err(|m| at(s.span(), m)))
        .transpose()?;
    let not_yet_run = Vec::new();
    if !open {
        return Ok(Parsed {
            load: Load::Closed,
            slo,
            not_yet_run,
        });
    }
    if let Some(r) = &k.repetitions {
        return Err(at(r.clone(), "a request-rate case sends `requests` in all (or runs for `duration`); use `requests` instead of `repetitions`".into()));
    }
    let open_loop = check_open_loop(k).map_err(|(span, m)| at(span, m))?;
    let load = if let Some(m) = &k.sweep_mode {
        let cfg = check_sweep(k).map_err(|(span, m)| at(span, m))?;
        match (&slo, k.slo) {
            (Some(s), _) if s.ttft_ms.is_some() || s.e2e_ms.is_some() => {}
            (_, Some(raw)) => {
                return Err(at(raw.span(), "a sweep's `slo` must bound `ttft_ms` or `e2e_ms`: past capacity requests queue, and only those two see it".into()));
            }
            (_, None) => {
                return Err(at(m.clone(), "a sweep needs `slo` (e.g. slo = { ttft_ms = 2000 }): the maximum sustainable rate is the highest at which requests meet it".into()));
            }
        }
        Load::Sweep {
            sweep: cfg,
            open: open_loop,
        }
    } else {
        let r = k.request_rate.as_ref().expect("open and not a sweep");
        let rates = check_rates(r.get_ref()).map_err(|m| at(r.span(), m))?;
        if let Extent::Seconds(d) = open_loop.extent {
            let most = rates.iter().copied().fold(0.0, f64::max);
            if most * d > MAX_SENDS as f64 {
                let span = k.duration.as_ref().map_or(r.span(), |(_, s)| s.clone());
                return Err(at(
                    span,
                    format!(
                        "{most} requests/s for {d} s is more than the {MAX_SENDS} requests one case may send; shorten `duration`"
                    ),
                ));
            }
        }
        Load::Rates {
            rates,
            open: open_loop,
        }
    };
    Ok(Parsed {
        load,
        slo,
        not_yet_run,
    })
}

type Located = (Range<usize>, String);

fn check_open_loop(k: &Keys<'_>) -> std::result::Result<OpenLoop, Located> {
    let arrival = match k.arrival {
        None => Arrival::Poisson,
        Some(a) => match a.get_ref().as_str() {
            "poisson" => Arrival::Poisson,
            "constant" => Arrival::Constant,
            "gamma" => Arrival::Gamma { burstiness: 1.0 },
            other => {
                return Err((
                    a.span(),
                    format!(
                        "unknown arrival `{other}`; expected \"poisson\", \"constant\" or \"gamma\""
                    ),
                ));
            }
        },
    };
    let arrival = match (arrival, k.burstiness) {
        (Arrival::Gamma { .. }, Some(b)) => {
            let v = *b.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= 1000.0) {
                return Err((
                    b.span(),
                    format!(
                        "`burstiness` is {v}; expected a gamma shape above 0 (1 = Poisson, < 1 burstier), at most 1000"
                    ),
                ));
            }
            Arrival::Gamma { burstiness: v }
        }
        (_, Some(b)) => {
            return Err((b.span(), "`burstiness` shapes gamma arrivals; it needs `arrival` set to \"gamma\" (burstiness 1 is Poisson)".into()));
        }
        (a, None) => a,
    };
    let max_concurrency = match k.max_concurrency {
        Some(c) if *c.get_ref() == 0 || *c.get_ref() > MAX_CONCURRENCY => {
            return Err((
                c.span(),
                format!("`max_concurrency` must be from 1 to {MAX_CONCURRENCY}"),
            ));
        }
        c => c.as_ref().map(|c| *c.get_ref()),
    };
    let extent = match (k.requests, &k.duration) {
        (Some(r), Some(_)) => {
            return Err((r.span(), "give `requests` (sends per case) or `duration` (sends until the time is up), not both".into()));
        }
        (Some(r), None) if *r.get_ref() == 0 || *r.get_ref() > MAX_REQUESTS => {
            return Err((
                r.span(),
                format!("`requests` must be from 1 to {MAX_REQUESTS}"),
            ));
        }
        (Some(r), None) => Extent::Requests(*r.get_ref()),
        (None, Some((d, _))) => Extent::Seconds(*d),
        (None, None) => Extent::Requests(DEFAULT_REQUESTS),
    };
    Ok(OpenLoop {
        arrival,
        max_concurrency,
        extent,
    })
}

fn check_rates(rates: &[f64]) -> std::result::Result<Vec<f64>, String> {
    if rates.is_empty() {
        return Err("`request_rate` is an empty list; expected at least one rate".into());
    }
    for (i, &r) in rates.iter().enumerate() {
        if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) {
            return Err(format!(
                "`request_rate` holds {r}; expected requests/s above 0, at most {MAX_RATE}"
            ));
        }
        if rates[..i].contains(&r) {
            return Err(format!(
                "`request_rate` lists {r} twice; each rate may appear once"
            ));
        }
    }
    Ok(rates.to_vec())
}

fn check_slo(s: &Spanned<RawSlo>) -> std::result::Result<Slo, String> {
    let r = s.get_ref();
    let slo = Slo {
        ttft_ms: r.ttft_ms,
        tpot_ms: r.tpot_ms,
        itl_ms: r.itl_ms,
        e2e_ms: r.e2e_ms,
    };
    if slo.is_empty() {
        return Err(
            "`slo` names no bound; expected any of ttft_ms, tpot_ms, itl_ms, e2e_ms".into(),
        );
    }
    for b in crate::measure::slo::Bound::ALL {
        if let Some(v) = slo.bound(b)
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!(
                "`slo.{b}` is {v}; expected a positive number of milliseconds"
            ));
        }
    }
    Ok(slo)
}

fn check_sweep(k: &Keys<'_>) -> std::result::Result<SweepConfig, Located> {
    let grid = match k.sweep_rates {
        Some(n) if !(1..=50).contains(n.get_ref()) => {
            return Err((n.span(), "`sweep_rates` must be from 1 to 50".into()));
        }
        n => n.as_ref().map_or(5, |n| *n.get_ref()),
    };
    let target = match k.slo_target {
        Some(t) if !(*t.get_ref() > 0.0 && *t.get_ref() <= 1.0) => {
            return Err((
                t.span(),
                format!(
                    "`slo_target` is {}; expected the share of good requests, above 0, at most 1",
                    t.get_ref()
                ),
            ));
        }
        t => t.as_ref().map_or(0.95, |t| *t.get_ref()),
    };
    let tolerance = match k.tolerance {
        Some(t) if !(*t.get_ref() >= 0.005 && *t.get_ref() <= 0.5) => {
            return Err((
                t.span(),
                format!(
                    "`tolerance` is {}; expected a relative width from 0.005 to 0.5 (0.05 = 5%)",
                    t.get_ref()
                ),
            ));
        }
        t => t.as_ref().map_or(0.05, |t| *t.get_ref()),
    };
    Ok(SweepConfig::new(grid, target, tolerance))
}

/// The refusal a scenario gets while the runner cannot run what it asks: at `request_rate` or
/// `mode = "sweep"` when present (what the file is about), else at the first such key in the
/// file. Never run such a scenario as something else (concurrency 1, fixed lengths).
/// (Every key checked today also runs; the refusal stays for the next key that does not.)
pub(super) fn refuse(
    path: &Path,
    text: &str,
    mut keys: Vec<(&'static str, Range<usize>)>,
) -> Result<()> {
    keys.sort_by_key(|(k, s)| (!matches!(*k, "request_rate" | "mode = \"sweep\""), s.start));
    let Some((key, span)) = keys.first() else {
        return Ok(());
    };
    let hint = "; use `request_rate = [...]` for now";
    Err(source::error_at(
        path,
        text,
        Some(span.clone()),
        format!(
            "`{key}` is not yet supported by the runner: this build checks it but cannot run it, and will not run the scenario as something else{hint}"
        ),
    ))
}

/// A case id's rate part: `2`, `2.5`, `0.25`.
pub fn rate_label(r: f64) -> String {
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Expands a request-rate scenario's grid: prompt length × output length × rate, in file order.
pub(super) fn rate_cases(
    prompts: &[LengthDist],
    from_file: bool,
    outputs: &[LengthDist],
    load: &Load,
) -> Vec<RateCase> {
    let Load::Rates { rates, open } = load else {
        return Vec::new();
    };
    let prompts: Vec<Option<&LengthDist>> = if from_file {
        vec![None]
    } else {
        prompts.iter().map(Some).collect()
    };
    let suffix = match open.extent {
        Extent::Seconds(d) => format!("_{}s", d.round()),
        Extent::Requests(_) => String::new(),
    };
    let mut out = Vec::new();
    for p in &prompts {
        for g in outputs {
            for &r in rates {
                out.push(RateCase {
                    id: format!(
                        "pp{}_tg{}_r{}{suffix}",
                        p.map_or_else(|| "file".into(), LengthDist::label),
                        g.label(),
                        rate_label(r)
                    ),
                    prompt_tokens: p.cloned(),
                    max_tokens: g.clone(),
                    rate: r,
                    open: open.clone(),
                });
            }
        }
    }
    out
}

/// Whether an error is the refusal above (for tests).
#[cfg(test)]
pub(super) fn is_refusal(e: &crate::error::Error) -> bool {
    matches!(e, crate::error::Error::Input { message, .. } if message.contains("not yet supported by the runner"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
#[path = "open_loop_tests.rs"]
mod tests;
