//! Fault tolerance against a real llama-server, through the fault-injecting proxy: broken
//! streams become error rows and the run goes on; refusals are retried as the server asks;
//! a frozen server trips the stall timeout.

use std::time::{Duration, Instant};

use edgebench::results::reader::read_samples;

use crate::common::*;
use crate::fault_proxy::{Fault, Proxy, Server};

const SCENARIO: &str =
    "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [24]\nwarmup = 0\nrepetitions = 3\n";

fn run_through(
    port: u16,
    extra: &str,
) -> (std::process::Output, Vec<edgebench::results::SampleRow>) {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"p\"\n[backends.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n{extra}\n"
        ),
    );
    let scenario = write(tmp.path(), "s.toml", SCENARIO);
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "f"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let rows = read_samples(&tmp.path().join("f/samples.csv"))
        .map(|r| r.rows)
        .unwrap_or_default();
    (out, rows)
}

#[test]
fn cut_and_truncated_streams_become_error_rows_and_the_run_goes_on() {
    let server = shared_gemma();
    for fault in [Fault::CutAfter(600), Fault::TruncateEvent(6)] {
        let proxy = Proxy::start(server.port, fault.clone());
        let (out, rows) = run_through(proxy.port, "retries = 0");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{fault:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(rows.len(), 3, "{fault:?}: every request has its row");
        for r in &rows {
            let cat = r.error_category.as_deref();
            assert!(
                matches!(cat, Some("stream_broken") | Some("malformed_stream")),
                "{fault:?}: {r:?}"
            );
            assert!(
                r.decode_tok_s.is_none() && r.e2e_ms.is_none(),
                "no partial speed is reported"
            );
        }
    }
}

#[test]
fn delayed_chunks_are_measured_as_delayed() {
    // A proxy that waits for the server's whole answer, then sends its events six at a time,
    // 250 ms apart: tokens pile up and arrive together, whatever speed the server decoded at
    // (on a loaded machine it can decode slower than any fixed hold, and no burst would form).
    // edgebench must see the bursts and flag the stream as buffered, since its client-side ITL
    // no longer shows the server's token rhythm.
    let server = shared_gemma();
    let proxy = Proxy::start(
        server.port,
        Fault::Bursts {
            events: 6,
            pause: Duration::from_millis(250),
        },
    );
    let (out, rows) = run_through(proxy.port, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(rows.len(), 3);
    for r in &rows {
        // Each event is its own HTTP chunk, so a burst shows as reads microseconds apart: 5 of
        // every 6 gaps are bursts (< 10% of the mean gap), one is a 250 ms pause.
        assert!(r.burst_fraction.unwrap() > 0.5, "{r:?}");
        assert!(
            r.tokens_per_read.unwrap() <= 1.5,
            "one token per read: {r:?}"
        );
    }
    assert!(stderr.contains("stream is buffered"), "{stderr}");
}

#[test]
fn refusals_are_retried_after_retry_after() {
    let server = Server::start();
    for status in [429u16, 503] {
        let proxy = Proxy::start(
            server.port,
            Fault::Refuse {
                status,
                retry_after_s: 3,
                times: 1,
            },
        );
        let t0 = Instant::now();
        let (out, rows) = run_through(proxy.port, "retries = 2\nretry_backoff_s = 0.05");
        assert!(
            out.status.success(),
            "{status}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            t0.elapsed() >= Duration::from_secs(3),
            "Retry-After: 3 was honoured"
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter().map(|r| r.retries).sum::<u32>(),
            1,
            "{status}: one retry, recorded"
        );
        for r in &rows {
            assert_eq!(r.error_category, None);
            // The retried request's clock started with the attempt that answered: the 3 s
            // wait is not in its TTFT. TTFT less the server's own prompt time is what the
            // client added (transport, a busy machine's scheduling), far below 3 s, however
            // slowly a loaded machine evaluates the prompt.
            let outside = r.ttft_ms.unwrap() - r.server_prompt_ms.unwrap();
            assert!(outside < 2500.0, "{outside} ms outside the server: {r:?}");
        }
        assert_eq!(
            proxy.completions.load(std::sync::atomic::Ordering::SeqCst),
            4
        );
    }
    // Out of retries: a rate_limited error row, exit 3.
    let proxy = Proxy::start(
        server.port,
        Fault::Refuse {
            status: 429,
            retry_after_s: 0,
            times: 100,
        },
    );
    let (out, rows) = run_through(proxy.port, "retries = 1\nretry_backoff_s = 0.05");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        rows.iter()
            .all(|r| r.error_category.as_deref() == Some("rate_limited") && r.retries == 1),
        "{rows:?}"
    );
}

#[test]
fn a_frozen_server_trips_the_stall_timeout() {
    let server = Server::start();
    let proxy = Proxy::start(server.port, Fault::None);
    let pid = server.child.id().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"p\"\n[backends.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nstall_timeout_s = 2\nretries = 0\n",
            proxy.port
        ),
    );
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [400]\nwarmup = 0\nrepetitions = 2\nignore_eos = true\n",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .current_dir(repo_root())
        .args(["run", "--quiet", "--run-id", "st"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Freeze the server once the first request is generating, thaw it after the stall limit.
    // (The time limit only ends a test whose run never sends a request.)
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    while proxy.completions.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no completion request was sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
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
    let rows = read_samples(&tmp.path().join("st/samples.csv"))
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].error_category.as_deref(),
        Some("timeout"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[0]
            .error_message
            .as_deref()
            .unwrap()
            .contains("no data for")
    );
}
