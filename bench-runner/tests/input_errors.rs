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

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Issue 16 item 5: a plan `validate` accepted aborted `run` with "memory allocation of
/// 16384000000 bytes failed". Now `validate` warns, and `run` refuses it with a located error
/// before it starts anything (the backend here could not even be reached).
#[test]
fn a_plan_too_big_for_memory_is_refused_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "huge.toml",
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nconcurrency = [4096]\nrepetitions = 100000\n",
    );
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"x\"\n[backends.x]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n",
            closed_port()
        ),
    );
    let out = edgebench().arg("validate").arg(&scenario).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let want = format!(
        "warning: {}:5:15: case pp64_tg16_c4096 cannot fit in memory",
        scenario.display()
    );
    assert!(stderr.contains(&want), "expected `{want}` in:\n{stderr}");

    let results = tmp.path().join("results");
    let out = edgebench()
        .args(["run", "--quiet", "-c"])
        .arg(&config)
        .arg("--out")
        .arg(&results)
        .arg(&scenario)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("memory allocation") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5:15: ", scenario.display())),
        "{stderr}"
    );
    assert!(stderr.contains("409,604,096 prompts"), "{stderr}");
    assert!(
        !results.exists(),
        "nothing is started for a plan that cannot fit"
    );
}

/// Issue 16 item 6: every mistake of a file, each with file:line:col, in one `validate`.
#[test]
fn validate_reports_every_mistake_of_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(
        tmp.path(),
        "bad.toml",
        "kind = \"throughput\"\nprompt_tokens = [4]\nmax_tokens = \"16\"\nconcurency = [2]\nrepetitions = 0\ntop_p = 2.0\n",
    );
    let out = edgebench().arg("validate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = path.display().to_string();
    for (at, what) in [
        ("2:17", "from 16"),
        ("3:14", "expected a sequence"),
        ("4:1", "unknown field `concurency`"),
        ("5:15", "`repetitions` must be"),
        ("6:9", "`top_p`"),
    ] {
        let want = format!("error: {p}:{at}: ");
        let line = stderr.lines().find(|l| l.starts_with(&want));
        assert!(
            line.is_some_and(|l| l.contains(what)),
            "expected `{want}…{what}` in:\n{stderr}"
        );
    }
    // Consequences of a reported mistake (the blanked key "missing") are not repeated.
    assert!(!stderr.contains("missing key"), "{stderr}");

    let bad_config = write(
        tmp.path(),
        "b.toml",
        "[backends.x]\nkind = \"openai\"\nendpoint = \"grpc\"\ntimeout_s = -1\nbase_url = \"http://127.0.0.1:1/v1\"\n[backends.y]\nkind = \"llamacpp\"\nmodel = \"m.gguf\"\nthreads = 0\napi_key = \"k\"\n",
    );
    let out = edgebench()
        .arg("validate")
        .arg(&bad_config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = bad_config.display().to_string();
    for at in ["3:12", "4:13", "9:11", "10:1"] {
        assert!(
            stderr.contains(&format!("error: {p}:{at}: ")),
            "expected {at} in:\n{stderr}"
        );
    }
}

/// Issue 16 item 6: `validate` says what the user wrote, not Rust's Debug text.
#[test]
fn validate_prints_lengths_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(
        tmp.path(),
        "ctx.toml",
        "kind = \"context\"\nlengths = \"pow2:1k..max\"\n",
    );
    let out = edgebench().arg("validate").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("lengths \"pow2:1k..max\""), "{stdout}");
    assert!(!stdout.contains("Pow2"), "{stdout}");
}

fn llamacpp_config(dir: &std::path::Path, model: &str) -> std::path::PathBuf {
    write(
        dir,
        "b.toml",
        &format!("default = \"g\"\n[backends.g]\nkind = \"llamacpp\"\nmodel = {model:?}\n"),
    )
}

/// Issue 16 item 7: a model path that is a folder or missing is bad input (exit 2), and says
/// which it is.
#[test]
fn a_model_path_that_is_no_file_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [2]\nrepetitions = 1\n",
    );
    for (model, says) in [(".", "is a folder"), ("nope.gguf", "does not exist")] {
        std::fs::remove_dir_all(tmp.path().join("results")).ok();
        let config = llamacpp_config(tmp.path(), model);
        let out = edgebench()
            .args(["run", "--quiet", "-c"])
            .arg(&config)
            .arg("--out")
            .arg(tmp.path().join("results"))
            .arg(&scenario)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{model}: {stderr}");
        assert!(stderr.contains(says), "{model}: {stderr}");
        assert!(
            !tmp.path().join("results").exists(),
            "found before anything starts"
        );
    }
}

