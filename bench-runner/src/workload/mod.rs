//! What is sent: salted, token-exact prompts.

pub mod prompt;
