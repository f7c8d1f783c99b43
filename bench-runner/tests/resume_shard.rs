//! Runs that survive being killed (`--resume`), and runs split across machines (`--shard`,
//! `merge`), against the real llama-server.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use edgebench::results::RunManifest;
use edgebench::results::reader::{read_samples, read_summary};
use rand::{Rng, SeedableRng};

use crate::common::*;

const SCENARIO: &str = "kind = \"throughput\"\nname = \"rs\"\nprompt_tokens = [32, 48]\nmax_tokens = [6]\nconcurrency = [1, 2]\nwarmup = 0\nrepetitions = 3\n";

fn pairs(run: &Path) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = read_samples(&run.join("samples.csv"))
        .unwrap()
        .rows
        .into_iter()
        .map(|r| (r.case_id, r.repetition))
        .collect();
    v.sort();
    v
}

/// Complete rows in samples.csv so far (0 before the file exists): a progress gauge only.
fn rows_written(run: &Path) -> usize {
    std::fs::read(run.join("samples.csv"))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count().saturating_sub(1))
        .unwrap_or(0)
}

fn expected_pairs() -> Vec<(String, u32)> {
    let mut v = Vec::new();
    for p in [32, 48] {
        for c in [1u32, 2] {
            for r in 0..3 * c {
                v.push((format!("pp{p}_tg6_c{c}"), r));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn four_shards_merged_equal_one_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(tmp.path(), "rs.toml", SCENARIO);
    let run = |id: &str, shard: Option<&str>| {
        let mut c = edgebench();
        c.args(["run", "--quiet", "--run-id", id])
            .arg(&scenario)
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(tmp.path());
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        let out = c.timeout(Duration::from_secs(900)).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run("whole", None);
    for i in 1..=4 {
        run(&format!("s{i}"), Some(&format!("{i}/4")));
    }
    // Each shard holds a different, non-empty part of the case list.
    let mut cases_seen = BTreeSet::new();
    for i in 1..=4 {
        let cases: BTreeSet<String> = pairs(&tmp.path().join(format!("s{i}")))
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(cases.len(), 1, "shard {i}: {cases:?}");
        assert!(cases_seen.is_disjoint(&cases));
        cases_seen.extend(cases);
        assert_eq!(
            RunManifest::read(&tmp.path().join(format!("s{i}")))
                .unwrap()
                .invocation
                .unwrap()
                .shard,
            Some(format!("{i}/4"))
        );
    }
    let merged = tmp.path().join("merged");
    let out = edgebench()
        .arg("merge")
        .args((1..=4).map(|i| tmp.path().join(format!("s{i}"))))
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pairs(&merged), pairs(&tmp.path().join("whole")));
    assert_eq!(pairs(&merged), expected_pairs());
    let m = RunManifest::read(&merged).unwrap();
    assert_eq!(m.invocation.unwrap().merged_from.len(), 4);
    assert_eq!(m.requests_total, 18);
    let summary_cases: BTreeSet<String> = read_summary(&merged.join("summary.csv"))
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.case_id)
        .collect();
    assert_eq!(summary_cases.len(), 4);

    // Merging a shard twice is refused (duplicate rows), and leaves no half-merged folder.
    let again = tmp.path().join("again");
    let out = edgebench()
        .arg("merge")
        .arg(tmp.path().join("s1"))
        .arg(tmp.path().join("s1"))
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate row"));
    assert!(!again.join("samples.csv").exists());
}

#[test]
fn killed_at_random_moments_and_resumed_loses_and_repeats_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(tmp.path(), "rs.toml", SCENARIO);
    let run = tmp.path().join("kr");
    let bin = assert_cmd::cargo::cargo_bin("edgebench");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261125);
    let mut kills = 0;
    for _ in 0..20 {
        let mut cmd = std::process::Command::new(&bin);
        cmd.current_dir(repo_root()).args(["run", "--quiet"]);
        if !run.join("run.json").exists() {
            cmd.arg(&scenario)
                .arg("--config")
                .arg(&config)
                .arg("--out")
                .arg(tmp.path())
                .args(["--run-id", "kr"]);
        } else {
            cmd.arg("--resume").arg(&run);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill points follow the run's progress, not the clock (a fast machine would finish
        // before enough timed kills landed): a third of the kills early (while the server
        // starts or the first request runs), the rest after 1 or 2 more rows were written.
        let finished = if rng.random_range(0..3) == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(50..800)));
            child.try_wait().unwrap().is_some()
        } else {
            let target = rows_written(&run) + rng.random_range(1..=2);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break true;
                }
                if rows_written(&run) >= target {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        if finished {
            break; // finished before the kill
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert!(kills >= 5, "the kills must land mid-run (got {kills})");
    // Finish it.
    let out = std::process::Command::new(&bin)
        .current_dir(repo_root())
        .args(["run", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = read_samples(&run.join("samples.csv")).unwrap();
    assert!(rows.warnings.is_empty(), "{:?}", rows.warnings);
    assert_eq!(
        pairs(&run),
        expected_pairs(),
        "every (case, repetition) exactly once"
    );
    for r in &rows.rows {
        assert_eq!(r.error_category, None, "{r:?}");
    }
    let text = std::fs::read_to_string(run.join("samples.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap().split(',').count(),
        edgebench::results::schema::SAMPLE_COLUMNS.len()
    );
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    let decode: Vec<_> = summary
        .iter()
        .filter(|r| r.metric == "decode_tok_s")
        .collect();
    assert_eq!(decode.len(), 4, "one summary per case, none twice");
    let m = RunManifest::read(&run).unwrap();
    assert_eq!(m.status, "complete");
    assert!(!m.invocation.unwrap().resumed_at.is_empty());
}

#[test]
fn resume_refuses_a_changed_scenario_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let scenario = write(
        tmp.path(),
        "rs.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 2\n",
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "ch"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    write(
        tmp.path(),
        "rs.toml",
        "kind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 3\n",
    );
    let run = tmp.path().join("ch");
    let out = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed since the run started"));
    // Forced: the finished case stays as it was; nothing is added twice.
    let out = edgebench()
        .args(["run", "--quiet", "--force", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        read_samples(&run.join("samples.csv")).unwrap().rows.len(),
        2
    );
}
