//! Request-rate, sweep and SLO keys at the command line: checked like every key, counted by
//! `validate`; request rates, SLOs and length distributions run.
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

/// `validate` prints what it checked: its stdout line for `path`.
fn validated(path: &std::path::Path) -> String {
    let out = edgebench().args(["validate"]).arg(path).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_shipped_serving_scenario_and_a_closed_loop_distribution_validate() {
    validated(&repo_root().join("scenarios/serving.toml"));
    let tmp = tempfile::tempdir().unwrap();
    let closed = write(
        tmp.path(),
        "closed.toml",
        "kind = \"throughput\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 64 }, 32]\nmax_tokens = [16]\nconcurrency = [1, 2]\n",
    );
    let out = validated(&closed);
    assert!(out.contains(", 4 cases)"), "{out}");
}

/// Request-rate cases and sweep points are counted, not only closed-loop cases.
#[test]
fn validate_counts_rate_cases_and_sweep_points() {
    let tmp = tempfile::tempdir().unwrap();
    let rates = write(
        tmp.path(),
        "rates.toml",
        "kind = \"throughput\"\nprompt_tokens = [16, { dist = \"normal\", mean = 64, stddev = 8 }]\nmax_tokens = [8]\nrequest_rate = [1, 2, 4]\nrequests = 4\n",
    );
    let out = validated(&rates);
    assert!(out.contains(", 6 cases)"), "{out}");
    let sweep = write(
        tmp.path(),
        "sweep.toml",
        "kind = \"throughput\"\nmode = \"sweep\"\nprompt_tokens = [16, 32]\nmax_tokens = [8]\nslo = { ttft_ms = 2000 }\nsweep_rates = 3\n",
    );
    let out = validated(&sweep);
    assert!(
        out.contains("sweep over 2 length points (3 grid rates each, then bisection)"),
        "{out}"
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
