//! Tests of throughput scenario parsing (throughput.rs).

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
    let (line, col, msg) =
        located("kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitons = 3\n");
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
    let (_, _, msg) = located("kind = \"throughput\"\nprompt_tokens = [4]\nmax_tokens = [16]\n");
    assert!(msg.contains("from 16"), "{msg}");
    let (_, _, msg) =
        located("kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\ntop_p = 0.0\n");
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
    let (line, _, msg) =
        located("kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\ndepth = [0]\n");
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
    let (_, _, msg) = located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\ndepth = []\n");
    assert!(msg.contains("empty grid"), "{msg}");
    let (_, _, msg) =
        located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [512]\ndepth = [-1]\n");
    assert!(msg.contains("-1"), "{msg}");
}
