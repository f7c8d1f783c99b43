//! The in-process llama.cpp engine serving several sequences in one context (Gemma 3 270M and
//! Qwen2.5-Coder 0.5B): concurrent requests decode at the same time, each with exact token
//! counts and the greedy text it has alone; a prompt too long for its share of the context
//! fails alone; closed-loop and request-rate cases run through the same runner as on a server,
//! without the `queued` flag. Workloads are a few tokens; no pass condition is a speed.
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::path::{Path, PathBuf};
use std::time::Instant;

use edgebench::backend::llamacpp::LlamaCppBackend;
use edgebench::backend::{BackendImpl, Config, Prompt, Request, Response};
use edgebench::results::{SampleRow, SummaryRow};
use edgebench::workload::prompt;
use futures_util::future::join_all;

use crate::common::{gemma, qwen, rows, run_ok, write};

/// One in-process backend, `engine`, on `model`: one thread (tests run two at a time on two
/// cores), 2048 tokens of context, streams following each case unless `extra` says otherwise.
fn config(dir: &Path, model: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "default = \"engine\"\n[backends.engine]\nkind = \"llamacpp\"\nmodel = {:?}\nthreads = 1\nctx_size = 2048\n{extra}\n",
        model.display().to_string()
    );
    write(dir, "backends.toml", &text)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(dir: &Path, model: &Path) -> LlamaCppBackend {
    let cfg = Config::load(&config(dir, model, "")).unwrap();
    let bc = cfg.select(&["engine".into()]).unwrap().remove(0);
    LlamaCppBackend::connect(&bc).await.unwrap()
}

/// A greedy request of about `n` prompt tokens (chat template included; exact where the
/// salted filler can hit it) and exactly `out` output tokens, with its prompt's token count.
async fn request(b: &LlamaCppBackend, n: u32, salt: &str, out: u32) -> (Request, u32) {
    let e = prompt::exact(n, salt, 11, None, async |t: &str| {
        b.count_prompt_tokens(&Prompt::user(b.endpoint(), t.into()))
            .await
    })
    .await
    .unwrap();
    let req = Request {
        prompt: Prompt::user(b.endpoint(), e.text),
        max_tokens: out,
        temperature: 0.0,
        top_p: 1.0,
        seed: Some(1),
        ignore_eos: true,
        allow_prefix_cache: false,
        tools: Default::default(),
    };
    (req, e.tokens.unwrap())
}

/// When a response's first and last tokens were sampled.
fn decode_window(r: &Response) -> (Instant, Instant) {
    (r.content.first().unwrap().at, r.content.last().unwrap().at)
}

/// Four requests of different prompt lengths at once, then the same ones one at a time:
/// all four were decoding at the same time, each with exact counts, in-order stamps and
/// per-sequence timings, and greedy decoding gave the text each gives alone.
fn four_streams_match_one_at_a_time(model: PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let b = connect(dir.path(), &model).await;
        let mut reqs = Vec::new();
        let mut lengths = Vec::new();
        for (i, n) in [40u32, 56, 72, 88].iter().enumerate() {
            let (r, tokens) = request(&b, *n, &format!("[req s{i}]"), 12).await;
            reqs.push(r);
            lengths.push(tokens);
        }
        assert_eq!(b.reserve_streams(1).await, Some(1));
        let mut alone = Vec::new();
        for r in &reqs {
            alone.push(b.generate(r).await);
        }
        assert_eq!(b.reserve_streams(4).await, Some(4));
        let together = join_all(reqs.iter().map(|r| b.generate(r))).await;

        for (i, (r, n)) in together.iter().zip(lengths).enumerate() {
            assert!(r.error.is_none(), "request {i}: {:?}", r.error);
            let u = r.usage.as_ref().unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens),
                (Some(u64::from(n)), Some(12))
            );
            assert_eq!(r.content.len(), 12, "one stamped chunk per token");
            assert!(r.content[0].at >= r.sent_at);
            assert!(r.content.windows(2).all(|w| w[0].at <= w[1].at));
            // llama.cpp's time for this sequence: its prompt, and the 11 steps that decoded
            // its sampled tokens (the 12th is sampled, never decoded).
            let t = r.timings.as_ref().unwrap();
            assert_eq!((t.prompt_n, t.predicted_n), (Some(u64::from(n)), Some(11)));
            assert!(t.prompt_ms.unwrap() > 0.0 && t.predicted_ms.unwrap() > 0.0);
        }
        // Every pair of requests was decoding at the same time: none was queued behind another.
        for (i, a) in together.iter().enumerate() {
            for b2 in &together[i + 1..] {
                let ((a0, a1), (b0, b1)) = (decode_window(a), decode_window(b2));
                assert!(a0.max(b0) < a1.min(b1), "decode windows do not intersect");
            }
        }
        // Greedy output against alone. llama.cpp is not batch-invariant: a decode step of 4
        // tokens gives logits a few hundredths away from a step of 1 (measured on Gemma: 0.06),
        // so where two candidates are that close alone, the batched sequence may pick the
        // other one and go its own way (Gemma here: 1 of 4 requests, from its 6th token, where
        // alone the top two logits were 0.10 apart; Qwen: 0 of 4). The first token comes from
        // the prompt's logits and must agree; at most one request in four may differ after.
        let mut differ = 0;
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            assert!(a.error.is_none(), "{:?}", a.error);
            let first = |r: &Response| r.text[..r.content[0].text_bytes].to_string();
            assert_eq!(first(a), first(t), "request {i}: first token");
            if a.text != t.text {
                differ += 1;
                eprintln!(
                    "request {i} differs:\n alone: {:?}\n 4 streams: {:?}",
                    a.text, t.text
                );
            }
        }
        assert!(
            differ <= 1,
            "{differ} of 4 greedy outputs differ from alone"
        );
    });
}

