//! `kind = "drift"` on real engines: the in-process llama.cpp engine against itself (two
//! backends on the same Gemma GGUF), llama-server against the in-process engine on the same
//! GGUF, Gemma against Qwen (not comparable), and a reference the config lacks.

use std::path::Path;

use edgebench::results::SummaryRow;
use edgebench::results::drift::read_drift;
use edgebench::results::reader::read_summary;

use crate::common::{COMMAND_TIMEOUT, edgebench, gemma, qwen, run_err, shared_gemma, write};

/// A llamacpp backend entry, one thread and a small context (tests run two at a time on 2 cores).
fn in_process(name: &str, model: &Path) -> String {
    format!(
        "[backends.{name}]\nkind = \"llamacpp\"\nmodel = {:?}\nctx_size = 512\nthreads = 1\n",
        model.display().to_string()
    )
}

const SCENARIO: &str = "kind = \"drift\"\nname = \"drift\"\nreference = \"ref\"\nlengths = [24]\nsequences = 3\nprompts = 2\nprompt_tokens = 12\ncontinuation_tokens = 8\ntop_k = 20\n";

/// Runs the scenario on `backend` with `config`; the run folder and stderr.
fn run(dir: &Path, config: &str, backends: &[&str]) -> (std::path::PathBuf, String) {
    let config = write(dir, "b.toml", config);
    let scenario = write(dir, "drift.toml", SCENARIO);
    let mut cmd = edgebench();
    cmd.args(["run", "--quiet", "--run-id", "d"]);
    for b in backends {
        cmd.args(["--backend", b]);
    }
    let out = cmd
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(dir)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (dir.join("d"), stderr)
}

fn metric<'a>(rows: &'a [SummaryRow], case: &str, name: &str) -> &'a SummaryRow {
    rows.iter()
        .find(|r| r.case_id == case && r.metric == name)
        .unwrap_or_else(|| panic!("no {name} row for {case}: {rows:#?}"))
}

#[test]
fn a_backend_against_itself_gives_zero_kl_and_full_agreement() {
    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        in_process("ref", &gemma()),
        in_process("cand", &gemma())
    );
    // The reference runs first as a backend of its own (skipped: nothing to compare), then
    // the candidate, with the reference connected beside it.
    let (run, _) = run(tmp.path(), &config, &["ref", "cand"]);
    let rows = read_summary(&run.join("summary.csv")).unwrap().rows;
    assert!(rows.iter().all(|r| r.backend == "cand"), "{rows:#?}");
    let kl = metric(&rows, "forced_24", "drift_kl");
    // 3 sequences of 24 tokens: 23 scored positions each.
    assert_eq!(kl.n, 69);
    assert!(kl.max.abs() < 1e-9 && kl.mean.abs() < 1e-9, "{kl:?}");
    assert!(kl.flags.contains("reference=ref"), "{}", kl.flags);
    assert!(kl.flags.contains("candidate_scored=full_logits"));
    assert!(!kl.flags.contains("not_comparable"));
    let agree = metric(&rows, "forced_24", "drift_top1_agreement");
    assert_eq!((agree.mean, agree.n), (1.0, 69));
    let ratio = metric(&rows, "forced_24", "drift_ppl_ratio");
    assert!((ratio.mean - 1.0).abs() < 1e-9, "{ratio:?}");
    let ppl = metric(&rows, "forced_24", "drift_ppl_reference").mean;
    assert!(
        ppl > 1.0 && ppl.is_finite(),
        "a real model's perplexity: {ppl}"
    );
    assert_eq!(metric(&rows, "free", "drift_same_continuation").mean, 1.0);
    let drift = read_drift(&run.join("drift.csv")).unwrap().rows;
    assert_eq!(
        drift.iter().filter(|r| r.case_id == "forced_24").count(),
        69
    );
    assert_eq!(drift.iter().filter(|r| r.case_id == "free").count(), 2);
    assert!(
        drift
            .iter()
            .all(|r| r.reference == "ref" && r.backend == "cand")
    );
}

