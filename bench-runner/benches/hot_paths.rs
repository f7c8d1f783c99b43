//! Criterion benchmarks of the hot paths: the SSE parser and the reading of each event (run
//! once per network read, i.e. once per token from llama-server, while a request is being
//! timed) and the statistics of every metric of every case (ITL has one value per token).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgebench::backend::openai::chunk::{ReadTally, apply_event};
use edgebench::backend::sse::SseParser;
use edgebench::backend::tool_stream::ToolCallAssembler;
use edgebench::backend::{Endpoint, ErrorCategory, RequestError, Response};
use edgebench::measure::stats::{bootstrap_median_ci, median_ci_sorted, summarize};

/// A llama-server chat stream of `n` one-token chunks plus the usage/timings tail.
fn stream(n: usize) -> Vec<u8> {
    let mut s = String::new();
    s.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}],\"object\":\"chat.completion.chunk\"}\n\n");
    for i in 0..n {
        s.push_str(&format!(
            "data: {{\"choices\":[{{\"finish_reason\":null,\"index\":0,\"delta\":{{\"content\":\" tok{i}\"}}}}],\"created\":1764085000,\"id\":\"chatcmpl-abc\",\"model\":\"gemma\",\"system_fingerprint\":\"b1-x\",\"object\":\"chat.completion.chunk\"}}\n\n"
        ));
    }
    s.push_str("data: {\"choices\":[],\"usage\":{\"completion_tokens\":128,\"prompt_tokens\":512,\"total_tokens\":640},\"timings\":{\"prompt_n\":512,\"prompt_ms\":900.1,\"predicted_n\":128,\"predicted_ms\":1700.2}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn sse(c: &mut Criterion) {
    let bytes = stream(128);
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    // One read per event (what loopback delivers) and 1 KiB reads (what a proxy delivers).
    for read in [0usize, 1024] {
        let name = if read == 0 { "per_event" } else { "1KiB_reads" };
        let reads: Vec<&[u8]> = if read == 0 {
            bytes.split_inclusive(|&b| b == b'\n').collect()
        } else {
            bytes.chunks(read).collect()
        };
        g.bench_with_input(
            BenchmarkId::new("parse_128_tokens", name),
            &reads,
            |b, reads| {
                b.iter(|| {
                    let mut p = SseParser::new();
                    let mut n = 0;
                    for r in reads {
                        n += p.feed(black_box(r)).len();
                    }
                    n
                })
            },
        );
    }
    // The whole per-read path of a streamed request: framing, then each event's JSON applied
    // to the response (text, usage, timings), one read per event as llama-server sends them.
    let reads: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    g.bench_with_input(
        BenchmarkId::new("parse_and_apply_128_tokens", "per_event"),
        &reads,
        |b, reads| {
            b.iter(|| {
                let mut out = Response::failed(
                    std::time::Instant::now(),
                    RequestError::new(ErrorCategory::EmptyResponse, ""),
                );
                let mut p = SseParser::new();
                let mut tools = ToolCallAssembler::new();
                for r in reads {
                    let mut tally = ReadTally::default();
                    p.feed_with(black_box(r), |ev| {
                        if !ev.is_done() {
                            apply_event(Endpoint::Chat, ev.data, &mut out, &mut tools, &mut tally);
                        }
                    });
                    tally.close(std::time::Instant::now(), &mut out);
                }
                out.text.len()
            })
        },
    );
    g.finish();
}

fn stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");
    // 10 000: the ITL sample of a case that streamed 10 000 tokens.
    for n in [10usize, 100, 1000, 10_000] {
        let v: Vec<f64> = (0..n)
            .map(|i| 70.0 + ((i * 7919) % 97) as f64 / 10.0)
            .collect();
        g.bench_with_input(BenchmarkId::new("summarize", n), &v, |b, v| {
            b.iter(|| summarize(black_box(v)))
        });
        // The median's CI summary.csv used to carry (2000 resamples) against the
        // order-statistic interval it carries now (on the sorted sample).
        g.bench_with_input(BenchmarkId::new("bootstrap_2000", n), &v, |b, v| {
            b.iter(|| bootstrap_median_ci(black_box(v), 2000, 1))
        });
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        g.bench_with_input(BenchmarkId::new("median_ci_order", n), &sorted, |b, v| {
            b.iter(|| median_ci_sorted(black_box(v)))
        });
    }
    g.finish();
}

criterion_group!(benches, sse, stats);
criterion_main!(benches);
