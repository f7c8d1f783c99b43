//! What is sent: salted, token-exact prompts and needle-in-a-haystack prompts.

pub mod haystack;
pub mod prompt;
