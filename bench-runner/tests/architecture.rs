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
        tree.files.len() > 50,
        "read {} files under {}",
        tree.files.len(),
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

// ---------------------------------------------------------------------------------------
// The reader.

/// Which crate a file belongs to: the library, or the binary (`main.rs` and the modules it
/// declares), which sits on top and may use everything.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Krate {
    Lib,
    Bin,
}

type ModPath = Vec<String>;

struct File {
    /// Path under src/, with `/`.
    rel: String,
    krate: Krate,
    module: ModPath,
    raw: String,
    /// The text with comments, strings and test items blanked (newlines kept).
    code: String,
    is_test: bool,
}

struct UseDecl {
    path: Vec<String>,
    /// The name it brings in (`*` for a glob).
    name: String,
    public: bool,
    line: usize,
}

struct Tree {
    files: Vec<File>,
    /// (crate, module) → index into files.
    modules: BTreeMap<(Krate, ModPath), usize>,
    uses: Vec<Vec<UseDecl>>,
    /// Inline paths (not in `use`): (segments, line).
    inline: Vec<Vec<(Vec<String>, usize)>>,
}

impl Tree {
    fn read(src: &Path) -> Tree {
        let mut files = Vec::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p
                        .strip_prefix(src)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    files.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        files.sort();
        Tree::from_files(files)
    }

