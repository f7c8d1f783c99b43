//! The CI gate never passes what it could not check.
//!
//! The good side is a stored real run (`results/reference/aa-rep/a1`: llama-server on Gemma,
//! see its README); the broken candidate is a real `edgebench run` of the same scenario
//! against a server of the test's own on 127.0.0.1 that answers every request with HTTP 500,
//! as a server whose model failed to load does. No model is needed, so these tests are cheap.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use crate::common::{edgebench, repo_root, write};

/// A server that answers every request with HTTP 500 and a JSON error body.
fn broken_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_500(stream));
        }
    });
    port
}

fn answer_500(mut s: TcpStream) {
    // Read the head and as much body as Content-Length says, then answer and close.
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let body_len = loop {
        let Ok(n) = s.read(&mut b) else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&b[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            break len.saturating_sub(buf.len() - i - 4);
        }
    };
    let mut left = body_len;
    while left > 0 {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    let body = r#"{"error":{"code":500,"message":"model failed to load","type":"server_error"}}"#;
    let _ = s.write_all(
        format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let _ = s.shutdown(Shutdown::Both);
}

fn aa_run(id: &str) -> PathBuf {
    repo_root().join("results/reference/aa-rep").join(id)
}

/// `edgebench run` of the stored A/A scenario against the broken server: every request fails.
fn broken_run(dir: &Path) -> PathBuf {
    let port = broken_server();
    let config = write(
        dir,
        "backends.toml",
        &format!(
            "[backends.broken]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"gemma\"\nretries = 0\n"
        ),
    );
    let out = edgebench()
        .arg("run")
        .arg(aa_run("rep.toml"))
        .arg("--config")
        .arg(&config)
        .args([
            "--backend",
            "broken",
            "--run-id",
            "broken",
            "--quiet",
            "--out",
        ])
        .arg(dir)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("run edgebench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A run whose requests failed is a backend failure: exit 3, the rows are written.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let run = dir.join("broken");
    let samples = std::fs::read_to_string(run.join("samples.csv")).expect("samples.csv");
    let rows: Vec<&str> = samples.lines().skip(1).collect();
    assert_eq!(rows.len(), 24, "{samples}");
    assert!(rows.iter().all(|r| r.contains("http_server")), "{samples}");
    run
}

fn compare(base: &Path, cand: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = edgebench()
        .env_remove("GITHUB_STEP_SUMMARY")
        .arg("compare")
        .arg("--baseline")
        .arg(base)
        .arg("--candidate")
        .arg(cand)
        .args(extra)
        .output()
        .expect("spawn edgebench compare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_candidate_whose_every_request_failed_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let bad = broken_run(dir.path());
    let junit = dir.path().join("junit.xml");
    let (code, stdout, stderr) =
        compare(&aa_run("a1"), &bad, &["--junit", junit.to_str().unwrap()]);
    println!("{stdout}\n{stderr}");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("❌ **gate failed**"), "{stdout}");
    assert!(!stdout.contains("no regression"), "{stdout}");
    // Every case × default metric is listed as unjudgeable, with the candidate's n = 0.
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| llama-server → broken / rep / "))
        .collect();
    assert_eq!(rows.len(), 12, "{stdout}");
    assert!(
        rows.iter()
            .all(|l| l.contains("(n=0)") && l.ends_with("| ❌ too few samples |")),
        "{stdout}"
    );
    // Why, per case: the candidate's failures against none in the baseline.
    for case in ["pp32_tg8_c1", "pp32_tg8_c2", "pp96_tg8_c1", "pp96_tg8_c2"] {
        let n = if case.ends_with("c2") { 8 } else { 4 };
        assert!(
            stdout.contains(&format!(
                "llama-server → broken / rep / {case}: {n} of {n} candidate requests failed, against 0 of {n} in the baseline"
            )),
            "{case}:\n{stdout}"
        );
    }
    assert!(
        stderr.contains("gate failed:") && stderr.contains("failed requests the baseline did not"),
        "{stderr}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"tests="16" failures="16" skipped="0""#),
        "{xml}"
    );
    assert_eq!(
        xml.matches(r#"type="too_few_samples""#).count(),
        12,
        "{xml}"
    );
    assert_eq!(xml.matches(r#"type="new_errors""#).count(), 4, "{xml}");
    assert!(!xml.contains("<skipped"), "{xml}");

    // --allow-errors alone is not enough: no successful request is still nothing to judge.
    let (code, stdout, _) = compare(&aa_run("a1"), &bad, &["--allow-errors"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("too few samples")
            && !stdout.contains("case(s) where the candidate failed"),
        "{stdout}"
    );
    // Both allowances give the old behaviour back: reported, skipped in JUnit, exit 0.
    let (code, stdout, _) = compare(
        &aa_run("a1"),
        &bad,
        &[
            "--allow-errors",
            "--allow-missing",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("(let pass by --allow-errors)"), "{stdout}");
    assert!(
        stdout.contains(
            "✅ no regression beyond the 5.0% threshold — but 16 thing(s) could not be judged"
        ),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="0" skipped="16""#), "{xml}");
}

#[test]
fn runs_that_share_no_case_fail_the_gate() {
    // Two stored real runs of different scenarios: `rep` and `throughput`.
    let other = repo_root().join("results/reference/fidelity-20261125-180146");
    let (code, stdout, stderr) = compare(&aa_run("a1"), &other, &[]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("share no case") && stdout.contains("the gate checks nothing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 baseline case(s) missing from the candidate"),
        "{stdout}"
    );
    let (code, stdout, _) = compare(&aa_run("a1"), &other, &["--allow-missing"]);
    assert_eq!(code, 0, "{stdout}");
    // The stored A/A pair still passes: nothing missing, no failures.
    let (code, stdout, _) = compare(&aa_run("a1"), &aa_run("a2"), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("✅ no regression"), "{stdout}");
}
