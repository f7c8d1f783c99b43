//! What is sent: salted, token-exact prompts; needle-in-a-haystack prompts; request-rate send
//! schedules (`arrival`), length distributions (`lengths`) and a user's prompt files
//! (`prompts_file`); tool suites, how functions are shown to a model, and the agent loop's tool
//! simulator.

pub mod arrival;
pub mod conversation;
pub mod haystack;
pub mod lengths;
pub mod media;
pub mod needle;
pub mod prompt;
pub mod prompts_file;
pub mod simulator;
pub mod tool_format;
pub mod tool_suite;
