//! Metrics over scored items (items.csv) rather than requests: the share of items a model got
//! right. `accuracy` is over tool-call items, `compliance` over structured-output items (the
//! names summary.csv uses), each also per category (`accuracy:simple`, `compliance:nested`).
//!
//! The unit of a share is the item (one question), not the run: where a side holds several
//! runs of the same suite, an item answered in each counts once, with the mean of its
//! verdicts — repeating a deterministic suite asks the same questions again and adds no
//! independent evidence, so it must not narrow the interval.

use std::collections::BTreeMap;

use super::load::{Cell, Item};
use crate::measure::proportion::wilson_bounds;

/// `accuracy`, `compliance`, or either of them for one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMetric {
    /// As written on the command line: `accuracy:parallel`.
    pub name: String,
    /// The scenario kind whose items it counts: `tool_calls` or `structured`.
    pub kind: &'static str,
    pub category: Option<String>,
}

/// A share of items with its Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Share {
    /// Distinct items.
    pub n: usize,
    /// Items passed (a mean over runs where an item was answered more than once).
    pub k: f64,
    pub p: f64,
    pub low: f64,
    pub high: f64,
}

impl ItemMetric {
    /// The item metric a `--metric` name stands for, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        let (base, category) = match name.split_once(':') {
            Some((b, c)) if !c.trim().is_empty() => (b, Some(c.trim().to_string())),
            Some(_) => return None,
            None => (name, None),
        };
        let kind = match base {
            "accuracy" => "tool_calls",
            "compliance" => "structured",
            _ => return None,
        };
        Some(ItemMetric {
            name: name.to_string(),
            kind,
            category,
        })
    }

    /// What a reader sees in table titles.
    pub fn title(&self) -> String {
        let what = if self.kind == "structured" {
            "structured-output compliance"
        } else {
            "tool-call accuracy"
        };
        match &self.category {
            Some(c) => format!("{what}, category {c}"),
            None => what.to_string(),
        }
    }

    /// The items of `cell` this metric counts (none when the cell is of another kind).
    pub fn items<'a>(&'a self, cell: &'a Cell) -> impl Iterator<Item = &'a Item> + 'a {
        let kind_ok = cell.shape.kind == self.kind;
        cell.items
            .iter()
            .filter(move |i| kind_ok && self.category.as_ref().is_none_or(|c| *c == i.category))
    }

    /// The share over the items of several cells (the runs of one side); `None` without items.
    pub fn share<'a>(&self, cells: impl IntoIterator<Item = &'a Cell>) -> Option<Share> {
        share(cells.into_iter().flat_map(|c| self.items(c)))
    }
}

/// The share of passed items, one vote per distinct item id (see the module comment).
pub fn share<'a>(items: impl IntoIterator<Item = &'a Item>) -> Option<Share> {
    let mut by_item: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for i in items {
        let e = by_item.entry(i.item_id.as_str()).or_default();
        e.0 += usize::from(i.pass);
        e.1 += 1;
    }
    if by_item.is_empty() {
        return None;
    }
    let n = by_item.len();
    let k: f64 = by_item.values().map(|(k, m)| *k as f64 / *m as f64).sum();
    let p = k / n as f64;
    let (low, high) = wilson_bounds(p, n as f64);
    Some(Share { n, k, p, low, high })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, category: &str, pass: bool) -> Item {
        Item {
            item_id: id.into(),
            category: category.into(),
            pass,
            ..Item::default()
        }
    }

    #[test]
    fn names_parse_to_kind_and_category() {
        let a = ItemMetric::parse("accuracy:parallel").unwrap();
        assert_eq!(
            (a.kind, a.category.as_deref()),
            ("tool_calls", Some("parallel"))
        );
        assert_eq!(ItemMetric::parse("compliance").unwrap().kind, "structured");
        assert!(ItemMetric::parse("accuracy:").is_none());
        assert!(ItemMetric::parse("decode_tok_s").is_none());
    }

    #[test]
    fn an_item_answered_in_two_runs_counts_once() {
        let one = [item("a", "s", true), item("b", "s", false)];
        let s = share(&one).unwrap();
        assert_eq!((s.n, s.k, s.p), (2, 1.0, 0.5));
        let w = crate::measure::proportion::wilson(1, 2).unwrap();
        assert_eq!((s.low, s.high), (w.ci_low, w.ci_high));
        // The same two items again, `b` now right: still two items, b counts half.
        let two = [
            one[0].clone(),
            one[1].clone(),
            item("a", "s", true),
            item("b", "s", true),
        ];
        let s = share(&two).unwrap();
        assert_eq!((s.n, s.k), (2, 1.5));
        assert!(share(&[]).is_none());
    }
}
