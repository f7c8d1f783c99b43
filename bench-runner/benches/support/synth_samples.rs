//! Synthetic samples.csv rows for timing the report code (not measurements), written through
//! edgebench's own row type and CSV writer, so the columns are always the current schema.
//! Shared by `benches/report.rs` and `examples/synth_samples.rs` (run by scripts/bench-report).

use std::path::Path;

use edgebench::results::schema::SAMPLE_COLUMNS;
use edgebench::results::{CsvAppender, SampleRow};

/// Writes `n` rows: 2 devices × 4 cases, requests one second apart, speeds varying smoothly.
pub fn generate(path: &Path, n: usize) {
    let mut w = CsvAppender::open(path, SAMPLE_COLUMNS).expect("open samples.csv");
    let cases = [(128u32, 1u32), (128, 4), (512, 1), (512, 4)];
    let per_cell = n / (2 * cases.len());
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("date");
    let mut i = 0usize;
    for device in ["laptop", "phone"] {
        for (pp, conc) in cases {
            for rep in 0..per_cell {
                let wobble = ((i % 97) as f64 / 97.0 - 0.5) * 4.0;
                let base = if device == "phone" { 40.0 } else { 70.0 };
                let decode = base / conc as f64 + wobble;
                let ttft = pp as f64 / (5.0 + wobble.abs()) + 10.0;
                let row = SampleRow {
                    run_id: "generated".into(),
                    backend: "llama-server".into(),
                    model: "gemma-3-270m-q4_k_m.gguf".into(),
                    device: device.into(),
                    scenario: "throughput".into(),
                    case_id: format!("pp{pp}_tg128_c{conc}"),
                    kind: "throughput".into(),
                    repetition: rep as u32,
                    stream: (rep % conc as usize) as u32,
                    concurrency: conc,
                    started_at: (t0 + chrono::Duration::milliseconds(i as i64 * 1000))
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    prompt_tokens_requested: pp,
                    prompt_tokens: Some(pp as u64),
                    max_tokens: 128,
                    output_tokens: Some(128),
                    ttft_ms: Some(ttft),
                    tpot_ms: Some(1000.0 / decode),
                    e2e_ms: Some(ttft + 127.0 * 1000.0 / decode),
                    itl_p50_ms: Some(1000.0 / decode),
                    itl_p99_ms: Some(1300.0 / decode),
                    prefill_tok_s: Some(pp as f64 * 1000.0 / ttft),
                    decode_tok_s: Some(decode),
                    finish_reason: Some("length".into()),
                    ..Default::default()
                };
                w.append(&row).expect("append");
                i += 1;
            }
        }
    }
}
