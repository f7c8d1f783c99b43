//! The integration tests: one binary (as ripgrep keeps them) to save link time.

mod llamacpp;
