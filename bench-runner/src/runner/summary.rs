//! Per-case statistics: one summary row per metric, plus case-wide throughput, plus the
//! warnings a reader must see (buffered streams, queued requests, noise, cache hits).

use super::ctx::ScenarioRun;
pub(crate) use super::request::Measured;
use crate::measure::stats::{HIGH_CV, summarize};
use crate::results::metric::{self, Column};
use crate::results::summary::{
    ALL_FAILED, error_categories, failed_case_row, goodput_rows, push_summary,
};
use crate::results::{SampleRow, SummaryRow};
// The pure summary builders live in `results::summary`; the kind runners reach them here.
pub(crate) use crate::results::summary::pp_tg_summary;
use crate::scenario::Case;

/// Mean tokens per network read above which a stream counts as buffered.
const BUFFERED_TOKENS_PER_READ: f64 = 1.5;
/// Share of gaps < 10% of the mean gap above which a stream counts as bursty.
const BURSTY_FRACTION: f64 = 0.25;

/// The summary rows and warnings of a case's requests: one row per metric of the catalogue,
/// plus case-wide throughput.
pub(crate) fn summarize_case(
    s: &ScenarioRun<'_>,
    case: &Case,
    measured: &[Measured],
    wall_s: f64,
) -> (Vec<SummaryRow>, Vec<String>) {
    let facts = s.facts;
    let resumed = s.ctx.resumed_cases.borrow().contains(&(
        facts.name.clone(),
        s.scenario.name.clone(),
        case.id.clone(),
    ));
    let ok: Vec<&Measured> = measured
        .iter()
        .filter(|m| m.row.error_category.is_none())
        .collect();
    let errors = measured.len() - ok.len();
    let col = |f: fn(&SampleRow) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|m| f(&m.row)).collect()
    };

    let (mut flags, warnings) = case_flags(s, case, measured, &ok, resumed);
    // SLO goodput over every request of the case (failed ones count as not good); per second
    // only over a window measured in one sitting.
    let slo = s.slo().map(|slo| {
        let window = if resumed { 0.0 } else { wall_s };
        goodput_rows(
            &SummaryRow::default(),
            slo,
            measured.iter().map(|m| &m.row),
            window,
        )
    });
    if let Some((_, _, Some(flag))) = &slo {
        let mut all: Vec<&str> = flags.split(';').filter(|f| !f.is_empty()).collect();
        all.push(flag);
        all.sort();
        flags = all.join(";");
    }

    let base = SummaryRow {
        errors,
        flags,
        ..s.summary_base(case)
    };
    let mut rows = Vec::new();
    let mut push =
        |column: &Column, values: Vec<f64>| push_summary(&mut rows, &base, column, &values);
    for column in metric::REQUEST_SUMMARY {
        let values = if column.name == metric::ITL_MS.name {
            ok.iter().flat_map(|m| m.itl.iter().copied()).collect()
        } else {
            col(column.reader())
        };
        push(column, values);
    }
    // Case-wide throughput over the measured phase's wall time (not for a resumed case: its
    // requests were measured in two sittings).
    if wall_s > 0.0 && !ok.is_empty() && !resumed {
        let out: f64 = col(metric::OUTPUT_TOKENS.reader()).iter().sum();
        push(&metric::OUTPUT_TOK_S, vec![out / wall_s]);
        push(&metric::REQUESTS_PER_S, vec![ok.len() as f64 / wall_s]);
    }
    if rows.is_empty() && errors > 0 {
        rows.push(failed_case_row(&base));
    }
    if let Some((slo_rows, _, _)) = slo {
        rows.extend(slo_rows.into_iter().map(|r| SummaryRow {
            metric: r.metric,
            unit: r.unit,
            n: r.n,
            mean: r.mean,
            stddev: r.stddev,
            min: r.min,
            p50: r.p50,
            p90: r.p90,
            p99: r.p99,
            max: r.max,
            ci_low: r.ci_low,
            ci_high: r.ci_high,
            ..base.clone()
        }));
    }
    (rows, warnings)
}

