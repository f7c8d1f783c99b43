//! Writes N synthetic rows to a samples.csv (2 devices × 4 cases, requests one second apart,
//! speeds varying smoothly): load for timing `edgebench report`, not measurements. Written by
//! edgebench's own code, so the file always has the current columns.
//! Usage: cargo run --release --example synth_samples -- PATH ROWS

#[path = "../benches/support/synth_samples.rs"]
mod synth_samples;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(rows)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: synth_samples PATH ROWS");
        std::process::exit(2);
    };
    synth_samples::generate(std::path::Path::new(path), rows);
}
