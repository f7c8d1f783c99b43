//! Runs that recover: `--resume --retry-failed` after a server died, resume of tool-call,
//! structured and multimodal scenarios, Ctrl-C that says how to finish, unique default ids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use edgebench::results::RunManifest;
use edgebench::results::items::read_items;
use edgebench::results::reader::{read_samples, read_summary};

use crate::common::*;

fn attempts(run: &Path) -> Vec<edgebench::results::SampleRow> {
    read_samples(&run.join("attempts.csv")).unwrap().rows
}

/// Each (case, metric) at most once in summary.csv.
fn assert_no_duplicate_summaries(run: &Path) {
    let mut seen = BTreeSet::new();
    for r in read_summary(&run.join("summary.csv")).unwrap().rows {
        assert!(
            seen.insert((r.scenario.clone(), r.case_id.clone(), r.metric.clone())),
            "summary row twice: {} {} {}",
            r.scenario,
            r.case_id,
            r.metric
        );
    }
}

/// Writes `rows` as the whole of a results file (to make the state a kill leaves).
fn rewrite<T: serde::Serialize>(path: &Path, columns: &[&str], rows: &[T]) {
    std::fs::remove_file(path).unwrap();
    let mut w = edgebench::results::CsvAppender::open(path, columns).unwrap();
    w.append_all(rows).unwrap();
}

fn resume(run: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(run)
        .args(extra)
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The server dies mid-run: the run ends `complete_with_errors`; a plain resume keeps the
/// failed rows; `--retry-failed` against a fresh server sends them again, the new rows
/// replace them in samples.csv and summary.csv, and attempts.csv keeps the failed ones.
#[test]
fn server_death_then_resume_retry_failed_completes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    // No restarts: the launch table is the file's last, so a line appended lands in it.
    let text = std::fs::read_to_string(&config).unwrap() + "max_restarts = 0\n";
    std::fs::write(&config, text).unwrap();
    let reps = 30usize;
    let scenario = write(
        tmp.path(),
        "die.toml",
        &format!(
            "kind = \"throughput\"\nname = \"die\"\nprompt_tokens = [32]\nmax_tokens = [16]\nconcurrency = [1]\nwarmup = 0\nrepetitions = {reps}\n"
        ),
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .current_dir(repo_root())
        .args(["run", "--quiet", "--run-id", "dead"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = tmp.path().join("dead");
    wait_for_lines(&run, 4, Duration::from_secs(180));
    let pid = launched_pid(&run);
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "edgebench run --resume {} --retry-failed",
            run.display()
        )),
        "{stderr}"
    );
    let samples = read_samples(&run.join("samples.csv")).unwrap().rows;
    assert_eq!(samples.len(), reps);
    let failed: Vec<_> = samples
        .iter()
        .filter(|r| r.error_category.is_some())
        .cloned()
        .collect();
    assert!(!failed.is_empty(), "the kill must land mid-run");
    let m = RunManifest::read(&run).unwrap();
    assert_eq!(m.status, "complete_with_errors");
    assert_eq!(m.requests_failed, failed.len());

    // A plain resume has nothing left to run: the failed rows stay, and so does the status.
    let (code, _, stderr) = resume(&run, &[]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        RunManifest::read(&run).unwrap().status,
        "complete_with_errors"
    );
    assert_eq!(
        read_samples(&run.join("samples.csv")).unwrap().rows,
        samples
    );
    assert!(!run.join("attempts.csv").exists());

    // --retry-failed: the server is launched again and only the failed requests are sent.
    let (code, _, stderr) = resume(&run, &["--retry-failed"]);
    assert_eq!(code, Some(0), "{stderr}");
    let after = read_samples(&run.join("samples.csv")).unwrap().rows;
    assert_eq!(after.len(), reps, "one row per request");
    assert!(after.iter().all(|r| r.error_category.is_none()));
    let reps_seen: BTreeSet<u32> = after.iter().map(|r| r.repetition).collect();
    assert_eq!(
        reps_seen,
        (0..reps as u32).collect(),
        "each repetition once"
    );
    // The rows measured before the death are kept as they were.
    for ok in samples.iter().filter(|r| r.error_category.is_none()) {
        assert!(
            after
                .iter()
                .any(|a| a.started_at == ok.started_at && a.ttft_ms == ok.ttft_ms),
            "{ok:?}"
        );
    }
    assert_eq!(attempts(&run), failed, "the failed attempts are kept");
    assert_no_duplicate_summaries(&run);
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    let decode = summary
        .iter()
        .find(|r| r.metric == "decode_tok_s")
        .expect("decode_tok_s summary");
    assert_eq!(decode.n, reps);
    assert_eq!(decode.errors, 0);
    let m = RunManifest::read(&run).unwrap();
    assert_eq!(m.status, "complete");
    assert_eq!(m.requests_failed, 0);
    assert_eq!(m.requests_total, reps);
}

