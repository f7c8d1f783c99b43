//! Request-rate cases and SLO goodput end to end, against the shared llama-server on Gemma:
//! rows follow their schedule, `max_concurrency` holds, lengths drawn from a distribution are
//! exact, goodput counts what samples.csv says, and a cut rate case resumes without duplicates.
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use edgebench::results::reader::{read_samples, read_summary};
use edgebench::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use edgebench::results::{SampleRow, SummaryRow};

use crate::common::*;

/// Runs `scenarios` (files in `dir`) against the shared Gemma server into `dir/<id>`.
fn run(dir: &Path, id: &str, scenarios: &[&Path]) -> PathBuf {
    let config = shared_gemma_config(dir, "");
    let mut args: Vec<String> = vec!["run".into(), "--quiet".into(), "--run-id".into(), id.into()];
    args.extend(scenarios.iter().map(|p| p.display().to_string()));
    args.extend([
        "--config".into(),
        config.display().to_string(),
        "--out".into(),
        dir.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args);
    dir.join(id)
}

fn metric<'a>(rows: &'a [SummaryRow], case: &str, name: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.case_id == case && r.metric == name)
        .unwrap_or_else(|| panic!("no {name} row for {case}"))
}

fn of_case<'a>(rows: &'a [SampleRow], case: &str) -> Vec<&'a SampleRow> {
    let mut v: Vec<&SampleRow> = rows.iter().filter(|r| r.case_id == case).collect();
    v.sort_by_key(|r| r.repetition);
    v
}

/// A high constant rate: every row carries its scheduled offset (i / rate) and an actual send
/// at or after it, late by a sane amount; requests overlap. Capped at one in flight, they do
/// not, and the wait for the slot is recorded apart. Prompt lengths drawn from a distribution
/// are sent exactly.
#[test]
fn rate_cases_follow_their_schedule_and_their_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let open = write(
        tmp.path(),
        "open.toml",
        "kind = \"throughput\"\nname = \"open\"\nprompt_tokens = [48]\nmax_tokens = [4]\nrequest_rate = [200]\narrival = \"constant\"\nrequests = 6\nwarmup = 1\n",
    );
    let capped = write(
        tmp.path(),
        "capped.toml",
        "kind = \"throughput\"\nname = \"capped\"\nprompt_tokens = [{ dist = \"uniform\", min = 48, max = 64 }]\nmax_tokens = [4]\nrequest_rate = [200]\narrival = \"poisson\"\nmax_concurrency = 1\nrequests = 5\nwarmup = 0\n",
    );
    let run_dir = run(tmp.path(), "rates", &[&open, &capped]);
    let (samples, summary) = rows(&run_dir);

    let rows = of_case(&samples, "pp48_tg4_r200");
    assert_eq!(rows.len(), 6);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!(r.repetition, i as u32);
        let scheduled = r.scheduled_ms.unwrap();
        assert!((scheduled - 5.0 * i as f64).abs() < 1e-6, "{r:?}");
        let sent = r.sent_ms.unwrap();
        assert!(sent >= scheduled, "sent before its time: {r:?}");
        let lag = r.send_lag_ms.unwrap();
        assert!((0.0..5000.0).contains(&lag), "{r:?}");
        assert_eq!(r.queue_wait_ms, None, "no cap, no slot wait");
        assert_eq!(r.prompt_tokens, Some(48));
        assert_eq!(r.output_tokens, Some(4));
    }
    // At 200 req/s a request is sent before the one before it has finished.
    assert!(
        rows.windows(2)
            .any(|w| w[1].sent_ms.unwrap() < w[0].sent_ms.unwrap() + w[0].e2e_ms.unwrap()),
        "no overlap: {rows:?}"
    );
    assert_eq!(
        metric(&summary, "pp48_tg4_r200", "offered_rate").mean,
        200.0
    );
    assert_eq!(
        metric(&summary, "pp48_tg4_r200", "requests_completed").mean,
        6.0
    );
    assert_eq!(
        metric(&summary, "pp48_tg4_r200", "requests_failed").mean,
        0.0
    );
    assert_eq!(metric(&summary, "pp48_tg4_r200", "send_lag_ms").n, 6);
    assert!(metric(&summary, "pp48_tg4_r200", "requests_per_s").mean > 0.0);
    assert!(metric(&summary, "pp48_tg4_r200", "output_tok_s").mean > 0.0);

    let rows = of_case(&samples, "ppu48-64_tg4_r200");
    assert_eq!(rows.len(), 5, "{samples:?}");
    let mut lengths = BTreeSet::new();
    for r in &rows {
        assert_eq!(r.error_category, None, "{r:?}");
        assert!((48..=64).contains(&r.prompt_tokens_requested), "{r:?}");
        assert_eq!(r.prompt_tokens, Some(u64::from(r.prompt_tokens_requested)));
        assert!(r.queue_wait_ms.is_some(), "{r:?}");
        assert!(r.sent_ms.unwrap() >= r.scheduled_ms.unwrap());
        lengths.insert(r.prompt_tokens_requested);
    }
    assert!(
        lengths.len() > 1,
        "one length drawn five times: {lengths:?}"
    );
    // One in flight: each request is sent after the one before it came back (1 ms of slack
    // between our send stamp and the backend's).
    let mut by_send = rows.clone();
    by_send.sort_by(|a, b| a.sent_ms.unwrap().total_cmp(&b.sent_ms.unwrap()));
    for w in by_send.windows(2) {
        assert!(
            w[1].sent_ms.unwrap() + 1.0 >= w[0].sent_ms.unwrap() + w[0].e2e_ms.unwrap(),
            "two in flight under max_concurrency = 1: {w:?}"
        );
    }
    assert!(
        rows.iter().any(|r| r.queue_wait_ms.unwrap() > 0.0),
        "at 200 req/s one slot makes someone wait: {rows:?}"
    );
}

