//! Property-based fuzzing of every parser that reads user input (proptest on stable Rust;
//! cargo-fuzz needs a nightly toolchain). No input may panic. Longer runs:
//! `PROPTEST_CASES=100000 cargo test -p edgebench --test tests fuzz::`.

use std::path::Path;

use edgebench::backend::Config;
use edgebench::backend::sse::SseParser;
use edgebench::scenario::Scenario;
use proptest::prelude::*;

const VALID_SCENARIO: &str = "kind = \"throughput\"\nprompt_tokens = [64, 128]\nmax_tokens = [16]\nconcurrency = [1, 2]\nwarmup = 1\nrepetitions = 3\n";
const VALID_CONTEXT: &str = "kind = \"context\"\nlengths = \"pow2:1k..max\"\ndepths = [0, 50]\n[[needles]]\nkind = \"uuid\"\nvariant = \"multi_key\"\ncount = 3\n";
const VALID_CONFIG: &str = "default = \"s\"\n[backends.s]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[backends.s.launch]\ncommand = \"x\"\nargs = [\"{port}\"]\n";

const VALID_BATTLES: &str = r#"[{"model_a":"m1","model_b":"m2","winner":"model_a","judge":"j","turn":1,"anony":true,"tstamp":1.5,"question_id":"q1","conv_metadata":{"sum_assistant_a_tokens":10,"sum_assistant_b_tokens":12,"header_count_a":{"h1":1},"header_count_b":{},"list_count_a":{},"list_count_b":{},"bold_count_a":{},"bold_count_b":{}}},{"model_a":"m2","model_b":"m3","winner":"tie (bothbad)","judge":"j","turn":1,"anony":true,"tstamp":2}]"#;

/// One `delta.tool_calls` value: usually an array of partial calls, sometimes not.
fn tool_delta() -> impl Strategy<Value = serde_json::Value> {
    let call = (
        proptest::option::of(0u64..3),
        proptest::option::of(prop_oneof![Just(String::new()), "[a-z]{1,6}"]),
        proptest::option::of("[a-z_.]{0,8}"),
        proptest::option::of(prop_oneof![
            Just("{\"a\":".to_string()),
            Just("1}".to_string()),
            "[{}\\\":,a-z0-9 ]{0,10}"
        ]),
    )
        .prop_map(|(index, id, name, args)| {
            let mut f = serde_json::Map::new();
            if let Some(n) = name {
                f.insert("name".into(), n.into());
            }
            if let Some(a) = args {
                f.insert("arguments".into(), a.into());
            }
            let mut c = serde_json::Map::new();
            if let Some(i) = index {
                c.insert("index".into(), i.into());
            }
            if let Some(i) = id {
                c.insert("id".into(), i.into());
            }
            c.insert("function".into(), serde_json::Value::Object(f));
            serde_json::Value::Object(c)
        });
    prop_oneof![
        8 => proptest::collection::vec(call, 0..3).prop_map(serde_json::Value::Array),
        1 => Just(serde_json::Value::Null),
        1 => any::<i64>().prop_map(serde_json::Value::from),
        1 => "[a-z]{0,5}".prop_map(serde_json::Value::from),
    ]
}

/// A valid document with one byte range replaced by arbitrary text: near-valid inputs reach
/// deeper into validation than random bytes do.
fn mutate(base: &'static str) -> impl Strategy<Value = String> {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn scenario_parser_never_panics(text in prop_oneof![".*", mutate(VALID_SCENARIO), mutate(VALID_CONTEXT)]) {
        let _ = Scenario::parse(Path::new("f.toml"), &text);
    }

    #[test]
    fn config_parser_never_panics(text in prop_oneof![".*", mutate(VALID_CONFIG)]) {
        let _ = Config::parse(Path::new("b.toml"), &text);
    }

    /// Any bytes, split anywhere: no panic, and the events do not depend on the split.
    #[test]
    fn sse_parser_is_split_invariant(bytes in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(0..400usize, 0..6)) {
        let mut whole = SseParser::new();
        let mut a = whole.feed(&bytes);
        a.extend(whole.finish());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut p = SseParser::new();
        let mut b = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
            b.extend(p.feed(&bytes[last..c]));
            last = c;
        }
        b.extend(p.finish());
        prop_assert_eq!(a, b);
    }

    /// SSE-shaped input (the alphabet that matters) reaches every branch of the framing.
    #[test]
    fn sse_parser_on_sse_alphabet(s in "(data:|event:|id:|retry:|: |\r|\n| |x|\\[DONE\\]){0,60}") {
        let mut p = SseParser::new();
        let _ = p.feed(s.as_bytes());
        let _ = p.finish();
    }

    /// Tool-call deltas as servers stream them (and as they should not): any JSON value, any
    /// order, any fragments. The assembler never panics; unparsable arguments stay raw.
    #[test]
    fn tool_call_assembler_never_panics(deltas in proptest::collection::vec(tool_delta(), 0..12)) {
        let mut a = edgebench::backend::tool_stream::ToolCallAssembler::new();
        for d in &deltas {
            a.feed(d);
        }
        let _ = a.finish();
    }

    /// FastChat battle files: random text, and near-valid files with one field mangled.
    #[test]
    fn battle_importer_never_panics(text in prop_oneof![".*", mutate(VALID_BATTLES)]) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("clean_battle.json");
        std::fs::write(&input, &text).unwrap();
        let _ = edgebench::arena::import::import(&input, &dir.path().join("battles.csv"));
        // What was imported reads back (or is refused) without a panic.
        let _ = edgebench::arena::battles::read_rows(&dir.path().join("battles.csv"));
    }

    #[test]
    fn csv_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        let mut content = Vec::new();
        if header {
            content.extend_from_slice(edgebench::results::schema::SAMPLE_COLUMNS.join(",").as_bytes());
            content.push(b'\n');
        }
        content.extend_from_slice(&bytes);
        std::fs::write(&p, &content).unwrap();
        let _ = edgebench::results::reader::read_samples(&p);
        let _ = edgebench::results::reader::read_summary(&p);
    }
}
