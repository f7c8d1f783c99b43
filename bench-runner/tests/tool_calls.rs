//! Tool-call correctness and structured output end to end: the hand-made suite, a structured
//! suite and two BFCL categories through the binary against llama-server (`--jinja`) on both
//! set-up models; then the same scenarios through the `replay` backend, which must re-score
//! the recorded responses identically. Subsets keep the run to a few minutes on 2 cores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgebench::results::items::{ItemRow, read_items};
use edgebench::results::reader::{read_samples, read_summary};
use edgebench::score::Failure;
use edgebench::workload::tool_suite::{bfcl_data_dir, load_bfcl};

use crate::common::*;

fn qwen() -> PathBuf {
    let p = repo_root().join("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup first",
        p.display()
    );
    p
}

/// A launched server per model, one slot each with room for tool prompts, one thread (tests
/// run two at a time on a 2-core machine).
fn two_model_config(dir: &Path) -> PathBuf {
    let mut text = String::from("default = \"qwen\"\n");
    for (name, model) in [("qwen", qwen()), ("gemma", gemma())] {
        text.push_str(&format!(
            "[backends.{name}]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{{port}}/v1\"\nstall_timeout_s = 120\n[backends.{name}.launch]\ncommand = {:?}\nmodel = {:?}\nargs = [\"-m\", \"{{model}}\", \"--host\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"-c\", \"4096\", \"-np\", \"1\", \"-t\", \"1\", \"--jinja\", \"--no-webui\"]\nstartup_timeout_s = 120\n",
            llama_server().display().to_string(),
            model.display().to_string(),
        ));
    }
    write(dir, "backends.toml", &text)
}

/// The scenarios of the test, all small: 6 items of the hand-made suite in both modes (one
/// of each kind: simple, multiple, parallel, parallel_multiple, irrelevance, agent), 2
/// structured items with and without the schema, 2 items each of BFCL simple_python and
/// parallel.
fn scenarios(dir: &Path) -> Vec<PathBuf> {
    let data = repo_root().join("scenarios/data");
    // One item of each kind from the shipped suite, with its `define` lines.
    let keep = [
        "simple_weather_paris",
        "multiple_stock",
        "parallel_stock_2",
        "pm_weather_time",
        "irrelevant_capital",
        "agent_calc",
    ];
    let suite: String = std::fs::read_to_string(data.join("tool_suite.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("{\"define\"")
                || keep
                    .iter()
                    .any(|id| l.contains(&format!("\"id\": \"{id}\"")))
        })
        // Three turns are enough to see the loop work; fewer requests on 2 cores.
        .map(|l| format!("{}\n", l.replace("\"max_turns\": 5", "\"max_turns\": 3")))
        .collect();
    write(dir, "suite.jsonl", &suite);
    vec![
        write(
            dir,
            "tools.toml",
            "name = \"tools\"\nkind = \"tool_calls\"\nsuites = [\"suite.jsonl\"]\nmode = [\"native\", \"prompt\"]\nmax_tokens = 64\nlatency_target_ms = 60000\n",
        ),
        write(
            dir,
            "structured.toml",
            &format!(
                "name = \"structured\"\nkind = \"structured\"\nsuite = {:?}\nlimit = 2\nmax_tokens = 80\n",
                data.join("structured.jsonl").display().to_string()
            ),
        ),
        write(
            dir,
            "bfcl.toml",
            "name = \"bfcl\"\nkind = \"tool_calls\"\nsuites = [\"bfcl:simple_python\", \"bfcl:parallel\"]\nlimit = 2\nmax_tokens = 64\n",
        ),
    ]
}

fn run(
    scenarios: &[PathBuf],
    config: &Path,
    out: &Path,
    run_id: &str,
    backends: &[&str],
) -> (String, String, Option<i32>) {
    let mut cmd = edgebench();
    cmd.args(["run", "--quiet", "--run-id", run_id])
        .args(scenarios)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out);
    for b in backends {
        cmd.args(["--backend", b]);
    }
    let o = cmd.timeout(2 * COMMAND_TIMEOUT).output().unwrap();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code(),
    )
}