/// Goodput under SLOs: one every request meets gives a share of 1, one none meets 0, and any
/// other equals the count made from samples.csv; closed-loop cases get it too, and their rows
/// have no schedule columns.
#[test]
fn goodput_counts_what_samples_csv_says() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = |name: &str, slo: &str, load: &str| {
        write(
            tmp.path(),
            &format!("{name}.toml"),
            &format!(
                "kind = \"throughput\"\nname = \"{name}\"\nprompt_tokens = [32]\nmax_tokens = [4]\n{load}\nwarmup = 0\nslo = {{ {slo} }}\n"
            ),
        )
    };
    let all = scenario(
        "all",
        "ttft_ms = 600000, e2e_ms = 600000",
        "concurrency = [1]\nrepetitions = 3",
    );
    let none = scenario(
        "none",
        "ttft_ms = 0.001",
        "request_rate = [100]\nrequests = 4",
    );
    // Queued requests (2 slots, 6 sent at once) wait: some TTFTs are likely above 80 ms, some
    // below; whatever they are, the share must be the count from the rows.
    let mixed = scenario(
        "mixed",
        "ttft_ms = 80, tpot_ms = 60",
        "request_rate = [1000]\nrequests = 6",
    );
    let run_dir = run(tmp.path(), "slo", &[&all, &none, &mixed]);
    let (samples, summary) = rows(&run_dir);
    let in_scenario = |s: &str| -> Vec<SummaryRow> {
        summary
            .iter()
            .filter(|r| r.scenario == s)
            .cloned()
            .collect()
    };

    let a = in_scenario("all");
    assert_eq!(metric(&a, "pp32_tg4_c1", "slo_good_share").mean, 1.0);
    assert_eq!(metric(&a, "pp32_tg4_c1", "slo_good_share").n, 3);
    assert!(metric(&a, "pp32_tg4_c1", "goodput").mean > 0.0);
    assert!(
        samples
            .iter()
            .filter(|r| r.scenario == "all")
            .all(|r| r.scheduled_ms.is_none() && r.sent_ms.is_none() && r.send_lag_ms.is_none())
    );

    let n = in_scenario("none");
    let share = metric(&n, "pp32_tg4_r100", "slo_good_share");
    assert_eq!((share.mean, share.n), (0.0, 4));
    assert_eq!(metric(&n, "pp32_tg4_r100", "goodput").mean, 0.0);
    assert_eq!(metric(&n, "pp32_tg4_r100", "slo_missed:ttft_ms").mean, 1.0);
    assert!(share.flags.contains("slo_worst_ttft_ms"), "{}", share.flags);

    let m = in_scenario("mixed");
    let rows: Vec<&SampleRow> = samples.iter().filter(|r| r.scenario == "mixed").collect();
    assert_eq!(rows.len(), 6);
    let good = rows
        .iter()
        .filter(|r| {
            r.error_category.is_none()
                && r.ttft_ms.unwrap() <= 80.0
                && r.tpot_ms.is_none_or(|t| t <= 60.0)
        })
        .count();
    let share = metric(&m, "pp32_tg4_r1000", "slo_good_share");
    assert_eq!(share.n, 6);
    assert!(
        (share.mean - good as f64 / 6.0).abs() < 1e-9,
        "{share:?} vs {good}"
    );
    assert!(share.ci_low <= share.mean && share.mean <= share.ci_high);
    // Goodput is good requests per second of the window that requests_per_s is over.
    let rps = metric(&m, "pp32_tg4_r1000", "requests_per_s").mean;
    let goodput = metric(&m, "pp32_tg4_r1000", "goodput").mean;
    assert!(
        (goodput - rps * good as f64 / 6.0).abs() < 1e-6 * rps.max(1.0),
        "{goodput} {rps}"
    );
}

