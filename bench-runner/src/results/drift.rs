//! `drift.csv`: what the drift scenario measured, one row per scored position of a
//! teacher-forced sequence (`forced_*` cases) and one per free-running prompt (`free`), each
//! naming the candidate (`backend`) and the `reference` it was compared with. The summary
//! rows of summary.csv are built from these; the report draws its figures from them.

use serde::{Deserialize, Serialize};

pub const DRIFT_COLUMNS: &[&str] = &[
    "run_id",
    "scenario",
    "case_id",
    "backend",
    "reference",
    "sequence",
    "text_kind",
    "position",
    "token",
    "kl",
    "kl_top_k_only",
    "same_top",
    "reference_logprob",
    "candidate_logprob",
    "reference_scored",
    "candidate_scored",
    "identical",
    "first_divergence",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DriftRow {
    pub run_id: String,
    pub scenario: String,
    pub case_id: String,
    /// The candidate.
    pub backend: String,
    pub reference: String,
    /// 0-based index of the sequence (forced) or prompt (free) within its case.
    pub sequence: u32,
    /// `prose`, `code` or `chat`.
    pub text_kind: String,
    /// Forced rows: the position scored (the distribution after tokens 0..=position).
    pub position: Option<u32>,
    /// Forced rows: the token that actually follows.
    pub token: Option<u32>,
    /// KL(reference ‖ candidate) in nats at this position.
    pub kl: Option<f64>,
    /// The KL is on the shared top-k support, renormalised (a side gave top-k only).
    pub kl_top_k_only: Option<bool>,
    pub same_top: Option<bool>,
    /// ln P(token) on each side (empty where a top-k-only side did not return it).
    pub reference_logprob: Option<f64>,
    pub candidate_logprob: Option<f64>,
    /// How each side was scored: `full_logits` or `prefix_steps`.
    pub reference_scored: String,
    pub candidate_scored: String,
    /// Free rows: both greedy continuations are the same tokens.
    pub identical: Option<bool>,
    /// Free rows: the first token index where they differ (empty when identical).
    pub first_divergence: Option<u32>,
}

pub fn read_drift(path: &std::path::Path) -> crate::error::Result<super::reader::Rows<DriftRow>> {
    super::reader::read(path, DRIFT_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_struct() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(DriftRow::default()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header, DRIFT_COLUMNS);
    }
}
