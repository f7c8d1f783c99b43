//! The integration tests: one binary (ripgrep style) pulling in one module per area.

mod report;
