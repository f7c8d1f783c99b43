//! Correctness scorers. Pure: no I/O, no backend — they take what a model produced and what
//! was expected, and return a verdict with one failure category.
//!
//! - [`ast`]: the Berkeley Function Calling Leaderboard's AST checker rules (BFCL v4),
//!   re-implemented over JSON values;
//! - [`text_calls`]: prompt mode — calls written as text (`[f(a=1)]` or JSON) parsed back;
//! - [`bfcl_decode`]: prompt mode as BFCL reads it (one Python call list, else no call);
//! - [`failure`]: the failure categories recorded per item;
//! - [`verdict`]: one item's verdict from its extraction (native or prompt) and the checker;
//! - [`schema`]: structured output — JSON Schema (Draft 2020-12) compliance;
//! - [`repetition`]: "the same text repeated without finishing", a stall symptom;
//! - [`recall`]: needle recall (RULER's string_match_all) and the effective context length;
//! - [`exact`]: exact match of short answers after normalisation (multimodal items);
//! - [`lang`]: BFCL's Java / JavaScript argument strings turned into values before checking.

pub mod ast;
pub mod bfcl_decode;
pub mod call;
pub mod exact;
pub mod failure;
pub mod lang;
pub mod normalize;
pub mod recall;
pub mod repetition;
pub mod schema;
pub mod text_calls;
pub mod verdict;

pub use call::{Call, ExpectedCall, RawCall};
pub use failure::Failure;
pub use verdict::{Extraction, ItemVerdict, Mode, Outcome, PromptDecoder, score_tool_item};
