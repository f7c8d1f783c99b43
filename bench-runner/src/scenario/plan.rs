//! Whether a scenario's plan fits in this machine's memory.
//!
//! A serving case prepares every prompt before its first request (so that no prompt is built
//! inside a timed region) and keeps every measured row until its summary. So a case holds about
//! `(warmup + repetitions) × concurrency` prompts and `repetitions × concurrency` rows at once:
//! `concurrency = [4096]` with `repetitions = 100000` is 409.6 million of each. The estimate
//! below is a lower bound (the smallest each item can be), so a plan it says cannot fit surely
//! cannot: `run` refuses such a plan before it starts anything, and `validate` warns about it
//! (the file may be meant for a bigger machine).

use super::{Case, Scenario, ScenarioBody};
use crate::error::Error;

/// A prepared prompt without its text: the prompt and its token count (40 bytes on 64-bit).
const PREPARED_BYTES: u64 = 40;
/// Filler text per prompt token: a common English word and a space (3.8 + 1 bytes on average).
const PROMPT_BYTES_PER_TOKEN: u64 = 3;
/// One measured row, held until the case's summary; a `SampleRow` is larger (see the test).
const ROW_BYTES: u64 = 512;
/// Inter-token latencies kept per generated token (one f64).
const ITL_BYTES_PER_TOKEN: u64 = 8;

/// The least memory `case` holds at once, in bytes.
pub fn case_bytes(case: &Case) -> u64 {
    if case.pp_tg.is_some() || case.batched.is_some() {
        return u64::from(case.repetitions) * ROW_BYTES;
    }
    let streams = u64::from(case.concurrency);
    let measured = if case.duration_s.is_some() {
        // Sustained: prompts are made one at a time; the rows that fit the time are unknown.
        streams
    } else {
        u64::from(case.repetitions) * streams
    };
    let prepared = u64::from(case.warmup) * streams + measured;
    prepared * (PREPARED_BYTES + u64::from(case.prompt_tokens) * PROMPT_BYTES_PER_TOKEN)
        + measured * (ROW_BYTES + u64::from(case.max_tokens) * ITL_BYTES_PER_TOKEN)
}

/// A located input error when the scenario's largest case cannot fit in `memory_bytes`
/// (this machine's total memory; 0 when unknown, which checks nothing).
pub fn check_memory(scenario: &Scenario, memory_bytes: u64) -> Option<Error> {
    if memory_bytes == 0 {
        return None;
    }
    let ScenarioBody::Throughput(t) = &scenario.body else {
        return None;
    };
    let (case, need) = scenario
        .cases()
        .into_iter()
        // A closed-loop case that draws its lengths is sized at the largest it may draw.
        .map(|mut c| {
            if let Some((p, g)) = t.closed_lengths(&c.id) {
                c.prompt_tokens = p.map_or(0, |d| d.max());
                c.max_tokens = g.max();
            }
            c
        })
        .chain(rate_cases_as_cases(scenario, t))
        .map(|c| {
            let b = case_bytes(&c);
            (c, b)
        })
        .max_by_key(|(_, b)| *b)?;
    if need <= memory_bytes {
        return None;
    }
    let (line, col) = t.plan_at;
    let requests = u64::from(case.repetitions) * u64::from(case.concurrency);
    if !matches!(t.load.as_ref(), super::open_loop::Load::Closed) {
        return Some(Error::Input {
            path: scenario.path.clone(),
            line,
            col,
            message: format!(
                "case {} cannot fit in memory: it prepares its {} prompts before it starts and keeps \
                 every row until its summary, at least {} in all, and this machine has {}; \
                 lower `requests` or `duration`, or split the rates over several runs",
                case.id,
                group_digits(requests + u64::from(case.warmup)),
                gib(need),
                gib(memory_bytes),
            ),
        });
    }
    Some(Error::Input {
        path: scenario.path.clone(),
        line,
        col,
        message: format!(
            "case {} cannot fit in memory: it prepares its {} prompts before it starts and keeps \
             every row until its summary, at least {} in all, and this machine has {}; \
             lower `repetitions` or `concurrency`, or split the grid over several runs",
            case.id,
            group_digits(requests + u64::from(case.warmup) * u64::from(case.concurrency)),
            gib(need),
            gib(memory_bytes),
        ),
    })
}

