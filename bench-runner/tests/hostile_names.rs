//! Names are data: a device, backend or model name that reads like markup (` onload=`,
//! `href=`) is escaped wherever the report shows it, and the report keeps its figures.
//!
//! The run is real measurements: stored llama-bench output of this machine
//! (`results/parity/…/llama-bench-round1.jsonl`), imported twice under hostile file names (a
//! backend is named after its file) with a hostile device label.

use std::path::Path;

use crate::common::{edgebench, repo_root};

pub const LABEL: &str = r#"x" onload="alert(1)"#;
pub const STEMS: [&str; 2] = [r#"y" onerror="alert(2)"#, r#"z" href="javascript:alert(3)"#];

/// Every attribute name of every tag in `html`, with its value, read as an HTML tokenizer
/// would: text between tags holds no `<` (it is escaped), values are quoted.
fn attributes(html: &str) -> Vec<(String, String)> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(k) = html[i..].find('<') {
        i += k + 1;
        if matches!(b.get(i), Some(b'!' | b'/')) {
            i += html[i..].find('>').expect("unterminated tag");
            continue;
        }
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/')
            {
                i += 1;
            }
            let name = html[start..i].to_ascii_lowercase();
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let end =
                            i + 1 + html[i + 1..].find(q as char).expect("unterminated value");
                        value = html[i + 1..end].to_string();
                        i = end + 1;
                    }
                    _ => {
                        let start = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = html[start..i].to_string();
                    }
                }
            }
            out.push((name, value));
        }
    }
    out
}

/// No attribute anywhere runs script or links somewhere, and no script element exists.
fn assert_no_handlers(what: &str, text: &str) {
    for (name, value) in attributes(text) {
        assert!(
            !name.starts_with("on"),
            "{what}: event handler attribute {name}={value:?}"
        );
        assert!(
            !name.contains("href") && name != "src",
            "{what}: link attribute {name}={value:?}"
        );
    }
    assert!(!text.contains("<script"), "{what}: a script element");
}

/// As [`assert_no_handlers`], and the names appear only escaped in the file's text.
fn assert_inert(what: &str, text: &str) {
    assert_no_handlers(what, text);
    for raw in [LABEL, STEMS[0], STEMS[1]] {
        assert!(!text.contains(raw), "{what}: {raw} unescaped");
    }
}

#[test]
fn names_that_read_like_markup_are_escaped_and_figures_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let source = repo_root().join("results/parity/20261126-045740/llama-bench-round1.jsonl");
    let files: Vec<_> = STEMS
        .iter()
        .map(|stem| {
            let p = dir.path().join(format!("{stem}.jsonl"));
            std::fs::copy(&source, &p).expect("copy llama-bench output");
            p
        })
        .collect();
    let out = edgebench()
        .args(["import", "llama-bench"])
        .args(&files)
        .arg("--out")
        .arg(dir.path())
        .args(["--run-id", "hostile", "--label", LABEL])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("report");
    let out = edgebench()
        .arg("report")
        .arg(dir.path().join("hostile"))
        .arg("-o")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    // The figures are there, none withheld.
    assert!(!html.contains("figure withheld"), "a figure was withheld");
    let figures = html.matches("<figure id=\"fig-").count();
    assert!(figures >= 2, "{figures} figures in report.html");
    assert_eq!(html.matches("<svg").count(), figures, "one SVG per figure");
    // The names are shown, escaped, in the SVG text too (the series label is
    // `device/backend`, in the charts' legends and axes).
    let svgs: Vec<&str> = html
        .split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap_or_default())
        .collect();
    assert!(
        svgs.iter()
            .any(|s| s.contains("onload=") && s.contains("alert(1)")),
        "the hostile label is not drawn in any figure"
    );
    assert_inert("report.html", &html);
    for entry in std::fs::read_dir(&report).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "svg") {
            let svg = std::fs::read_to_string(&p).unwrap();
            assert_inert(&p.display().to_string(), &svg);
        }
    }
    render_check(&report.join("report.html"), dir.path());
}

/// Where headless Chromium is installed, the page is also parsed by a browser and its DOM
/// dumped: no element carries an event handler or a link, the figures are there, and the
/// label is a text node that reads exactly as written.
fn render_check(page: &Path, scratch: &Path) {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        return;
    }
    let Ok(out) = std::process::Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!(
            "--user-data-dir={}",
            scratch.join("chromium").display()
        ))
        .arg(format!("file://{}", page.display()))
        .output()
    else {
        return;
    };
    let dom = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !dom.contains("</html>") {
        // No browser could run here (no display libraries, out of time): the text checks
        // above stand alone.
        eprintln!(
            "chromium render check skipped: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert_no_handlers("the rendered DOM", &dom);
    assert!(dom.contains("<svg"), "no SVG in the rendered DOM");
    // Serialised text nodes escape only `&`, `<`, `>`: the label is there as plain text.
    assert!(dom.contains(LABEL), "the label is not shown as written");
}