/// A server of the test's own that answers every request 503 and notes whether it carried an
/// `Authorization` header. (The run then fails as a backend failure; what matters is what it sent.)
fn header_recorder() -> (u16, std::sync::mpsc::Receiver<bool>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut auth = false;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = true;
                }
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            if tx.send(auth).is_err() {
                return;
            }
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (port, rx)
}

/// Issue 16 item 7: `api_key_env` naming an unset variable is bad input (exit 2); an empty
/// variable means a server without keys: no Authorization header, and a note that says so.
#[test]
fn api_key_is_optional_and_an_unset_variable_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [2]\nrepetitions = 1\n",
    );
    let (port, seen) = header_recorder();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"r\"\n[backends.r]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key_env = \"EDGEBENCH_TEST_KEY_16\"\nretries = 0\n"
        ),
    );
    let run = |key: Option<&str>, out: &str| {
        let mut c = edgebench();
        c.args(["run", "--quiet", "-c"])
            .arg(&config)
            .arg("--out")
            .arg(tmp.path().join(out))
            .arg(&scenario)
            .timeout(std::time::Duration::from_secs(300));
        match key {
            Some(k) => c.env("EDGEBENCH_TEST_KEY_16", k),
            None => c.env_remove("EDGEBENCH_TEST_KEY_16"),
        };
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stderr) = run(None, "unset");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("EDGEBENCH_TEST_KEY_16 (its api_key_env) is not set"),
        "{stderr}"
    );
    assert!(
        seen.try_recv().is_err(),
        "nothing is sent without a decision on the key"
    );
    assert!(
        !tmp.path().join("unset").exists(),
        "found before anything starts"
    );

    let (code, stderr) = run(Some(""), "empty");
    assert_ne!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("EDGEBENCH_TEST_KEY_16 is empty, so requests carry no API key"),
        "{stderr}"
    );
    let sent: Vec<bool> = seen.try_iter().collect();
    assert!(!sent.is_empty() && sent.iter().all(|a| !a), "{sent:?}");

    // The same server sees the header when there is a key: the recorder can tell.
    let (_, stderr) = run(Some("sk-test-16"), "set");
    let sent: Vec<bool> = seen.try_iter().collect();
    assert!(
        !sent.is_empty() && sent.iter().all(|a| *a),
        "{sent:?} {stderr}"
    );
}

/// Issue 16 item 7: the default config is relative to the current folder; outside the
/// repository the error says how to name one.
#[test]
fn a_missing_default_config_hints_at_dash_c() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [2]\nrepetitions = 1\n",
    );
    let out = edgebench()
        .current_dir(tmp.path())
        .args(["run", "--quiet"])
        .arg(&scenario)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scenarios/backends.toml"), "{stderr}");
    assert!(stderr.contains("-c/--config"), "{stderr}");
}

/// Issue 16 item 7: run.json's device is the label the rows (and so the report's series)
/// carry, and the in-process engine's chat template is known: Gemma 3 270M's GGUF has none,
/// which the report says ("none") instead of "unknown".
#[test]
fn in_process_run_agrees_on_device_and_knows_its_template() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [2]\nwarmup = 0\nrepetitions = 1\n",
    );
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"g\"\n[backends.g]\nkind = \"llamacpp\"\nmodel = {:?}\nthreads = 1\nctx_size = 256\ndevice = \"bench-box\"\n",
            gemma().display().to_string()
        ),
    );
    let results = tmp.path().join("results");
    run_ok(&[
        "run",
        "--quiet",
        "-c",
        config.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--run-id",
        "r",
        scenario.to_str().unwrap(),
    ]);
    let run = results.join("r");
    let manifest = edgebench::results::RunManifest::read(&run).unwrap();
    assert_eq!(manifest.device, "bench-box");
    let (samples, _) = rows(&run);
    assert!(!samples.is_empty() && samples.iter().all(|r| r.device == "bench-box"));
    let gguf = &manifest.backends[0]["engine"]["gguf"];
    assert!(gguf["chat_template_sha256"].is_null(), "{gguf}");

    let report = tmp.path().join("report");
    run_ok(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let series = md
        .lines()
        .find(|l| l.starts_with("| bench-box/g"))
        .unwrap_or_else(|| panic!("no series bench-box/g in:\n{md}"));
    let cells: Vec<&str> = series.split('|').map(str::trim).collect();
    // | series | device | backend | model | run | quant | model sha256 | chat template sha256 | …
    assert_eq!(cells[2], "bench-box", "{series}");
    assert_eq!(cells[8], "none", "{series}");
    let run_row = md
        .lines()
        .find(|l| l.starts_with("| r |"))
        .unwrap_or_else(|| panic!("no run row in:\n{md}"));
    assert!(run_row.contains("| bench-box |"), "{run_row}");
}
