//! Multimodal cases: median TTFT against the images' long side, one line per image count,
//! with the text-only twins as the floor. Case ids carry the grid point (`img896_x2`, twin
//! `img896_x2_text`), so the figure needs nothing beyond samples.csv.

use std::collections::BTreeMap;

use super::scaling::{Line, Pt, draw};
use super::{Chart, Figure};
use crate::measure::ratio::median_ci;
use crate::report::load::Dataset;
use crate::report::metric::get;

pub struct TtftVsImageSize;

/// `img896_x2` → (896, 2, false); `img896_x2_text` → (896, 2, true).
pub fn parse_image_case(id: &str) -> Option<(u32, u32, bool)> {
    let rest = id.strip_prefix("img")?;
    let (rest, twin) = match rest.strip_suffix("_text") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let (px, n) = rest.split_once("_x")?;
    Some((px.parse().ok()?, n.parse().ok()?, twin))
}

impl Chart for TtftVsImageSize {
    fn name(&self) -> &'static str {
        "ttft-vs-image-size"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let slot = get("ttft_ms").slot;
        // (series, images, twin) → size → TTFT values
        let mut g: BTreeMap<(usize, u32, bool), BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
        for c in ds.cells.iter().filter(|c| c.shape.kind == "multimodal") {
            if let Some((px, n, twin)) = parse_image_case(&c.case.case_id) {
                // Twins of every count are one floor per series: the text is the same.
                let n = if twin { 0 } else { n };
                g.entry((c.series, n, twin))
                    .or_default()
                    .entry(px)
                    .or_default()
                    .extend(c.values(slot));
            }
        }
        let lines: Vec<Line> = g
            .into_iter()
            .map(|((si, n, twin), by_px)| Line {
                label: if twin {
                    format!("{} text only", ds.series[si].label)
                } else {
                    format!(
                        "{} ×{n} image{}",
                        ds.series[si].label,
                        if n == 1 { "" } else { "s" }
                    )
                },
                series: si,
                pts: by_px
                    .into_iter()
                    .filter_map(|(px, v)| {
                        median_ci(&v).map(|m| Pt {
                            x: px as f64,
                            y: m.median,
                            ci: Some((m.low, m.high)),
                            tag: None,
                            n: m.n,
                        })
                    })
                    .collect(),
            })
            .filter(|l| !l.pts.is_empty())
            .collect();
        if !lines.iter().any(|l| l.pts.len() >= 2) {
            return Vec::new();
        }
        draw(
            ds,
            lines,
            "ttft-vs-image-size",
            "TTFT vs image size",
            "image long side (px)",
            "ms",
            "median TTFT (whiskers: 95% CI of the median) of requests with 1, 2, 4… images against the images' long side, and of the same prompts without images (text only)",
        )
        .into_iter()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids() {
        assert_eq!(parse_image_case("img896_x2"), Some((896, 2, false)));
        assert_eq!(parse_image_case("img224_x1_text"), Some((224, 1, true)));
        assert_eq!(parse_image_case("audio5s"), None);
    }
}
