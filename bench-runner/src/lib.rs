//! edgebench: benchmarks language models on devices and servers — speed, correctness and
//! arena rankings in one run. See DESIGN.md for the map; each module is one concept.

pub mod arena;
pub mod backend;
pub mod error;
pub mod hash;
pub mod import;
pub mod measure;
pub mod publish;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod score;
pub mod secret;
pub mod source;
pub mod workload;

pub use error::{Error, Result};