/// A tool-call and a structured scenario on the replay backend, whose transcripts file is
/// made by the test.
struct ReplaySetup {
    dir: PathBuf,
    config: PathBuf,
    scenarios: Vec<PathBuf>,
    transcripts: PathBuf,
}

fn replay_setup(dir: &Path) -> ReplaySetup {
    let data = repo_root().join("scenarios/data");
    let keep = ["simple_weather_paris", "multiple_stock", "agent_calc"];
    let suite: String = std::fs::read_to_string(data.join("tool_suite.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("{\"define\"")
                || keep
                    .iter()
                    .any(|id| l.contains(&format!("\"id\": \"{id}\"")))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write(dir, "suite.jsonl", &suite);
    let scenarios = vec![
        write(
            dir,
            "tools.toml",
            "name = \"tools\"\nkind = \"tool_calls\"\nsuites = [\"suite.jsonl\"]\nmode = [\"native\", \"prompt\"]\nmax_tokens = 32\n",
        ),
        write(
            dir,
            "structured.toml",
            &format!(
                "name = \"structured\"\nkind = \"structured\"\nsuite = {:?}\nlimit = 2\nmax_tokens = 32\n",
                data.join("structured.jsonl").display().to_string()
            ),
        ),
    ];
    // To start with, the recording answers nothing these scenarios ask.
    let transcripts = write(
        dir,
        "transcripts.jsonl",
        "{\"key\": \"none/none/none/0\", \"backend\": \"rec\", \"model\": \"m\", \"text\": \"x\", \"finish_reason\": \"stop\", \"prompt_tokens\": 5, \"output_tokens\": 1, \"ttft_ms\": 10.0, \"e2e_ms\": 12.0, \"error_category\": null, \"error_message\": null}\n",
    );
    let config = write(
        dir,
        "replay.toml",
        "default = \"replay\"\n[backends.replay]\nkind = \"replay\"\nfile = \"transcripts.jsonl\"\nsource_backend = \"rec\"\n",
    );
    ReplaySetup {
        dir: dir.to_path_buf(),
        config,
        scenarios,
        transcripts,
    }
}

impl ReplaySetup {
    fn run(&self, run_id: Option<&str>) -> std::process::Output {
        let mut c = edgebench();
        c.args(["run", "--quiet"])
            .args(&self.scenarios)
            .arg("--config")
            .arg(&self.config)
            .arg("--out")
            .arg(&self.dir);
        if let Some(id) = run_id {
            c.args(["--run-id", id]);
        }
        c.timeout(Duration::from_secs(300)).output().unwrap()
    }

    /// Records an answer for every request that found none (read from the error rows).
    fn record_missing(&self, run: &Path) -> usize {
        let mut text = std::fs::read_to_string(&self.transcripts).unwrap();
        let mut n = 0;
        for r in read_samples(&run.join("samples.csv")).unwrap().rows {
            let Some(msg) = r.error_message else { continue };
            let Some(key) = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("no recorded response"))
            else {
                continue;
            };
            text.push_str(&format!(
                "{{\"key\": {key:?}, \"backend\": \"rec\", \"model\": \"m\", \"text\": \"42\", \"finish_reason\": \"stop\", \"prompt_tokens\": 20, \"output_tokens\": 1, \"ttft_ms\": 10.0, \"e2e_ms\": 12.0, \"error_category\": null, \"error_message\": null}}\n"
            ));
            n += 1;
        }
        std::fs::write(&self.transcripts, text).unwrap();
        n
    }
}

fn item_counts(run: &Path) -> BTreeMap<(String, String, String), usize> {
    let mut m = BTreeMap::new();
    for r in read_items(&run.join("items.csv")).unwrap().rows {
        *m.entry((r.scenario, r.case_id, r.item_id)).or_insert(0) += 1;
    }
    m
}

/// Tool-call and structured scenarios resume: failed items are sent again with
/// `--retry-failed`, and an item cut short by a kill is sent again by a plain resume.
#[test]
fn tool_and_structured_scenarios_resume_and_retry_failed_items() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = replay_setup(tmp.path());
    let out = setup.run(Some("tools"));
    let run = tmp.path().join("tools");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = read_samples(&run.join("samples.csv")).unwrap().rows;
    assert!(first.iter().all(|r| r.error_category.is_some()));
    assert_eq!(
        RunManifest::read(&run).unwrap().status,
        "complete_with_errors"
    );
    let items_before = item_counts(&run);
    // 3 items × 2 modes + 2 items × 2 (constrained, unconstrained).
    assert_eq!(items_before.len(), 10, "{items_before:?}");

    // The recording now answers every request: the failed items are sent again.
    assert_eq!(setup.record_missing(&run), first.len());
    let (code, _, stderr) = resume(&run, &["--retry-failed"]);
    assert_eq!(code, Some(0), "{stderr}");
    let after = read_samples(&run.join("samples.csv")).unwrap().rows;
    assert_eq!(after.len(), first.len(), "one row per request");
    assert!(
        after.iter().all(|r| r.error_category.is_none()),
        "{after:?}"
    );
    assert_eq!(attempts(&run), first, "the failed attempts are kept");
    let items = item_counts(&run);
    assert_eq!(
        items.keys().collect::<Vec<_>>(),
        items_before.keys().collect::<Vec<_>>()
    );
    assert!(items.values().all(|&n| n == 1), "{items:?}");
    assert!(
        read_items(&run.join("items.csv"))
            .unwrap()
            .rows
            .iter()
            .all(|r| r.failure_category.as_deref() != Some("server_error"))
    );
    assert_no_duplicate_summaries(&run);
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    assert!(summary.iter().all(|r| r.errors == 0));
    let cases: BTreeSet<(String, String)> = summary
        .iter()
        .map(|r| (r.scenario.clone(), r.case_id.clone()))
        .collect();
    assert_eq!(cases.len(), 4, "{cases:?}");
    assert_eq!(RunManifest::read(&run).unwrap().status, "complete");

    // The state a kill leaves between an item's request and its items.csv row: the last
    // item's row and its case's summary are missing. A plain resume sends that item again.
    let mut rows = read_items(&run.join("items.csv")).unwrap().rows;
    let last = rows.pop().unwrap();
    let last_case = (last.scenario, last.case_id);
    rewrite(
        &run.join("items.csv"),
        edgebench::results::items::ITEM_COLUMNS,
        &rows,
    );
    let summary_text = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    let kept: Vec<&str> = summary_text
        .lines()
        .filter(|l| !l.contains(&format!(",{},", last_case.1)))
        .collect();
    assert!(kept.len() < summary_text.lines().count());
    std::fs::write(run.join("summary.csv"), kept.join("\n") + "\n").unwrap();
    let (code, _, stderr) = resume(&run, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(item_counts(&run), items, "every item exactly once again");
    assert_eq!(
        read_samples(&run.join("samples.csv")).unwrap().rows.len(),
        first.len()
    );
    assert_eq!(
        attempts(&run).len(),
        first.len() + 1,
        "the cut item's request"
    );
    assert_no_duplicate_summaries(&run);
    let cases_again: BTreeSet<(String, String)> = read_summary(&run.join("summary.csv"))
        .unwrap()
        .rows
        .iter()
        .map(|r| (r.scenario.clone(), r.case_id.clone()))
        .collect();
    assert_eq!(cases_again, cases);
}

/// Two runs started back to back with default run ids both run, each in its own folder.
#[test]
fn default_run_ids_are_unique_back_to_back() {
    let tmp = tempfile::tempdir().unwrap();
    let setup = replay_setup(tmp.path());
    let first = setup.run(Some("seed"));
    assert_eq!(first.status.code(), Some(3));
    setup.record_missing(&tmp.path().join("seed"));
    for _ in 0..3 {
        let out = setup.run(None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut ids: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path().join("samples.csv").exists() && name != "seed").then_some(name)
        })
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{ids:?}");
    // Sortable by start time: the runs' start times are in the order of their ids.
    let started: Vec<String> = ids
        .iter()
        .map(|id| RunManifest::read(&tmp.path().join(id)).unwrap().started_at)
        .collect();
    let mut sorted = started.clone();
    sorted.sort();
    assert_eq!(started, sorted);
}

