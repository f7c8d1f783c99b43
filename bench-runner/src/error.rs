//! Typed errors of the library, one enum for all modules (as hyperfine keeps them).
//!
//! Each variant knows its process exit code, so the CLI edge only has to ask:
//! 0 success, 1 gate failed / regression found, 2 bad usage or bad input, 3 a backend failed.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mistake in a scenario or config file, located to line and column.
    #[error("{}:{line}:{col}: {message}", path.display())]
    Input {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },

    /// Several mistakes in one file, each an `Input` error, in the order they were found.
    /// One per line; the CLI's `error: ` prefix is repeated on each line after the first.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: "))]
    Inputs(Vec<Error>),

    /// A file could not be read or is not what it should be (no position to give).
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },

    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),

    /// A backend could not be started, reached or used at all.
    #[error("backend '{backend}': {message}")]
    Backend { backend: String, message: String },

    /// The run finished, but some requests failed; they are error rows in samples.csv.
    #[error("{failed} of {total} requests failed (see the error_category column of {})", samples.display())]
    RequestsFailed {
        failed: usize,
        total: usize,
        samples: PathBuf,
    },

    /// Writing results failed (disk full, permissions…).
    #[error("writing results to {}: {message}", path.display())]
    Results { path: PathBuf, message: String },

    /// The user pressed Ctrl-C; launched servers have been stopped.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::Inputs(_)
            | Error::File { .. }
            | Error::Usage(_)
            | Error::Results { .. } => 2,
            Error::Backend { .. } | Error::RequestsFailed { .. } => 3,
            Error::Interrupted => 130,
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    pub fn backend(backend: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Backend {
            backend: backend.into(),
            message: message.to_string(),
        }
    }

    pub fn results(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Results {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