fn verdicts(
    rows: &[ItemRow],
) -> BTreeMap<(String, String, String), (bool, Option<String>, Option<bool>, String)> {
    rows.iter()
        .map(|r| {
            (
                (r.scenario.clone(), r.case_id.clone(), r.item_id.clone()),
                (
                    r.pass,
                    r.failure_category.clone(),
                    r.lenient_pass,
                    r.calls.clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn suites_on_both_models_then_replay_rescores_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let config = two_model_config(tmp.path());
    let scen = scenarios(tmp.path());
    // Qwen on every scenario; Gemma (no tool template, so slow rambling answers) on the tool suite.
    let (stdout, stderr, code) = run(&scen, &config, tmp.path(), "live", &["qwen"]);
    // Wrong answers are not failures of the run; only server errors would give exit 3.
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("| accuracy [95% CI] |"), "{stdout}");
    let (stdout, stderr, code) = run(&scen[..1], &config, tmp.path(), "live_gemma", &["gemma"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    let dir = tmp.path().join("live");
    let mut items = read_items(&dir.join("items.csv")).unwrap().rows;
    // tools: 6 items × 2 modes; structured: 2 × 2; bfcl: 4.
    assert_eq!(items.len(), 12 + 4 + 4, "{items:#?}");
    let gemma_items = read_items(&tmp.path().join("live_gemma/items.csv"))
        .unwrap()
        .rows;
    assert_eq!(gemma_items.len(), 12, "{gemma_items:#?}");
    items.extend(gemma_items);
    for r in &items {
        // Every item has a verdict, and every failed item exactly one known category.
        match (&r.pass, &r.failure_category) {
            (true, None) => {}
            (false, Some(c)) => assert!(Failure::parse(c).is_some(), "unknown category {c}"),
            other => panic!("item without a clear verdict: {other:?} {r:?}"),
        }
        assert!(r.requests >= 1);
        assert!(r.ttft_ms.is_some_and(|t| t > 0.0), "{r:?}");
        assert!(r.prompt_tokens.is_some_and(|p| p > 0), "{r:?}");
        if r.failure_category.as_deref() != Some("server_error") {
            assert!(r.e2e_ms.is_some_and(|e| e >= r.ttft_ms.unwrap()), "{r:?}");
        }
    }
    let cats: std::collections::BTreeSet<&str> = items
        .iter()
        .filter(|r| r.scenario == "tools")
        .map(|r| r.category.as_str())
        .collect();
    assert_eq!(cats.len(), 6, "{cats:?}");

    // The seed's failure: Qwen, asked for the weather in Paris, answers with the right call —
    // natively or written as text; `call_as_plain_text` catches the latter.
    let paris = items
        .iter()
        .find(|r| {
            r.backend == "qwen" && r.case_id == "native_d0" && r.item_id == "simple_weather_paris"
        })
        .unwrap();
    assert!(
        paris.calls.contains("get_weather") && paris.calls.contains("Paris"),
        "{paris:?}"
    );
    assert!(
        paris.pass || paris.failure_category.as_deref() == Some("call_as_plain_text"),
        "{paris:?}"
    );
    assert_eq!(paris.lenient_pass, Some(true), "{paris:?}");
    // In prompt mode the same call is asked for as text and counts.
    let paris_prompt = items
        .iter()
        .find(|r| {
            r.backend == "qwen" && r.case_id == "prompt_d0" && r.item_id == "simple_weather_paris"
        })
        .unwrap();
    assert!(paris_prompt.pass, "{paris_prompt:?}");
    assert_eq!(paris_prompt.lenient_pass, None);

    // One samples.csv row per request, with speed.
    let samples = read_samples(&dir.join("samples.csv")).unwrap().rows;
    let requests: u32 = items
        .iter()
        .filter(|r| r.backend == "qwen")
        .map(|r| r.requests)
        .sum();
    assert_eq!(samples.len(), requests as usize);
    assert!(
        samples
            .iter()
            .all(|s| s.kind == "tool_calls" || s.kind == "structured")
    );

    // Accuracy per category with a Wilson interval; correct goodput; the grammar's TTFT cost.
    let summary = read_summary(&dir.join("summary.csv")).unwrap().rows;
    let mut summary = summary;
    summary.extend(
        read_summary(&tmp.path().join("live_gemma/summary.csv"))
            .unwrap()
            .rows,
    );
    for b in ["qwen", "gemma"] {
        let acc = summary
            .iter()
            .find(|r| {
                r.backend == b
                    && r.scenario == "tools"
                    && r.case_id == "native_d0"
                    && r.metric == "accuracy"
            })
            .unwrap();
        assert_eq!(acc.n, 6);
        assert!(
            acc.ci_low <= acc.mean
                && acc.mean <= acc.ci_high
                && acc.ci_low >= 0.0
                && acc.ci_high <= 1.0,
            "{acc:?}"
        );
        assert!(
            summary
                .iter()
                .any(|r| r.backend == b && r.metric == "accuracy:parallel_multiple")
        );
        assert!(
            summary
                .iter()
                .any(|r| r.backend == b && r.metric == "correct_goodput")
        );
    }
    assert!(
        summary
            .iter()
            .any(|r| r.case_id == "constrained" && r.metric == "compliance")
    );
    assert!(
        summary
            .iter()
            .any(|r| r.case_id == "unconstrained" && r.metric == "grammar_ttft_cost_ms")
    );
    assert!(
        summary
            .iter()
            .any(|r| r.scenario == "bfcl" && r.metric == "accuracy:simple_python")
    );

    // Replay: the recorded Qwen responses, re-scored, give the same verdicts.
    let replay_cfg = write(
        tmp.path(),
        "replay.toml",
        &format!(
            "[backends.replay]\nkind = \"replay\"\nfile = {:?}\nsource_backend = \"qwen\"\n",
            dir.join("transcripts.jsonl").display().to_string()
        ),
    );
    let (stdout, stderr, code) = run(&scen, &replay_cfg, tmp.path(), "replayed", &["replay"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let replayed = read_items(&tmp.path().join("replayed/items.csv"))
        .unwrap()
        .rows;
    let live_qwen: Vec<ItemRow> = items
        .iter()
        .filter(|r| r.backend == "qwen")
        .cloned()
        .collect();
    assert_eq!(verdicts(&replayed), verdicts(&live_qwen));
    // Speed comes back as recorded.
    for (a, b) in replayed.iter().zip(&live_qwen) {
        if let (Some(x), Some(y)) = (a.ttft_ms, b.ttft_ms) {
            assert!((x - y).abs() < 0.01, "{x} vs {y}");
        }
    }
}

/// BFCL's own files load, and a few items get the verdicts checked by hand against
/// BFCL's rules (no model involved).
#[test]
fn bfcl_files_load_with_hand_checked_verdicts() {
    use edgebench::score::{Extraction, Mode, Outcome, RawCall, score_tool_item};
    let dir = bfcl_data_dir(&repo_root().join("scenarios"))
        .expect("bfcl-eval is not installed: run scripts/setup");
    let simple = load_bfcl(&dir, "simple_python").unwrap();
    let parallel = load_bfcl(&dir, "parallel").unwrap();
    assert!(
        simple.len() >= 300 && parallel.len() >= 150,
        "{} {}",
        simple.len(),
        parallel.len()
    );
    let score = |item: &edgebench::workload::tool_suite::ToolItem, calls: &[(&str, &str)]| {
        let raw: Vec<RawCall> = calls
            .iter()
            .map(|(n, a)| RawCall {
                id: None,
                name: n.to_string(),
                arguments: a.to_string(),
            })
            .collect();
        let ex = Extraction {
            mode: Mode::Native,
            decoder: edgebench::score::PromptDecoder::Bfcl,
            outcome: Outcome::Answered,
            text: "",
            tool_calls: &raw,
            finish_reason: Some("tool_calls"),
            output_tokens: Some(20),
            max_tokens: 256,
        };
        score_tool_item(&item.category, &item.functions, &item.expected, &ex)
    };
    // simple_python_0: calculate_triangle_area(base=10, height=5), unit optional ("units" or absent).
    let s0 = &simple[0];
    assert_eq!(s0.id, "simple_python_0");
    assert!(
        score(
            s0,
            &[("calculate_triangle_area", "{\"base\": 10, \"height\": 5}")]
        )
        .pass
    );
    assert!(
        score(
            s0,
            &[(
                "calculate_triangle_area",
                "{\"base\": 10, \"height\": 5, \"unit\": \"Units\"}"
            )]
        )
        .pass
    );
    assert_eq!(
        score(
            s0,
            &[("calculate_triangle_area", "{\"base\": 10.0, \"height\": 5}")]
        )
        .failure,
        Some(Failure::WrongType)
    );
    assert_eq!(
        score(s0, &[("calculate_triangle_area", "{\"base\": 10}")]).failure,
        Some(Failure::MissingRequired)
    );
    // simple_python_1: math.factorial(number=5), sent as math_factorial and mapped back.
    let s1 = &simple[1];
    assert!(score(s1, &[("math_factorial", "{\"number\": 5}")]).pass);
    assert_eq!(
        score(s1, &[("math_factorial", "{\"number\": \"5\"}")]).failure,
        Some(Failure::WrongType)
    );
    // parallel_0: spotify.play for Taylor Swift (20) and Maroon 5 (15), in any order.
    let p0 = &parallel[0];
    let a = (
        "spotify_play",
        "{\"artist\": \"Taylor Swift\", \"duration\": 20}",
    );
    let b = (
        "spotify_play",
        "{\"artist\": \"Maroon 5\", \"duration\": 15}",
    );
    assert!(score(p0, &[a, b]).pass);
    assert!(score(p0, &[b, a]).pass);
    assert_eq!(score(p0, &[a]).failure, Some(Failure::WrongCount));
    assert_eq!(
        score(
            p0,
            &[
                a,
                (
                    "spotify_play",
                    "{\"artist\": \"Maroon 5\", \"duration\": 16}"
                )
            ]
        )
        .failure,
        Some(Failure::WrongValue)
    );
}

#[test]
fn a_bad_suite_line_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "s.jsonl",
        "{\"define\": {\"name\": \"f\"}}\n{\"id\": \"a\", \"category\": \"simple\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"functions\": [\"f\"], \"expected\": [{\"f\": {\"a\": 1}}]}\n",
    );
    let scen = write(
        tmp.path(),
        "t.toml",
        "kind = \"tool_calls\"\nsuites = [\"s.jsonl\"]\n",
    );
    let out = edgebench().arg("validate").arg(&scen).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2:1: item `a`",
            tmp.path().join("s.jsonl").display()
        )),
        "{stderr}"
    );
}