/// Ctrl-C prints the table of the cases finished so far and the command that finishes the
/// run, and exits 130.
#[test]
fn ctrl_c_prints_the_partial_table_and_the_resume_command() {
    let tmp = tempfile::tempdir().unwrap();
    let config = llama_server_config(tmp.path(), "", &[]);
    let short = write(
        tmp.path(),
        "short.toml",
        "kind = \"throughput\"\nname = \"short\"\nprompt_tokens = [32]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 2\n",
    );
    let long = write(
        tmp.path(),
        "long.toml",
        "kind = \"throughput\"\nname = \"long\"\nprompt_tokens = [48]\nmax_tokens = [16]\nwarmup = 0\nrepetitions = 200\n",
    );
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .current_dir(repo_root())
        .args(["run", "--quiet", "--run-id", "int"])
        .arg(&short)
        .arg(&long)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = tmp.path().join("int");
    // The short scenario's 2 rows and a first row of the long one.
    wait_for_lines(&run, 4, Duration::from_secs(180));
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("edgebench run --resume {}", run.display())),
        "{stderr}"
    );
    // The finished case is in the table; the interrupted one is not.
    let table_rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert!(
        table_rows.iter().any(|l| l.contains("pp32_tg4_c1")),
        "{stdout}"
    );
    assert!(!stdout.contains("pp48_tg16_c1"), "{stdout}");
    assert_eq!(RunManifest::read(&run).unwrap().status, "interrupted");
}