/// llama-server scores one token at a time over a cached prefix (top-k only), the engine
/// in process scores a whole batch: llama.cpp's kernels differ by batch size, so the two
/// are close but not equal. A position shifted by one, or the wrong distribution, would give
/// a KL of nats and an agreement near zero.
#[test]
fn llama_server_against_in_process_on_the_same_gguf_drifts_little() {
    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[backends.srv]\nkind = \"openai\"\nbase_url = {:?}\nendpoint = \"completions\"\n",
        in_process("ref", &gemma()),
        shared_gemma().base_url()
    );
    let (run, _) = run(tmp.path(), &config, &["srv"]);
    let rows = read_summary(&run.join("summary.csv")).unwrap().rows;
    assert_eq!(metric(&rows, "forced_24", "drift_comparable").mean, 1.0);
    // Top-k from the server: the KL is the shared-support one, and labelled so.
    assert!(!rows.iter().any(|r| r.metric == "drift_kl"));
    let kl = metric(&rows, "forced_24", "drift_kl_top_k");
    assert!(
        kl.flags.contains("candidate_scored=prefix_steps"),
        "{}",
        kl.flags
    );
    assert!(kl.mean >= 0.0 && kl.mean < 0.05, "{kl:?}");
    let agree = metric(&rows, "forced_24", "drift_top1_agreement");
    assert!(agree.mean >= 0.8, "{agree:?}");
    // The server gives the target's own log-probability (forced with a logit bias): a
    // perplexity from every position, close to the engine's.
    let ratio = metric(&rows, "forced_24", "drift_ppl_ratio");
    assert_eq!(ratio.n, 69);
    assert!((ratio.mean - 1.0).abs() < 0.1, "{ratio:?}");
    // The report: a table row per candidate and case, the top-k KL labelled, both figures.
    let report = tmp.path().join("report");
    let out = edgebench()
        .arg("report")
        .arg(&run)
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
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("## Drift against a reference"), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("forced_24") && l.contains("| ref |"))
        .unwrap_or_else(|| panic!("no drift row: {md}"));
    assert!(
        row.contains("KL on the shared top-k") && row.contains("prefix_steps"),
        "{row}"
    );
    assert!(md.contains("median first divergence"));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("<h2>Drift against a reference</h2>"));
    for f in ["drift-kl.svg", "first-divergence.svg"] {
        assert!(report.join(f).is_file(), "{f}");
    }
    let drift = read_drift(&run.join("drift.csv")).unwrap().rows;
    assert!(
        drift
            .iter()
            .filter(|r| r.case_id == "forced_24")
            .all(|r| r.reference_scored == "full_logits" && r.candidate_scored == "prefix_steps")
    );
}

#[test]
fn gemma_against_qwen_is_flagged_not_comparable() {
    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "{}{}",
        in_process("ref", &gemma()),
        in_process("qwen", &qwen())
    );
    let (run, stderr) = run(tmp.path(), &config, &["qwen"]);
    let rows = read_summary(&run.join("summary.csv")).unwrap().rows;
    let c = metric(&rows, "forced_24", "drift_comparable");
    assert_eq!(c.mean, 0.0);
    assert!(c.flags.contains("not_comparable"), "{}", c.flags);
    assert!(
        !rows.iter().any(|r| r.metric.starts_with("drift_kl")
            || r.metric == "drift_top1_agreement"
            || r.metric == "drift_same_continuation"),
        "no drift figure for models that cannot be compared: {rows:#?}"
    );
    assert!(stderr.contains("different model families"), "{stderr}");
    assert!(
        stderr.contains("tokenizes the shared text differently"),
        "{stderr}"
    );
}

#[test]
fn a_reference_missing_from_the_config_is_refused_at_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "b.toml", &in_process("cand", &gemma()));
    let scenario = write(tmp.path(), "drift.toml", SCENARIO);
    let (code, stderr) = run_err(&[
        "run",
        scenario.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--backend",
        "cand",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("drift.toml:3:13:") && stderr.contains("reference backend `ref`"),
        "{stderr}"
    );
}

/// ONNX Runtime scores from full logits too, so any two ONNX builds of one model (the int4
/// build against its fp32 reference) are just another backend pair: here the tiny fixture
/// against itself.
#[test]
fn onnx_scores_full_logits_and_matches_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let model = crate::common::repo_root().join("models/onnx-tiny");
    assert!(model.join("model.onnx").is_file(), "run scripts/setup");
    let entry = |name: &str| {
        format!(
            "[backends.{name}]\nkind = \"onnx\"\nmodel = {:?}\nintra_op_threads = 1\nctx_size = 512\n",
            model.display().to_string()
        )
    };
    let config = format!("{}{}", entry("ref"), entry("cand"));
    let (run, _) = run(tmp.path(), &config, &["cand"]);
    let rows = read_summary(&run.join("summary.csv")).unwrap().rows;
    let kl = metric(&rows, "forced_24", "drift_kl");
    assert!(
        kl.flags.contains("reference_scored=full_logits"),
        "{}",
        kl.flags
    );
    assert!(kl.n > 0 && kl.max.abs() < 1e-9, "{kl:?}");
    assert_eq!(metric(&rows, "forced_24", "drift_top1_agreement").mean, 1.0);
    assert_eq!(metric(&rows, "free", "drift_same_continuation").mean, 1.0);
}
