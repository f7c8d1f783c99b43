//! The run report as a reader meets it (issue 21): one real, small run on the shared Gemma
//! server under a long device label that reads like markup, reported alone (one series).
//! Checked on the files written: a headline before the tables, one title per figure (in the
//! page, not again inside the SVG), SVGs that scale with the page (viewBox, `width="100%"`,
//! no pixel cap), legends whose text fits inside the figure, whole-number ticks on the
//! concurrency and prompt-length axes, and no ratio wording where there is nothing to compare.

#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::path::Path;
use std::sync::OnceLock;

use crate::common::{run_ok, shared_gemma_config, write};

/// Long enough that any single-row legend would run off a figure of any sensible width.
const LABEL: &str = "local/gemma3-270m-it-q4_k_m <b>pinned</b> build on the kitchen laptop with a very long device description";

const SCENARIO: &str = r#"
name = "layout"
kind = "throughput"
prompt_tokens = [16, 48]
max_tokens = [4]
concurrency = [1, 2]
warmup = 1
repetitions = 2
seed = 3
temperature = 0.0
ignore_eos = true
"#;

/// The report folder, made once: one run, then `edgebench report` on it.
fn report() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let cfg = shared_gemma_config(d, "");
        let scenario = write(d, "layout.toml", SCENARIO);
        let results = d.join("results");
        run_ok(&[
            "run",
            scenario.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--run-id",
            "one",
            "--out",
            results.to_str().unwrap(),
            "--label",
            LABEL,
            "--quiet",
        ]);
        let out = d.join("report");
        run_ok(&[
            "report",
            results.join("one").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        dir
    })
    .path()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(report().join("report").join(name)).expect(name)
}

fn svgs() -> Vec<(String, String)> {
    let dir = report().join("report");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("report dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "expected several figures, got {}", v.len());
    v
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// As minijinja's HTML autoescape writes `s`.
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// One `<text>` element of an SVG: its attributes and its (unescaped, trimmed) content.
struct Text {
    x: f64,
    y: f64,
    anchor: String,
    size: f64,
    rotated: bool,
    body: String,
}

fn texts(svg: &str) -> Vec<Text> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let k = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[k..k + tag[k..].find('"')?].to_string())
    };
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let end = t.find('>').expect("text tag ends");
            let tag = &t[..end];
            let body = &t[end + 1..t.find("</text>").expect("text closes")];
            let num = |n: &str| attr(tag, n).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            Text {
                x: num("x"),
                y: num("y"),
                anchor: attr(tag, "text-anchor").unwrap_or_else(|| "start".into()),
                size: num("font-size"),
                rotated: attr(tag, "transform").is_some(),
                body: unescape(body.trim()),
            }
        })
        .collect()
}

fn view_box(svg: &str) -> (f64, f64) {
    let head = &svg[..svg.find('>').unwrap()];
    let k = head.find("viewBox=\"").expect("a viewBox") + 9;
    let v: Vec<f64> = head[k..k + head[k..].find('"').unwrap()]
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    (v[2], v[3])
}

#[test]
fn the_page_opens_with_a_headline_before_any_table() {
    let html = read("report.html");
    let head = html.find("class=\"headline\"").expect("a headline block");
    assert!(head < html.find("<table").expect("tables"));
    let block = &html[head..head + html[head..].find("</section>").unwrap()];
    for what in [
        "Ran:",
        "scenario layout on",
        "Backends:",
        "decode tok/s",
        "TTFT",
        "Failed requests",
    ] {
        let what = html_escaped(what);
        assert!(block.contains(&what), "headline lacks {what:?}:\n{block}");
    }
    // The label is markup-like: escaped in the headline too.
    assert!(block.contains(&html_escaped(LABEL)) && !block.contains("<b>pinned"));
    let md = read("report.md");
    assert!(md.find("**Ran:**").expect("markdown headline") < md.find("\n| ").unwrap());
}