/// A multimodal scenario resumes by item: the state a kill leaves after an item's request
/// but before its media.csv row (and the case's summary) is finished by a plain resume,
/// with every item once.
#[test]
fn multimodal_scenario_resumes_by_item() {
    let tmp = tempfile::tempdir().unwrap();
    // The tiny VLM without its projector: every media request is `unsupported_modality`
    // (a finding, not a failure), which is quick and needs no vision model.
    let model = repo_root().join("models/tiny-vlm.gguf");
    assert!(
        model.exists(),
        "{} missing: run scripts/setup",
        model.display()
    );
    let config = write(
        tmp.path(),
        "backends.toml",
        &format!(
            "default = \"vlm\"\n[backends.vlm]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{{port}}/v1\"\n[backends.vlm.launch]\ncommand = {:?}\nmodel = {:?}\nargs = [\"-m\", \"{{model}}\", \"--host\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"-c\", \"4096\", \"-np\", \"1\", \"-t\", \"1\", \"--jinja\", \"--no-webui\"]\nstartup_timeout_s = 120\n",
            llama_server().display().to_string(),
            model.display().to_string()
        ),
    );
    let mm = write(
        tmp.path(),
        "mm.toml",
        "kind = \"multimodal\"\nname = \"mm\"\nimage_sizes = [224]\nimages_per_request = [1]\naudio_seconds = [5]\naudio_task = \"tones\"\nitems = 2\nmax_tokens = 4\n",
    );
    let out = edgebench()
        .args(["run", "--quiet", "--run-id", "mm"])
        .arg(&mm)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("mm");
    let media_items = |run: &Path| -> BTreeMap<(String, u32), usize> {
        let mut m = BTreeMap::new();
        for r in edgebench::results::media::read_media(&run.join("media.csv"))
            .unwrap()
            .rows
        {
            *m.entry((r.case_id, r.item)).or_insert(0) += 1;
        }
        m
    };
    let before = media_items(&run);
    assert_eq!(before.len(), 4, "{before:?}");
    let n_samples = read_samples(&run.join("samples.csv")).unwrap().rows.len();

    // The case of the last item written (the one the simulated kill cuts).
    let mut rows = edgebench::results::media::read_media(&run.join("media.csv"))
        .unwrap()
        .rows;
    let last_case = rows.pop().unwrap().case_id;
    rewrite(
        &run.join("media.csv"),
        edgebench::results::media::MEDIA_COLUMNS,
        &rows,
    );
    let summary_text = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    let kept: Vec<&str> = summary_text
        .lines()
        .filter(|l| !l.contains(&format!(",{last_case},")))
        .collect();
    std::fs::write(run.join("summary.csv"), kept.join("\n") + "\n").unwrap();

    let (code, _, stderr) = resume(&run, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(media_items(&run), before, "every item exactly once");
    assert_eq!(
        read_samples(&run.join("samples.csv")).unwrap().rows.len(),
        n_samples
    );
    assert_eq!(attempts(&run).len(), 1, "the cut item's request");
    assert_no_duplicate_summaries(&run);
    assert_eq!(RunManifest::read(&run).unwrap().status, "complete");
}
