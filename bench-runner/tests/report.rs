//! Reports, device comparison and the CI gate, on real runs: every run here is made by the
//! `edgebench` binary against a real llama-server (launched by edgebench from the set-up's
//! `.venv` and `models/`), inside the test. Nothing is mocked and no result file is made up.
//!
//! The runs are made once, one after another (a shared fixture), because parallel runs would
//! slow each other down and turn the A/A test into a test of the machine's load:
//! - `a1`, `a2`: the same build, config and scenario, twice back to back, labelled `devA`
//!   and a hostile `devB<script>…` label;
//! - `slow`: the same server with `--ubatch-size 1` (the prompt is processed one token at a
//!   time instead of in one batch), a genuine and large prefill slowdown.
//!
//! Both servers run on one thread: on a small machine shared with other builds, two llama.cpp
//! threads spin-waiting on each other make speed swing by 2× or more from minute to minute
//! (seen while writing these tests), which no gate can tell from a regression.
//! - `temp`: a scenario of the same name and case, sampled at another temperature, so its
//!   comparability key differs;
//! - `sus`: a sustained scenario (`duration = "8s"`): requests back to back for 8 seconds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::cargo::CommandCargoExt;

const HOSTILE: &str = "devB<script>alert(1)</script>";

struct Runs {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Runs {
    fn run(&self, id: &str) -> PathBuf {
        self.root.join("results").join(id)
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn edgebench() -> Command {
    Command::cargo_bin("edgebench").expect("edgebench binary")
}

const SCENARIO: &str = r#"
name = "rep"
description = "two prompt lengths, one and two streams: every chart kind has data"
kind = "throughput"
prompt_tokens = [32, 96]
max_tokens = [8]
concurrency = [1, 2]
warmup = 1
repetitions = 4
seed = 7
temperature = 0.0
top_p = 1.0
ignore_eos = true
"#;

/// Sustained: one stream sending back to back for a few seconds.
const SCENARIO_SUSTAINED: &str = r#"
name = "sus"
kind = "throughput"
prompt_tokens = [32]
max_tokens = [8]
concurrency = [1]
warmup = 1
duration = "8s"
"#;

/// Same name and first case as SCENARIO, other sampling: not like for like.
const SCENARIO_TEMP: &str = r#"
name = "rep"
kind = "throughput"
prompt_tokens = [32]
max_tokens = [8]
concurrency = [1]
warmup = 1
repetitions = 3
seed = 7
temperature = 0.7
top_p = 0.9
ignore_eos = true
"#;

fn backends_toml(root: &Path) -> String {
    let server = root.join(".venv/llama-bin/llama-server");
    let model = root.join("models/gemma-3-270m-q4_k_m.gguf");
    let entry = |name: &str, extra: &str| {
        format!(
            r#"
[backends.{name}]
kind = "openai"
base_url = "http://127.0.0.1:{{port}}/v1"
endpoint = "chat"

[backends.{name}.launch]
command = "{}"
model = "{}"
args = ["-m", "{{model}}", "--host", "127.0.0.1", "--port", "{{port}}", "-c", "2048", "-np", "2", "--jinja", "--no-webui",
        "--threads", "1", "--threads-batch", "1"{extra}]
health_url = "http://127.0.0.1:{{port}}/health"
startup_timeout_s = 180
"#,
            server.display(),
            model.display()
        )
    };
    format!(
        "default = \"llama-server\"\n{}{}",
        entry("llama-server", ""),
        entry("llama-server-slow", r#", "--ubatch-size", "1""#)
    )
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let root = repo_root();
        assert!(
            root.join(".venv/llama-bin/llama-server").exists()
                && root.join("models/gemma-3-270m-q4_k_m.gguf").exists(),
            "run scripts/setup first: llama-server and the Gemma model are needed"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_path_buf();
        std::fs::write(d.join("backends.toml"), backends_toml(&root)).expect("write config");
        std::fs::write(d.join("rep.toml"), SCENARIO).expect("write scenario");
        std::fs::write(d.join("rep-temp.toml"), SCENARIO_TEMP).expect("write scenario");
        std::fs::write(d.join("sus.toml"), SCENARIO_SUSTAINED).expect("write scenario");
        let plan: [(&str, &str, &str, &str); 5] = [
            ("a1", "rep.toml", "llama-server", "devA"),
            ("a2", "rep.toml", "llama-server", HOSTILE),
            ("slow", "rep.toml", "llama-server-slow", "devA"),
            ("temp", "rep-temp.toml", "llama-server", "devC"),
            ("sus", "sus.toml", "llama-server", "devA"),
        ];
        for (id, scenario, backend, label) in plan {
            // The sustained run also probes memory bandwidth, for the roofline table.
            let extra: &[&str] = if id == "sus" { &["--probe"] } else { &[] };
            make_run(&d, id, scenario, backend, label, extra);
        }
        Runs { _dir: dir, root: d }
    })
}

/// One `edgebench run` in the fixture folder `d`.
fn make_run(d: &Path, id: &str, scenario: &str, backend: &str, label: &str, extra: &[&str]) {
    let out = edgebench()
        .current_dir(d)
        .args([
            "run",
            scenario,
            "--config",
            "backends.toml",
            "--backend",
            backend,
            "--run-id",
            id,
            "--out",
            "results",
            "--label",
            label,
            "--quiet",
        ])
        .args(extra)
        .output()
        .expect("spawn edgebench run");
    assert!(
        out.status.success(),
        "run {id} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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

/// The A/A guard on fresh runs: two more runs of the same build, interleaved with a1 and a2
/// (baseline a1 + a3, candidate a2 + a4), must not be judged regressed at 5%.
///
/// Ignored by default: on the shared 2-core development machine, where other sessions'
/// builds come and go (load average ~10), two runs of one build drift apart by 20–40% within
/// minutes, and no gate fed with one or two runs per side can tell that from a regression
/// (single pairs: 9 of 12 judgements falsely regressed in one fixture, 0 in others; 2-vs-2:
/// 1 of 12 once). Run it on a quiet machine with `cargo test -- --ignored`. The A/A guard
/// of the default suite is `stored_aa_runs_are_not_judged_regressed`, on stored real runs.
#[test]
#[ignore = "needs a quiet machine: run-to-run drift on a shared box is a real (not a code) difference"]
fn aa_compare_of_fresh_repeated_runs_is_not_a_regression() {
    let r = runs();
    make_run(&r.root, "a3", "rep.toml", "llama-server", "devA", &[]);
    make_run(&r.root, "a4", "rep.toml", "llama-server", HOSTILE, &[]);
    let (_, single, _) = compare(&r.run("a1"), &r.run("a2"), &["--threshold", "5%"]);
    println!("single A/A pair, for the record:\n{single}");
    let out = edgebench()
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["compare", "--threshold", "5%", "--baseline"])
        .arg(r.run("a1"))
        .arg(r.run("a3"))
        .arg("--candidate")
        .arg(r.run("a2"))
        .arg(r.run("a4"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "A/A must not fail the gate:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("**regressed**"), "{stdout}");
    // Every case × default metric was judged, on both runs of each side: 4 cases × 3 metrics.
    let judged: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| llama-server / rep / "))
        .collect();
    assert_eq!(judged.len(), 12, "{stdout}");
    assert!(
        judged
            .iter()
            .all(|l| l.contains("(n=8)") || l.contains("(n=16)")),
        "{stdout}"
    );
}

/// A/A of two fresh real runs through the binary: whatever the machine's drift, the gate's
/// plumbing holds: every case × metric is judged, the verdict count adds up, the exit code
/// follows the verdicts (0 unless something is judged regressed), and a run compared with
/// itself is exactly ×1.000 and within noise.
#[test]
fn aa_compare_of_two_real_runs_judges_every_case_and_exit_code_follows_verdicts() {
    let r = runs();
    let (code, stdout, stderr) = compare(&r.run("a1"), &r.run("a2"), &["--threshold", "5%"]);
    println!("{stdout}");
    let judged: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| llama-server / rep / "))
        .collect();
    assert_eq!(judged.len(), 12, "{stdout}\n{stderr}");
    let regressed = judged
        .iter()
        .filter(|l| l.contains("**regressed**"))
        .count();
    assert_eq!(code, i32::from(regressed > 0), "{stdout}");
    let (code, stdout, _) = compare(&r.run("a1"), &r.run("a1"), &["--threshold", "5%"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout.matches("| within noise |").count(), 12, "{stdout}");
    assert_eq!(stdout.matches("×1.000").count(), 12, "{stdout}");
}

#[test]
fn slower_candidate_is_regressed_with_exit_1_summary_and_junit() {
    let r = runs();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = edgebench()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("compare")
        .arg("--baseline")
        .arg(r.run("a1"))
        .arg("--candidate")
        .arg(r.run("slow"))
        .args(["--metric", "prefill_tok_s,ttft_ms", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The prompt processed one token at a time: the handicap grows with the prompt, so the
    // 96-token case regresses clearly whatever else runs on the machine (×0.4–0.6 prefill, also
    // beside a CPU hog), while the 32-token case's ×0.6–0.8 can sink into the noise of a loaded
    // machine: it must not look better, but only the long prompt must be judged regressed.
    for metric in ["prefill_tok_s", "ttft_ms"] {
        let line_of = |case: &str| {
            stdout
                .lines()
                .find(|l| l.contains(case) && l.contains(metric))
                .unwrap_or_else(|| panic!("no {case} {metric}:\n{stdout}"))
                .to_string()
        };
        let long = line_of("pp96_tg8_c1");
        assert!(long.contains("**regressed**"), "{long}");
        let short = line_of("pp32_tg8_c1");
        assert!(!short.contains("improved"), "{short}");
    }
    // The backends are named differently: cases pair by scenario and case, and say so.
    assert!(
        stdout.contains("llama-server → llama-server-slow"),
        "{stdout}"
    );
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert!(
        appended.starts_with("earlier step\n") && appended.contains("## edgebench compare"),
        "{appended}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.trim_end().ends_with("</testsuites>"),
        "{xml}"
    );
    assert!(
        xml.contains(r#"tests="8""#) && xml.matches("<failure ").count() >= 4,
        "{xml}"
    );
    assert_eq!(
        xml.matches("<failure ").count(),
        stdout.matches("**regressed**").count(),
        "{xml}"
    );

    // The same pair the other way round is an improvement.
    let (_, stdout, _) = compare(&r.run("slow"), &r.run("a1"), &["--metric", "prefill_tok_s"]);
    for (case, expected) in [("pp96_tg8_c1", true), ("pp32_tg8_c1", false)] {
        let line = stdout
            .lines()
            .find(|l| l.contains(case))
            .unwrap_or_else(|| panic!("no {case}:\n{stdout}"));
        if expected {
            assert!(line.contains("✅ improved"), "{line}");
        } else {
            assert!(!line.contains("regressed"), "{line}");
        }
    }
}

#[test]
fn compare_refuses_bad_input_with_exit_2() {
    let r = runs();
    let (code, _, stderr) = compare(&r.run("a1"), &r.root.join("no-such-run"), &[]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = compare(&r.run("a1"), &r.run("a2"), &["--threshold", "lots"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = compare(&r.run("a1"), &r.run("a2"), &["--metric", "vibes"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown metric"), "{stderr}");
}

#[test]
fn report_of_two_devices_has_pivot_ratios_charts_and_escapes_hostile_labels() {
    let r = runs();
    let out_dir = tempfile::tempdir().unwrap();
    let out = edgebench()
        .arg("report")
        .arg(r.run("a1"))
        .arg(r.run("a2"))
        .arg("-o")
        .arg(out_dir.path())
        .args(["--reference", "devA"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();

    // The pivot: both devices as columns, the reference marked, a ratio with its CI per case.
    assert!(md.contains("devA/llama-server (reference)"), "{md}");
    let escaped = "devB&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(md.contains(escaped), "{md}");
    for case in ["pp32_tg8_c1", "pp32_tg8_c2", "pp96_tg8_c1", "pp96_tg8_c2"] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| rep / {case} |")))
            .unwrap_or_else(|| panic!("no pivot row for {case}:\n{md}"));
        assert!(row.contains("<br>×") && row.contains('['), "{row}");
    }
    // Same model, template, sampling and scenario: no like-for-like warning.
    assert!(!md.contains("Not like for like"), "{md}");

    // Hostile strings never reach the page as markup: not in the tables, not in the SVGs.
    assert!(
        !html.contains("<script"),
        "unescaped script tag in report.html"
    );
    assert!(!md.contains("<script"), "unescaped script tag in report.md");
    assert!(html.contains(escaped));

    // One self-contained page: no external assets, no scripts, balanced structure.
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for external in ["src=\"http", "href=\"http", "<link", "@import", "url("] {
        assert!(
            !html.contains(external),
            "external asset `{external}` in report.html"
        );
    }
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );
    assert!(html.contains("name=\"viewport\""));

    // Every chart kind of a throughput run is there, each with what/on what/how many (speed
    // over time is for sustained runs: see its own test).
    for id in [
        "decode-tok-s",
        "prefill-tok-s",
        "ttft-distribution",
        "itl-distribution",
        "decode-tok-s-vs-prompt",
        "prefill-tok-s-vs-prompt",
        "output-tok-s-vs-concurrency",
        "throughput-latency",
    ] {
        assert!(
            html.contains(&format!("id=\"fig-{id}\"")),
            "figure {id} missing from report.html"
        );
        let svg = std::fs::read_to_string(out_dir.path().join(format!("{id}.svg")))
            .unwrap_or_else(|_| panic!("{id}.svg missing"));
        assert!(
            svg.contains("<svg") && svg.contains("<text"),
            "{id}.svg has no text"
        );
        assert!(
            md.contains(&format!("]({id}.svg)")),
            "{id} not linked from report.md"
        );
    }
    for caption in html.split("<figcaption>").skip(1) {
        let caption = caption.split("</figcaption>").next().unwrap_or_default();
        assert!(
            caption.contains("What:") && caption.contains("On:") && caption.contains("n = "),
            "{caption}"
        );
    }
}

#[test]
fn report_warns_when_results_are_not_like_for_like() {
    let r = runs();
    let out_dir = tempfile::tempdir().unwrap();
    let out = edgebench()
        .arg("report")
        .arg(r.run("a1"))
        .arg(r.run("temp"))
        .arg("-o")
        .arg(out_dir.path())
        .args(["--reference", "devA/llama-server"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not like for like"), "{stderr}");
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    assert!(md.contains("Not like for like"), "{md}");
    assert!(
        md.contains("sampling settings differ") && md.contains("scenario file hash differs"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.starts_with("| rep / pp32_tg8_c1 |"))
        .expect("pivot row");
    assert!(row.contains('⚠'), "{row}");
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("sampling settings differ"));
}

#[test]
fn report_reads_csv_files_and_folders_of_runs() {
    let r = runs();
    let out_dir = tempfile::tempdir().unwrap();
    // A folder of run folders, and one samples.csv given on its own (read once, not twice).
    let out = edgebench()
        .arg("report")
        .arg(r.root.join("results"))
        .arg(r.run("a1").join("samples.csv"))
        .arg("-o")
        .arg(out_dir.path())
        .args(["--metric", "decode_tok_s", "--reference", "a1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report of 5 series"), "{stdout}");
    // An ambiguous reference is refused with the choices, exit 2.
    let out = edgebench()
        .arg("report")
        .arg(r.root.join("results"))
        .arg("-o")
        .arg(out_dir.path())
        .args(["--reference", "devA"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names 3 series"));
}

#[test]
fn sustained_run_has_time_slices_and_a_throttle_ratio() {
    let r = runs();
    let samples = std::fs::read_to_string(r.run("sus").join("samples.csv")).unwrap();
    let rows = samples.lines().count() - 1;
    assert!(
        rows >= 4,
        "a sustained run of 8 s should hold several requests, got {rows}"
    );
    assert!(samples.contains("pp32_tg8_c1_8s"));
    let out_dir = tempfile::tempdir().unwrap();
    let out = edgebench()
        .arg("report")
        .arg(r.run("sus"))
        .arg("-o")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(out_dir.path().join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| devA/llama-server | sus / pp32_tg8_c1_8s |"))
        .unwrap_or_else(|| panic!("no speed-over-time row:\n{md}"));
    // | series | case | requests | span s | slice s | first | last | throttle ratio |
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let span: f64 = cells[4].parse().unwrap();
    let ratio: f64 = cells[8]
        .parse()
        .unwrap_or_else(|_| panic!("no throttle ratio in {row}"));
    assert!(span > 4.0 && span < 30.0, "{row}");
    assert!(ratio > 0.2 && ratio < 5.0, "{row}");
    assert!(md.contains("](over-time-1.svg)"), "{md}");
    // Probed bandwidth: decode as a share of the bandwidth bound.
    let roof = md
        .lines()
        .find(|l| l.starts_with("| devA/llama-server | sus / pp32_tg8_c1_8s | 241."))
        .unwrap_or_else(|| panic!("no roofline row:\n{md}"));
    let percent: f64 = roof
        .split('|')
        .nth(7)
        .unwrap_or_default()
        .trim()
        .trim_end_matches('%')
        .parse()
        .unwrap_or_else(|_| panic!("{roof}"));
    assert!(percent > 0.0 && percent < 150.0, "{roof}");
    let html = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"fig-over-time-1\""));
}

/// The stored A/A runs (`results/reference/aa-rep`, real runs of one build, see its README):
/// neither the interleaved 2-vs-2 comparison nor any consecutive pair is judged regressed.
/// The bootstrap is seeded, so these verdicts are fixed for the stored data.
#[test]
fn stored_aa_runs_are_not_judged_regressed() {
    let dir = repo_root().join("results/reference/aa-rep");
    let run = |id: &str| dir.join(id);
    let out = edgebench()
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["compare", "--baseline"])
        .arg(run("a1"))
        .arg(run("a3"))
        .arg("--candidate")
        .arg(run("a2"))
        .arg(run("a4"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("0 regressed") && stdout.contains("12 within noise"),
        "{stdout}"
    );
    for (a, b) in [("a1", "a2"), ("a2", "a3"), ("a3", "a4")] {
        let (code, stdout, _) = compare(&run(a), &run(b), &[]);
        assert_eq!(code, 0, "{a} → {b}:\n{stdout}");
        assert!(!stdout.contains("**regressed**"), "{a} → {b}:\n{stdout}");
    }
}
