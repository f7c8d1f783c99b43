//! Times `edgebench report` over 1,000,000 generated sample rows (the target: under
//! 3 s and under 500 MB peak on the reference 2-core machine; `scripts/bench-report` measures
//! the peak memory of the binary), and the ratio-of-medians bootstrap of the CI gate.
//!
//! The rows are synthetic load for timing the code, not measurements: they are generated in
//! a temporary folder and never stored.

use criterion::{Criterion, criterion_group, criterion_main};
use edgebench::measure::ratio::median_ratio_ci;
use edgebench::report::model::{ReportOptions, build};

// The generator is shared with `examples/synth_samples.rs`, which scripts/bench-report runs.
#[path = "support/synth_samples.rs"]
mod synth_samples;
use synth_samples::generate;

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("EDGEBENCH_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = dir.path().join("samples.csv");
    generate(&samples, n);
    let opts = ReportOptions {
        inputs: vec![samples],
        out: dir.path().join("report"),
        reference: Some("laptop".into()),
        metrics: vec![],
        title: None,
    };
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function(format!("build report of {n} sample rows"), |b| {
        b.iter(|| build(&opts).expect("report"))
    });
    g.finish();

    let base: Vec<f64> = (0..50).map(|i| 70.0 + (i % 7) as f64 * 0.3).collect();
    let cand: Vec<f64> = base.iter().map(|x| x * 0.97).collect();
    c.bench_function("median ratio bootstrap CI, 50 vs 50 samples", |b| {
        b.iter(|| median_ratio_ci(&base, &cand))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