/// Writes `rows` as the whole of a results file (to make the state a kill leaves).
fn rewrite<T: serde::Serialize>(path: &Path, columns: &[&str], rows: &[T]) {
    std::fs::remove_file(path).unwrap();
    let mut w = edgebench::results::CsvAppender::open(path, columns).unwrap();
    w.append_all(rows).unwrap();
}

/// A run cut in the middle of its second rate case (its summary not written, two of its rows
/// lost): `--resume` keeps the finished case as it was, moves the partial rows to attempts.csv
/// and runs the cut case whole, so no (case, request) appears twice.
#[test]
fn a_cut_rate_case_resumes_whole_without_duplicate_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "r.toml",
        "kind = \"throughput\"\nname = \"r\"\nprompt_tokens = [32]\nmax_tokens = [4]\nrequest_rate = [20, 40]\nrequests = 4\nwarmup = 0\n",
    );
    let run_dir = run(tmp.path(), "cut", &[&s]);
    let (samples, summary) = rows(&run_dir);
    assert_eq!(samples.len(), 8);
    // The state a kill during case r40 leaves: two of its rows, none of its summary.
    let first: Vec<SampleRow> = samples
        .iter()
        .filter(|r| r.case_id == "pp32_tg4_r20")
        .cloned()
        .collect();
    let partial: Vec<SampleRow> = samples
        .iter()
        .filter(|r| r.case_id == "pp32_tg4_r40")
        .take(2)
        .cloned()
        .collect();
    let kept: Vec<SampleRow> = first.iter().chain(&partial).cloned().collect();
    let kept_summary: Vec<SummaryRow> = summary
        .iter()
        .filter(|r| r.case_id == "pp32_tg4_r20")
        .cloned()
        .collect();
    rewrite(&run_dir.join("samples.csv"), SAMPLE_COLUMNS, &kept);
    rewrite(&run_dir.join("summary.csv"), SUMMARY_COLUMNS, &kept_summary);
    let out = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&run_dir)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (after, summary) = rows(&run_dir);
    let mut seen = BTreeSet::new();
    for r in &after {
        assert!(
            seen.insert((r.case_id.clone(), r.repetition)),
            "twice: {r:?}"
        );
    }
    assert_eq!(of_case(&after, "pp32_tg4_r40").len(), 4);
    let again: Vec<SampleRow> = after
        .iter()
        .filter(|r| r.case_id == "pp32_tg4_r20")
        .cloned()
        .collect();
    assert_eq!(again, first, "the finished case is kept as it was");
    let attempts = read_samples(&run_dir.join("attempts.csv")).unwrap().rows;
    assert_eq!(attempts, partial);
    let mut metrics = BTreeSet::new();
    for r in read_summary(&run_dir.join("summary.csv")).unwrap().rows {
        assert!(
            metrics.insert((r.case_id.clone(), r.metric.clone())),
            "summary twice: {r:?}"
        );
    }
    assert_eq!(
        metric(&summary, "pp32_tg4_r40", "requests_completed").mean,
        4.0
    );
}

/// A user's own prompts (`prompts_file`) in a rate case: sent as written, each row with its
/// exact prompt count, no requested length, and a line's own `output_tokens` honoured.
#[test]
fn a_prompts_file_feeds_a_rate_case() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "prompts.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Name three rivers of Europe.\"}]}\n{\"prompt\": \"Once upon a time\", \"output_tokens\": 2}\n",
    );
    let s = write(
        tmp.path(),
        "f.toml",
        "kind = \"throughput\"\nname = \"f\"\nprompts_file = \"prompts.jsonl\"\nmax_tokens = [4]\nrequest_rate = [50]\nrequests = 4\nwarmup = 0\n",
    );
    let run_dir = run(tmp.path(), "file", &[&s]);
    let (samples, _) = rows(&run_dir);
    let rows = of_case(&samples, "ppfile_tg4_r50");
    assert_eq!(rows.len(), 4);
    let mut outputs = BTreeSet::new();
    for r in &rows {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!(r.prompt_tokens_requested, 0);
        assert!(r.prompt_tokens.unwrap() > 0, "{r:?}");
        assert_eq!(r.output_tokens, Some(u64::from(r.max_tokens)), "{r:?}");
        outputs.insert(r.max_tokens);
    }
    // Each prompt is sent equally often: twice each, so both output lengths appear.
    assert_eq!(outputs, BTreeSet::from([2, 4]));
}
