//! A request that fails part-way gets a row whose speed columns are empty (docs/results.md:
//! "partial timings are never reported as a request's"), while what is known for sure stays:
//! the error category, when it was sent, the prompt length and the tokens that did arrive.

use edgebench::results::reader::read_samples;

use crate::common::*;
use crate::fault_proxy::{Fault, Proxy};

#[test]
fn a_stream_cut_after_some_tokens_leaves_no_speed_in_its_row() {
    let server = shared_gemma();
    // The 8th SSE event is cut in half: the role event and several content events arrive
    // first, so the client did see a first token and gaps between tokens before the failure.
    let proxy = Proxy::start(server.port, Fault::TruncateEvent(8));
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"p\"\n[backends.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nretries = 0\n",
            proxy.port
        ),
    );
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [24]\nwarmup = 0\nrepetitions = 2\nignore_eos = true\n",
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "cut"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = tmp.path().join("cut/samples.csv");
    let rows = read_samples(&samples).unwrap().rows;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(r.error_category.is_some(), "{r:?}");
        // Content did arrive before the cut (so a first-token time existed to be dropped).
        assert!(r.content_reads.is_some_and(|n| n >= 1), "{r:?}");
        // Kept: when it was sent, how long the prompt was.
        assert!(!r.started_at.is_empty(), "{r:?}");
        assert_eq!(r.prompt_tokens_requested, 32);
        assert!(r.prompt_tokens.is_some(), "{r:?}");
        // Empty: every speed and timing column.
        let speed = [
            ("ttft_ms", r.ttft_ms),
            ("tpot_ms", r.tpot_ms),
            ("e2e_ms", r.e2e_ms),
            ("itl_mean_ms", r.itl_mean_ms),
            ("itl_p50_ms", r.itl_p50_ms),
            ("itl_p90_ms", r.itl_p90_ms),
            ("itl_p99_ms", r.itl_p99_ms),
            ("itl_max_ms", r.itl_max_ms),
            ("prefill_tok_s", r.prefill_tok_s),
            ("decode_tok_s", r.decode_tok_s),
            ("server_prompt_ms", r.server_prompt_ms),
            ("server_prefill_tok_s", r.server_prefill_tok_s),
            ("server_predicted_ms", r.server_predicted_ms),
            ("server_decode_tok_s", r.server_decode_tok_s),
            ("burst_fraction", r.burst_fraction),
            ("test_tok_s", r.test_tok_s),
        ];
        for (column, value) in speed {
            assert_eq!(value, None, "{column} of a failed row: {r:?}");
        }
        assert_eq!(r.itl_list_ms, None, "{r:?}");
        assert_eq!(r.itl_exact, None, "{r:?}");
    }
    // The files a report reads back still make a report (the empty cells are "not measured").
    let report = tmp.path().join("report");
    let out = edgebench()
        .arg("report")
        .arg(tmp.path().join("cut"))
        .arg("--out")
        .arg(&report)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
