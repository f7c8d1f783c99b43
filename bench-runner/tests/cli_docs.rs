//! docs/cli.md is the command-line reference, generated from the built binary's own `--help`
//! so that it cannot drift from clap. This test renders it again and fails when the committed
//! file is stale; `EDGEBENCH_BLESS=1` rewrites it:
//!
//!     EDGEBENCH_BLESS=1 cargo test -p edgebench --test tests cli_docs
//!
//! Subcommands are found by reading the "Commands:" section of each help text, so a new
//! subcommand (or a nested one) appears in the reference without touching this file.

use std::path::PathBuf;
use std::process::Command;

const BLESS_COMMAND: &str = "EDGEBENCH_BLESS=1 cargo test -p edgebench --test tests cli_docs";

/// The help text of `edgebench <path…> --help`, exactly as a user sees it in a pipe.
fn help_of(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgebench"))
        .args(path)
        .arg("--help")
        // No colour and no terminal-width wrapping, whatever the caller's terminal.
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env("COLUMNS", "200")
        .output()
        .expect("run the edgebench binary");
    assert!(
        out.status.success(),
        "`edgebench {} --help` exited with {}: {}",
        path.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("help is UTF-8");
    // Trailing spaces would make the Markdown file fragile under editors that strip them.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Subcommand names listed under "Commands:" in a help text (clap's own `help` left out: it
/// repeats the others).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" {
            in_commands = true;
            continue;
        }
        if !in_commands {
            continue;
        }
        // The section ends at the first line that is not an indented entry.
        if !line.starts_with("  ") {
            break;
        }
        // A continuation line of a long description is indented further than the names.
        if line.starts_with("   ") {
            continue;
        }
        if let Some(name) = line.split_whitespace().next() {
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Every command path, depth first in the order clap lists them, with its help text.
fn collect(path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let help = help_of(&path);
    let children = subcommands(&help);
    out.push((path.clone(), help));
    for child in children {
        let mut next = path.clone();
        next.push(child);
        collect(next, out);
    }
}

fn anchor(title: &str) -> String {
    // GitHub's rule: lower case, spaces to '-', punctuation dropped.
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn render() -> String {
    let mut commands = Vec::new();
    collect(Vec::new(), &mut commands);
    let mut md = String::new();
    md.push_str("# edgebench command-line reference\n\n");
    md.push_str(
        "<!-- Generated from the binary's --help by bench-runner/tests/cli_docs.rs. Do not edit by hand. -->\n\n",
    );
    md.push_str(
        "Every command's `--help`, as the binary prints it. This file is generated and checked by a test; \
         after changing a command's help, regenerate it with\n\n",
    );
    md.push_str(&format!("    {BLESS_COMMAND}\n\n"));
    md.push_str(
        "Exit codes of every command: 0 success, 1 a gate failed / regression found, 2 bad usage or input, \
         3 a backend failed, 130 interrupted (Ctrl-C, SIGTERM).\n\n",
    );
    let titles: Vec<String> = commands
        .iter()
        .map(|(path, _)| {
            std::iter::once("edgebench".to_string())
                .chain(path.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for ((path, _), title) in commands.iter().zip(&titles) {
        let indent = "  ".repeat(path.len().saturating_sub(1));
        md.push_str(&format!("{indent}- [`{title}`](#{})\n", anchor(title)));
    }
    for ((_, help), title) in commands.iter().zip(&titles) {
        md.push_str(&format!("\n## {title}\n\n```text\n{help}\n```\n"));
    }
    md
}

fn cli_md_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md")
}

#[test]
fn cli_reference_matches_the_binary() {
    let rendered = render();
    let path = cli_md_path();
    if std::env::var_os("EDGEBENCH_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &rendered).expect("write docs/cli.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != rendered {
        // Name the first differing line so the failure says what drifted.
        let first_diff = committed
            .lines()
            .zip(rendered.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  docs/cli.md: {a}\n  binary:      {b}", i + 1))
            .unwrap_or_else(|| {
                format!(
                    "lengths differ ({} lines in docs/cli.md, {} from the binary)",
                    committed.lines().count(),
                    rendered.lines().count()
                )
            });
        panic!(
            "docs/cli.md is stale: it no longer matches `edgebench --help` and its subcommands' help.\n\
             {first_diff}\n\
             Regenerate it with:\n    {BLESS_COMMAND}\n\
             and commit docs/cli.md."
        );
    }
}

#[test]
fn every_subcommand_is_found_in_the_help() {
    // The parser must find the nested commands the reference promises, so that a change in
    // clap's layout cannot silently shrink docs/cli.md to the top level.
    let mut commands = Vec::new();
    collect(Vec::new(), &mut commands);
    let paths: Vec<String> = commands.iter().map(|(p, _)| p.join(" ")).collect();
    for expected in [
        "run",
        "compare",
        "arena",
        "arena rate",
        "import llama-bench",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "`edgebench {expected}` missing from {paths:?}"
        );
    }
    assert!(
        !paths.iter().any(|p| p.split(' ').any(|w| w == "help")),
        "{paths:?}"
    );
}

#[test]
fn subcommands_are_read_from_the_commands_section_only() {
    let help = "About\n\nUsage: x <COMMAND>\n\nCommands:\n  alpha  First\n           continued\n  beta   Second\n  help   Print this message\n\nOptions:\n  -h, --help  Print help\n";
    assert_eq!(subcommands(help), ["alpha", "beta"]);
    assert!(subcommands("Usage: x [OPTIONS]\n\nOptions:\n  -q  Quiet\n").is_empty());
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// GitHub's anchors of a Markdown file's headings (code fences skipped).
fn heading_anchors(text: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        anchors.push(anchor(line.trim_start_matches('#').trim()));
    }
    anchors
}

/// Relative link targets `](target)` outside code fences.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut fence = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fence = !fence;
        }
        if fence {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            let is_url = target.split_once(':').is_some_and(|(scheme, _)| {
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_lowercase())
            });
            if !is_url && !target.contains(char::is_whitespace) {
                links.push(target.to_string());
            }
        }
    }
    links
}

#[test]
fn links_between_readme_and_docs_resolve() {
    let root = repo_root();
    let mut pages = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("read docs/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs.iter().cloned());
    let mut problems = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read page");
        for link in relative_links(&text) {
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let dest = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            if !dest.exists() {
                problems.push(format!("{}: {link}: no such file", page.display()));
            } else if !fragment.is_empty()
                && dest.extension().is_some_and(|x| x == "md")
                && !heading_anchors(&std::fs::read_to_string(&dest).unwrap())
                    .iter()
                    .any(|a| a == fragment)
            {
                problems.push(format!("{}: {link}: no such heading", page.display()));
            }
        }
    }
    // Every page of docs/ can be found from the README.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for doc in &docs {
        let name = format!("docs/{}", doc.file_name().unwrap().to_string_lossy());
        if !readme.contains(&format!("]({name}")) {
            problems.push(format!("README.md does not link to {name}"));
        }
    }
    assert!(
        problems.is_empty(),
        "broken documentation links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn readme_stays_a_ten_minute_read() {
    // The reference lives in docs/; the README is the front door (issue 17: at most 250 lines).
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move reference material into docs/"
    );
}

#[test]
fn anchors_follow_github() {
    assert_eq!(anchor("Roofline: `--probe`"), "roofline---probe");
    assert_eq!(
        anchor("`kind = \"replay\"` — recorded responses"),
        "kind--replay--recorded-responses"
    );
    assert_eq!(
        relative_links("[a](docs/x.md#y) [b](https://e.org) `[c](z)`"),
        ["docs/x.md#y", "z"]
    );
}
