//! What a case leaves behind for the run's totals and final table. Its own file because the
//! resume state, which `ctx` holds, and every kind runner name it.

use crate::results::SummaryRow;

/// A finished case: its request counts, summary rows and the warnings a reader must see.
pub(crate) struct CaseOutcome {
    pub total: usize,
    pub failed: usize,
    pub summary: Vec<SummaryRow>,
    pub warnings: Vec<String>,
}
