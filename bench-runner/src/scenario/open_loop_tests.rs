//! Tests of the request-rate, SLO, sweep and length-distribution keys (open_loop.rs,
//! lengths.rs), parsed without the runner's refusal, and of that refusal.

use std::path::Path;

use super::*;
use crate::error::Error;
use crate::scenario::throughput::{Throughput, parse_keys};
use crate::scenario::{Scenario, ScenarioBody};

const HEAD: &str = "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\n";

/// Parses `HEAD` + `rest` as the runner will once it runs these keys.
fn keys(rest: &str) -> Result<Throughput> {
    keys_of(&format!("{HEAD}{rest}"))
}

fn keys_of(text: &str) -> Result<Throughput> {
    parse_keys(Path::new("s.toml"), text).map(|(_, t, _)| t)
}

/// (line, col, message) of the mistake in `HEAD` + `rest`.
fn mistake(rest: &str) -> (usize, usize, String) {
    mistake_of(&format!("{HEAD}{rest}"))
}

fn mistake_of(text: &str) -> (usize, usize, String) {
    match keys_of(text) {
        Err(Error::Input {
            line, col, message, ..
        }) => (line, col, message),
        other => panic!("expected a located error, got {other:?}"),
    }
}

#[test]
fn request_rates_make_one_case_per_rate_and_no_closed_loop_case() {
    let t = keys("request_rate = [0.5, 2, 4.25]\nseed = 7\n").unwrap();
    let Load::Rates { rates, open } = &*t.load else {
        panic!("{:?}", t.load)
    };
    assert_eq!(rates, &[0.5, 2.0, 4.25]);
    assert_eq!(
        open,
        &OpenLoop {
            arrival: Arrival::Poisson,
            max_concurrency: None,
            extent: Extent::Requests(100),
        }
    );
    assert!(t.concurrency.is_empty(), "never run as concurrency 1");
    let ids: Vec<String> = t.rate_cases().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["pp64_tg16_r0.5", "pp64_tg16_r2", "pp64_tg16_r4.25"]);
    assert_eq!(t.slo, None);
}

#[test]
fn arrival_burstiness_cap_and_duration_are_read() {
    let t = keys(
        "request_rate = [2]\narrival = \"gamma\"\nburstiness = 0.5\nmax_concurrency = 8\nduration = \"60s\"\n",
    )
    .unwrap();
    let Load::Rates { open, .. } = &*t.load else {
        panic!()
    };
    assert_eq!(open.arrival, Arrival::Gamma { burstiness: 0.5 });
    assert_eq!(open.max_concurrency, Some(8));
    assert_eq!(open.extent, Extent::Seconds(60.0));
    assert_eq!(t.duration_s, None, "not a sustained closed-loop run");
    assert_eq!(t.rate_cases()[0].id, "pp64_tg16_r2_60s");
    let t = keys("request_rate = [2]\narrival = \"gamma\"\nrequests = 50\n").unwrap();
    let Load::Rates { open, .. } = &*t.load else {
        panic!()
    };
    assert_eq!(open.arrival, Arrival::Gamma { burstiness: 1.0 });
    assert_eq!(open.extent, Extent::Requests(50));
    let t = keys("request_rate = [2]\narrival = \"constant\"\n").unwrap();
    assert!(matches!(&*t.load, Load::Rates { open, .. } if open.arrival == Arrival::Constant));
}

#[test]
fn concurrency_and_request_rate_together_are_located_at_the_second() {
    let (line, col, msg) = mistake("concurrency = [1, 2]\nrequest_rate = [2]\n");
    assert_eq!((line, col), (5, 16));
    assert!(msg.contains("not both"), "{msg}");
    let (line, col, _) = mistake("request_rate = [2]\nconcurrency = [1, 2]\n");
    assert_eq!((line, col), (5, 15));
}

