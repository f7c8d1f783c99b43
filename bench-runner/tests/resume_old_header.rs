//! `--resume` of a run folder written by an older edgebench, before samples.csv gained the
//! request-rate columns: the rows are read by name, the file is written again under today's
//! header (the new cells empty), and the run finishes what is missing.
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::time::Duration;

use edgebench::results::reader::read_samples;
use edgebench::results::schema::SAMPLE_COLUMNS;

use crate::common::*;

/// Columns samples.csv gained with request-rate cases (issue 18).
const RATE_COLUMNS: &[&str] = &["scheduled_ms", "sent_ms", "send_lag_ms", "queue_wait_ms"];

#[test]
fn a_run_from_before_the_request_rate_columns_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = shared_gemma_config(tmp.path(), "");
    let scenario = write(
        tmp.path(),
        "old.toml",
        "kind = \"throughput\"\nname = \"old\"\nprompt_tokens = [16]\nmax_tokens = [4]\nconcurrency = [1]\nwarmup = 0\nrepetitions = 2\n",
    );
    let out = tmp.path().join("runs");
    run_ok(&[
        "run",
        "--quiet",
        "--run-id",
        "old",
        scenario.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let run = out.join("old");

    // Make it the folder an interrupted older build leaves: its first request only, no
    // summary, and samples.csv without the request-rate columns.
    let samples = run.join("samples.csv");
    let mut rdr = csv::Reader::from_path(&samples).unwrap();
    let header = rdr.headers().unwrap().clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !RATE_COLUMNS.contains(&&header[i]))
        .collect();
    let first = rdr.records().next().unwrap().unwrap();
    let mut w = csv::Writer::from_path(&samples).unwrap();
    w.write_record(keep.iter().map(|&i| &header[i])).unwrap();
    w.write_record(keep.iter().map(|&i| &first[i])).unwrap();
    w.flush().unwrap();
    drop(w);
    let summary = run.join("summary.csv");
    let head = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, head.lines().next().unwrap().to_string() + "\n").unwrap();

    let res = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&run)
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "resume failed ({:?}):\n{}",
        res.status.code(),
        String::from_utf8_lossy(&res.stderr)
    );
    let text = std::fs::read_to_string(&samples).unwrap();
    assert_eq!(text.lines().next().unwrap(), SAMPLE_COLUMNS.join(","));
    let got = read_samples(&samples).unwrap().rows;
    assert_eq!(got.len(), 2, "the old request kept, the missing one sent");
    assert_eq!(
        got[0].ttft_ms.map(f64::to_bits),
        first_ttft(&first, &header)
    );
    assert!(got[0].sent_ms.is_none() && got[0].send_lag_ms.is_none());
    assert!(got[1].error_category.is_none() && got[1].repetition == 1);
    let (_, sums) = rows(&run);
    assert!(
        sums.iter().any(|r| r.metric == "ttft_ms" && r.n == 2),
        "{sums:?}"
    );
}

fn first_ttft(rec: &csv::StringRecord, header: &csv::StringRecord) -> Option<u64> {
    let i = header.iter().position(|h| h == "ttft_ms")?;
    rec[i].parse::<f64>().ok().map(f64::to_bits)
}
