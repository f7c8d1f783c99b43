//! Shared look of the figures: size, palette, fonts, and the plumbing that turns plotters'
//! drawing errors into a figure that says it could not be drawn rather than a panic.

use plotters::prelude::*;

/// Width and height in SVG user units; the HTML scales the figure to the screen's width.
pub const SIZE: (u32, u32) = (600, 400);

/// Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
const PALETTE: [(u8, u8, u8); 10] = [
    (78, 121, 167),
    (242, 142, 43),
    (225, 87, 89),
    (118, 183, 178),
    (89, 161, 79),
    (237, 201, 72),
    (176, 122, 161),
    (255, 157, 167),
    (156, 117, 95),
    (186, 176, 172),
];

pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub const FONT: &str = "sans-serif";
/// Label and title sizes: readable when the figure is scaled to a phone's width (~380 px).
pub const LABEL: u32 = 16;
pub const TITLE: u32 = 20;

/// Draws with `f` into a fresh SVG string. On a drawing error the SVG says so in text.
pub fn svg(
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| f(&root));
        let p = root.present().map_err(|e| e.to_string());
        r.and(p)
    };
    match result {
        Ok(()) => out,
        Err(e) => {
            let mut out = String::new();
            {
                let root = SVGBackend::with_string(&mut out, (SIZE.0, 60)).into_drawing_area();
                let _ = root.fill(&WHITE);
                let _ = root.draw(&Text::new(
                    format!("figure could not be drawn: {e}"),
                    (10, 20),
                    (FONT, 16).into_font(),
                ));
                let _ = root.present();
            }
            out
        }
    }
}

/// `lo..hi` padded so points do not sit on the frame; a zero-width range is widened.
pub fn padded(lo: f64, hi: f64, from_zero: bool) -> std::ops::Range<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let lo = if from_zero { lo.min(0.0) } else { lo };
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    let lo2 = if from_zero && lo >= 0.0 {
        0.0
    } else {
        lo - span * 0.05
    };
    lo2..hi + span * 0.08
}

/// Compact numbers for axis labels: 1234 → `1234`, 0.5 → `0.5`, 12345678 → `1.2e7`.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// "3 requests" / "3–6 requests per point (27 in all)".
pub fn n_phrase(ns: &[usize], what: &str) -> String {
    let (lo, hi, sum) = (
        ns.iter().min().copied().unwrap_or(0),
        ns.iter().max().copied().unwrap_or(0),
        ns.iter().sum::<usize>(),
    );
    if lo == hi {
        format!("n = {lo} {what} per point ({sum} in all)")
    } else {
        format!("n = {lo}–{hi} {what} per point ({sum} in all)")
    }
}

/// "laptop/llama-server (gemma-3-270m-q4_k_m.gguf), phone/…": what the figure measured.
pub fn on_what(ds: &super::super::load::Dataset, series: &[usize]) -> String {
    series
        .iter()
        .map(|&i| {
            let s = &ds.series[i];
            if s.id.model.is_empty() {
                s.label.clone()
            } else {
                format!("{} ({})", s.label, s.id.model)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