    fn from_files(files: Vec<(String, String)>) -> Tree {
        let bin_roots: BTreeSet<String> = files
            .iter()
            .find(|(r, _)| r == "main.rs")
            .map(|(_, t)| declared_mods(&clean(t)))
            .unwrap_or_default();
        let mut tests: BTreeSet<String> = BTreeSet::new();
        for (rel, raw) in &files {
            tests.extend(test_module_files(rel, raw));
        }
        let mut out: Vec<File> = files
            .into_iter()
            .map(|(rel, raw)| {
                let (krate, module) = module_of(&rel, &bin_roots);
                let code = strip_test_items(&clean(&raw));
                File {
                    is_test: tests.contains(&rel),
                    rel,
                    krate,
                    module,
                    raw,
                    code,
                }
            })
            .collect();
        // A file below a test module file is test code too.
        let test_mods: Vec<(Krate, ModPath)> = out
            .iter()
            .filter(|f| f.is_test)
            .map(|f| (f.krate, f.module.clone()))
            .collect();
        for f in &mut out {
            if test_mods
                .iter()
                .any(|(k, m)| *k == f.krate && f.module.starts_with(m))
            {
                f.is_test = true;
            }
        }
        let modules = out
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_test)
            .map(|(i, f)| ((f.krate, f.module.clone()), i))
            .collect();
        let (uses, inline) = out.iter().map(|f| paths(&f.code)).unzip();
        Tree {
            files: out,
            modules,
            uses,
            inline,
        }
    }

    fn violations(&self) -> Vec<String> {
        let mut v = self.cycles();
        v.extend(self.upward());
        v.extend(self.long_files());
        v
    }

    /// The module a path names from file `i`, following re-exports; `None` for other crates,
    /// std and local names.
    fn resolve(&self, i: usize, segs: &[String]) -> Option<(Krate, ModPath)> {
        self.resolve_at(i, segs, 0)
    }

    fn resolve_at(&self, i: usize, segs: &[String], depth: usize) -> Option<(Krate, ModPath)> {
        let f = &self.files[i];
        let (krate, base, rest): (Krate, ModPath, &[String]) = match segs.first()?.as_str() {
            "crate" => (f.krate, vec![], &segs[1..]),
            "edgebench" if f.krate == Krate::Bin => (Krate::Lib, vec![], &segs[1..]),
            "self" => (f.krate, f.module.clone(), &segs[1..]),
            "super" => {
                let mut base = f.module.clone();
                let mut k = 0;
                while segs.get(k).is_some_and(|s| s == "super") {
                    base.pop()?;
                    k += 1;
                }
                (f.krate, base, &segs[k..])
            }
            first => {
                // A name relative to this module: only a child module counts (else extern).
                let mut child = f.module.clone();
                child.push(first.to_string());
                if !self.modules.contains_key(&(f.krate, child)) {
                    return None;
                }
                (f.krate, f.module.clone(), segs)
            }
        };
        self.longest(krate, base, rest, depth)
    }

    fn longest(
        &self,
        krate: Krate,
        base: ModPath,
        rest: &[String],
        depth: usize,
    ) -> Option<(Krate, ModPath)> {
        let mut m = base;
        let mut k = 0;
        while k < rest.len() {
            let mut next = m.clone();
            next.push(rest[k].clone());
            if self.modules.contains_key(&(krate, next.clone())) {
                m = next;
                k += 1;
            } else {
                break;
            }
        }
        // A name the module re-exports from elsewhere: follow the `pub use`.
        if let (Some(name), Some(&j), true) = (
            rest.get(k),
            self.modules.get(&(krate, m.clone())),
            depth < 4,
        ) {
            for u in &self.uses[j] {
                if u.public
                    && u.name == *name
                    && let Some(t) = self.resolve_at(j, &u.path, depth + 1)
                {
                    let deeper = self.longest(t.0, t.1.clone(), &rest[k + 1..], depth + 1);
                    return deeper.or(Some(t));
                }
            }
        }
        self.modules
            .contains_key(&(krate, m.clone()))
            .then_some((krate, m))
    }

    /// Every (target module, line) that file `i` imports.
    fn edges(&self, i: usize) -> Vec<((Krate, ModPath), usize)> {
        let mut out = Vec::new();
        for u in &self.uses[i] {
            if let Some(t) = self.resolve(i, &u.path) {
                out.push((t, u.line));
            }
        }
        for (p, line) in &self.inline[i] {
            if let Some(t) = self.resolve(i, p) {
                out.push((t, *line));
            }
        }
        out
    }

    fn file_name(&self, krate: Krate, module: &[String]) -> String {
        match self.modules.get(&(krate, module.to_vec())) {
            Some(&j) if self.files[j].rel.ends_with("mod.rs") => {
                format!("{}/", self.files[j].rel.trim_end_matches("/mod.rs"))
            }
            Some(&j) => self.files[j].rel.clone(),
            None => module.join("/"),
        }
    }

    /// (a) Import cycles between the files (or subfolders) of one folder.
    fn cycles(&self) -> Vec<String> {
        // folder → sibling → sibling → the first place that imports it.
        type Graph = BTreeMap<ModPath, BTreeMap<String, String>>;
        let mut folders: BTreeMap<(Krate, ModPath), Graph> = BTreeMap::new();
        for (i, f) in self.files.iter().enumerate() {
            if f.is_test {
                continue;
            }
            for ((tk, t), line) in self.edges(i) {
                if tk != f.krate {
                    continue;
                }
                let k = f.module.iter().zip(&t).take_while(|(a, b)| a == b).count();
                if k == 0 || k >= f.module.len() || k >= t.len() {
                    continue; // top level (floors), or a parent and its child
                }
                let folder = f.module[..k].to_vec();
                folders
                    .entry((f.krate, folder))
                    .or_default()
                    .entry(f.module[..=k].to_vec())
                    .or_default()
                    .entry(t[k].clone())
                    .or_insert_with(|| format!("src/{}:{line}", f.rel));
            }
        }
        let mut out = Vec::new();
        for ((krate, folder), g) in folders {
            for scc in strongly_connected(&g) {
                let name = |m: &str| {
                    let mut p = folder.clone();
                    p.push(m.to_string());
                    self.file_name(krate, &p)
                };
                let mut steps = Vec::new();
                for a in &scc {
                    let mut from = folder.clone();
                    from.push(a.clone());
                    for (b, at) in &g[&from] {
                        if scc.contains(b) {
                            steps.push(format!("{} → {} ({at})", name(a), name(b)));
                        }
                    }
                }
                out.push(format!(
                    "import cycle in src/{}: {}",
                    self.file_name(krate, &folder),
                    steps.join(", ")
                ));
            }
        }
        out
    }

    /// (b) Upward imports between top-level modules, and I/O in the pure ones.
    fn upward(&self) -> Vec<String> {
        let floors: BTreeMap<&str, Vec<&str>> = MAY_USE
            .iter()
            .map(|(m, may)| {
                let mut v = Vec::new();
                for x in *may {
                    match *x {
                        "@foundation" => v.extend(FOUNDATION),
                        x => v.push(x),
                    }
                }
                (*m, v)
            })
            .collect();
        let mut out = Vec::new();
        let mut unplaced = BTreeSet::new();
        for (i, f) in self.files.iter().enumerate() {
            if f.is_test || f.krate == Krate::Bin || f.module.is_empty() {
                continue; // the CLI may use everything; lib.rs declares the modules
            }
            let top = f.module[0].as_str();
            let Some(may) = floors.get(top) else {
                unplaced.insert(top.to_string());
                continue;
            };
            let mut seen = BTreeSet::new();
            for ((tk, t), line) in self.edges(i) {
                if tk != Krate::Lib || t.is_empty() || t[0] == top {
                    continue;
                }
                let open_to_all = t.len() >= 2 && t[0] == "backend" && t[1] == "protocol";
                if open_to_all || may.contains(&t[0].as_str()) || !seen.insert(t[0].clone()) {
                    continue;
                }
                out.push(format!(
                    "src/{}:{line}: upward import: {top} may not use {} (imports {})",
                    f.rel,
                    t[0],
                    t.join("::")
                ));
            }
            if PURE.contains(&top) {
                for word in PURE_FORBIDS {
                    if let Some(at) = find_word(&f.code, word) {
                        out.push(format!(
                            "src/{}:{}: {top} is pure but names `{word}` (no I/O, no clock reads)",
                            f.rel,
                            line_of(&f.code, at)
                        ));
                    }
                }
            }
        }
        for m in unplaced {
            out.push(format!(
                "src/{m}: the top-level module `{m}` has no floor: give it a MAY_USE line in tests/architecture.rs and a place in docs/contributing.md"
            ));
        }
        out
    }

    /// (c) Files over `MAX_LINES` lines without a reason among their first lines.
    fn long_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.files {
            let n = f.raw.lines().count();
            if n <= MAX_LINES {
                continue;
            }
            let reason = f.raw.lines().take(MARKER_WITHIN).any(|l| {
                let l = l.trim_start();
                l.starts_with("//")
                    && l.trim_start_matches('/')
                        .trim_start_matches('!')
                        .trim_start()
                        .starts_with(STAYS_WHOLE)
            });
            if !reason {
                out.push(format!(
                    "src/{}: {n} lines (over {MAX_LINES}): split it by responsibility, or say why it stays whole in a `// {STAYS_WHOLE} …` comment among its first {MARKER_WITHIN} lines",
                    f.rel
                ));
            }
        }
        out
    }
}

