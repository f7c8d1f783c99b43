//! Every benchmark script under scripts/ runs here in its smoke mode (EDGEBENCH_SMOKE=1: a few
//! rows, one round, small models), on this test build of edgebench (EDGEBENCH_BIN), so that no
//! benchmark can silently rot. The figures they print are not checked (a smoke run measures
//! nothing); that they run to the end and print their tables is.

use std::path::Path;

use crate::common::*;

/// Runs `scripts/NAME args` in smoke mode; asserts success and returns stdout + stderr.
fn smoke(name: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("edgebench");
    let mut cmd = assert_cmd::Command::new(repo_root().join("scripts").join(name));
    cmd.current_dir(repo_root())
        .env("EDGEBENCH_SMOKE", "1")
        .env("EDGEBENCH_BIN", &bin)
        .args(args)
        .timeout(COMMAND_TIMEOUT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/{name} failed ({}):\n{text}",
        out.status
    );
    text
}

/// In-process Gemma on one thread with a small context: what the smoke runs of the in-process
/// benchmarks need.
fn in_process_config(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "backends.toml",
        &format!(
            "default = \"ip\"\n[backends.ip]\nkind = \"llamacpp\"\nmodel = {:?}\nctx_size = 512\nthreads = 1\n",
            gemma().display().to_string()
        ),
    )
}

#[test]
fn bench_report_smoke_reads_rows_of_the_current_schema() {
    // The rows come from edgebench's own writer: the report must read them (it refused the
    // script's hand-written column list once the schema grew).
    let log = smoke("bench-report", &[], &[]);
    assert!(log.contains("generated 2000 rows"), "{log}");
    assert!(
        log.contains("edgebench report:") && log.contains("KiB peak RSS"),
        "{log}"
    );
    assert!(!log.contains("unknown columns"), "{log}");
}

#[test]
fn bench_arena_smoke_rates_synthetic_battles() {
    let log = smoke("bench-arena", &[], &[]);
    assert!(log.contains("arena rate, 2000 battles, 5 models"), "{log}");
    assert!(log.contains("wall: min"), "{log}");
}

#[test]
fn aa_noise_smoke_compares_two_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let config = in_process_config(tmp.path());
    let out = tmp.path().join("aa");
    std::fs::create_dir(&out).unwrap();
    let log = smoke(
        "aa-noise",
        &["2", "", "--config", config.to_str().unwrap()],
        &[("AA_OUT", &out)],
    );
    assert!(log.contains("run aa-2 done"), "{log}");
    assert!(log.contains("aa-1 → aa-2:"), "{log}");
    assert!(log.contains("A/A judgements:"), "{log}");
}

#[test]
fn fidelity_smoke_compares_client_and_server_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = shared_gemma_config(tmp.path(), "");
    let out = tmp.path().join("out");
    let log = smoke(
        "fidelity",
        &[
            "--config",
            config.to_str().unwrap(),
            "--backend",
            "srv",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(log.contains("client ÷ server p50"), "{log}");
    assert!(log.contains("| pp16_tg8_c1 | 2 |"), "{log}");
}

#[test]
fn onnx_overhead_smoke_splits_the_loop_from_session_run() {
    let tmp = tempfile::tempdir().unwrap();
    let log = smoke("onnx-overhead", &[], &[("OUT", tmp.path())]);
    assert!(
        log.contains("| decode loop (sampling, stamping) | 1 |"),
        "{log}"
    );
    assert!(log.contains("| tg16 (llama-bench style) | 1 |"), "{log}");
}

#[test]
fn parity_smoke_runs_both_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = llama_bench();
    let log = smoke(
        "parity-llama-bench",
        &[],
        &[("OUT", tmp.path()), ("LLAMA_BENCH", &bench)],
    );
    for test in ["pp32", "tg4"] {
        assert!(log.contains(&format!("| {test} |")), "{log}");
    }
    assert!(log.contains("n/a (< 6 rounds)"), "{log}");
}

#[test]
fn client_overhead_smoke_measures_cpu_per_token_with_its_own_server() {
    let tmp = tempfile::tempdir().unwrap();
    let log = smoke("client-overhead", &[], &[("OUT", tmp.path())]);
    for c in [1, 4, 16] {
        assert!(log.contains(&format!("\n| {c} | ")), "{log}");
    }
    assert!(log.contains("fixed cost of a run"), "{log}");
    // The request-rate part runs, or says why it could not.
    assert!(log.contains("schedule lag: "), "{log}");
    let runs = std::fs::read_to_string(tmp.path().join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 3, "{runs}");
}
