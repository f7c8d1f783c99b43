//! Request-rate, sweep and SLO keys at the command line: checked like every key; request
//! rates and SLOs run, and what the runner cannot run yet is refused where it is written
//! (never run as concurrency 1).
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use crate::common::*;

/// `validate` and `run` both exit 2 with `file:line_col: …needle…`, and `run` writes nothing.
fn expect_refused(path: &std::path::Path, line_col: &str, needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("results");
    for args in [
        vec!["validate"],
        vec!["run", "--quiet", "--out", out_dir.to_str().unwrap()],
    ] {
        let out = edgebench().args(&args).arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}:{line_col}: {needle}", path.display());
        assert!(
            stderr.contains(&want),
            "{args:?}: expected `{want}` in:\n{stderr}"
        );
    }
    assert!(
        !out_dir.exists(),
        "a refused scenario must not create a run folder"
    );
}

#[test]
fn the_shipped_serving_scenario_validates_and_a_closed_loop_distribution_is_refused() {
    let path = repo_root().join("scenarios/serving.toml");
    let out = edgebench().args(["validate"]).arg(&path).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let closed = write(
        tmp.path(),
        "closed.toml",
        "kind = \"throughput\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 64 }]\nmax_tokens = [16]\nconcurrency = [2]\n",
    );
    expect_refused(
        &closed,
        "2:18",
        "`prompt_tokens` is not yet supported by the runner",
    );
}

#[test]
fn a_sweep_validates_and_a_mistake_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = write(
        tmp.path(),
        "sweep.toml",
        "kind = \"throughput\"\nmode = \"sweep\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 64 }]\nmax_tokens = [16]\nslo = { ttft_ms = 2000 }\n",
    );
    let out = edgebench().args(["validate"]).arg(&sweep).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let no_slo = write(
        tmp.path(),
        "no_slo.toml",
        "kind = \"throughput\"\nmode = \"sweep\"\nprompt_tokens = [64]\nmax_tokens = [16]\n",
    );
    expect_refused(&no_slo, "2:8", "a sweep needs `slo`");
    let both = write(
        tmp.path(),
        "both.toml",
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nconcurrency = [2]\nrequest_rate = [2]\n",
    );
    expect_refused(&both, "5:16", "give `concurrency`");
}
