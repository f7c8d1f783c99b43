//! Correctness scorers. Pure: text in, verdict out; no I/O, no backend.

pub mod recall;
