//! A device-to-device table as a report shows it, formatted once so that Markdown and HTML
//! agree to the digit: request metrics ([`super::model`]) and shares of items
//! ([`super::tools`]) both end up as one of these.

#[derive(Debug, Clone, serde::Serialize)]
pub struct CellView {
    pub value: String,
    pub n: usize,
    pub ratio: String,
    /// Non-empty when the ratio mixes results that are not like for like.
    pub warning: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RowView {
    pub case: String,
    pub cells: Vec<Option<CellView>>,
}

/// What a request table's cells say, under its title.
pub const REQUEST_NOTE: &str = "Median [95% CI]; below it the ratio to the reference median [95% bootstrap CI]; n = successful requests.";

#[derive(Debug, Clone, serde::Serialize)]
pub struct PivotView {
    pub title: String,
    pub unit: String,
    pub better: String,
    /// What the cells say ([`REQUEST_NOTE`] for request metrics).
    pub note: String,
    pub columns: Vec<String>,
    pub reference: usize,
    pub rows: Vec<RowView>,
}
