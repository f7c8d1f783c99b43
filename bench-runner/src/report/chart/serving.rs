//! The serving overhead against concurrency: decode tok/s served ÷ in process (the same model
//! on the same device, see `report::serving`), one point per concurrency level with its 95%
//! CI, one line per pair and prompt/output shape. Drawn wherever such a pair exists.

use std::collections::BTreeMap;

use super::scaling::{Line, Pt, draw};
use super::{Chart, Figure};
use crate::report::load::Dataset;
use crate::report::serving;

pub struct ServingOverhead;

impl Chart for ServingOverhead {
    fn name(&self) -> &'static str {
        "serving-overhead"
    }

    fn figures(&self, ds: &Dataset) -> Vec<Figure> {
        let mut lines: BTreeMap<(usize, usize, String, u32, u32), Line> = BTreeMap::new();
        for r in serving::rows(ds) {
            let Some(ratio) = r.decode_ratio else {
                continue;
            };
            let key = (
                r.served,
                r.in_process,
                r.scenario.clone(),
                r.prompt_tokens,
                r.max_tokens,
            );
            let line = lines.entry(key).or_insert_with(|| Line {
                label: format!(
                    "{} ÷ {} pp{} tg{}",
                    ds.series[r.served].label,
                    ds.series[r.in_process].label,
                    r.prompt_tokens,
                    r.max_tokens
                ),
                series: r.served,
                pts: Vec::new(),
            });
            line.pts.push(Pt {
                x: r.concurrency as f64,
                y: ratio.ratio,
                ci: (ratio.low.is_finite() && ratio.high.is_finite())
                    .then_some((ratio.low, ratio.high)),
                tag: None,
                n: r.n.0 + r.n.1,
            });
        }
        let what = "decode tok/s of the served backend ÷ llama.cpp in process on the same model and device (median ratio, whiskers: 95% bootstrap CI), at each concurrency; 1.0 = serving costs nothing per token";
        draw(
            ds,
            lines.into_values().collect(),
            "serving-overhead",
            "Serving overhead vs concurrency",
            "requests in flight",
            "served ÷ in process",
            what,
        )
        .into_iter()
        .collect()
    }
}
