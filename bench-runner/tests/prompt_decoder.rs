//! Prompt mode's two decoders end to end, through the binary and recorded answers (the
//! `replay` backend, so no model is needed): a `bfcl:` suite is read as BFCL reads it, our
//! own suites leniently, and `prompt_decoder` chooses.

use std::time::Duration;

use edgebench::results::items::read_items;

use crate::common::*;

/// One recorded prompt-mode answer of the replay backend `rec`.
fn record(scenario: &str, item: &str, text: &str) -> String {
    let r = serde_json::json!({
        "key": format!("{scenario}/prompt_d0/{item}/0"),
        "backend": "rec", "model": "m", "text": text, "finish_reason": "stop",
        "prompt_tokens": 50, "output_tokens": 12, "ttft_ms": 10.0, "e2e_ms": 20.0,
        "error_category": null, "error_message": null,
    });
    format!("{r}\n")
}

#[test]
fn bfcl_suites_read_prompt_answers_as_bfcl_and_ours_leniently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "s.jsonl",
        concat!(
            "{\"define\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]}}}\n",
            "{\"id\": \"x\", \"category\": \"simple\", \"messages\": [{\"role\": \"user\", \"content\": \"a=1\"}], \"functions\": [\"f\"], \"expected\": [{\"f\": {\"a\": [1]}}]}\n",
            "{\"id\": \"y\", \"category\": \"irrelevance\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"functions\": [\"f\"]}\n",
        ),
    );
    let json_call = "{\"name\": \"f\", \"arguments\": {\"a\": 1}}";
    let broken_call = "[f(a=1";
    let mut transcripts = String::new();
    for scenario in ["ours", "ours_as_bfcl"] {
        transcripts.push_str(&record(scenario, "x", json_call));
        transcripts.push_str(&record(scenario, "y", broken_call));
    }
    // BFCL's first irrelevance item, answered with a call its decoder cannot read.
    transcripts.push_str(&record(
        "theirs",
        "irrelevance_0",
        "[CalculateTax(base=10, height=5",
    ));
    write(dir, "t.jsonl", &transcripts);
    let cfg = write(
        dir,
        "b.toml",
        "[backends.rec]\nkind = \"replay\"\nfile = \"t.jsonl\"\n",
    );
    let common = "kind = \"tool_calls\"\nmode = [\"prompt\"]\nmax_tokens = 64\n";
    let scenarios = [
        write(
            dir,
            "ours.toml",
            &format!("name = \"ours\"\nsuites = [\"s.jsonl\"]\n{common}"),
        ),
        write(
            dir,
            "ours_as_bfcl.toml",
            &format!(
                "name = \"ours_as_bfcl\"\nsuites = [\"s.jsonl\"]\nprompt_decoder = \"bfcl\"\n{common}"
            ),
        ),
        write(
            dir,
            "theirs.toml",
            &format!("name = \"theirs\"\nsuites = [\"bfcl:irrelevance\"]\nlimit = 1\n{common}"),
        ),
    ];
    let out = edgebench()
        .args([
            "run",
            "--quiet",
            "--run-id",
            "r",
            "--backend",
            "rec",
            "--config",
        ])
        .arg(&cfg)
        .arg("--out")
        .arg(dir)
        .args(&scenarios)
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let items = read_items(&dir.join("r/items.csv")).unwrap().rows;
    let verdict = |scenario: &str, item: &str| {
        let r = items
            .iter()
            .find(|r| r.scenario == scenario && r.item_id == item)
            .unwrap_or_else(|| panic!("no row for {scenario}/{item}"));
        (r.pass, r.failure_category.clone().unwrap_or_default())
    };
    // Lenient (our suite's default): the JSON call counts, the broken call is a call.
    assert_eq!(verdict("ours", "x"), (true, String::new()));
    assert_eq!(verdict("ours", "y"), (false, "hallucinated_call".into()));
    // BFCL's decoder: JSON is not a call list, and what it cannot read is no call at all.
    assert_eq!(
        verdict("ours_as_bfcl", "x"),
        (false, "invalid_json_arguments".into())
    );
    assert_eq!(verdict("ours_as_bfcl", "y"), (true, String::new()));
    // A bfcl: suite uses BFCL's decoder without being told.
    assert_eq!(verdict("theirs", "irrelevance_0"), (true, String::new()));
}
