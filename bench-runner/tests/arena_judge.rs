//! The judge loop on real llama-servers: Gemma 3 270M and Qwen2.5-Coder 0.5B as contestants,
//! Qwen as the judge. The quality is low; the pipeline is real.

use std::path::{Path, PathBuf};

use edgebench::arena::battles::read_rows;
use serde_json::Value;

use crate::common::*;

/// The two contestants as the shipped config names them, on the tests' shared servers (one
/// thread each, started once per test process) instead of two servers launched per command.
fn arena_config(dir: &Path) -> PathBuf {
    let entry = |name: &str, url: String| {
        format!(
            "[backends.{name}]\nkind = \"openai\"\nbase_url = {url:?}\nendpoint = \"chat\"\ndevice = \"local\"\n"
        )
    };
    write(
        dir,
        "arena-backends.toml",
        &format!(
            "default = \"llama-server\"\n{}{}",
            entry("llama-server", shared_gemma().base_url()),
            entry("llama-server-qwen", shared_qwen().base_url())
        ),
    )
}

fn arena_run(dir: &Path, prompts: &Path, config: &Path) -> (bool, String) {
    let out = edgebench()
        .args([
            "arena",
            "run",
            "--models",
            "llama-server,llama-server-qwen",
            "--judge",
            "llama-server-qwen",
            "--max-tokens",
            "24",
            "--judge-max-tokens",
            "8",
            "--quiet",
        ])
        .arg("--prompts")
        .arg(prompts)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(dir)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn judge_loop_on_llama_server_with_speed_beside_quality() {
    llama_server();
    gemma();
    let tmp = tempfile::tempdir().unwrap();
    let prompts = write(
        tmp.path(),
        "prompts.jsonl",
        "{\"id\": \"capital\", \"prompt\": \"What is the capital of France? Answer in one sentence.\"}\n{\"id\": \"sum\", \"prompt\": \"What is 12 + 30? Answer with the number.\"}\n",
    );
    let dir = tmp.path().join("arena");
    let config = arena_config(tmp.path());
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(ok, "{log}");
    assert!(
        log.contains("4 new answers, 4 new judgments, 2 new battles (2 in all)"),
        "{log}"
    );
    let answers: Vec<Value> = std::fs::read_to_string(dir.join("answers.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    let models: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        vec![
            "gemma-3-270m-q4_k_m.gguf",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        ]
    );
    assert!(
        answers
            .iter()
            .all(|a| !a["text"].as_str().unwrap().is_empty())
    );
    let judgments: Vec<Value> = std::fs::read_to_string(dir.join("judgments.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(judgments.len(), 4);
    let rows = read_rows(&dir.join("battles.csv")).unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.judge, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
        let j = |o: &str| {
            judgments
                .iter()
                .find(|j| j["battle_id"] == r.battle_id.as_str() && j["order"] == o)
                .unwrap()
        };
        let (ab, ba) = (
            j("ab")["verdict"].as_str().unwrap(),
            j("ba")["verdict"].as_str().unwrap(),
        );
        assert!(["A", "B", "C", "?"].contains(&ab) && ["A", "B", "C", "?"].contains(&ba));
        // Both orders were asked, with the answers swapped; the battle follows the rule.
        assert_eq!(r.verdict, format!("ab={ab} ba={ba}"));
        assert_eq!(r.winner, edgebench::arena::judge::combine(ab, ba).as_str());
        assert!(j("ab")["raw"].is_string());
        assert!(r.tokens_a.unwrap() > 0 && r.tokens_b.unwrap() > 0);
    }

    // Re-running does nothing new; after losing the last battle and its last verdict, it
    // continues where it stopped.
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(
        ok && log.contains("0 new answers, 0 new judgments, 0 new battles (2 in all)"),
        "{log}"
    );
    let csv = std::fs::read_to_string(dir.join("battles.csv")).unwrap();
    let keep: Vec<&str> = csv.lines().take(2).collect();
    std::fs::write(dir.join("battles.csv"), keep.join("\n") + "\n").unwrap();
    let jl = std::fs::read_to_string(dir.join("judgments.jsonl")).unwrap();
    let keep: Vec<&str> = jl.lines().take(3).collect();
    std::fs::write(dir.join("judgments.jsonl"), keep.join("\n") + "\n").unwrap();
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(
        ok && log.contains("0 new answers, 1 new judgments, 1 new battles (2 in all)"),
        "{log}"
    );
    assert_eq!(read_rows(&dir.join("battles.csv")).unwrap().len(), 2);

    // Speed from real runs of both models, joined with the ratings: a few short requests each.
    let scenario = write(
        tmp.path(),
        "speed.toml",
        "name = \"speed\"\nkind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [8]\nwarmup = 0\nrepetitions = 2\nignore_eos = true\n",
    );
    let out = edgebench()
        .arg("run")
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .args([
            "--backend",
            "llama-server",
            "--backend",
            "llama-server-qwen",
            "--quiet",
            "--run-id",
            "speed",
        ])
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lb = tmp.path().join("lb");
    let out = edgebench()
        .args([
            "arena",
            "rate",
            "--rounds",
            "100",
            "--style",
            "--min-tok-s",
            "0.001",
        ])
        .arg(dir.join("battles.csv"))
        .arg("--speed")
        .arg(tmp.path().join("speed"))
        .arg("--out")
        .arg(&lb)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("## Quality × speed")
            && stdout.contains("Best on **local** at ≥ 0.001 tok/s"),
        "{stdout}"
    );
    let mut rdr = csv::Reader::from_path(lb.join("quality_speed.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(&r[0], "local");
        // Any positive speed: the figure itself is the benchmark's business, and a loaded
        // 2-core machine has measured Gemma below 1 tok/s here.
        let tok_s: f64 = r[5].parse().unwrap();
        assert!(tok_s > 0.0, "{r:?}");
    }
    assert!(
        rows.iter().any(|r| &r[8] == "true"),
        "someone is on the frontier"
    );
    let svg = std::fs::read_to_string(lb.join("pareto-local.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Pareto frontier") && svg.contains("gemma-3-270m")
    );
    let html = std::fs::read_to_string(lb.join("leaderboard.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Quality × speed"));
}