/// Request-rate cases in the shape `case_bytes` sizes: one stream of every scheduled send
/// (a duration's expected sends, rate × seconds), at the largest lengths they may draw
/// (0 prompt tokens for the user's own prompts: their size is the file's).
fn rate_cases_as_cases(scenario: &Scenario, t: &super::Throughput) -> Vec<Case> {
    use crate::workload::arrival::Extent;
    t.rate_cases()
        .into_iter()
        .map(|rc| Case {
            id: rc.id,
            scenario: scenario.name.clone(),
            prompt_tokens: rc.prompt_tokens.as_ref().map_or(0, |d| d.max()),
            max_tokens: rc.max_tokens.max(),
            concurrency: 1,
            warmup: t.warmup,
            repetitions: match rc.open.extent {
                Extent::Requests(n) => n,
                Extent::Seconds(d) => (rc.rate * d).ceil().min(f64::from(u32::MAX)) as u32,
            },
            seed: t.seed,
            sampling: t.sampling.clone(),
            duration_s: None,
            pp_tg: None,
            batched: None,
        })
        .collect()
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `409600000` → `409,600,000`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("s.toml"), text).unwrap()
    }

    #[test]
    fn the_bounds_are_lower_bounds() {
        assert!(std::mem::size_of::<crate::results::SampleRow>() as u64 >= ROW_BYTES);
    }

    #[test]
    fn a_plan_of_409_million_requests_does_not_fit_16_gib() {
        let s = scenario(
            "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nconcurrency = [4096]\nrepetitions = 100000\n",
        );
        let e = check_memory(&s, 16 << 30).expect("must not fit");
        let text = e.to_string();
        assert!(
            text.starts_with("s.toml:5:15: case pp64_tg16_c4096 cannot fit in memory"),
            "{text}"
        );
        assert!(text.contains("409,604,096 prompts"), "{text}");
        assert_eq!(e.exit_code(), 2);
        // The shipped sizes fit easily; unknown memory checks nothing.
        let small = scenario(
            "kind = \"throughput\"\nprompt_tokens = [512]\nmax_tokens = [128]\nconcurrency = [1, 8]\nrepetitions = 5\n",
        );
        assert!(check_memory(&small, 1 << 30).is_none());
        assert!(check_memory(&s, 0).is_none());
    }

    #[test]
    #[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
    fn a_rate_case_of_a_million_long_prompts_does_not_fit_1_gib() {
        let s = scenario(
            "kind = \"throughput\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 4096 }]\nmax_tokens = [8]\nrequest_rate = [5]\nrequests = 1000000\n",
        );
        let e = check_memory(&s, 1 << 30).unwrap().to_string();
        assert!(
            e.contains("pp16-4096_tg8_r5") || e.contains("cannot fit"),
            "{e}"
        );
        assert!(e.contains("lower `requests` or `duration`"), "{e}");
        assert!(check_memory(&s, 1 << 50).is_none());
    }

    /// A closed-loop case that draws its prompt lengths is sized at the longest it may draw,
    /// not at the 0 its `Case` holds.
    #[test]
    #[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
    fn a_closed_loop_distribution_is_sized_at_its_longest_draw() {
        let grid = "max_tokens = [8]\nconcurrency = [64]\nrepetitions = 1000\n";
        let fixed = scenario(&format!(
            "kind = \"throughput\"\nprompt_tokens = [4096]\n{grid}"
        ));
        let drawn = scenario(&format!(
            "kind = \"throughput\"\nprompt_tokens = [{{ dist = \"uniform\", min = 16, max = 4096 }}]\n{grid}"
        ));
        let need = case_bytes(&fixed.cases()[0]);
        assert_eq!(drawn.cases()[0].prompt_tokens, 0);
        assert!(check_memory(&drawn, need - 1).is_some());
        assert!(check_memory(&drawn, need).is_none());
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(409_600_000), "409,600,000");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
    }
}