#[test]
fn each_figure_has_one_title_and_a_how_to_read_line() {
    let html = read("report.html");
    let md = read("report.md");
    let titles: Vec<&str> = md.lines().filter_map(|l| l.strip_prefix("### ")).collect();
    assert!(titles.len() >= 4, "{titles:?}");
    let svgs = svgs();
    for t in &titles {
        let t = unescape(t.replace('\\', "").as_str());
        let in_html = html
            .matches(&format!("<h3>{}</h3>", html_escaped(&t)))
            .count();
        assert_eq!(in_html, 1, "figure title {t:?} as a heading");
        for (name, svg) in &svgs {
            assert!(
                !texts(svg).iter().any(|x| x.body == t),
                "{name} repeats the title {t:?} inside the figure"
            );
        }
    }
    let reads = html.matches("How to read this:").count();
    assert_eq!(
        reads,
        html.matches("<figure").count(),
        "one how-to-read line per figure"
    );
}

#[test]
fn every_figure_scales_with_the_page() {
    let html = read("report.html");
    let inline: Vec<&str> = html.split("<svg").skip(1).collect();
    assert!(!inline.is_empty());
    for s in inline.iter().map(|s| &s[..s.find('>').unwrap()]) {
        assert!(
            s.contains("viewBox=") && s.contains("width=\"100%\""),
            "<svg{s}>"
        );
        assert!(!s.contains("height="), "a fixed height: <svg{s}>");
    }
    for (name, svg) in svgs() {
        let head = &svg[..svg.find('>').unwrap()];
        assert!(
            head.starts_with("<svg width=\"100%\" viewBox="),
            "{name}: {head}"
        );
    }
    // No pixel cap on figures in the page's CSS.
    let css = &html[html.find("<style>").unwrap()..html.find("</style>").unwrap()];
    let rule = css
        .lines()
        .find(|l| l.trim_start().starts_with("figure svg"))
        .expect("a figure svg rule");
    assert!(!rule.contains("max-width"), "{rule}");
    assert!(!css.contains("max-width: 600px"), "{css}");
}

#[test]
fn legends_keep_every_label_whole_inside_the_figure() {
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    for (name, svg) in svgs() {
        let (w, _) = view_box(&svg);
        let ts = texts(&svg);
        for t in ts.iter().filter(|t| !t.rotated) {
            // A generous sans-serif average: 0.6 em a character.
            let len = t.body.chars().count() as f64 * t.size * 0.6;
            let right = match t.anchor.as_str() {
                "middle" => t.x + len / 2.0,
                "end" => t.x,
                _ => t.x + len,
            };
            assert!(right <= w, "{name}: {:?} runs to {right:.0} of {w}", t.body);
        }
        if name.starts_with("recall-heatmap") {
            continue;
        }
        let all = squash(&ts.iter().map(|t| t.body.as_str()).collect::<String>());
        assert!(
            all.contains(&squash(LABEL)),
            "{name}: the label is not whole in\n{all}"
        );
    }
}

#[test]
fn integer_axes_have_integer_ticks() {
    let svgs = svgs();
    let mut checked = 0;
    for (name, svg) in &svgs {
        if !(name.contains("vs-concurrency") || name.contains("vs-prompt")) {
            continue;
        }
        // The x tick labels: the lowest row (largest y) of two or more texts above the
        // legend, which starts below the plot.
        let plot_h = 440.0;
        let ts: Vec<Text> = texts(svg)
            .into_iter()
            .filter(|t| t.y < plot_h && !t.rotated)
            .collect();
        let mut ys: Vec<f64> = ts.iter().map(|t| t.y).collect();
        ys.sort_by(f64::total_cmp);
        let row_y = ys
            .iter()
            .rev()
            .find(|y| ts.iter().filter(|t| t.y == **y).count() >= 2)
            .expect("an x tick row");
        let ticks: Vec<&str> = ts
            .iter()
            .filter(|t| t.y == *row_y)
            .map(|t| t.body.as_str())
            .collect();
        assert!(ticks.len() >= 2, "{name}: {ticks:?}");
        for t in &ticks {
            assert!(
                t.parse::<u64>().is_ok(),
                "{name}: x tick {t:?} is not a whole number ({ticks:?})"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "no concurrency / prompt-length figure was drawn"
    );
}

#[test]
fn a_one_series_report_speaks_of_no_ratio() {
    for (name, text) in [
        ("report.html", read("report.html")),
        ("report.md", read("report.md")),
    ] {
        for phrase in [
            "below it the ratio",
            "Ratios are to",
            "ratio to the reference",
        ] {
            assert!(!text.contains(phrase), "{name} says {phrase:?}");
        }
    }
}
