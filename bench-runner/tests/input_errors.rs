//! Bad input gets exit 2 and `file:line:col: what was expected`.

use crate::common::*;

fn expect_located(file_text: &str, line_col: &str, needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "bad.toml", file_text);
    let out_dir = tmp.path().join("results");
    for args in [
        vec!["validate"],
        vec!["run", "--quiet", "--out", out_dir.to_str().unwrap()],
    ] {
        let out = edgebench().args(&args).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}:{line_col}: ", path.display());
        assert!(
            stderr.contains(&want),
            "{args:?}: expected `{want}` in:\n{stderr}"
        );
        assert!(stderr.contains(needle), "expected `{needle}` in:\n{stderr}");
    }
    // Nothing was started or written for a bad scenario.
    assert!(
        !out_dir.exists(),
        "a bad scenario must not create a run folder"
    );
}

#[test]
fn unknown_key() {
    expect_located(
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nconcurency = [2]\n",
        "4:1",
        "unknown field `concurency`",
    );
}

#[test]
fn wrong_type() {
    expect_located(
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = 16\n",
        "3:14",
        "expected a sequence",
    );
}

#[test]
fn empty_grid() {
    expect_located(
        "kind = \"throughput\"\nprompt_tokens = []\nmax_tokens = [16]\n",
        "2:17",
        "empty grid",
    );
}

#[test]
fn negative_number() {
    expect_located(
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitions = -3\n",
        "4:15",
        "-3",
    );
}

#[test]
fn unknown_backend_key_in_config() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(
        tmp.path(),
        "b.toml",
        "[backends.x]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"sk-oops\"\n",
    );
    let out = edgebench().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":4:1: unknown field `api_key`"), "{stderr}");
}

#[test]
fn shipped_files_validate() {
    let out = edgebench()
        .args([
            "validate",
            "scenarios/quick.toml",
            "scenarios/throughput.toml",
            "scenarios/backends.toml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_usage_exits_2() {
    let out = edgebench().args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = edgebench()
        .args([
            "run",
            "scenarios/quick.toml",
            "--backend",
            "nope",
            "--out",
            "/tmp",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no backend named 'nope'"));
}
