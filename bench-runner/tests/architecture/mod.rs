//! The architecture rules of docs/contributing.md, checked on the source tree so they hold
//! without a reviewer remembering them:
//!
//! - no import cycle between the files (or subfolders) of one folder;
//! - no upward import between the top-level modules ("Who may use whom": `MAY_USE` below),
//!   and no I/O or clock reads in the pure `measure` and `score`;
//! - no `.rs` file over `MAX_LINES` lines unless one of its first 30 lines says why it stays
//!   whole, with the marker `Stays whole:` in a comment (`// Stays whole: …` or `//! Stays whole: …`).
//!
//! The reader is a small tokenizer, not a Rust parser: comments, strings and test code
//! (`#[cfg(test)]` items and files) are blanked, then `use` trees and inline
//! `crate::`/`super::`/`self::` paths are resolved to the module files they name, following
//! one `pub use` re-export where a path stops at a folder's `mod.rs`. Every violation is
//! printed at once with its file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod lexer;
mod reader;
use reader::Tree;

/// Longest file without a written reason.
const MAX_LINES: usize = 600;
/// The marker of that reason, in a comment among a file's first `MARKER_WITHIN` lines.
const STAYS_WHOLE: &str = "Stays whole:";
const MARKER_WITHIN: usize = 30;

/// The foundation every floor may use: errors, the secret scrubber, hashing, reading sources.
const FOUNDATION: &[&str] = &["error", "secret", "hash", "source"];

/// Who may use whom, bottom floor first: the top-level modules of the library each one may
/// import besides itself. `backend::protocol` (the wire vocabulary, pure data) is open to all.
/// A new top-level module needs a line here and a sentence in docs/contributing.md.
const MAY_USE: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("secret", &["error"]),
    ("hash", &["error"]),
    ("source", &["error"]),
    // Pure: no I/O, no clock reads of their own (see PURE_FORBIDS).
    ("measure", &["error"]),
    ("score", &["error", "measure"]),
    // Knows nothing of scenarios, results or reports.
    ("backend", &["@foundation", "measure", "score"]),
    // May use measure and nothing above it.
    ("results", &["@foundation", "measure"]),
    // May not reach up into scenario.
    ("workload", &["@foundation", "measure", "score", "backend"]),
    (
        "scenario",
        &["@foundation", "measure", "score", "backend", "workload"],
    ),
    (
        "runner",
        &[
            "@foundation",
            "measure",
            "score",
            "backend",
            "workload",
            "scenario",
            "results",
        ],
    ),
    (
        "import",
        &[
            "@foundation",
            "measure",
            "score",
            "backend",
            "workload",
            "scenario",
            "results",
        ],
    ),
    // Reads what runs wrote; nothing that talks to a model.
    ("report", &["@foundation", "measure", "score", "results"]),
    // The judge is a backend.
    (
        "arena",
        &[
            "@foundation",
            "measure",
            "score",
            "results",
            "report",
            "backend",
        ],
    ),
    // The static site: rankings and what runs wrote; nothing that talks to a model.
    (
        "publish",
        &["@foundation", "measure", "results", "report", "arena"],
    ),
];

/// What the pure floors may not name: files, sockets, processes, the environment, async
/// runtimes, HTTP, printing, and clock reads.
const PURE: &[&str] = &["measure", "score"];
const PURE_FORBIDS: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "tokio",
    "reqwest",
    "Instant::now",
    "SystemTime::now",
    "println!",
    "eprintln!",
    "print!",
    "stdout",
    "stderr",
];

#[test]
fn the_source_tree_keeps_the_architecture_rules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tree = Tree::read(&src);
    assert!(
        tree.file_count() > 50,
        "read {} files under {}",
        tree.file_count(),
        src.display()
    );
    let broken = tree.violations();
    assert!(
        broken.is_empty(),
        "{} architecture rule(s) broken (docs/contributing.md, \"Who may use whom\"):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The checks must be able to fail: synthetic trees that break each rule once.

fn tree(files: &[(&str, &str)]) -> Tree {
    Tree::from_files(
        files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect(),
    )
}

#[test]
fn a_cycle_between_two_files_of_a_folder_is_found() {
    let t = tree(&[
        ("lib.rs", "pub mod arena;\n"),
        (
            "arena/mod.rs",
            "mod rate;\nmod speed;\npub use rate::Row;\n",
        ),
        (
            "arena/rate.rs",
            "use super::speed::join;\npub struct Row;\n",
        ),
        (
            "arena/speed.rs",
            "// Row reached through the folder's re-export.\nuse super::Row;\npub fn join() {}\n",
        ),
    ]);
    let v = t.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("import cycle in src/arena/"), "{}", v[0]);
    assert!(
        v[0].contains("src/arena/rate.rs:1") && v[0].contains("src/arena/speed.rs:2"),
        "{}",
        v[0]
    );
}