#[test]
fn request_rate_mistakes_are_located() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("request_rate = []\n", (4, 16), "empty list"),
        ("request_rate = [0]\n", (4, 16), "above 0"),
        ("request_rate = [-1.5]\n", (4, 16), "-1.5"),
        ("request_rate = [1e9]\n", (4, 16), "at most"),
        ("request_rate = [2, 2.0]\n", (4, 16), "twice"),
        (
            "request_rate = [2]\narrival = \"bursty\"\n",
            (5, 11),
            "unknown arrival",
        ),
        (
            "request_rate = [2]\nburstiness = 0.5\n",
            (5, 14),
            "`arrival` set to \"gamma\"",
        ),
        (
            "request_rate = [2]\narrival = \"gamma\"\nburstiness = 0\n",
            (6, 14),
            "above 0",
        ),
        (
            "request_rate = [2]\nmax_concurrency = 0\n",
            (5, 19),
            "from 1",
        ),
        ("request_rate = [2]\nrequests = 0\n", (5, 12), "from 1"),
        (
            "request_rate = [2]\nrequests = 5\nduration = \"1m\"\n",
            (5, 12),
            "not both",
        ),
        (
            "request_rate = [2]\nrepetitions = 5\n",
            (5, 15),
            "use `requests`",
        ),
        (
            "request_rate = [50000]\nduration = \"24h\"\n",
            (5, 12),
            "shorten `duration`",
        ),
        // Open-loop keys without an open loop are mistakes, not ignored settings.
        ("arrival = \"poisson\"\n", (4, 11), "need `request_rate`"),
        ("max_concurrency = 4\n", (4, 19), "need `request_rate`"),
        ("requests = 4\n", (4, 12), "need `request_rate`"),
        ("sweep_rates = 4\n", (4, 15), "add `mode = \"sweep\"`"),
    ];
    for (rest, at, needle) in cases {
        let (line, col, msg) = mistake(rest);
        assert_eq!((line, col), *at, "{rest}: {msg}");
        assert!(msg.contains(needle), "{rest}: {msg}");
    }
}

#[test]
fn the_slo_takes_any_subset_of_bounds() {
    let t = keys("slo = { ttft_ms = 2000, tpot_ms = 100 }\n").unwrap();
    assert_eq!(
        t.slo,
        Some(Slo {
            ttft_ms: Some(2000.0),
            tpot_ms: Some(100.0),
            itl_ms: None,
            e2e_ms: None
        })
    );
    assert_eq!(*t.load, Load::Closed, "an SLO alone keeps the closed loop");
    assert_eq!(t.concurrency, [1]);
    let (line, col, msg) = mistake("slo = {}\n");
    assert_eq!((line, col), (4, 7));
    assert!(msg.contains("names no bound"), "{msg}");
    let (line, _, msg) = mistake("slo = { ttft_ms = -5 }\n");
    assert_eq!(line, 4);
    assert!(msg.contains("`slo.ttft_ms` is -5"), "{msg}");
    let (line, _, msg) = mistake("slo = { ttft = 5 }\n");
    assert_eq!(line, 4);
    assert!(msg.contains("unknown field `ttft`"), "{msg}");
}

