//! The reader of the architecture test: a small tokenizer that finds each file's module, its
//! `use` trees and inline paths, and the checks over the graph they make.

use super::lexer::*;
use super::*;

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

pub(super) struct Tree {
    files: Vec<File>,
    /// (crate, module) → index into files.
    modules: BTreeMap<(Krate, ModPath), usize>,
    uses: Vec<Vec<UseDecl>>,
    /// Inline paths (not in `use`): (segments, line).
    inline: Vec<Vec<(Vec<String>, usize)>>,
}

impl Tree {
    pub(super) fn file_count(&self) -> usize {
        self.files.len()
    }

    pub(super) fn read(src: &Path) -> Tree {
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

    pub(super) fn from_files(files: Vec<(String, String)>) -> Tree {
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

    pub(super) fn violations(&self) -> Vec<String> {
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
