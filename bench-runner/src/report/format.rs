//! How figures are written in tables: shared by the report, its media section and compare.

/// `71.3 [70.9, 71.8]`, with as many decimals as the magnitude needs.
pub fn fmt_ci(median: f64, low: f64, high: f64) -> String {
    if low.is_nan() || high.is_nan() {
        return fmt_num(median);
    }
    format!("{} [{}, {}]", fmt_num(median), fmt_num(low), fmt_num(high))
}

/// A figure with 1, 2 or 3 decimals by magnitude; `-` for NaN (not measured).
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v.is_nan() {
        "-".into()
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
