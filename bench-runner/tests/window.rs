//! What the headline figures cover: aggregate throughput over the measured requests only
//! (never the warm-ups), and a case whose requests all failed shown, not dropped.

use std::time::Duration;

use crate::common::*;

/// Against a real llama-server: a case with many warm-ups beside a case the server refuses
/// (prompt longer than a slot's context), in one run.
#[test]
fn aggregate_throughput_excludes_warmups_and_failed_cases_are_shown() {
    let tmp = tempfile::tempdir().unwrap();
    // -c 4096: a 5000-token prompt is refused whatever the slots share.
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(
        tmp.path(),
        "window.toml",
        "name = \"window\"\nkind = \"throughput\"\nprompt_tokens = [32, 5000]\nmax_tokens = [8]\n\
         concurrency = [1]\nwarmup = 9\nrepetitions = 3\nignore_eos = true\n",
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "w"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        // A safety net for a hung server, not a pass condition.
        .timeout(Duration::from_secs(1800))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Some requests failed: exit 3, and the run still wrote everything.
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let (samples, summary) = rows(&tmp.path().join("w"));

    // 1) out tok/s is Σ output tokens over the measured requests' own time. With 9 warm-ups
    // against 3 measured requests, a clock that included the warm-ups would give ≤ 1/4 of it.
    let ok: Vec<_> = samples
        .iter()
        .filter(|r| r.case_id == "pp32_tg8_c1")
        .collect();
    assert_eq!(ok.len(), 3, "warm-ups are not rows");
    assert!(ok.iter().all(|r| r.error_category.is_none()), "{ok:?}");
    let tokens: f64 = ok.iter().map(|r| r.output_tokens.unwrap() as f64).sum();
    let busy_s: f64 = ok.iter().map(|r| r.e2e_ms.unwrap() / 1000.0).sum();
    let out_tok_s = summary
        .iter()
        .find(|r| r.case_id == "pp32_tg8_c1" && r.metric == "output_tok_s")
        .expect("output_tok_s")
        .p50;
    let ratio = out_tok_s / (tokens / busy_s);
    // The window runs from send to the response's end (E2E stops at the last content chunk),
    // so the ratio sits a little under 1; the warm-up bug put it under 0.25.
    assert!(
        (0.6..=1.01).contains(&ratio),
        "out tok/s {out_tok_s} vs {tokens} tokens in {busy_s} s of requests (ratio {ratio})"
    );

    // 2) The refused case is in summary.csv and in the final table: n = 0, errors, category.
    let failed: Vec<_> = samples
        .iter()
        .filter(|r| r.case_id == "pp5000_tg8_c1")
        .collect();
    assert_eq!(failed.len(), 3);
    let category = failed[0].error_category.clone().expect("an error row");
    let row = summary
        .iter()
        .find(|r| r.case_id == "pp5000_tg8_c1")
        .expect("a summary row for the failed case");
    assert_eq!((row.metric.as_str(), row.n, row.errors), ("requests", 0, 3));
    assert!(row.p50.is_nan(), "no figure in disguise: {row:?}");
    assert!(
        row.flags.contains("all_failed") && row.flags.contains(&format!("error_{category}")),
        "{row:?}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("pp5000_tg8_c1"))
        .unwrap_or_else(|| panic!("the failed case is missing from the table:\n{stdout}"));
    assert!(
        line.contains("| 0 |") && line.contains("| 3 |") && line.contains("all_failed"),
        "{line}"
    );
}
