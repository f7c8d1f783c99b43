//! What an interrupted run already holds, for `edgebench run --resume RUN_DIR`.
//!
//! A case whose summary rows were written is finished: it is not run again, and its rows
//! count towards the run's totals. A case with some sample rows but no summary runs only
//! its missing requests; its summary is then computed from the old and new rows together
//! (samples.csv holds every per-request value the summary needs, ITL lists included).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use super::case::CaseOutcome;
use crate::error::Result;
use crate::results::reader::{read_samples, read_summary};
use crate::results::{SampleRow, SummaryRow};

/// (backend, scenario, case id).
pub(crate) type CaseKey = (String, String, String);

#[derive(Default)]
pub(crate) struct ResumeState {
    rows: RefCell<HashMap<CaseKey, Vec<SampleRow>>>,
    summaries: HashMap<CaseKey, Vec<SummaryRow>>,
}

impl ResumeState {
    pub fn load(run_dir: &Path) -> Result<Self> {
        let mut rows: HashMap<CaseKey, Vec<SampleRow>> = HashMap::new();
        let samples = run_dir.join("samples.csv");
        if samples.exists() {
            for r in read_samples(&samples)?.rows {
                rows.entry((r.backend.clone(), r.scenario.clone(), r.case_id.clone()))
                    .or_default()
                    .push(r);
            }
        }
        let mut summaries: HashMap<CaseKey, Vec<SummaryRow>> = HashMap::new();
        let summary = run_dir.join("summary.csv");
        if summary.exists() {
            for r in read_summary(&summary)?.rows {
                summaries
                    .entry((r.backend.clone(), r.scenario.clone(), r.case_id.clone()))
                    .or_default()
                    .push(r);
            }
        }
        Ok(ResumeState {
            rows: RefCell::new(rows),
            summaries,
        })
    }

    /// The outcome of a case finished before the resume, or `None` if it must (still) run.
    pub fn finished(&self, key: &CaseKey) -> Option<CaseOutcome> {
        let summary = self.summaries.get(key)?.clone();
        let rows = self.rows.borrow_mut().remove(key).unwrap_or_default();
        let failed = rows.iter().filter(|r| r.error_category.is_some()).count();
        Some(CaseOutcome {
            total: rows.len(),
            failed,
            summary,
            warnings: Vec::new(),
        })
    }

    /// The rows a case measured before the resume (empty for a fresh run).
    pub fn take_rows(&self, key: &CaseKey) -> Vec<SampleRow> {
        let mut rows = self.rows.borrow_mut().remove(key).unwrap_or_default();
        rows.sort_by_key(|r| r.repetition);
        rows
    }
}
