//! The core loop end to end: scenario → launched llama-server → CSV results.

use std::time::{Duration, Instant};

use edgebench::results::RunManifest;
use edgebench::results::reader::{read_samples, read_summary};

use crate::common::*;

/// `scenarios/quick.toml` through the binary against a real llama-server on Gemma.
#[test]
fn quick_scenario_against_real_llama_server() {
    let tmp = tempfile::tempdir().unwrap();
    // The API key must stay in memory: llama-server without --api-key ignores it.
    let secret = "sk-edgebench-test-secret-4242";
    let config = llama_server_config(tmp.path(), "api_key_env = \"EDGEBENCH_TEST_KEY\"", &[]);
    let out = edgebench()
        .args([
            "run",
            "scenarios/quick.toml",
            "--quiet",
            "--run-id",
            "quick",
            "--label",
            "ci-box",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .env("EDGEBENCH_TEST_KEY", secret)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "edgebench failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("| srv | gemma-3-270m-q4_k_m.gguf | ci-box | pp64_tg16_c1 |"),
        "{stdout}"
    );

    let run = tmp.path().join("quick");
    let samples = read_samples(&run.join("samples.csv")).unwrap();
    assert!(samples.warnings.is_empty());
    // quick.toml: 3 repetitions × (concurrency 1 + concurrency 2).
    assert_eq!(samples.rows.len(), 9);
    for r in &samples.rows {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!(r.device, "ci-box");
        // Exact prompt length, chat template included, as the server counted it.
        assert_eq!(r.prompt_tokens, Some(64), "{r:?}");
        assert_eq!(r.prompt_tokens_server, Some(64), "{r:?}");
        // Exact output length (ignore_eos).
        assert_eq!(r.output_tokens, Some(16));
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        // Nothing came from a prefix cache: the server processed the whole prompt.
        assert_eq!(r.cached_tokens, Some(0), "{r:?}");
        assert_eq!(r.server_prompt_n, Some(64));
        // Client decode speed agrees with the server's own within 10% (a sanity bound; the
        // 0.5% target is checked by scripts/fidelity).
        let (c, s) = (r.decode_tok_s.unwrap(), r.server_decode_tok_s.unwrap());
        assert!((c / s - 1.0).abs() < 0.10, "client {c} vs server {s}");
        let (ttft, e2e, tpot) = (r.ttft_ms.unwrap(), r.e2e_ms.unwrap(), r.tpot_ms.unwrap());
        assert!(ttft > 0.0 && e2e > ttft && tpot > 0.0);
        assert!((tpot - (e2e - ttft) / 15.0).abs() < 1e-6);
        // The server's prompt time is inside our TTFT.
        assert!(r.server_prompt_ms.unwrap() <= ttft, "{r:?}");
        assert_eq!(r.itl_exact, Some(true));
    }
    let c2: Vec<_> = samples
        .rows
        .iter()
        .filter(|r| r.case_id == "pp64_tg16_c2")
        .collect();
    assert_eq!(c2.len(), 6);
    assert!(c2.iter().any(|r| r.stream == 1));

    let summary = read_summary(&run.join("summary.csv")).unwrap();
    let decode = summary
        .rows
        .iter()
        .find(|r| r.case_id == "pp64_tg16_c1" && r.metric == "decode_tok_s")
        .unwrap();
    assert_eq!(decode.n, 3);
    assert!(decode.min <= decode.p50 && decode.p50 <= decode.max);
    assert!(decode.ci_low <= decode.p50 && decode.p50 <= decode.ci_high);
    for m in [
        "ttft_ms",
        "tpot_ms",
        "itl_ms",
        "e2e_ms",
        "prefill_tok_s",
        "output_tok_s",
        "requests_per_s",
        "decode_client_server_ratio",
    ] {
        assert!(
            summary.rows.iter().any(|r| r.metric == m),
            "missing metric {m}"
        );
    }

    let manifest = RunManifest::read(&run).unwrap();
    assert_eq!(manifest.status, "complete");
    assert_eq!(manifest.requests_total, 9);
    assert_eq!(manifest.requests_failed, 0);
    assert_eq!(manifest.scenarios[0].sha256.len(), 64);
    let b = &manifest.backends[0];
    assert_eq!(b["server"], "llama.cpp");
    assert_eq!(
        b["model_sha256"],
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    );
    assert!(b["props"]["chat_template"].is_string());
    assert!(
        run.join("srv.log").exists(),
        "server log kept beside the results"
    );

    // The secret reached no file: not the run folder, not a report made from it.
    let report = tmp.path().join("report");
    let rep = edgebench()
        .arg("report")
        .arg(&run)
        .arg("-o")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        rep.status.success(),
        "{}",
        String::from_utf8_lossy(&rep.stderr)
    );
    for dir in [&run, &report] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            assert!(!text.contains(secret));
        }
    }
    assert!(report.join("report.html").exists());
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
}

#[test]
fn unreachable_server_exits_3_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, read the number, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"gone\"\n[backends.gone]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"
        ),
    );
    let out = edgebench()
        .args(["run", "scenarios/quick.toml", "--quiet"])
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("backend 'gone': cannot connect to http://127.0.0.1:"),
        "{stderr}"
    );
}

