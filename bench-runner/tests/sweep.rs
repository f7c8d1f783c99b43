//! `mode = "sweep"` end to end on the shared llama-server (test-sized: four tiny requests per
//! run, two grid rates, a wide tolerance): it bounds the range, runs the planner's rates as
//! cases of their own, and states a maximum sustainable rate whose interval agrees with what
//! each rate's rows gave (rates below the first failing one passed, that one failed).
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::collections::{BTreeMap, BTreeSet};

use edgebench::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use edgebench::results::{SampleRow, SummaryRow};

use crate::common::*;

#[test]
fn a_sweep_finds_a_rate_its_runs_agree_with() {
    let tmp = tempfile::tempdir().unwrap();
    let config = shared_gemma_config(tmp.path(), "");
    // A bound one request at a time meets on any machine (so a rate is found); whether a
    // higher rate misses it depends on this machine, and either way the answer must agree
    // with its runs.
    let scenario = write(
        tmp.path(),
        "sweep.toml",
        "kind = \"throughput\"\nname = \"sw\"\nmode = \"sweep\"\nprompt_tokens = [48]\nmax_tokens = [4]\nrequests = 4\nwarmup = 0\nslo = { ttft_ms = 5000 }\nsweep_rates = 2\nslo_target = 0.75\ntolerance = 0.5\n",
    );
    let out = edgebench()
        .args(["run", "--run-id", "sw"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let run = tmp.path().join("sw");
    let (samples, summary) = rows(&run);

    let sweeps: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("sweep.json")).unwrap()).unwrap();
    let sweep = &sweeps.as_array().unwrap()[0];
    assert_eq!(sweep["case_id"], "pp48_tg4_sweep");
    let line = sweep["answer"].as_str().unwrap();
    assert!(line.starts_with("srv on local: "), "{line}");
    assert!(
        line.contains("TTFT ≤ 5000 ms for 75% of requests, prompt 48 / output 4"),
        "{line}"
    );
    assert!(stderr.contains(line), "the answer is printed: {stderr}");

    // The bounding runs and every planned rate ran as cases with rows of their own.
    let per_case = |id: &str| samples.iter().filter(|r| r.case_id == id).count();
    assert_eq!(per_case("pp48_tg4_sweep_sync"), 4);
    assert_eq!(per_case("pp48_tg4_sweep_sat"), 4);
    let rates = sweep["rates"].as_array().unwrap();
    assert!(
        samples
            .iter()
            .any(|r| r.case_id.starts_with("pp48_tg4_sweep_r")),
        "the planner ran no rate: {sweep}"
    );
    let share: BTreeMap<String, f64> = summary
        .iter()
        .filter(|r| r.metric == "slo_good_share")
        .map(|r| (r.case_id.clone(), r.mean))
        .collect();

    let lowest_fail = sweep["lowest_failing_rate"].as_f64();
    let answer = sweep["max_sustainable_rate"].as_f64();
    let mut best_below = None::<f64>;
    for r in rates {
        let (rate, passes) = (r["rate"].as_f64().unwrap(), r["passes"].as_bool().unwrap());
        let (good, n) = (r["good"].as_u64().unwrap(), r["requests"].as_u64().unwrap());
        assert_eq!(
            passes,
            2 * r["passed_runs"].as_u64().unwrap() > r["runs"].as_u64().unwrap()
        );
        if r["runs"] == 1 {
            assert_eq!(passes, good as f64 / n as f64 >= 0.75, "{r}");
        }
        match lowest_fail {
            Some(f) if rate < f => {
                assert!(passes, "a rate below the first failing one failed: {sweep}");
                best_below = Some(best_below.map_or(rate, |b: f64| b.max(rate)));
            }
            Some(f) if rate == f => assert!(!passes, "{sweep}"),
            Some(_) => {}
            None => {
                assert!(passes, "{sweep}");
                best_below = Some(best_below.map_or(rate, |b: f64| b.max(rate)));
            }
        }
    }
    assert!(answer.is_some(), "no rate found: {sweep}");
    assert_eq!(answer, best_below, "{sweep}");
    // Every rate the planner ran (not the synchronous record) has its case in summary.csv, and
    // its one-run share agrees with sweep.json's counts.
    let sync_rate = sweep["synchronous_rate"].as_f64().unwrap();
    for r in rates
        .iter()
        .filter(|r| r["rate"].as_f64().unwrap() != sync_rate && r["runs"] == 1)
    {
        let rate = r["rate"].as_f64().unwrap();
        let (_, s) = share
            .iter()
            .find(|(id, _)| {
                id.strip_prefix("pp48_tg4_sweep_r")
                    .and_then(|x| x.parse::<f64>().ok())
                    .is_some_and(|x| (x - rate).abs() <= 0.0005 * rate.max(1.0))
            })
            .unwrap_or_else(|| panic!("no case for rate {rate}: {share:?}"));
        let expect = r["good"].as_f64().unwrap() / r["requests"].as_f64().unwrap();
        assert!((s - expect).abs() < 1e-9, "{r} vs {s}");
    }
    if let (Some(lo), Some(hi), true) = (answer, lowest_fail, sweep["converged"].as_bool().unwrap())
    {
        assert!(hi / lo <= 1.5 + 1e-9, "{sweep}");
    }
    // The answer row of summary.csv says the same.
    let row = summary
        .iter()
        .find(|r| r.case_id == "pp48_tg4_sweep" && r.metric == "max_sustainable_rate")
        .unwrap();
    match answer {
        Some(a) => assert_eq!((row.mean, row.ci_low), (a, a)),
        None => assert!(row.mean.is_nan()),
    }
    match lowest_fail {
        Some(f) => assert_eq!(row.ci_high, f),
        None => assert!(row.ci_high.is_nan()),
    }

    // Cut the run during its last planned rate (its summary and the answer lost, half its
    // rows kept): a resume reruns that case whole, finishes the sweep, and writes every
    // (case, request) and (case, metric) once.
    let last = samples
        .iter()
        .rev()
        .find(|r| r.case_id.starts_with("pp48_tg4_sweep_r"))
        .unwrap()
        .case_id
        .clone();
    let before: Vec<SampleRow> = samples
        .iter()
        .filter(|r| r.case_id != last)
        .cloned()
        .collect();
    let partial: Vec<SampleRow> = samples
        .iter()
        .filter(|r| r.case_id == last)
        .take(2)
        .cloned()
        .collect();
    let kept: Vec<SampleRow> = before.iter().chain(&partial).cloned().collect();
    let kept_summary: Vec<SummaryRow> = summary
        .iter()
        .filter(|r| r.case_id != last && r.case_id != "pp48_tg4_sweep")
        .cloned()
        .collect();
    rewrite(&run.join("samples.csv"), SAMPLE_COLUMNS, &kept);
    rewrite(&run.join("summary.csv"), SUMMARY_COLUMNS, &kept_summary);
    let out = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&run)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("srv on local: "),
        "the answer is printed again: {stderr}"
    );
    let (after, summary) = rows(&run);
    let mut seen = BTreeSet::new();
    for r in &after {
        assert!(
            seen.insert((r.case_id.clone(), r.repetition)),
            "twice: {r:?}"
        );
    }
    let mut seen = BTreeSet::new();
    for r in &summary {
        assert!(
            seen.insert((r.case_id.clone(), r.metric.clone())),
            "summary twice: {r:?}"
        );
    }
    let kept_again: Vec<SampleRow> = after
        .iter()
        .filter(|r| before.contains(r))
        .cloned()
        .collect();
    assert_eq!(kept_again, before, "finished runs are kept as they were");
    assert_eq!(after.iter().filter(|r| r.case_id == last).count(), 4);
    assert!(
        summary
            .iter()
            .any(|r| r.case_id == "pp48_tg4_sweep" && r.metric == "max_sustainable_rate")
    );
}

/// Writes `rows` as the whole of a results file (to make the state a kill leaves).
fn rewrite<T: serde::Serialize>(path: &std::path::Path, columns: &[&str], rows: &[T]) {
    std::fs::remove_file(path).unwrap();
    let mut w = edgebench::results::CsvAppender::open(path, columns).unwrap();
    w.append_all(rows).unwrap();
}