/// Tarjan's strongly connected components with more than one member.
fn strongly_connected(g: &BTreeMap<ModPath, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    // Node names are the last segment (all share the folder).
    let nodes: BTreeSet<String> = g
        .iter()
        .flat_map(|(a, bs)| std::iter::once(a.last().unwrap().clone()).chain(bs.keys().cloned()))
        .collect();
    let succ = |n: &str| -> Vec<String> {
        g.iter()
            .find(|(a, _)| a.last().is_some_and(|x| x == n))
            .map(|(_, bs)| bs.keys().cloned().collect())
            .unwrap_or_default()
    };
    struct St {
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(n: &str, s: &mut St, succ: &dyn Fn(&str) -> Vec<String>) {
        s.index.insert(n.into(), s.next);
        s.low.insert(n.into(), s.next);
        s.next += 1;
        s.stack.push(n.into());
        s.on.insert(n.into());
        for m in succ(n) {
            if !s.index.contains_key(&m) {
                visit(&m, s, succ);
                let l = s.low[&m].min(s.low[n]);
                s.low.insert(n.into(), l);
            } else if s.on.contains(&m) {
                let l = s.index[&m].min(s.low[n]);
                s.low.insert(n.into(), l);
            }
        }
        if s.low[n] == s.index[n] {
            let mut c = Vec::new();
            while let Some(m) = s.stack.pop() {
                s.on.remove(&m);
                let done = m == n;
                c.push(m);
                if done {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                s.out.push(c);
            }
        }
    }
    let mut s = St {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for n in &nodes {
        if !s.index.contains_key(n) {
            visit(n, &mut s, &succ);
        }
    }
    s.out
}

/// `rel` → (crate, module path): `arena/mod.rs` is `arena`, `arena/rate.rs` is `arena::rate`.
fn module_of(rel: &str, bin_roots: &BTreeSet<String>) -> (Krate, ModPath) {
    let mut segs: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    if segs == ["lib"] {
        return (Krate::Lib, vec![]);
    }
    if segs == ["main"] {
        return (Krate::Bin, vec![]);
    }
    let krate = if bin_roots.contains(&segs[0]) {
        Krate::Bin
    } else {
        Krate::Lib
    };
    (krate, segs)
}

/// The `mod name;` declarations of a (cleaned) file.
fn declared_mods(code: &str) -> BTreeSet<String> {
    let toks = tokens(code);
    toks.windows(3)
        .filter(|w| w[0].0 == "mod" && is_ident(&w[1].0) && w[2].0 == ";")
        .map(|w| w[1].0.clone())
        .collect()
}

/// Files declared as test modules by `rel`: `#[cfg(test)] #[path = "x.rs"] mod tests;` and
/// `#[cfg(test)] mod name;` (read from the raw text: the cleaned one has no strings).
fn test_module_files(rel: &str, raw: &str) -> Vec<String> {
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    let own = if rel.ends_with("mod.rs") || rel == "lib.rs" || rel == "main.rs" {
        dir.to_string()
    } else {
        rel.trim_end_matches(".rs").to_string()
    };
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}/{b}")
        }
    };
    let mut out = Vec::new();
    let mut test_attr = false;
    let mut path_attr: Option<String> = None;
    for line in raw.lines() {
        let l = line.trim();
        if l.starts_with("#[cfg(test)]") {
            test_attr = true;
        } else if let Some(p) = l
            .strip_prefix("#[path = \"")
            .and_then(|r| r.split('"').next())
        {
            path_attr = Some(p.to_string());
        } else if !l.starts_with("#[") {
            if test_attr {
                let words: Vec<&str> = l
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|w| !w.is_empty())
                    .collect();
                if let Some(k) = words.iter().position(|w| *w == "mod")
                    && l.ends_with(';')
                    && let Some(name) = words.get(k + 1)
                {
                    match &path_attr {
                        Some(p) => out.push(join(dir, p)),
                        None => {
                            out.push(join(&own, &format!("{name}.rs")));
                            out.push(join(&own, &format!("{name}/mod.rs")));
                        }
                    }
                }
            }
            test_attr = false;
            path_attr = None;
        }
    }
    out
}