#[test]
fn a_sweep_has_defaults_and_needs_an_slo_that_sees_queueing() {
    let t = keys("mode = \"sweep\"\nslo = { ttft_ms = 2000 }\n").unwrap();
    let Load::Sweep { sweep, open } = &*t.load else {
        panic!("{:?}", t.load)
    };
    assert_eq!(*sweep, SweepConfig::new(5, 0.95, 0.05));
    assert_eq!(open.extent, Extent::Requests(100));
    assert!(t.concurrency.is_empty() && t.rate_cases().is_empty());
    let t = keys(
        "mode = \"sweep\"\nslo = { e2e_ms = 9000 }\nsweep_rates = 8\nslo_target = 0.9\ntolerance = 0.1\nmax_concurrency = 32\n",
    )
    .unwrap();
    let Load::Sweep { sweep, open } = &*t.load else {
        panic!()
    };
    assert_eq!(*sweep, SweepConfig::new(8, 0.9, 0.1));
    assert_eq!(open.max_concurrency, Some(32));
    let cases: &[(&str, (usize, usize), &str)] = &[
        ("mode = \"sweep\"\n", (4, 8), "needs `slo"),
        (
            "mode = \"sweep\"\nslo = { tpot_ms = 50 }\n",
            (5, 7),
            "`ttft_ms` or `e2e_ms`",
        ),
        (
            "mode = \"sweep\"\nslo = { ttft_ms = 1 }\nrequest_rate = [2]\n",
            (6, 16),
            "chooses its own rates",
        ),
        (
            "mode = \"sweep\"\nslo = { ttft_ms = 1 }\nconcurrency = [2]\n",
            (6, 15),
            "drop `concurrency`",
        ),
        (
            "mode = \"sweep\"\nslo = { ttft_ms = 1 }\nsweep_rates = 0\n",
            (6, 15),
            "from 1 to 50",
        ),
        (
            "mode = \"sweep\"\nslo = { ttft_ms = 1 }\nslo_target = 95\n",
            (6, 14),
            "at most 1",
        ),
        (
            "mode = \"sweep\"\nslo = { ttft_ms = 1 }\ntolerance = 0\n",
            (6, 13),
            "0.005",
        ),
    ];
    for (rest, at, needle) in cases {
        let (line, col, msg) = mistake(rest);
        assert_eq!((line, col), *at, "{rest}: {msg}");
        assert!(msg.contains(needle), "{rest}: {msg}");
    }
}

#[test]
fn length_distributions_are_read_with_the_keys_bounds() {
    let t = keys_of(
        "kind = \"throughput\"\nprompt_tokens = [512, { dist = \"normal\", mean = 512, stddev = 128 }]\nmax_tokens = [{ values = [64, 128], weights = [3, 1] }, { dist = \"uniform\", min = 8, max = 32 }]\nrequest_rate = [1]\n",
    )
    .unwrap();
    assert_eq!(
        t.prompt_lengths,
        [
            LengthDist::Fixed(512),
            LengthDist::Normal {
                mean: 512.0,
                stddev: 128.0,
                min: 16,
                max: 4_194_304
            }
        ]
    );
    assert_eq!(t.prompt_tokens, [512], "the fixed counts alone, as before");
    assert!(t.max_tokens.is_empty());
    let ids: Vec<String> = t.rate_cases().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "pp512_tgw64-128_r1",
            "pp512_tgu8-32_r1",
            "ppn512sd128_tgw64-128_r1",
            "ppn512sd128_tgu8-32_r1"
        ]
    );
}

#[test]
fn length_distribution_mistakes_are_located_at_the_entry() {
    let at = |entry: &str| {
        format!("kind = \"throughput\"\nmax_tokens = [16]\nprompt_tokens = [64, {entry}]\n")
    };
    let cases: &[(&str, &str)] = &[
        ("{ dist = \"normal\", mean = 512 }", "needs `stddev`"),
        ("{ dist = \"normal\", mean = 8, stddev = 1 }", "`mean` is 8"),
        (
            "{ dist = \"normal\", mean = 64, stddev = 1, min = 4 }",
            "`min` is 4; expected a value from 16",
        ),
        ("{ dist = \"uniform\", min = 20 }", "needs `min` and `max`"),
        (
            "{ dist = \"uniform\", min = 20, max = 30, mean = 25 }",
            "`mean` does not belong",
        ),
        ("{ dist = \"zipf\", mean = 20 }", "unknown dist `zipf`"),
        ("{ mean = 20 }", "needs `dist`"),
        (
            "{ values = [32, 64], weights = [1] }",
            "one weight per value",
        ),
        ("{ values = [32], dist = \"normal\" }", "not both"),
        (
            "{ dist = \"uniform\", min = 20, max = 30 }, { dist = \"uniform\", min = 20, max = 30 }",
            "twice",
        ),
    ];
    for (entry, needle) in cases {
        let (line, col, msg) = mistake_of(&at(entry));
        // A repeated entry is located at its second appearance.
        let want = if needle == &"twice" { (3, 64) } else { (3, 22) };
        assert_eq!((line, col), want, "{entry}: {msg}");
        assert!(
            msg.starts_with("`prompt_tokens`: ") || msg.contains("twice"),
            "{msg}"
        );
        assert!(msg.contains(needle), "{entry}: {msg}");
    }
    // serde's own messages survive: a negative count, an unknown table key.
    let (line, _, msg) = mistake_of(&at("-2"));
    assert_eq!(line, 3);
    assert!(msg.contains("-2"), "{msg}");
    let (_, _, msg) = mistake_of(&at("{ dist = \"normal\", mean = 64, stdev = 1 }"));
    assert!(msg.contains("unknown field `stdev`"), "{msg}");
}

