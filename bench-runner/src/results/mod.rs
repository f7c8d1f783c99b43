//! Results on disk: the CSV schema, the crash-safe writer and reader, the run manifest and
//! the host fingerprint.

pub mod bandwidth;
pub mod device;
pub mod drift;
pub mod items;
pub mod manifest;
pub mod markdown;
pub mod media;
pub mod merge;
pub mod metric;
pub mod reader;
pub mod schema;
pub mod summary;
pub mod transcript;
pub mod writer;

pub use manifest::RunManifest;
pub use schema::{SCHEMA_VERSION, SampleRow, SummaryRow};
pub use writer::CsvAppender;
