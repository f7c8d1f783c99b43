//! Criterion benchmark of `arena rate`'s whole path on 1,000,000 synthetic battles among 50
//! models: reading battles.csv, aggregating into pair counts, the Newton fit, the sandwich
//! and 1000 multinomial bootstrap rounds (target: under 1 s on the 2-core dev box). The
//! pieces are also timed alone, so a regression points at its stage.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edgebench::arena::battles::{ReadOptions, read};
use edgebench::arena::bootstrap::{BootstrapOptions, intervals};
use edgebench::arena::bradley_terry::{FitOptions, PairCounts, fit, pair_weights};
use edgebench::arena::rate::{RateOptions, rate};
use edgebench::arena::synth::Synth;

const MODELS: usize = 50;
const BATTLES: usize = 1_000_000;

fn arena(c: &mut Criterion) {
    // `cargo test --benches` runs each routine once in a debug build to keep it from rotting:
    // there a smaller file does; `cargo bench` (which passes --bench) times the real size.
    let battles = if std::env::args().any(|a| a == "--bench") {
        BATTLES
    } else {
        10_000
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("battles.csv");
    Synth::new(MODELS, 1)
        .write_csv(&path, battles, 0.1, 1)
        .expect("write battles");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    let mut g = c.benchmark_group("arena_1M_battles_50_models");
    g.sample_size(10);
    g.bench_function("rate_1000_bootstrap_rounds", |b| {
        b.iter(|| {
            let opts = RateOptions {
                inputs: vec![path.clone()],
                rounds: 1000,
                threads,
                ..Default::default()
            };
            black_box(rate(&opts).expect("rate"))
        })
    });
    g.bench_function("read_csv", |b| {
        b.iter(|| black_box(read(&[&path], &ReadOptions::default()).expect("read")))
    });
    let battles = read(&[&path], &ReadOptions::default()).expect("read");
    g.bench_function("aggregate", |b| {
        b.iter(|| black_box(PairCounts::from_battles(&battles)))
    });
    let pc = PairCounts::from_battles(&battles);
    let w = pair_weights(&pc, false);
    g.bench_function("newton_fit", |b| {
        b.iter(|| black_box(fit(&pc, &w, &FitOptions::default(), None)))
    });
    let theta = fit(&pc, &w, &FitOptions::default(), None).theta;
    g.bench_function("bootstrap_1000_rounds", |b| {
        b.iter(|| {
            let o = BootstrapOptions {
                rounds: 1000,
                seed: 42,
                inverse_frequency: false,
                anchor: None,
                fit: FitOptions::default(),
                threads,
            };
            black_box(intervals(&pc, &theta, &o))
        })
    });
    g.finish();
}

criterion_group!(benches, arena);
criterion_main!(benches);
