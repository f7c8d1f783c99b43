//! The `prompt_tokens` and `max_tokens` axes of a serving scenario: each entry is a token
//! count (as always) or a length distribution (see `workload::lengths` for the maths):
//!
//! ```toml
//! prompt_tokens = [512, { dist = "normal", mean = 512, stddev = 128, min = 16, max = 4096 }]
//! max_tokens = [{ values = [64, 128, 512], weights = [0.5, 0.3, 0.2] }]
//! ```
//!
//! `min` and `max` of `normal` and `lognormal` default to the key's own bounds (16 and
//! 4,194,304 for a prompt, 1 and 1,048,576 for an output); `uniform` needs both.

use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::check_grid;
use crate::error::Result;
use crate::source;
use crate::workload::lengths::LengthDist;

/// One entry of a length axis as written.
#[derive(Debug)]
pub(super) enum RawLength {
    Fixed(u32),
    Dist(RawDist),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDist {
    dist: Option<String>,
    mean: Option<f64>,
    stddev: Option<f64>,
    min: Option<u32>,
    max: Option<u32>,
    values: Option<Vec<u32>>,
    weights: Option<Vec<f64>>,
}

// By hand, not `#[serde(untagged)]`: an untagged enum's error ("did not match any variant")
// would hide serde's own "invalid value: integer `-2`" and the table's "unknown field".
impl<'de> Deserialize<'de> for RawLength {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawLength;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a token count or a length table such as { dist = \"normal\", mean = 512, stddev = 128 }",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<RawLength, E> {
                u32::try_from(v)
                    .map(RawLength::Fixed)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<RawLength, E> {
                u32::try_from(v)
                    .map(RawLength::Fixed)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<RawLength, A::Error> {
                RawDist::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawLength::Dist)
            }
        }
        d.deserialize_any(V)
    }
}

/// A checked length axis: every entry in file order, and the fixed counts alone (what a
/// fixed-length case sends).
#[derive(Debug, Clone, Default)]
pub(super) struct Axis {
    pub all: Vec<LengthDist>,
    pub fixed: Vec<u32>,
}

/// Checks a length axis: non-empty, every fixed count within `floor..=ceil` and listed once
/// (the same messages as any grid), every distribution well-formed and within the bounds.
pub(super) fn check_axis(
    path: &Path,
    text: &str,
    key: &str,
    axis: &Spanned<Vec<Spanned<RawLength>>>,
    floor: u32,
    ceil: u32,
) -> Result<Axis> {
    let fixed: Vec<u32> = axis
        .get_ref()
        .iter()
        .filter_map(|e| match e.get_ref() {
            RawLength::Fixed(n) => Some(*n),
            RawLength::Dist(_) => None,
        })
        .collect();
    // The fixed counts get exactly the checks of any grid (and an empty axis its message).
    if !fixed.is_empty() || axis.get_ref().is_empty() {
        check_grid(
            path,
            text,
            key,
            &Spanned::new(axis.span(), fixed.clone()),
            floor,
            ceil,
        )?;
    }
    let mut out = Axis {
        fixed,
        ..Axis::default()
    };
    let mut labels = std::collections::BTreeSet::new();
    for e in axis.get_ref() {
        let d = match e.get_ref() {
            RawLength::Fixed(n) => LengthDist::Fixed(*n),
            RawLength::Dist(raw) => to_dist(raw, floor, ceil)
                .and_then(|d| d.validate(floor, ceil).map(|()| d))
                .map_err(|m| {
                    source::error_at(path, text, Some(e.span()), format!("`{key}`: {m}"))
                })?,
        };
        if !labels.insert(d.label()) {
            return Err(source::error_at(
                path,
                text,
                Some(e.span()),
                format!(
                    "`{key}` lists {} twice; each entry may appear once",
                    d.label()
                ),
            ));
        }
        out.all.push(d);
    }
    Ok(out)
}

fn to_dist(raw: &RawDist, floor: u32, ceil: u32) -> std::result::Result<LengthDist, String> {
    let given = |name: &str, present: bool| present.then(|| name.to_string());
    let extra = |allowed: &[&str]| -> Option<String> {
        [
            given("mean", raw.mean.is_some()),
            given("stddev", raw.stddev.is_some()),
            given("min", raw.min.is_some()),
            given("max", raw.max.is_some()),
            given("values", raw.values.is_some()),
            given("weights", raw.weights.is_some()),
        ]
        .into_iter()
        .flatten()
        .find(|k| !allowed.contains(&k.as_str()))
    };
    let need = |name: &str, v: Option<f64>| {
        v.ok_or_else(|| {
            format!(
                "`dist = \"{}\"` needs `{name}`",
                raw.dist.as_deref().unwrap_or_default()
            )
        })
    };
    match (raw.dist.as_deref(), &raw.values) {
        (None, Some(values)) => {
            if let Some(k) = extra(&["values", "weights"]) {
                return Err(format!(
                    "`{k}` does not belong to a list of values (only `values` and `weights`)"
                ));
            }
            Ok(LengthDist::Weighted {
                values: values.clone(),
                weights: raw.weights.clone().unwrap_or_default(),
            })
        }
        (Some(_), Some(_)) => Err("give `dist` or `values`, not both".into()),
        (Some(d @ ("normal" | "lognormal")), None) => {
            if let Some(k) = extra(&["mean", "stddev", "min", "max"]) {
                return Err(format!("`{k}` does not belong to `dist = \"{d}\"`"));
            }
            let (mean, stddev) = (need("mean", raw.mean)?, need("stddev", raw.stddev)?);
            let (min, max) = (raw.min.unwrap_or(floor), raw.max.unwrap_or(ceil));
            Ok(if d == "normal" {
                LengthDist::Normal {
                    mean,
                    stddev,
                    min,
                    max,
                }
            } else {
                LengthDist::LogNormal {
                    mean,
                    stddev,
                    min,
                    max,
                }
            })
        }
        (Some("uniform"), None) => {
            if let Some(k) = extra(&["min", "max"]) {
                return Err(format!(
                    "`{k}` does not belong to `dist = \"uniform\"` (only `min` and `max`)"
                ));
            }
            match (raw.min, raw.max) {
                (Some(min), Some(max)) => Ok(LengthDist::Uniform { min, max }),
                _ => Err("`dist = \"uniform\"` needs `min` and `max`".into()),
            }
        }
        (Some(other), None) => Err(format!(
            "unknown dist `{other}`; expected \"normal\", \"lognormal\" or \"uniform\" (or `values` with `weights`)"
        )),
        (None, None) => Err(
            "a length table needs `dist` (\"normal\", \"lognormal\", \"uniform\") or `values`"
                .into(),
        ),
    }
}