#[test]
fn a_prompts_file_is_read_beside_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.jsonl"),
        "{\"prompt\": \"Hello\", \"output_tokens\": 8}\n{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n",
    )
    .unwrap();
    let scenario = dir.path().join("s.toml");
    let parse = |text: &str| parse_keys(&scenario, text).map(|(_, t, _)| t);
    let t = parse("kind = \"throughput\"\nprompts_file = \"mine.jsonl\"\nmax_tokens = [16]\nrequest_rate = [1]\n").unwrap();
    let p = t.prompts.as_ref().unwrap();
    assert_eq!(p.path, dir.path().join("mine.jsonl"));
    assert_eq!(p.prompts.len(), 2);
    assert_eq!(p.prompts[0].output_tokens, Some(8));
    assert!(t.prompt_lengths.is_empty());
    assert_eq!(t.rate_cases()[0].id, "ppfile_tg16_r1");
    assert_eq!(t.rate_cases()[0].prompt_tokens, None);
    // A file that is not there: at the key. A bad line: at that line of the prompts file.
    let e = parse("kind = \"throughput\"\nmax_tokens = [16]\nprompts_file = \"gone.jsonl\"\n")
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3:16: `prompts_file` names",
            scenario.display()
        )),
        "{e}"
    );
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"prompt\": \"a\"}\n{\"promt\": \"b\"}\n",
    )
    .unwrap();
    let e = parse("kind = \"throughput\"\nmax_tokens = [16]\nprompts_file = \"bad.jsonl\"\n")
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}:2:", dir.path().join("bad.jsonl").display())),
        "{text}"
    );
    assert!(text.contains("unknown field `promt`"), "{text}");
    let e = parse("kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nprompts_file = \"mine.jsonl\"\n").unwrap_err();
    assert!(
        e.to_string().contains("s.toml:4:16: give `prompt_tokens`"),
        "{e}"
    );
}

#[test]
fn pp_tg_mode_refuses_the_open_loop_keys() {
    let (line, _, msg) =
        mistake_of("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\nrequest_rate = [2]\n");
    assert_eq!(line, 4);
    assert!(msg.contains("does not belong to mode pp_tg"), "{msg}");
}