#[test]
fn gemma_four_streams_overlap_and_match_one_at_a_time() {
    four_streams_match_one_at_a_time(gemma());
}

#[test]
fn qwen_four_streams_overlap_and_match_one_at_a_time() {
    four_streams_match_one_at_a_time(qwen());
}

/// With 4 streams in 2048 tokens each sequence has 512: a 600-token prompt fails with
/// `prepare`, saying so, while the three sent with it finish; alone it fits the whole context.
#[test]
fn a_prompt_beyond_its_share_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let b = connect(dir.path(), &gemma()).await;
        let (long, n) = request(&b, 600, "[req long]", 4).await;
        let mut reqs = vec![long];
        for i in 0..3 {
            reqs.push(request(&b, 64, &format!("[req short{i}]"), 4).await.0);
        }
        b.reserve_streams(4).await;
        let out = join_all(reqs.iter().map(|r| b.generate(r))).await;
        let e = out[0].error.as_ref().expect("the long prompt fails");
        assert_eq!(e.category.as_str(), "prepare");
        assert!(
            e.message.contains(
                &format!("prompt ({n} tokens) + max_tokens (4) exceed this sequence's share of the context, 512 tokens (ctx_size 2048 / 4 sequences)")
            ),
            "{}",
            e.message
        );
        for r in &out[1..] {
            assert!(r.error.is_none(), "{:?}", r.error);
            assert_eq!(r.usage.as_ref().unwrap().completion_tokens, Some(4));
        }
        b.reserve_streams(1).await;
        let r = b.generate(&reqs[0]).await;
        assert!(r.error.is_none(), "alone it fits: {:?}", r.error);
    });
}

fn run(dir: &Path, config: &Path, scenario: &Path, id: &str) -> (Vec<SampleRow>, Vec<SummaryRow>) {
    run_ok(&[
        "run",
        scenario.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--run-id",
        id,
        "--quiet",
    ]);
    rows(&dir.join(id))
}

/// A row's decode window on the wall clock, in ms (its start is stamped to the millisecond).
fn window_ms(r: &SampleRow) -> (f64, f64) {
    let start = chrono::DateTime::parse_from_rfc3339(&r.started_at).unwrap();
    let t0 = start.timestamp_millis() as f64;
    (t0 + r.ttft_ms.unwrap(), t0 + r.e2e_ms.unwrap())
}

fn flags<'a>(summary: &'a [SummaryRow], case: &str) -> &'a str {
    &summary.iter().find(|r| r.case_id == case).unwrap().flags
}

fn output_tok_s(summary: &[SummaryRow], case: &str) -> f64 {
    summary
        .iter()
        .find(|r| r.case_id == case && r.metric == "output_tok_s")
        .unwrap_or_else(|| panic!("no output_tok_s row for {case}"))
        .mean
}

/// Concurrency 1, 2 and 4 in process through the runner: exact counts, no `queued` flag,
/// each request of a 2- and 4-stream case decoding while a request of another stream does,
/// and a sane aggregate output rate at 4 streams.
#[test]
fn closed_loop_cases_run_as_streams_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &gemma(), "");
    let scen = write(
        dir.path(),
        "streams.toml",
        "name = \"streams\"\nkind = \"throughput\"\nprompt_tokens = [48]\nmax_tokens = [24]\nconcurrency = [1, 2, 4]\nwarmup = 1\nrepetitions = 2\n",
    );
    let (samples, summary) = run(dir.path(), &config, &scen, "c");
    assert_eq!(samples.len(), 2 * (1 + 2 + 4));
    for r in &samples {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!((r.prompt_tokens, r.output_tokens), (Some(48), Some(24)));
        assert_eq!(r.server_prompt_n, Some(48));
        assert_eq!(r.server_predicted_n, Some(23));
    }
    for (case, c) in [
        ("pp48_tg24_c1", 1),
        ("pp48_tg24_c2", 2),
        ("pp48_tg24_c4", 4),
    ] {
        let f = flags(&summary, case);
        assert!(!f.contains("queued"), "{case}: {f}");
        let rows: Vec<&SampleRow> = samples.iter().filter(|r| r.case_id == case).collect();
        assert_eq!(rows.len(), 2 * c);
        if c == 1 {
            continue;
        }
        for a in &rows {
            let (a0, a1) = window_ms(a);
            let overlaps = rows.iter().any(|b| {
                let (b0, b1) = window_ms(b);
                b.stream != a.stream && a0.max(b0) < a1.min(b1)
            });
            assert!(overlaps, "{case}: no other stream decoded with {a:?}");
        }
    }
    let (one, four) = (
        output_tok_s(&summary, "pp48_tg24_c1"),
        output_tok_s(&summary, "pp48_tg24_c4"),
    );
    // A sanity bound, not a target. On a CPU at one thread llama.cpp's own batched decode is
    // not faster at 4 sequences than at 1: llama-batched-bench from the vendored sources, on
    // the 2-core test machine (-t 1, npp 16, ntg 16), S_TG 30.5 t/s at B=1 and 24.8 at B=4 on
    // this model (Qwen 0.5B: 14.6 and 10.8), faster only from B=8. So "4 streams beat 1"
    // does not hold for llama.cpp itself here; what must hold is that 4 streams in one
    // context lose no more than the batching itself does (measured here: 0.8-1.1× of 1).
    assert!(
        four > 0.4 * one,
        "output tok/s: 4 streams {four}, 1 stream {one}"
    );
}

