//! The in-process ONNX Runtime backend on the tiny decoder that scripts/setup writes with
//! scripts/make-onnx-fixture (real ONNX Runtime from the onnxruntime wheel, real graph with
//! attention, RoPE and a KV cache; random weights). Nothing is skipped: a missing library or
//! model fails with what to run.

use std::path::{Path, PathBuf};

use edgebench::backend::onnx::OnnxBackend;
use edgebench::backend::{BackendImpl, Config, Prompt, Request};
use edgebench::results::reader::{read_samples, read_summary};

use crate::common::{gemma, repo_root, run_err, run_ok, write};

fn fixture() -> PathBuf {
    let p = repo_root().join("models/onnx-tiny");
    assert!(
        p.join("model.onnx").is_file(),
        "{} is missing: run scripts/setup",
        p.display()
    );
    p
}

fn library() -> PathBuf {
    let p = repo_root().join(".venv/onnxruntime/libonnxruntime.so.1.31.1");
    assert!(p.is_file(), "{} is missing: run scripts/setup", p.display());
    p
}

/// The fixture on one intra-op thread (tests run two at a time on 2 cores). `library` is left
/// to the default lookup (edgebench runs in the repository root).
fn config(dir: &Path, extra: &str) -> PathBuf {
    write(
        dir,
        "backends.toml",
        &format!(
            "default = \"tiny\"\n[backends.tiny]\nkind = \"onnx\"\nmodel = {:?}\nintra_op_threads = 1\nctx_size = 2048\n{extra}\n",
            fixture().display().to_string()
        ),
    )
}

#[test]
fn greedy_is_deterministic_and_the_kv_cache_matches_a_full_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &format!("library = {:?}", library().display().to_string()),
    );
    let bc = Config::load(&cfg).unwrap().select(&[]).unwrap().remove(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let b = OnnxBackend::connect(&bc).await.unwrap();
        let f = b.facts();
        assert_eq!(f.onnxruntime_version, "1.31.1");
        assert_eq!(f.execution_provider, "CPUExecutionProvider");
        assert_eq!(
            (f.layout.layers, f.layout.kv_heads, f.layout.head_dim),
            (2, 4, 16)
        );
        assert_eq!(f.opset, Some(17));
        assert!(
            f.files_sha256.contains_key("model.onnx")
                && f.files_sha256.contains_key("tokenizer.json")
        );

        // The cache path against re-running the whole sequence, token by token.
        for text in [
            "The quick brown fox",
            "a",
            "edgebench measures tokens per second",
        ] {
            let cached = b.greedy_tokens(text, 8, true).await.unwrap();
            let full = b.greedy_tokens(text, 8, false).await.unwrap();
            assert_eq!(cached, full, "prompt {text:?}");
        }

        // A chat request: exact token counts, one stamped chunk per token, ORT's own run time.
        let prompt = Prompt::user(b.endpoint(), "Hello there, tiny model.".into());
        let n_prompt = b.count_prompt_tokens(&prompt).await.unwrap().unwrap();
        // ChatML: 3 special tokens, then one token per byte of "user\n" + 24 bytes of text +
        // "\n" + "assistant\n".
        assert_eq!(n_prompt, 3 + 5 + 24 + 1 + 10);
        let req = Request {
            prompt,
            max_tokens: 12,
            temperature: 0.0,
            top_p: 1.0,
            seed: Some(1),
            ignore_eos: true,
            allow_prefix_cache: false,
            tools: Default::default(),
        };
        let r = b.generate(&req).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens),
            (Some(n_prompt as u64), Some(12))
        );
        assert_eq!(r.content.len(), 12);
        assert!(r.content[0].at >= r.sent_at);
        assert!(r.content.windows(2).all(|w| w[0].at <= w[1].at));
        let t = r.timings.unwrap();
        assert_eq!(
            (t.prompt_n, t.predicted_n),
            (Some(n_prompt as u64), Some(11))
        );
        assert!(t.prompt_ms.unwrap() > 0.0 && t.predicted_ms.unwrap() > 0.0);
        // Inside session.run is less than the whole decode loop on our clock.
        let loop_ms = (r.content[11].at - r.content[0].at).as_secs_f64() * 1e3;
        assert!(t.predicted_ms.unwrap() <= loop_ms, "{t:?} vs {loop_ms}");
        // Greedy twice: the same text; a seeded sample twice: the same text too.
        assert_eq!(b.generate(&req).await.text, r.text);
        let sampled = Request {
            temperature: 0.8,
            top_p: 0.9,
            seed: Some(5),
            ..req.clone()
        };
        assert_eq!(
            b.generate(&sampled).await.text,
            b.generate(&sampled).await.text
        );
        // A request longer than ctx_size is refused before it runs.
        let long = Request {
            max_tokens: 4096,
            ..req
        };
        let e = b.generate(&long).await.error.unwrap();
        assert!(e.message.contains("ctx_size"), "{e:?}");
    });
}

