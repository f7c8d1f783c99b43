//! Criterion benchmarks of the hot paths: the SSE parser (runs once per network read while a
//! request is being timed) and the statistics (bootstrap CI of every metric of every case).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgebench::backend::sse::SseParser;
use edgebench::measure::stats::{bootstrap_median_ci, summarize};

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
    g.finish();
}

fn stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");
    for n in [10usize, 100, 1000] {
        let v: Vec<f64> = (0..n)
            .map(|i| 70.0 + ((i * 7919) % 97) as f64 / 10.0)
            .collect();
        g.bench_with_input(BenchmarkId::new("summarize", n), &v, |b, v| {
            b.iter(|| summarize(black_box(v)))
        });
        g.bench_with_input(BenchmarkId::new("bootstrap_2000", n), &v, |b, v| {
            b.iter(|| bootstrap_median_ci(black_box(v), 2000, 1))
        });
    }
    g.finish();
}

criterion_group!(benches, sse, stats);
criterion_main!(benches);