/// A fixed `parallel = 2`: a 4-stream case waits for sequences and says so (`queued`).
#[test]
fn fixed_parallel_below_the_streams_is_flagged_queued() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &gemma(), "parallel = 2");
    let scen = write(
        dir.path(),
        "q.toml",
        "name = \"q\"\nkind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [4]\nconcurrency = [2, 4]\nwarmup = 0\nrepetitions = 1\n",
    );
    let (samples, summary) = run(dir.path(), &config, &scen, "q");
    assert!(samples.iter().all(|r| r.error_category.is_none()));
    assert!(!flags(&summary, "pp64_tg4_c2").contains("queued"));
    assert!(flags(&summary, "pp64_tg4_c4").contains("queued"));
}

/// A request-rate case on the engine (Qwen): every scheduled request answered with exact
/// counts, sent at or after its time, requests in flight together, not flagged `queued`.
#[test]
fn request_rate_case_runs_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &qwen(), "");
    let scen = write(
        dir.path(),
        "rate.toml",
        "name = \"rate\"\nkind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [8]\nrequest_rate = [50]\narrival = \"constant\"\nrequests = 4\nwarmup = 1\n",
    );
    let (mut samples, summary) = run(dir.path(), &config, &scen, "r");
    samples.sort_by_key(|r| r.repetition);
    assert_eq!(samples.len(), 4);
    for (i, r) in samples.iter().enumerate() {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!((r.prompt_tokens, r.output_tokens), (Some(64), Some(8)));
        let (scheduled, sent) = (r.scheduled_ms.unwrap(), r.sent_ms.unwrap());
        assert!((scheduled - 20.0 * i as f64).abs() < 1e-6, "{r:?}");
        assert!(sent >= scheduled, "{r:?}");
    }
    // At 50 req/s each request is sent before the one before it has its first token back
    // from a 64-token prompt and 8 outputs: they are in the engine together.
    let end = |r: &SampleRow| r.sent_ms.unwrap() + r.e2e_ms.unwrap();
    assert!(
        samples
            .windows(2)
            .any(|w| w[1].sent_ms.unwrap() < end(&w[0])),
        "no two requests in flight together"
    );
    let case = &samples[0].case_id;
    assert!(!flags(&summary, case).contains("queued"));
}

/// The report puts llama-server beside the engine at every concurrency: the same scenario at
/// 1 and 2 streams on Gemma in process and on the shared llama-server (2 slots), then one
/// report of both runs has a serving-overhead row per concurrency (neither flagged queued)
/// and the figure of the ratio against concurrency.
#[test]
fn report_shows_serving_overhead_at_each_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let scen = write(
        dir.path(),
        "pair.toml",
        "name = \"pair\"\nkind = \"throughput\"\nprompt_tokens = [64]\nmax_tokens = [8]\nconcurrency = [1, 2]\nwarmup = 0\nrepetitions = 2\n",
    );
    let engine = config(dir.path(), &gemma(), "device = \"local\"");
    run(dir.path(), &engine, &scen, "in-process");
    let served = crate::common::shared_gemma_config(dir.path(), "");
    run(dir.path(), &served, &scen, "served");
    let out = dir.path().join("report");
    run_ok(&[
        "report",
        dir.path().join("in-process").to_str().unwrap(),
        dir.path().join("served").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let section = md
        .split("## Serving overhead")
        .nth(1)
        .unwrap_or_else(|| panic!("no serving-overhead section:\n{md}"));
    for c in ["pp64_tg8_c1 | 1 |", "pp64_tg8_c2 | 2 |"] {
        let row = section
            .lines()
            .find(|l| l.contains(c))
            .unwrap_or_else(|| panic!("no row for {c}:\n{section}"));
        assert!(row.contains("local/srv ÷ local/engine"), "{row}");
        assert!(row.contains(" ×"), "a ratio: {row}");
        assert!(!row.contains("queued"), "{row}");
    }
    assert!(out.join("serving-overhead.svg").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Serving overhead</h2>"));
}