/// The text with comments and the insides of string and char literals replaced by spaces
/// (newlines kept, so byte offsets give the same lines).
fn clean(t: &str) -> String {
    let b = t.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for x in &mut out[from..to] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |k| i + k);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' | b'b' if raw_string_start(b, i).is_some() => {
                let Some((hashes, open)) = raw_string_start(b, i) else {
                    unreachable!()
                };
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                let end = b[open + 1..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |k| open + 1 + k + close.len());
                blank(
                    &mut out,
                    open + 1,
                    end.saturating_sub(close.len()).max(open + 1),
                );
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i + 1, j.min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a) left alone.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|k| i + 2 + k)
                } else {
                    let ch = t[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch) == Some(&b'\'')).then_some(i + 1 + ch)
                };
                match end {
                    Some(e) => {
                        blank(&mut out, i + 1, e);
                        i = e + 1;
                    }
                    None => i += 1,
                }
            }
            // `b"…"` and `b'…'`: the string or char arm takes it from the quote.
            b'b' if matches!(b.get(i + 1), Some(b'"' | b'\'')) && !ident_before(b, i) => i += 1,
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                // Identifiers are skipped whole, so the `r` of `for"…` is never a prefix.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// At `i`, a raw string `r"`, `r#…#"`, `br"` or `br#…#"`: (hashes, index of the `"`).
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if ident_before(b, i) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&b'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&b'"')).then_some((hashes, j))
}

