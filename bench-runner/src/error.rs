//! Typed errors of the library, one enum for all modules (as hyperfine keeps them).
//!
//! Each variant knows its process exit code, so the CLI edge only has to ask:
//! 0 success, 1 gate failed / regression found, 2 bad usage or bad input, 3 a backend failed.
//!
//! Variants that carry a cause (`ReadFile`, `WriteResults`, `BadRow`, `Template`, `Listen`, …)
//! keep it as `source()` for programs and also say it in their own message, so every place
//! that prints an error with `{}` shows the whole story; the CLI therefore prints the message,
//! not the chain (which would repeat the cause).

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

    /// A file could not be read or decoded (io, CSV, JSON); the cause is kept.
    #[error("{}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: Cause,
    },

    /// A row of a results CSV file could not be read (`row` counts the header as 1).
    #[error("{}: row {row}: {source}", path.display())]
    BadRow {
        path: PathBuf,
        row: usize,
        #[source]
        source: Cause,
    },

    /// The folder named for a new run already holds one; `instead` says what to do.
    #[error("{} already holds a run; {instead}", path.display())]
    RunFolderExists {
        path: PathBuf,
        instead: &'static str,
    },

    // Named conditions of results/, arena/, import/ and the CLI (issue 17, step 5): each was a
    // `Usage` or `File` message; the messages are the ones printed before.
    /// An existing results file has other columns than this version writes: not appended to.
    #[error("writing results to {}: existing file has other columns (another schema version?); refusing to append", path.display())]
    OtherColumns { path: PathBuf },

    /// Runs to merge used different files under one scenario name: not the same experiment.
    #[error("scenario `{scenario}` differs between {} and {} (file hashes {}… and {}…): not the same experiment", .runs[0], .runs[1], short_hash(&.hashes[0]), short_hash(&.hashes[1]))]
    ScenarioDiffers {
        scenario: String,
        runs: [String; 2],
        hashes: [String; 2],
    },

    /// Runs to merge ran one backend on one device with different model files.
    #[error("backend `{backend}` on `{device}` ran different model files in {} and {}", .runs[0], .runs[1])]
    ModelFilesDiffer {
        backend: String,
        device: String,
        runs: [String; 2],
    },

    /// A sample row to merge is already in another input (e.g. a shard merged twice).
    #[error("duplicate row in {}: {row} is already in another input", input.display())]
    DuplicateRow { input: PathBuf, row: String },

    /// A summary row to merge is already in another input.
    #[error("duplicate summary in {}: {row}", input.display())]
    DuplicateSummary { input: PathBuf, row: String },

    /// Two backends of an arena run answer as the same model label.
    #[error("backends {} and {} both serve model `{model}`; give one a `model` name in the config", .backends[0], .backends[1])]
    SameModelTwice {
        model: String,
        backends: [String; 2],
    },

    /// The battles left after filtering are among fewer than two models: nothing to rank.
    #[error("need battles among at least 2 models; found {models} model(s) in {battles} battle(s){}", dropped_note(.dropped))]
    TooFewModels {
        models: usize,
        battles: usize,
        /// "N dropped: why" per reason rows were dropped.
        dropped: Vec<String>,
    },

    /// `--anchor` names a model that is in no battle.
    #[error("--anchor: no model `{model}` among the battles")]
    UnknownAnchor { model: String },

    /// Neither interval method can be used: no bootstrap rounds and a singular sandwich matrix.
    #[error("no intervals: --rounds 0 and the sandwich matrix is singular")]
    NoIntervals,

    /// A built-in HTML template could not be compiled or rendered.
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },

    /// The vote page could not bind its address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// The vote page's server stopped with an error.
    #[error("server error: {source}")]
    Serve {
        #[source]
        source: std::io::Error,
    },

    /// The async runtime of the commands that talk to servers could not be built.
    #[error("cannot start the async runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },

    /// The command line asks for something impossible (an argument missing, out of range or
    /// contradicting another). Conditions found in files or runs have variants of their own.
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

    /// Writing results failed (disk full, permissions…); the cause is kept.
    #[error("writing results to {}: {source}", path.display())]
    WriteResults {
        path: PathBuf,
        #[source]
        source: Cause,
    },

    /// The user pressed Ctrl-C; launched servers have been stopped.
    #[error("interrupted")]
    Interrupted,

    /// A backend could not be started or reached at all: `doing` says what was tried, and
    /// the cause (io, http) is kept.
    #[error("backend '{backend}': {doing}: {source}")]
    BackendCause {
        backend: String,
        doing: String,
        #[source]
        source: Cause,
    },

    // `edgebench run` (runner/): conditions named instead of a `Usage` string; exit code 2.
    /// No scenario file was named.
    #[error("name at least one scenario file")]
    NoScenario,

    /// `--retry-failed` without `--resume`.
    #[error("--retry-failed goes with --resume RUN_DIR")]
    RetryWithoutResume,

    /// `--resume` of a run whose run.json does not record how it was made (older edgebench).
    #[error(
        "run.json does not record how the run was made (an older edgebench wrote it); it cannot be resumed"
    )]
    ResumeUnrecorded { run_dir: PathBuf },

    /// `--resume` refused: scenario or backend config files changed since the run started.
    #[error("cannot resume: {} changed since the run started; pass --force to resume anyway", changed.join(", "))]
    ResumeChanged { changed: Vec<String> },

    /// A context scenario's lengths cannot be resolved on this backend.
    #[error("{}: {message}", path.display())]
    ContextLengths { path: PathBuf, message: String },

    /// A multimodal item's media could not be made (bad size, espeak-ng failed, encoder).
    #[error("{scenario} case {case}: {source}")]
    Media {
        scenario: String,
        case: String,
        // Boxed: `error` sits below every floor, so it cannot name workload's `MediaError`.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A structured-output item's JSON schema does not compile.
    #[error("item {item}: {message}")]
    ItemSchema { item: String, message: String },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::Inputs(_)
            | Error::File { .. }
            | Error::ReadFile { .. }
            | Error::BadRow { .. }
            | Error::RunFolderExists { .. }
            | Error::OtherColumns { .. }
            | Error::ScenarioDiffers { .. }
            | Error::ModelFilesDiffer { .. }
            | Error::DuplicateRow { .. }
            | Error::DuplicateSummary { .. }
            | Error::SameModelTwice { .. }
            | Error::TooFewModels { .. }
            | Error::UnknownAnchor { .. }
            | Error::NoIntervals
            | Error::Template { .. }
            | Error::Listen { .. }
            | Error::Serve { .. }
            | Error::Runtime { .. }
            | Error::WriteResults { .. }
            | Error::Usage(_)
            | Error::Results { .. } => 2,
            Error::Backend { .. } | Error::RequestsFailed { .. } | Error::BackendCause { .. } => 3,
            Error::NoScenario
            | Error::RetryWithoutResume
            | Error::ResumeUnrecorded { .. }
            | Error::ResumeChanged { .. }
            | Error::ContextLengths { .. }
            | Error::Media { .. }
            | Error::ItemSchema { .. } => 2,
            Error::Interrupted => 130,
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Reading or decoding `path` failed with `cause` (an io, CSV or JSON error).
    pub fn read(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        Error::ReadFile {
            path: path.into(),
            source: cause.into(),
        }
    }

    /// Writing or encoding results to `path` failed with `cause` (an io, CSV or JSON error).
    pub fn write(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        Error::WriteResults {
            path: path.into(),
            source: cause.into(),
        }
    }

    pub fn backend(backend: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Backend {
            backend: backend.into(),
            message: message.to_string(),
        }
    }

    /// Starting or reaching backend `backend` failed while `doing` something, with `cause`.
    pub fn backend_cause(
        backend: impl Into<String>,
        doing: impl std::fmt::Display,
        cause: impl Into<Cause>,
    ) -> Self {
        Error::BackendCause {
            backend: backend.into(),
            doing: doing.to_string(),
            source: cause.into(),
        }
    }

    pub fn results(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Results {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// The first twelve characters of a file hash, as messages show it (whole if shorter, and never
/// cut inside a character: run.json is a file people edit).
fn short_hash(sha: &str) -> &str {
    sha.char_indices().nth(12).map_or(sha, |(i, _)| &sha[..i])
}

/// " (N dropped: why; …)" after a count of battles, or nothing when none were dropped.
fn dropped_note(dropped: &[String]) -> String {
    if dropped.is_empty() {
        String::new()
    } else {
        format!(" ({})", dropped.join("; "))
    }
}

/// The underlying error of a file that could not be read or written (or of a backend that
/// could not be reached), kept as it came.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_keeps_its_io_cause_and_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.toml");
        let e = crate::source::read(&path).unwrap_err();
        let Some(Cause::Io(io)) = e.source().and_then(|s| s.downcast_ref::<Cause>()) else {
            panic!("the io error is the cause: {e:?}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        // The message is the one printed before causes were kept: `path: io message`.
        assert_eq!(e.to_string(), format!("{}: {io}", path.display()));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn results_that_cannot_be_written_keep_their_cause_and_their_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-folder").join("samples.csv");
        let e = match crate::results::writer::CsvAppender::open(&path, &["a"]) {
            Err(e) => e,
            Ok(_) => panic!("a file in a missing folder cannot be created"),
        };
        let cause = e.source().expect("the cause is kept");
        assert!(matches!(e, Error::WriteResults { .. }));
        assert_eq!(
            e.to_string(),
            format!("writing results to {}: {cause}", path.display())
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_row_that_cannot_be_read_keeps_its_csv_cause_and_its_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("samples.csv");
        std::fs::write(
            &p,
            "run_id,backend,scenario,case_id,ttft_ms\nr,b,s,c,1\nr,b,s,c,fast\n",
        )
        .unwrap();
        let read = crate::results::reader::read_samples(&p).unwrap_err();
        let visited = crate::results::reader::visit_samples(&p, |_| Ok(())).unwrap_err();
        for e in [read, visited] {
            let Some(Cause::Csv(csv)) = e.source().and_then(|s| s.downcast_ref::<Cause>()) else {
                panic!("the csv error is the cause: {e:?}");
            };
            assert!(matches!(e, Error::BadRow { row: 3, .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("{}: row 3: {csv}", p.display()));
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn merging_into_a_run_folder_names_the_condition_with_the_same_message() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("merged");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("run.json"), "{}").unwrap();
        let runs = [dir.path().join("a"), dir.path().join("b")];
        let e = crate::results::merge::merge(&runs, &out).unwrap_err();
        assert!(matches!(&e, Error::RunFolderExists { path, .. } if path == &out));
        assert_eq!(
            e.to_string(),
            format!(
                "{} already holds a run; merge into a new folder",
                out.display()
            )
        );
        assert_eq!(e.exit_code(), 2);
    }
}
