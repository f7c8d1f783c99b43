//! `items.csv`: one row per scored item (tool-call and structured-output scenarios).
//!
//! Why a file of its own rather than more columns in `samples.csv`: a sample is one request,
//! an item is one question — an agent item makes several requests, and a verdict belongs to
//! the item, not to any one request. Keeping them apart leaves `samples.csv` (and every
//! reader of it) unchanged; each request of an item still gets its `samples.csv` row, so
//! speed figures come from one place, and `items.csv` carries the item's verdict beside its
//! own TTFT, decode speed and E2E so "correct and fast" can be read off one row.

use serde::{Deserialize, Serialize};

pub const ITEM_COLUMNS: &[&str] = &[
    "run_id",
    "backend",
    "model",
    "device",
    "scenario",
    "case_id",
    "kind",
    "mode",
    "depth",
    "suite",
    "item_id",
    "category",
    "started_at",
    "requests",
    "pass",
    "failure_category",
    "lenient_pass",
    "malformed_calls",
    "calls",
    "detail",
    "prompt_tokens",
    "output_tokens",
    "max_tokens",
    "ttft_ms",
    "decode_tok_s",
    "e2e_ms",
    "within_latency_target",
    "finish_reason",
    "error_message",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ItemRow {
    pub run_id: String,
    pub backend: String,
    pub model: String,
    pub device: String,
    pub scenario: String,
    pub case_id: String,
    /// `tool_calls` or `structured`.
    pub kind: String,
    /// `native` / `prompt` (tool calls), `constrained` / `unconstrained` (structured).
    pub mode: String,
    /// Filler tokens placed before the question (requested; see `prompt_tokens` for actual).
    pub depth: u32,
    pub suite: String,
    pub item_id: String,
    pub category: String,
    pub started_at: String,
    /// Requests made for the item (more than 1 for agent items).
    pub requests: u32,
    pub pass: bool,
    /// Empty when the item passed; else one failure category (see docs/results.md).
    pub failure_category: Option<String>,
    /// Tool calls, native mode: the verdict had calls written as text counted as calls.
    pub lenient_pass: Option<bool>,
    /// Agent items: calls that could not be used (invalid JSON, written as text).
    pub malformed_calls: u32,
    /// The calls that were scored, as JSON `[{"name": …, "arguments": {…}}]`.
    pub calls: String,
    pub detail: String,
    /// Prompt tokens of the (last) request, as the server counted them.
    pub prompt_tokens: Option<u64>,
    /// Output tokens over all the item's requests.
    pub output_tokens: Option<u64>,
    pub max_tokens: u32,
    /// TTFT of the item's first request.
    pub ttft_ms: Option<f64>,
    /// Mean decode speed over the item's requests.
    pub decode_tok_s: Option<f64>,
    /// Sum of the item's requests' E2E.
    pub e2e_ms: Option<f64>,
    /// Whether `e2e_ms` ≤ the scenario's `latency_target_ms` (empty without a target).
    pub within_latency_target: Option<bool>,
    pub finish_reason: Option<String>,
    pub error_message: Option<String>,
}

pub fn read_items(path: &std::path::Path) -> crate::error::Result<super::reader::Rows<ItemRow>> {
    super::reader::read(path, ITEM_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_struct() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(ItemRow::default()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header, ITEM_COLUMNS);
    }
}