#[test]
fn throughput_and_pp_tg_rows_have_exact_token_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    let scen = write(
        dir.path(),
        "t.toml",
        "kind = \"throughput\"\nname = \"t\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitions = 2\n",
    );
    run_ok(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "t",
        "--quiet",
    ]);
    let samples = read_samples(&out.join("t/samples.csv")).unwrap().rows;
    assert_eq!(samples.len(), 2);
    for r in &samples {
        assert!(r.error_category.is_none(), "{r:?}");
        assert_eq!(
            (r.prompt_tokens, r.output_tokens),
            (Some(64), Some(16)),
            "{r:?}"
        );
        assert_eq!(
            (r.server_prompt_n, r.server_predicted_n),
            (Some(64), Some(15))
        );
        assert_eq!(r.itl_exact, Some(true));
        assert!(r.decode_tok_s.unwrap() > 0.0 && r.prefill_tok_s.unwrap() > 0.0);
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("t/run.json")).unwrap()).unwrap();
    let onnx = run
        .pointer("/backends/0/onnx")
        .expect("onnx facts in run.json");
    assert_eq!(onnx["onnxruntime_version"], "1.31.1");
    assert_eq!(onnx["opset"], 17);
    assert_eq!(onnx["execution_provider"], "CPUExecutionProvider");
    assert!(
        onnx["build_info"]
            .as_str()
            .unwrap()
            .contains("git-commit-id")
    );
    assert!(
        onnx["library"]
            .as_str()
            .unwrap()
            .ends_with("libonnxruntime.so.1.31.1")
    );
    assert_eq!(
        onnx["files_sha256"]["model.onnx"].as_str().map(str::len),
        Some(64)
    );

    let scen = write(
        dir.path(),
        "p.toml",
        "name = \"pptg\"\nkind = \"throughput\"\nmode = \"pp_tg\"\npp = [32]\ntg = [8]\ndepth = [0, 32]\nwarmup = 1\nrepetitions = 2\n",
    );
    let stdout = run_ok(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "p",
        "--quiet",
    ]);
    assert!(stdout.contains("| tiny | onnx-tiny |"), "{stdout}");
    assert!(
        stdout.contains("ONNX Runtime 1.31.1 (CPU) | 1 | pp32 @ d32 |"),
        "{stdout}"
    );
    let samples = read_samples(&out.join("p/samples.csv")).unwrap().rows;
    let ids: Vec<&str> = samples.iter().map(|r| r.case_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "pp32", "pp32", "tg8", "tg8", "pp32_d32", "pp32_d32", "tg8_d32", "tg8_d32"
        ]
    );
    for r in &samples {
        assert!(r.error_category.is_none(), "{r:?}");
        let n = (r.prompt_tokens.unwrap() + r.output_tokens.unwrap()) as f64;
        assert_eq!(r.test_tok_s.unwrap(), 1e9 * n / r.test_ns.unwrap() as f64);
        let want = if r.case_id.starts_with("pp") {
            (Some(32), Some(0), Some(32), Some(0))
        } else {
            (Some(0), Some(8), Some(0), Some(8))
        };
        assert_eq!(
            (
                r.prompt_tokens,
                r.output_tokens,
                r.server_prompt_n,
                r.server_predicted_n
            ),
            want,
            "{r:?}"
        );
        assert_eq!(
            r.depth,
            Some(if r.case_id.ends_with("_d32") { 32 } else { 0 })
        );
        // ORT's own time is inside the test's time.
        let inside = r.server_prompt_ms.unwrap_or(0.0) + r.server_predicted_ms.unwrap_or(0.0);
        assert!(
            inside > 0.0 && inside * 1e6 <= r.test_ns.unwrap() as f64,
            "{r:?}"
        );
    }
    let summary = read_summary(&out.join("p/summary.csv")).unwrap().rows;
    assert_eq!(
        summary.iter().filter(|r| r.metric == "test_tok_s").count(),
        4
    );
}

