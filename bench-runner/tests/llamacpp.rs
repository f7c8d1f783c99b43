//! The in-process llama.cpp backend on the real Gemma 3 270M model, the same llama-bench-style
//! scenario on it and on a launched llama-server, and `edgebench import llama-bench` on files
//! made by the llama-bench that scripts/build-llama-bench builds from the vendored sources.
//! Nothing is skipped: a missing model or binary fails with what to run.

use std::path::{Path, PathBuf};
use std::process::Command;

use edgebench::backend::llamacpp::LlamaCppBackend;
use edgebench::backend::{BackendImpl, Config, Prompt, Request};
use edgebench::results::{SampleRow, SummaryRow};
use edgebench::workload::prompt;

use crate::common::{gemma, llama_bench, llama_server, rows, run_ok, write};

const GEMMA_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// A backend config with the in-process backend and a one-slot llama-server on the same
/// model, one thread each: tests run two at a time on a 2-core machine, and llama.cpp's
/// spinning threads slow down many-fold when they outnumber the cores.
fn config(dir: &Path) -> PathBuf {
    let text = format!(
        r#"default = "gemma"

[backends.gemma]
kind = "llamacpp"
model = "{model}"
threads = 1
ctx_size = 4096

[backends.server]
kind = "openai"
base_url = "http://127.0.0.1:{{port}}/v1"
endpoint = "chat"

[backends.server.launch]
command = "{server}"
model = "{model}"
args = ["-m", "{{model}}", "--host", "127.0.0.1", "--port", "{{port}}", "-c", "4096", "-np", "1", "-t", "1", "--jinja", "--no-webui"]
startup_timeout_s = 120
"#,
        model = gemma().display(),
        server = llama_server().canonicalize().unwrap().display()
    );
    let p = dir.join("backends.toml");
    std::fs::write(&p, text).unwrap();
    p
}

const PP_TG: &str = "name = \"pptg\"\nkind = \"throughput\"\nmode = \"pp_tg\"\npp = [64]\ntg = [16]\ndepth = [0, 64]\nwarmup = 1\nrepetitions = 2\n";

#[test]
fn in_process_generation_streams_exact_tokens_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load(&config(dir.path())).unwrap();
    let bc = cfg.select(&["gemma".into()]).unwrap().remove(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = LlamaCppBackend::connect(&bc).await.unwrap();
        let facts = b.probe().await.unwrap();
        assert_eq!(facts.model_sha256.as_deref(), Some(GEMMA_SHA256));
        let engine = facts.engine.as_ref().unwrap();
        assert_eq!(engine.gguf.architecture.as_deref(), Some("gemma3"));
        assert!(engine.gguf.n_params > 200_000_000);
        // This GGUF has no chat template: llama-server's fallback (chatml) is used and recorded.
        assert_eq!(
            (
                engine.gguf.chat_template_sha256.as_deref(),
                engine.gguf.chat_template_fallback.as_deref()
            ),
            (None, Some("chatml"))
        );
        assert_eq!(engine.gguf.quant.as_deref(), Some("Q4_K - Medium"));
        assert_eq!(engine.build.llama_cpp_2, "0.1.160");

        // An exact 64-token prompt, chat template included.
        let e = prompt::exact(64, "[req t1]", 7, None, async |t: &str| {
            b.count_prompt_tokens(&Prompt::user(b.endpoint(), t.into()))
                .await
        })
        .await
        .unwrap();
        assert_eq!(e.tokens, Some(64));
        let req = Request {
            prompt: Prompt::user(b.endpoint(), e.text.clone()),
            max_tokens: 16,
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
        assert_eq!((u.prompt_tokens, u.completion_tokens), (Some(64), Some(16)));
        assert_eq!(r.content.len(), 16, "one stamped chunk per token");
        assert!(r.content.iter().all(|c| c.tokens == Some(1)));
        assert!(r.content[0].at >= r.sent_at);
        assert!(
            r.content.windows(2).all(|w| w[0].at <= w[1].at),
            "tokens arrive in order"
        );
        assert_eq!(
            r.content.iter().map(|c| c.text_bytes).sum::<usize>(),
            r.text.len()
        );
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        // llama.cpp's counters: the prompt as one batch, then 15 single-token decodes.
        let t = r.timings.unwrap();
        assert_eq!((t.prompt_n, t.predicted_n), (Some(64), Some(15)));
        assert!(t.prompt_ms.unwrap() > 0.0 && t.predicted_ms.unwrap() > 0.0);
        // Greedy decoding is deterministic: the same request gives the same text.
        let r2 = b.generate(&req).await;
        assert_eq!(r2.text, r.text);
        // Counting generated text uses the same vocabulary.
        assert!(b.count_text_tokens(&r.text).await.unwrap() > 0);
    });
}