/// A server killed in the middle of a run: error rows, the rows before intact, exit 3.
#[test]
fn server_killed_mid_run_gives_error_rows_and_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    // No restarts: the launch table is the file's last, so a line appended lands in it.
    let text = std::fs::read_to_string(&config).unwrap() + "max_restarts = 0\n";
    std::fs::write(&config, text).unwrap();
    let scenario = write(
        tmp.path(),
        "long.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [32]\nconcurrency = [1]\nwarmup = 0\nrepetitions = 40\n",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args(["run", "--quiet", "--run-id", "killed"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = tmp.path().join("killed");
    let samples = run.join("samples.csv");
    // Wait for a few measured rows, then kill the server by the pid run.json recorded.
    wait_for_lines(&run, 4, COMMAND_TIMEOUT);
    let pid = launched_pid(&run);
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("requests failed"), "{stderr}");

    let rows = read_samples(&samples).unwrap();
    assert!(
        rows.warnings.is_empty(),
        "every row is whole: {:?}",
        rows.warnings
    );
    assert_eq!(rows.rows.len(), 40, "one row per request, failed or not");
    let ok = rows
        .rows
        .iter()
        .take_while(|r| r.error_category.is_none())
        .count();
    assert!(ok >= 3, "the rows measured before the kill are intact");
    for r in &rows.rows[..ok] {
        assert_eq!(r.output_tokens, Some(32));
    }
    let failed = &rows.rows[ok..];
    assert!(!failed.is_empty());
    for r in failed {
        let cat = r.error_category.as_deref().unwrap();
        assert!(["connect", "stream_broken"].contains(&cat), "{cat}");
        assert!(
            r.decode_tok_s.is_none(),
            "a failed request carries no speed"
        );
    }
    let manifest = RunManifest::read(&run).unwrap();
    assert_eq!(manifest.status, "complete_with_errors");
    assert_eq!(manifest.requests_failed, failed.len());
}

#[test]
fn device_prints_the_host_fingerprint() {
    let out = edgebench().args(["device", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["logical_cpus"].as_u64().unwrap() >= 1);
    assert!(v["memory_bytes"].as_u64().unwrap() > 0);
    assert!(!v["kernel"].as_str().unwrap().is_empty());
}

/// Ctrl-C (SIGINT to edgebench alone) stops the launched server, keeps the rows, exits 130.
#[test]
fn ctrl_c_stops_the_launched_server() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(
        tmp.path(),
        "long.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [32]\nwarmup = 0\nrepetitions = 40\n",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args(["run", "--quiet", "--run-id", "int"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = tmp.path().join("int");
    wait_for_lines(&run, 3, COMMAND_TIMEOUT);
    let server_pid = launched_pid(&run);
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server is gone (kill -0 fails for a pid that no longer exists).
    let alive = std::process::Command::new("kill")
        .args(["-0", &server_pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(
        !alive,
        "llama-server {server_pid} still running after Ctrl-C"
    );
    let m = RunManifest::read(&run).unwrap();
    assert_eq!(m.status, "interrupted");
    let rows = read_samples(&run.join("samples.csv")).unwrap();
    assert!(rows.rows.len() >= 2 && rows.warnings.is_empty());
}

/// Even SIGKILL of edgebench (no chance to clean up) must not leave the server running.
#[test]
fn killing_edgebench_takes_the_server_down() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(
        tmp.path(),
        "long.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [32]\nwarmup = 0\nrepetitions = 40\n",
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args(["run", "--quiet", "--run-id", "k"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = tmp.path().join("k");
    wait_for_lines(&run, 2, COMMAND_TIMEOUT);
    let server_pid = launched_pid(&run).to_string();
    child.kill().unwrap();
    child.wait().unwrap();
    // Generous for a loaded machine: the point is that it goes, not how fast.
    let gone_by = Instant::now() + Duration::from_secs(60);
    loop {
        let alive = std::process::Command::new("kill")
            .args(["-0", &server_pid])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        // A zombie still answers kill -0 until reaped by init; check its state too.
        let zombie = std::fs::read_to_string(format!("/proc/{server_pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true);
        if !alive || zombie {
            break;
        }
        assert!(
            Instant::now() < gone_by,
            "llama-server {server_pid} survived edgebench's SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A launched server that dies mid-run is started again (default: once), the restart is
/// recorded in run.json, and the requests after it are measured normally.
#[test]
fn a_launched_server_that_dies_is_restarted_and_the_restart_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(
        tmp.path(),
        "long.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [16]\nwarmup = 0\nrepetitions = 30\n",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args(["run", "--quiet", "--run-id", "rs"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = tmp.path().join("rs");
    wait_for_lines(&run, 4, COMMAND_TIMEOUT);
    let pid = launched_pid(&run);
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    // The request in flight at the kill may fail (exit 3); the rest must not.
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = read_samples(&run.join("samples.csv")).unwrap().rows;
    assert_eq!(rows.len(), 30);
    let failed = rows.iter().filter(|r| r.error_category.is_some()).count();
    assert!(
        failed <= 1,
        "only the request in flight may fail: {failed} failed"
    );
    assert!(
        rows.last().unwrap().error_category.is_none(),
        "requests after the restart are measured"
    );
    let m = RunManifest::read(&run).unwrap();
    assert!(
        m.warnings.iter().any(|w| w.contains("restarted on port")),
        "{:?}",
        m.warnings
    );
}
