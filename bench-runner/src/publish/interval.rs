//! The rating interval drawn as a bar: one small inline SVG per leaderboard row, all on the
//! board's common scale, so the bars can be compared down the column — the line is the 95%
//! interval, the dot the rating. Only numbers go into it, so it needs no escaping.

/// The common scale of a board: the lowest interval end to the highest, padded by 4%.
pub fn scale(intervals: impl IntoIterator<Item = (f64, f64)>) -> (f64, f64) {
    let (lo, hi) = intervals
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (a, b)| {
            (l.min(a), h.max(b))
        });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.04).max(1.0);
    (lo - pad, hi + pad)
}

/// Width of the bar's coordinate space; the page sets its displayed size.
const W: f64 = 200.0;

/// `<svg>` of one row: the interval [`low`, `high`] and the `rating`, on `scale`.
pub fn bar(low: f64, high: f64, rating: f64, scale: (f64, f64)) -> String {
    let x = |v: f64| {
        let t = (v - scale.0) / (scale.1 - scale.0);
        4.0 + t.clamp(0.0, 1.0) * (W - 8.0)
    };
    format!(
        concat!(
            "<svg class=\"ci\" viewBox=\"0 0 {w} 16\" role=\"img\" ",
            "aria-label=\"95% interval {lo:.1} to {hi:.1}, rating {r:.1}\">",
            "<line x1=\"4\" y1=\"8\" x2=\"{wl}\" y2=\"8\" class=\"ci-axis\"/>",
            "<line x1=\"{a:.2}\" y1=\"8\" x2=\"{b:.2}\" y2=\"8\" class=\"ci-line\"/>",
            "<circle cx=\"{c:.2}\" cy=\"8\" r=\"4\" class=\"ci-dot\"/></svg>"
        ),
        w = W,
        wl = W - 4.0,
        lo = low,
        hi = high,
        r = rating,
        a = x(low),
        b = x(high),
        c = x(rating),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_share_one_scale_and_stay_inside() {
        let s = scale([(900.0, 1000.0), (1000.0, 1100.0)]);
        assert!(s.0 < 900.0 && s.1 > 1100.0);
        let b = bar(900.0, 1000.0, 950.0, s);
        assert!(
            b.starts_with("<svg class=\"ci\" viewBox=\"0 0 200 16\""),
            "{b}"
        );
        assert!(b.contains("95% interval 900.0 to 1000.0, rating 950.0"));
        assert_eq!(scale(std::iter::empty()), (0.0, 1.0));
    }
}