/// The case's flags (`;`-separated, sorted) and the warnings a reader must see: buffered
/// streams, queued requests, inexact prompts, cache hits, failures, noise. Each check adds
/// its flag and its warning side by side.
fn case_flags(
    s: &ScenarioRun<'_>,
    case: &Case,
    measured: &[Measured],
    ok: &[&Measured],
    resumed: bool,
) -> (String, Vec<String>) {
    let facts = s.facts;
    let errors = measured.len() - ok.len();
    let col = |f: fn(&SampleRow) -> Option<f64>| -> Vec<f64> {
        ok.iter().filter_map(|m| f(&m.row)).collect()
    };
    let mut flags: Vec<&str> = Vec::new();
    let mut warnings = Vec::new();
    let where_ = format!("{} / {} / {}", facts.name, s.scenario.name, case.id);

    let tpr = col(|r| r.tokens_per_read);
    let bursts: Vec<f64> = ok.iter().filter_map(|m| m.burst_fraction).collect();
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    if mean(&tpr) > BUFFERED_TOKENS_PER_READ || mean(&bursts) > BURSTY_FRACTION {
        flags.push("buffered_stream");
        warnings.push(format!(
            "{where_}: stream is buffered ({:.2} tokens per read, {:.0}% of gaps are bursts): ITL and TPOT from client clocks cannot be trusted",
            mean(&tpr), mean(&bursts) * 100.0
        ));
    }
    // The slots in effect for this case: an in-process engine sizes its sequences per case.
    if let Some(slots) = s.backend.slots_now(facts)
        && case.concurrency > slots
    {
        flags.push("queued");
        warnings.push(format!("{where_}: concurrency {} exceeds the server's {slots} slots: requests queue, TTFT includes waiting", case.concurrency));
    }
    // Each row against its own requested length (request-rate cases draw lengths from a
    // distribution; 0 requested: the user's own prompts, which have no target).
    if ok.iter().any(|m| {
        m.row.prompt_tokens_requested > 0
            && m.row
                .prompt_tokens
                .is_some_and(|p| p != u64::from(m.row.prompt_tokens_requested))
    }) {
        flags.push("prompt_length_inexact");
        warnings.push(if case.prompt_tokens > 0 {
            format!(
                "{where_}: prompt lengths differ from the requested {} tokens (see prompt_tokens)",
                case.prompt_tokens
            )
        } else {
            format!("{where_}: prompt lengths differ from the requested ones (see prompt_tokens_requested)")
        });
    }
    if ok
        .iter()
        .any(|m| m.row.cached_tokens.is_some_and(|c| c > 0))
    {
        flags.push("prefix_cache_hit");
        warnings.push(format!(
            "{where_}: the server served prompt tokens from its cache"
        ));
    }
    if ok.iter().any(|m| m.row.itl_exact == Some(false)) {
        flags.push("itl_estimated");
    }
    if resumed {
        flags.push("resumed");
    }
    let categories = error_categories(measured.iter().map(|m| &m.row));
    if errors > 0 {
        warnings.push(format!(
            "{where_}: {errors} of {} requests failed ({})",
            measured.len(),
            categories.join(", ")
        ));
    }
    let error_flags: Vec<String> = categories.iter().map(|c| format!("error_{c}")).collect();
    flags.extend(error_flags.iter().map(String::as_str));
    if ok.is_empty() && errors > 0 {
        flags.push(ALL_FAILED);
    }

    let decode = col(metric::DECODE_TOK_S.reader());
    let ttft = col(metric::TTFT_MS.reader());
    for (name, v) in [("decode tok/s", &decode), ("TTFT", &ttft)] {
        if let Some(s) = summarize(v)
            && s.n >= 3
            && s.cv() > HIGH_CV
        {
            flags.push("high_variation");
            warnings.push(format!(
                "{where_}: {name} varies a lot (CV {:.0}%); close other programs or add repetitions",
                s.cv() * 100.0
            ));
        }
    }
    flags.sort();
    flags.dedup();
    let flags = flags.join(";");
    (flags, warnings)
}
