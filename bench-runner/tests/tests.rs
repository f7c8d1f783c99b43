//! One integration-test binary (as ripgrep does it) to save link time; one module per topic.
//! These tests run the real `edgebench` binary against real engines: llama-server built by
//! `scripts/setup` on the Gemma 3 270M GGUF. No HTTP mocks.

mod architecture;
mod arena;
mod arena_judge;
mod arena_scale;
mod arena_vote_page;
mod batched;
mod cli_docs;
mod closed_lengths;
mod common;
mod context;
mod core_loop;
mod drift;
mod engine_streams;
mod failed_rows;
mod fault_proxy;
mod faults;
mod fuzz;
mod gate;
mod hangs;
mod hostile_names;
mod input_errors;
mod llamacpp;
mod load_keys;
mod load_report;
mod multimodal;
mod onnx;
mod onnx_real;
mod prompt_decoder;
mod publish;
mod rate_cases;
mod report;
mod report_items;
mod report_layout;
mod results_docs;
mod resume_old_header;
mod resume_retry;
mod resume_shard;
mod run_url;
mod scripts;
mod secrets;
mod sweep;
mod tool_calls;
mod vote_guard;
mod window;
