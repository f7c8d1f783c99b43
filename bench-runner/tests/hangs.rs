//! A server that accepts connections and never answers: every wait honours the configured
//! `timeout_s` (the start-up probes included), the request becomes a `timeout` row, and a
//! run whose stderr is not a terminal says what it is waiting for.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use edgebench::results::reader::read_samples;

use crate::common::*;

/// Accepts every connection and keeps it open without reading or writing a byte.
fn start_silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_server_that_never_answers_times_out_within_the_configured_limits_and_says_so() {
    let port = start_silent_server();
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"mute\"\n[backends.mute]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\ntimeout_s = 2\nstall_timeout_s = 2\nretries = 0\n"
        ),
    );
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 1\n",
    );
    let t0 = Instant::now();
    // stderr is a pipe here, not a terminal: no progress bar is drawn.
    let out = edgebench()
        .args(["run", "--run-id", "h"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let rows = read_samples(&tmp.path().join("h/samples.csv"))
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 1, "{stderr}");
    assert_eq!(
        rows[0].error_category.as_deref(),
        Some("timeout"),
        "{stderr}"
    );
    // Two probes and one request, each bounded by timeout_s = 2: about 6 s. Before, the
    // probes alone waited a fixed 30 s + 30 s. The bound is loose so that a busy machine
    // cannot fail it, and still below what fixed probe waits would take.
    assert!(
        took < Duration::from_secs(50),
        "took {took:?} with timeout_s = 2\n{stderr}"
    );
    // Each wait said what it waited for before giving up.
    for path in ["/props", "/v1/models", "/v1/chat/completions"] {
        let line = format!("waiting for mute {path}: no response for");
        assert!(stderr.contains(&line), "no `{line}` line in:\n{stderr}");
    }
}
