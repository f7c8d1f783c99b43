//! Shared look of the figures: size, palette, fonts, and the plumbing that turns plotters'
//! drawing errors into a figure that says it could not be drawn rather than a panic.

use plotters::prelude::*;

/// Width and height of the plot in SVG user units. The SVG carries only a viewBox and
/// `width="100%"`, so the page scales it to its own width; the legend rows come below.
pub const SIZE: (u32, u32) = (880, 440);
/// Height of one legend row, and the most characters a row holds before it wraps (at
/// [`LABEL`] units a character is at most ~9.5 units wide: 84 of them fit in [`SIZE`]).
const LEGEND_ROW: u32 = 24;
const LEGEND_CHARS: usize = 84;

/// One legend entry: a series' or line's full label and its colour.
pub type LegendEntry = (String, RGBColor);

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

/// Draws with `f` into a fresh SVG string, with `legend` as rows below the plot: each label
/// whole, wrapped onto further rows rather than cut. On a drawing error the SVG says so in
/// text.
pub fn svg(
    legend: &[LegendEntry],
    f: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let rows = legend_rows(legend);
    let legend_h = if rows.is_empty() {
        0
    } else {
        rows.len() as u32 * LEGEND_ROW + 12
    };
    let size = (SIZE.0, SIZE.1 + legend_h);
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let r = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| {
            let (plot, below) = root.split_vertically(SIZE.1);
            f(&plot)?;
            draw_legend(&below, &rows)
        });
        let p = root.present().map_err(|e| e.to_string());
        r.and(p)
    };
    match result {
        Ok(()) => responsive(out),
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
            responsive(out)
        }
    }
}

/// Swaps plotters' fixed `width`/`height` for `width="100%"`: the viewBox keeps the aspect
/// ratio, and the page (not the figure) decides how wide it is.
fn responsive(svg: String) -> String {
    match (svg.find("<svg "), svg.find("viewBox=")) {
        (Some(start), Some(vb)) if start < vb => {
            format!("{}<svg width=\"100%\" {}", &svg[..start], &svg[vb..])
        }
        _ => svg,
    }
}

/// Legend rows: (swatch colour on an entry's first row, text).
fn legend_rows(legend: &[LegendEntry]) -> Vec<(Option<RGBColor>, String)> {
    let mut rows = Vec::new();
    for (label, c) in legend {
        for (k, part) in wrap(label, LEGEND_CHARS).into_iter().enumerate() {
            rows.push(((k == 0).then_some(*c), part));
        }
    }
    rows
}

/// `s` in pieces of at most `max` characters, broken after a space, `/` or `-` where one
/// falls in the second half of a piece, else mid-word.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let mut end = (i + max).min(chars.len());
        if end < chars.len()
            && let Some(b) = (i + max / 2..end)
                .rev()
                .find(|&j| matches!(chars[j], ' ' | '/' | '-'))
        {
            end = b + 1;
        }
        out.push(
            chars[i..end]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
        i = end;
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[(Option<RGBColor>, String)],
) -> Result<(), String> {
    let font = (FONT, LABEL).into_font();
    for (i, (c, text)) in rows.iter().enumerate() {
        let y = 4 + (i as u32 * LEGEND_ROW) as i32;
        if let Some(c) = c {
            area.draw(&Rectangle::new([(16, y + 3), (32, y + 17)], c.filled()))
                .map_err(err)?;
        }
        area.draw(&Text::new(text.clone(), (42, y + 2), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Axis-label count for an integer axis over `range`: at most one label per whole unit, so
/// plotters picks a whole-number step (1, 2, 5, 10 …) and never 0.2 or 0.5.
pub fn int_labels(range: &std::ops::Range<f64>) -> usize {
    let span = (range.end - range.start).floor();
    if span.is_finite() && span >= 1.0 {
        (span as usize + 1).min(10)
    } else {
        2
    }
}

/// An integer axis' label: whole numbers only (a non-whole key point gets none).
pub fn int_num(v: f64) -> String {
    let r = v.round();
    if (v - r).abs() > 1e-9 {
        String::new()
    } else if r.abs() >= 1e6 {
        format!("{r:.1e}")
    } else {
        format!("{r:.0}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_character_and_breaks_at_separators() {
        let label =
            "local/gemma3-270m-it-q4_k_m on the kitchen laptop with a very long device description";
        let parts = wrap(label, 30);
        assert!(parts.len() > 1 && parts.iter().all(|p| p.chars().count() <= 30));
        let joined: String = parts.concat();
        let squash = |s: &str| s.replace(' ', "");
        assert_eq!(squash(&joined), squash(label));
        assert_eq!(wrap("short", 30), vec!["short".to_string()]);
    }

    #[test]
    fn integer_axes_get_whole_steps_and_labels() {
        assert_eq!(int_labels(&(0.0..2.16)), 3);
        assert_eq!(int_labels(&(0.0..4400.0)), 10);
        assert_eq!(int_num(2.0), "2");
        assert_eq!(int_num(0.4), "");
        assert_eq!(int_num(4096.0), "4096");
    }

    #[test]
    fn figures_carry_a_view_box_and_no_pixel_width() {
        let s = svg(&[("a".into(), color(0))], |_| Ok(()));
        assert!(
            s.starts_with("<svg width=\"100%\" viewBox=\"0 0 880 "),
            "{s}"
        );
        let head = &s[..s.find('>').expect("an svg tag")];
        assert!(!head.contains("height="));
    }
}
