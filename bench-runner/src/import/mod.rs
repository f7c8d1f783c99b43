//! Results made by other tools, turned into edgebench runs so they join the same reports.

pub mod llama_batched_bench;
pub mod llama_bench;