#[test]
fn context_scenario_runs_on_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let out = dir.path().join("out");
    let scen = write(
        dir.path(),
        "c.toml",
        "kind = \"context\"\nname = \"ctx\"\nlengths = [512, 1024]\ndepths = [50]\nmax_tokens = 8\nwarmup = 0\n",
    );
    run_ok(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "c",
        "--quiet",
    ]);
    // (The fixture's tokens are bytes, so the needle and its question alone take ~400 tokens:
    // shorter haystacks cannot be exact.)
    let rows = read_samples(&out.join("c/samples.csv")).unwrap().rows;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.error_category, None, "{r:?}");
        let length: u64 = r.case_id.trim_start_matches("ctx").parse().unwrap();
        assert_eq!(
            r.prompt_tokens,
            Some(length - 8),
            "exact in the model's own tokens"
        );
        assert!(r.prefill_tok_s.unwrap() > 0.0);
    }
}

#[test]
fn missing_or_wrong_library_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let scen = write(
        dir.path(),
        "t.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nrepetitions = 1\n",
    );
    let cfg = config(
        dir.path(),
        "library = \"/nonexistent/libonnxruntime.so.1.31.1\"",
    );
    let out = dir.path().join("out1");
    let (code, err) = run_err(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/nonexistent/libonnxruntime.so.1.31.1") && err.contains("does not exist"),
        "{err}"
    );
    // A file that is a shared library but not ONNX Runtime.
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
    .expect("libm");
    let cfg = config(dir.path(), &format!("library = {libm:?}"));
    let out = dir.path().join("out2");
    let (code, err) = run_err(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot load ONNX Runtime") && err.contains("OrtGetApiBase"),
        "{err}"
    );
    // And a file that is not a library at all.
    let junk = write(dir.path(), "libonnxruntime.so", "not a library");
    let cfg = config(
        dir.path(),
        &format!("library = {:?}", junk.display().to_string()),
    );
    let out = dir.path().join("out3");
    let (code, err) = run_err(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot load ONNX Runtime"), "{err}");
}

#[test]
fn a_model_without_decoder_inputs_names_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let bad = repo_root().join("models/onnx-bad-inputs");
    assert!(bad.join("model.onnx").is_file(), "run scripts/setup");
    let cfg = write(
        dir.path(),
        "b.toml",
        &format!(
            "[backends.bad]\nkind = \"onnx\"\nmodel = {:?}\n",
            bad.display().to_string()
        ),
    );
    let scen = write(
        dir.path(),
        "t.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nrepetitions = 1\n",
    );
    let (code, err) = run_err(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--backend",
        "bad",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing input input_ids"), "{err}");
    assert!(err.contains("found inputs: pixel_values"), "{err}");
    // A config mistake is located.
    let cfg = write(
        dir.path(),
        "c.toml",
        &format!(
            "[backends.bad]\nkind = \"onnx\"\nmodel = {:?}\nexecution_provider = \"warp\"\n",
            fixture().display().to_string()
        ),
    );
    let (code, err) = run_err(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("c.toml:4:22: unknown `execution_provider` `warp`"),
        "{err}"
    );
}

#[test]
fn report_shows_onnx_next_to_llamacpp() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "b.toml",
        &format!(
            "[backends.tiny]\nkind = \"onnx\"\nmodel = {:?}\nintra_op_threads = 1\n\n[backends.gemma]\nkind = \"llamacpp\"\nmodel = {:?}\nthreads = 1\nctx_size = 1024\n",
            fixture().display().to_string(),
            gemma().display().to_string()
        ),
    );
    let scen = write(
        dir.path(),
        "t.toml",
        "kind = \"throughput\"\nname = \"t\"\nprompt_tokens = [32]\nmax_tokens = [8]\nrepetitions = 2\n",
    );
    let out = dir.path().join("out");
    run_ok(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "both",
        "--quiet",
        "--backend",
        "gemma",
        "--backend",
        "tiny",
    ]);
    let report = dir.path().join("report");
    run_ok(&[
        "report",
        out.join("both").to_str().unwrap(),
        "-o",
        report.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("/gemma") && md.contains("/tiny"), "{md}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("tiny") && html.contains("gemma"));
}