/// The cleaned text without `#[cfg(test)]` items (a `mod tests { … }` block, a function, a
/// `use`, a `mod x;`), blanked so lines stay where they were.
fn strip_test_items(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(k) = code[from..].find("#[cfg(test)]") {
        let start = from + k;
        let mut j = start + "#[cfg(test)]".len();
        // The item ends at the first `;` before any `{`, else at its `{…}` block's end.
        let mut depth = 0usize;
        let mut end = b.len();
        while j < b.len() {
            match b[j] {
                b'[' | b'(' => depth += 1,
                b']' | b')' => depth = depth.saturating_sub(1),
                b';' if depth == 0 => {
                    end = j + 1;
                    break;
                }
                b'{' if depth == 0 => {
                    let mut d = 0usize;
                    while j < b.len() {
                        match b[j] {
                            b'{' => d += 1,
                            b'}' => {
                                d -= 1;
                                if d == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    end = (j + 1).min(b.len());
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for x in &mut out[start..end] {
            if *x != b'\n' {
                *x = b' ';
            }
        }
        from = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Tokens with their line: identifiers, `::`, and single punctuation characters.
fn tokens(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut line = 1;
    let cs: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let s = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            out.push((cs[s..i].iter().collect(), line));
        } else if c == ':' && cs.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((c.to_string(), line));
            i += 1;
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The `use` declarations and the inline paths (`crate::…`, `super::…`, `self::…`,
/// `edgebench::…`) of a cleaned file.
fn paths(code: &str) -> (Vec<UseDecl>, Vec<(Vec<String>, usize)>) {
    let toks = tokens(code);
    let mut uses = Vec::new();
    let mut inline = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].0.as_str();
        let prev = i.checked_sub(1).map(|k| toks[k].0.as_str());
        if t == "use" && !matches!(prev, Some("::")) {
            let public = matches!(prev, Some("pub" | ")"));
            let line = toks[i].1;
            let end = toks[i..]
                .iter()
                .position(|x| x.0 == ";")
                .map_or(toks.len(), |k| i + k);
            let body: Vec<&str> = toks[i + 1..end].iter().map(|x| x.0.as_str()).collect();
            let mut k = 0;
            let mut found = Vec::new();
            use_tree(&body, &mut k, &mut Vec::new(), &mut found);
            for (path, name) in found {
                uses.push(UseDecl {
                    path,
                    name,
                    public,
                    line,
                });
            }
            i = end + 1;
            continue;
        }
        let starts = matches!(t, "crate" | "super" | "self" | "edgebench")
            && toks.get(i + 1).is_some_and(|x| x.0 == "::")
            && !matches!(prev, Some("::"));
        if starts {
            let line = toks[i].1;
            let mut segs = vec![t.to_string()];
            let mut k = i + 1;
            while k + 1 < toks.len() && toks[k].0 == "::" && is_ident(&toks[k + 1].0) {
                segs.push(toks[k + 1].0.clone());
                k += 2;
            }
            inline.push((segs, line));
            i = k;
            continue;
        }
        i += 1;
    }
    (uses, inline)
}

/// Expands a use tree (`a::b::{c, d::{e as f, self}, *}`) into (path, imported name) pairs.
fn use_tree(
    t: &[&str],
    k: &mut usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String)>,
) {
    let depth = prefix.len();
    if t.get(*k) == Some(&"::") {
        *k += 1; // a leading `::`
    }
    loop {
        match t.get(*k) {
            Some(&"{") => {
                *k += 1;
                loop {
                    if t.get(*k) == Some(&"}") {
                        *k += 1;
                        break;
                    }
                    use_tree(t, k, prefix, out);
                    match t.get(*k) {
                        Some(&",") => *k += 1,
                        Some(&"}") => {
                            *k += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                break;
            }
            Some(&"*") => {
                *k += 1;
                out.push((prefix.clone(), "*".into()));
                break;
            }
            Some(&"self") if !prefix.is_empty() && t.get(*k + 1) != Some(&"::") => {
                *k += 1;
                let name =
                    alias(t, k).unwrap_or_else(|| prefix.last().cloned().unwrap_or_default());
                out.push((prefix.clone(), name));
                break;
            }
            Some(s) if is_ident(s) => {
                prefix.push(s.to_string());
                *k += 1;
                if t.get(*k) == Some(&"::") {
                    *k += 1;
                    continue;
                }
                let name = alias(t, k).unwrap_or_else(|| s.to_string());
                out.push((prefix.clone(), name));
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
}

/// `as name` after a use path, if any.
fn alias(t: &[&str], k: &mut usize) -> Option<String> {
    if t.get(*k) == Some(&"as") {
        *k += 2;
        return t.get(*k - 1).map(|s| s.to_string());
    }
    None
}

/// The first place `word` occurs in `code` not inside a longer identifier.
fn find_word(code: &str, word: &str) -> Option<usize> {
    let b = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(k) = code[from..].find(word) {
        let at = from + k;
        let before = at.checked_sub(1).map(|p| b[p]);
        let first_ident = ident(word.as_bytes()[0]);
        let last_ident = ident(*word.as_bytes().last().unwrap());
        let after = b.get(at + word.len()).copied();
        let ok_before = !first_ident || !before.is_some_and(ident);
        let ok_after = !last_ident || !after.is_some_and(ident);
        if ok_before && ok_after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].bytes().filter(|&c| c == b'\n').count() + 1
}