#[test]
fn a_cycle_through_crate_paths_braces_and_inline_paths_is_found() {
    let t = tree(&[
        ("lib.rs", "pub mod runner;\n"),
        ("runner/mod.rs", "mod a;\nmod b;\nmod c;\n"),
        (
            "runner/a.rs",
            "use crate::{error::Error, runner::{b::{self, X}}};\n",
        ),
        (
            "runner/b.rs",
            "pub struct X;\nfn f() { let _ = crate::runner::c::g(); }\n",
        ),
        (
            "runner/c.rs",
            "pub fn g() {}\n/* use super::b; */\nfn h() { super::a::k() }\n",
        ),
    ]);
    let v = t.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    for f in [
        "src/runner/a.rs:1",
        "src/runner/b.rs:2",
        "src/runner/c.rs:3",
    ] {
        assert!(v[0].contains(f), "{f} in {}", v[0]);
    }
}

#[test]
fn test_code_comments_and_strings_make_no_edges() {
    let t = tree(&[
        ("lib.rs", "pub mod measure;\npub mod report;\n"),
        ("report/mod.rs", "mod a;\nmod b;\n"),
        ("report/a.rs", "use super::b::X;\n"),
        (
            "report/b.rs",
            "pub struct X;\nconst S: &str = \"use super::a;\";\n// use super::a;\n#[cfg(test)]\nmod tests {\n    use super::super::a;\n}\n",
        ),
        (
            "measure/mod.rs",
            "fn f<'a>(x: &'a str) -> char { let _ = \"std::fs\"; 'x' }\n#[cfg(test)]\n#[path = \"t.rs\"]\nmod tests;\n",
        ),
        (
            "measure/t.rs",
            "use crate::report::a; fn t() { std::fs::read(\"x\"); }\n",
        ),
    ]);
    assert_eq!(t.violations(), Vec::<String>::new());
}

#[test]
fn an_upward_import_and_io_in_a_pure_module_are_found() {
    let t = tree(&[
        (
            "lib.rs",
            "pub mod backend;\npub mod scenario;\npub mod score;\npub mod workload;\n",
        ),
        (
            "backend/mod.rs",
            "pub mod protocol;\npub use protocol::RawCall;\nuse crate::scenario::Scenario;\n",
        ),
        ("backend/protocol.rs", "pub struct RawCall;\n"),
        ("scenario/mod.rs", "pub struct Scenario;\n"),
        // The wire vocabulary is open to all, also through a re-export.
        (
            "score/mod.rs",
            "pub use crate::backend::RawCall;\nfn f() { let _ = std::fs::read(\"x\"); }\n",
        ),
        (
            "workload/mod.rs",
            "fn f() -> crate::scenario::Scenario { todo!() }\n",
        ),
    ]);
    let v = t.violations();
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(
        v.iter()
            .any(|x| x
                .starts_with("src/backend/mod.rs:3: upward import: backend may not use scenario")),
        "{v:#?}"
    );
    assert!(
        v.iter().any(|x| x
            .starts_with("src/workload/mod.rs:1: upward import: workload may not use scenario")),
        "{v:#?}"
    );
    assert!(
        v.iter()
            .any(|x| x.starts_with("src/score/mod.rs:2: score is pure but names `std::fs`")),
        "{v:#?}"
    );
}

#[test]
fn a_long_file_needs_its_reason_near_the_top() {
    let long = "fn f() {}\n".repeat(MAX_LINES + 1);
    let with_reason =
        format!("//! A parser.\n// Stays whole: one grammar, one state machine.\n{long}");
    let late_reason = format!(
        "{}// Stays whole: too late.\n{long}",
        "\n".repeat(MARKER_WITHIN)
    );
    let t = tree(&[
        ("lib.rs", "pub mod measure;\n"),
        ("measure/mod.rs", "mod a;\nmod b;\nmod c;\n"),
        ("measure/a.rs", &long),
        ("measure/b.rs", &with_reason),
        ("measure/c.rs", &late_reason),
    ]);
    let v = t.violations();
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v[0].starts_with("src/measure/a.rs: 601 lines"), "{}", v[0]);
    assert!(v[1].starts_with("src/measure/c.rs:"), "{}", v[1]);
}

#[test]
fn a_top_level_module_without_a_floor_is_reported() {
    let t = tree(&[
        ("lib.rs", "pub mod gadget;\n"),
        ("gadget.rs", "use crate::error::Error;\n"),
    ]);
    let v = t.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("`gadget` has no floor"), "{}", v[0]);
}