#[test]
fn pp_tg_scenario_in_process_gives_rows_per_test() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let scen = write(dir.path(), "pptg.toml", PP_TG);
    let out = dir.path().join("out");
    let stdout = run_ok(&[
        "run",
        scen.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "r",
        "--quiet",
    ]);
    assert!(
        stdout.contains(
            "| edgebench backend | model | size | params | backend | threads | test | t/s |"
        ),
        "{stdout}"
    );
    // Model, size and params exactly as llama-bench prints them for this file.
    assert!(
        stdout.contains("| gemma | gemma3 270M Q4_K - Medium | 235.16 MiB | 268.10 M | CPU |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| CPU | 1 | pp64 @ d64 |"),
        "the threads it ran on: {stdout}"
    );
    let (samples, summary) = rows(&out.join("r"));
    assert_eq!(samples.len(), 8, "4 tests × 2 repetitions");
    let ids: Vec<&str> = samples.iter().map(|r| r.case_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "pp64", "pp64", "tg16", "tg16", "pp64_d64", "pp64_d64", "tg16_d64", "tg16_d64"
        ]
    );
    for r in &samples {
        assert!(r.error_category.is_none(), "{r:?}");
        let ts = r.test_tok_s.unwrap();
        let ns = r.test_ns.unwrap();
        let n = (r.prompt_tokens.unwrap() + r.output_tokens.unwrap()) as f64;
        assert_eq!(ts, 1e9 * n / ns as f64);
        // A sanity bound only: a loaded 2-core CI machine can be very slow.
        assert!(ts > 0.0 && ts < 1e6, "sane t/s: {ts}");
        let depth = r.depth.unwrap();
        assert_eq!(depth, if r.case_id.ends_with("_d64") { 64 } else { 0 });
        // llama.cpp's counters see exactly the test's tokens.
        if r.case_id.starts_with("pp") {
            assert_eq!(
                (
                    r.prompt_tokens,
                    r.output_tokens,
                    r.server_prompt_n,
                    r.server_predicted_n
                ),
                (Some(64), Some(0), Some(64), Some(0)),
                "{r:?}"
            );
        } else {
            assert_eq!(
                (
                    r.prompt_tokens,
                    r.output_tokens,
                    r.server_prompt_n,
                    r.server_predicted_n
                ),
                (Some(0), Some(16), Some(0), Some(16)),
                "{r:?}"
            );
        }
    }
    let ts: Vec<&SummaryRow> = summary
        .iter()
        .filter(|r| r.metric == "test_tok_s")
        .collect();
    assert_eq!(ts.len(), 4);
    assert!(ts.iter().all(|r| r.n == 2 && r.mean > 0.0));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("r/run.json")).unwrap()).unwrap();
    assert_eq!(
        run.pointer("/backends/0/engine/gguf/file_sha256")
            .and_then(|v| v.as_str()),
        Some(GEMMA_SHA256)
    );
    assert_eq!(
        run.pointer("/backends/0/engine/gguf/chat_template_fallback")
            .and_then(|v| v.as_str()),
        Some("chatml")
    );
    assert_eq!(
        run.pointer("/backends/0/engine/build/llama_cpp_sys_2")
            .and_then(|v| v.as_str()),
        Some("0.1.161")
    );
    assert!(
        run.get("peak_rss_bytes")
            .and_then(|v| v.as_u64())
            .is_some_and(|b| b > 100 << 20)
    );
}

#[test]
fn serving_scenario_in_process_is_token_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let scen = write(
        dir.path(),
        "q.toml",
        "kind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [16]\nrepetitions = 2\n",
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
        "q",
        "--quiet",
    ]);
    let (samples, summary) = rows(&out.join("q"));
    assert_eq!(samples.len(), 2);
    for r in &samples {
        assert!(r.error_category.is_none(), "{r:?}");
        assert_eq!(
            (r.prompt_tokens, r.prompt_tokens_server, r.output_tokens),
            (Some(64), Some(64), Some(16))
        );
        assert_eq!((r.itl_exact, r.tokens_per_read), (Some(true), Some(1.0)));
        assert_eq!(
            (r.server_prompt_n, r.server_predicted_n),
            (Some(64), Some(15))
        );
    }
    // Our clock against llama.cpp's: decode per token includes sampling, so a little slower.
    let ratio = summary
        .iter()
        .find(|r| r.metric == "decode_client_server_ratio")
        .unwrap();
    assert!(ratio.p50 > 0.5 && ratio.p50 < 1.05, "{ratio:?}");
}

