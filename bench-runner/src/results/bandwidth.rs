//! Memory bandwidth of this host, measured the way STREAM's *copy* kernel does: copy one
//! array into another, both far larger than any cache, and count the bytes read plus the
//! bytes written: bandwidth = 2·S / t for arrays of S bytes, best of R repetitions.
//!
//! It is one thread's copy, so on machines whose memory system needs several cores to
//! saturate it reads low; it is a floor for the roofline, recorded as measured. Decode of a
//! dense model reads every weight once per token, so bandwidth ÷ weights bytes bounds decode
//! tok/s from above (see `report::roofline`).

use std::time::Instant;

/// Bytes per array: 256 MiB, far beyond any last-level cache of today.
pub const ARRAY_BYTES: usize = 256 << 20;
pub const REPETITIONS: usize = 5;

/// Best-of-`REPETITIONS` copy bandwidth in GB/s (10⁹ bytes per second).
pub fn probe() -> f64 {
    probe_with(ARRAY_BYTES, REPETITIONS)
}

pub fn probe_with(bytes: usize, repetitions: usize) -> f64 {
    let n = (bytes / 8).max(1);
    // Distinct values, written once, so every page is really mapped before timing.
    let src: Vec<u64> = (0..n as u64).collect();
    let mut dst: Vec<u64> = vec![1; n];
    let mut best = f64::INFINITY;
    for _ in 0..repetitions.max(1) {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&mut dst);
        best = best.min(t.elapsed().as_secs_f64());
    }
    if best > 0.0 {
        2.0 * (n * 8) as f64 / best / 1e9
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_probe_gives_a_plausible_figure() {
        let gbs = super::probe_with(8 << 20, 2);
        // From a slow phone to a big server, in GB/s.
        assert!(gbs > 0.1 && gbs < 10_000.0, "{gbs}");
    }
}