/// Request rates, sweeps, SLOs and length distributions in closed-loop cases all parse and
/// run: a distribution is a closed-loop case of its own, named by its label, beside the
/// fixed-length cases, whose ids are today's.
#[test]
fn every_load_key_runs_and_closed_loop_cases_name_their_distribution() {
    let s = Scenario::parse(
        Path::new("s.toml"),
        &format!("{HEAD}request_rate = [2]\narrival = \"constant\"\nslo = {{ ttft_ms = 100 }}\n"),
    )
    .unwrap();
    let ScenarioBody::Throughput(t) = &s.body else {
        unreachable!()
    };
    assert_eq!(t.rate_cases().len(), 1);
    Scenario::parse(
        Path::new("s.toml"),
        &format!("{HEAD}slo = {{ ttft_ms = 100 }}\n"),
    )
    .unwrap();
    Scenario::parse(Path::new("s.toml"), RICH).unwrap();
    Scenario::parse(Path::new("s.toml"), RICH_SWEEP).unwrap();
    let s = Scenario::parse(
        Path::new("s.toml"),
        "kind = \"throughput\"\nmax_tokens = [16, { values = [4, 8] }]\nprompt_tokens = [64, { dist = \"uniform\", min = 16, max = 64 }]\nconcurrency = [2]\n",
    )
    .unwrap();
    let ids: Vec<String> = s.cases().into_iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "pp64_tg16_c2",
            "pp64_tgw4-8_c2",
            "ppu16-64_tg16_c2",
            "ppu16-64_tgw4-8_c2"
        ]
    );
    let c = &s.cases()[3];
    assert_eq!((c.prompt_tokens, c.max_tokens, c.concurrency), (0, 0, 2));
    // A real mistake is reported before the refusal, and today's scenarios are untouched.
    let e =
        Scenario::parse(Path::new("s.toml"), &format!("{HEAD}request_rate = [0]\n")).unwrap_err();
    assert!(!is_refusal(&e) && e.to_string().contains("above 0"), "{e}");
    let s = Scenario::parse(
        Path::new("s.toml"),
        &format!("{HEAD}concurrency = [1, 2]\n"),
    )
    .unwrap();
    assert_eq!(s.cases().len(), 2);
}

/// A scenario using every new key; mutated below, it must give an answer, never a panic.
const RICH: &str = "kind = \"throughput\"\nprompt_tokens = [64, { dist = \"lognormal\", mean = 300, stddev = 90, min = 16, max = 900 }]\nmax_tokens = [{ values = [8, 16], weights = [1, 2] }]\nrequest_rate = [0.5, 3]\narrival = \"gamma\"\nburstiness = 0.7\nmax_concurrency = 4\nrequests = 20\nslo = { ttft_ms = 500, tpot_ms = 40, itl_ms = 90, e2e_ms = 4000 }\n";

const RICH_SWEEP: &str = "kind = \"throughput\"\nmode = \"sweep\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 64 }]\nmax_tokens = [16]\nslo = { ttft_ms = 500 }\nsweep_rates = 4\nslo_target = 0.9\ntolerance = 0.1\nduration = \"30s\"\n";

fn mutate(base: &'static str) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::strategy::Strategy;
    (0..base.len(), 0..12usize, ".{0,12}").prop_map(move |(at, len, ins)| {
        let mut s = base.to_string();
        let at = (0..=at).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + len).min(s.len());
        let end = (end..=s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(s.len());
        s.replace_range(at..end, &ins);
        s
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 600, ..Default::default() })]

    #[test]
    fn the_new_keys_never_panic(text in proptest::prop_oneof![mutate(RICH), mutate(RICH_SWEEP)]) {
        if let Ok(t) = keys_of(&text) {
            for c in t.rate_cases() {
                let _ = c.max_tokens.samples(1, 4);
            }
        }
        let _ = Scenario::parse(Path::new("f.toml"), &text);
    }
}

/// Each mistake is reported once: one that follows from another (its key blanked out by
/// `source::parse_all`) is not repeated.
#[test]
fn a_consequence_is_not_reported_as_a_second_mistake() {
    for text in [
        format!("{HEAD}arrival = \"gama\"\nburstiness = 0.5\nrequest_rate = [2]\n"),
        format!("{HEAD}mode = \"sweep\"\nslo = {{ tpot_ms = 5 }}\n"),
        format!("{HEAD}request_rate = [0]\narrival = \"constant\"\n"),
    ] {
        let e = Scenario::parse(Path::new("s.toml"), &text).unwrap_err();
        assert!(
            matches!(e, Error::Input { .. }),
            "one mistake expected:\n{e}"
        );
    }
}

#[test]
fn the_rich_scenarios_parse() {
    assert_eq!(keys_of(RICH).unwrap().rate_cases().len(), 4);
    assert!(matches!(
        *keys_of(RICH_SWEEP).unwrap().load,
        Load::Sweep { .. }
    ));
}