#[test]
fn same_scenario_in_process_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let scen = write(dir.path(), "pptg.toml", PP_TG);
    let out = dir.path().join("out");
    let stdout = run_ok(&[
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
        "server",
    ]);
    let (samples, summary) = rows(&out.join("both"));
    for b in ["gemma", "server"] {
        let mine: Vec<&SampleRow> = samples.iter().filter(|r| r.backend == b).collect();
        assert_eq!(mine.len(), 8, "{b}");
        assert!(
            mine.iter()
                .all(|r| r.error_category.is_none() && r.test_tok_s.is_some_and(|t| t > 0.0)),
            "{b}: {mine:?}"
        );
        assert_eq!(
            summary
                .iter()
                .filter(|r| r.backend == b && r.metric == "test_tok_s")
                .count(),
            4,
            "{b}"
        );
        assert!(stdout.contains(&format!("| {b} |")), "{stdout}");
    }
    // Over HTTP the depth lives in the server's prefix cache. A pp prompt is exact; a tg
    // prompt is the shortest the salt and the chat template allow.
    for r in samples.iter().filter(|r| r.backend == "server") {
        let depth = r.depth.unwrap() as u64;
        if r.case_id.starts_with("pp") {
            assert_eq!(r.prompt_tokens, Some(depth + 64), "{r:?}");
        } else {
            assert!(r.prompt_tokens.unwrap() > depth, "{r:?}");
            assert_eq!(r.output_tokens, Some(16), "{r:?}");
        }
        if depth > 0 {
            assert!(
                r.cached_tokens.unwrap() > 0,
                "the depth came from the cache: {r:?}"
            );
        } else {
            assert_eq!(r.cached_tokens.unwrap_or(0), 0, "{r:?}");
        }
    }
    let run = std::fs::read_to_string(out.join("both/run.json")).unwrap();
    assert!(run.contains("\"name\": \"gemma\"") && run.contains("\"name\": \"server\""));
}

#[test]
fn import_reproduces_llama_bench_numbers() {
    let bench = llama_bench();
    let dir = tempfile::tempdir().unwrap();
    let model = gemma();
    for fmt in ["json", "jsonl", "csv"] {
        let o = Command::new(&bench)
            .args([
                "-m",
                model.to_str().unwrap(),
                "-p",
                "32",
                "-n",
                "4",
                "-d",
                "0,32",
                "-r",
                "2",
                "-t",
                "2",
                "-o",
                fmt,
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "llama-bench -o {fmt}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let file = dir.path().join(format!("lb.{fmt}"));
        std::fs::write(&file, &o.stdout).unwrap();
        let out = dir.path().join("out");
        let id = format!("imp-{fmt}");
        run_ok(&[
            "import",
            "llama-bench",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            &id,
        ]);
        let (samples, summary) = rows(&out.join(&id));

        // The file's own numbers, read independently of the importer.
        let text = String::from_utf8(o.stdout).unwrap();
        let tests: Vec<serde_json::Value> = match fmt {
            "json" => serde_json::from_str(&text).unwrap(),
            "jsonl" => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            _ => {
                let mut r = csv::Reader::from_reader(text.as_bytes());
                let h = r.headers().unwrap().clone();
                r.records()
                    .map(|rec| {
                        let rec = rec.unwrap();
                        serde_json::Value::Object(
                            h.iter()
                                .zip(rec.iter())
                                .map(|(k, v)| {
                                    (k.to_string(), serde_json::Value::String(v.to_string()))
                                })
                                .collect(),
                        )
                    })
                    .collect()
            }
        };
        assert_eq!(tests.len(), 4, "pp32, tg4 at depth 0 and 32");
        let num = |v: &serde_json::Value, k: &str| -> f64 {
            match &v[k] {
                serde_json::Value::String(s) => s.parse().unwrap(),
                x => x.as_f64().unwrap(),
            }
        };
        for (i, t) in tests.iter().enumerate() {
            let (p, g, d) = (
                num(t, "n_prompt") as u32,
                num(t, "n_gen") as u32,
                num(t, "n_depth") as u32,
            );
            let case = summary
                .iter()
                .filter(|r| r.prompt_tokens == p && r.max_tokens == g && r.depth == Some(d));
            let ts = case
                .clone()
                .find(|r| r.metric == "test_tok_s")
                .unwrap_or_else(|| panic!("test {i} missing"));
            let ns = case.clone().find(|r| r.metric == "test_ns").unwrap();
            assert_eq!(
                (ts.mean, ts.stddev),
                (num(t, "avg_ts"), num(t, "stddev_ts")),
                "{fmt} test {i}"
            );
            assert_eq!(
                (ns.mean, ns.stddev),
                (num(t, "avg_ns"), num(t, "stddev_ns")),
                "{fmt} test {i}"
            );
            let mine: Vec<&SampleRow> =
                samples.iter().filter(|r| r.case_id == ts.case_id).collect();
            if fmt == "csv" {
                assert!(mine.is_empty() && ts.n == 0 && ts.flags.contains("no_samples"));
            } else {
                let want_ns: Vec<u64> = t["samples_ns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                let want_ts: Vec<f64> = t["samples_ts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                assert_eq!(
                    mine.iter().map(|r| r.test_ns.unwrap()).collect::<Vec<_>>(),
                    want_ns
                );
                // samples_ts is printed with 6 significant digits; ours is the full value.
                for (r, w) in mine.iter().zip(&want_ts) {
                    assert!(
                        (r.test_tok_s.unwrap() - w).abs() <= w.abs() * 1e-5,
                        "{} vs {w}",
                        r.test_tok_s.unwrap()
                    );
                }
                assert_eq!(ts.n, want_ns.len());
            }
        }
    }
}
