//! `edgebench publish` on a fixture made of real runs (issue 21): two devices (`laptop`, and
//! a device whose label reads like markup), three models in the battles (Gemma 270M in
//! process and Qwen 0.5B on the shared llama-server, both measured on both devices, and a
//! third with a hostile name that only fought battles), a tool-call run and a context run
//! of Qwen, and a bandwidth probe on the laptop. The battles are written by the test with
//! style columns and a `category` column (one category name is hostile too).
//!
//! Checked on the site written: every page exists; every page is well-formed HTML; every
//! link and `src` resolves (fragments included) and none leaves the site; the numbers on the
//! pages are those of the data files (site downloads, and the runs' summary.csv/items.csv,
//! and `arena rate` run on the same battles); names are escaped; missing evidence says so;
//! every download is documented; and, in headless Chromium at 390 and 1440 px, screenshots
//! without console messages and nothing sticking out of the viewport but scroll boxes.

#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

mod browser;
mod fixture;
mod html;

use std::collections::BTreeMap;
use std::path::Path;

use edgebench::report::format::{fmt_ci, fmt_num};
use edgebench::report::tools::fmt_share;
use edgebench::results::SummaryRow;
use edgebench::results::items::read_items;
use edgebench::results::reader::read_summary;

use crate::common::{repo_root, run_ok};
use fixture::{Fixture, GHOST, HOSTILE_CATEGORY, MIN_VOTES, PHONE, RATE_ARGS, battles, fixture};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every HTML file of the site, relative to it.
fn pages(site: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["", "models", "devices"] {
        for e in std::fs::read_dir(site.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "html") {
                out.push(p.strip_prefix(site).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A CSV file as records keyed by column.
fn csv_rows(p: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(p).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .map(String::from)
                .zip(rec.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

/// The link on `page` whose text is `name` (a model or device), as a path in the site.
fn page_of(site: &Path, page: &str, name: &str) -> String {
    let html = read(&site.join(page));
    for a in html.split("<a href=\"").skip(1) {
        let (href, rest) = a.split_once('"').unwrap();
        let label = rest
            .split_once('>')
            .unwrap()
            .1
            .split("</a>")
            .next()
            .unwrap();
        if html::unescape(label) == name {
            let base = Path::new(page).parent().unwrap();
            return normalize(&base.join(html::unescape(href)));
        }
    }
    panic!("no link to {name} on {page}");
}

fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                assert!(parts.pop().is_some(), "{} leaves the site", p.display());
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

#[test]
fn every_page_exists_is_well_formed_and_every_link_resolves() {
    let f = fixture();
    let all = pages(&f.site);
    // Pages: the index, one per category of the battles, per model, per device.
    let lb = csv_rows(&f.site.join("data/leaderboard.csv"));
    assert_eq!(lb.len(), 3, "three models rated");
    for r in &lb {
        let p = page_of(&f.site, "index.html", &r["model"]);
        assert!(all.contains(&p), "{p} missing");
    }
    for d in ["laptop", PHONE] {
        assert!(
            all.contains(&page_of(&f.site, "index.html", d)),
            "device {d}"
        );
    }
    for c in ["coding", "long context", HOSTILE_CATEGORY] {
        assert!(
            all.contains(&page_of(&f.site, "index.html", c)),
            "category {c}"
        );
    }
    assert_eq!(all.len(), 1 + 3 + 3 + 2, "{all:?}");
    let mut checked = 0;
    for page in &all {
        let text = read(&f.site.join(page));
        let parsed = html::check(page, &text);
        for (el, attr, value) in &parsed.attributes {
            assert!(!attr.starts_with("on"), "{page}: <{el} {attr}={value:?}>");
        }
        for link in &parsed.links {
            let link = html::unescape(link);
            assert!(
                !link.contains("://")
                    && !link.starts_with("//")
                    && !link.starts_with("javascript:"),
                "{page}: link leaves the site: {link}"
            );
            let (path, frag) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                normalize(&Path::new(page).parent().unwrap().join(path))
            };
            let file = f.site.join(&target);
            assert!(
                file.is_file(),
                "{page}: {link} → {} does not exist",
                file.display()
            );
            if !frag.is_empty() {
                let ids = html::check(&target, &read(&file)).ids;
                assert!(ids.contains(frag), "{page}: {link}: no id {frag} there");
            }
            checked += 1;
        }
        assert!(!text.contains("<script"), "{page}: a script");
    }
    assert!(checked > 50, "only {checked} links");
}

#[test]
fn the_board_equals_arena_rate_on_the_same_battles() {
    let f = fixture();
    let out = f.root.join("arena-rate");
    let mut args = vec![
        "arena",
        "rate",
        f.battles.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(RATE_ARGS);
    args.push("--speed");
    // The site's quality × speed is over throughput cases: `arena rate --speed` on the
    // throughput runs alone gives the same rows.
    let runs: Vec<String> = ["laptop-speed", "phone-speed"]
        .iter()
        .map(|r| f.results.join(r).display().to_string())
        .collect();
    args.extend(runs.iter().map(String::as_str));
    run_ok(&args);
    assert_eq!(
        read(&out.join("leaderboard.csv")),
        read(&f.site.join("data/leaderboard.csv"))
    );
    assert_eq!(
        read(&out.join("quality_speed.csv")),
        read(&f.site.join("data/quality_speed.csv"))
    );
    // Index: every row as the CSV says, to the digit shown.
    let index = read(&f.site.join("index.html"));
    let rows = html::rows(html::section(&index, "leaderboard"));
    let lb = csv_rows(&f.site.join("data/leaderboard.csv"));
    assert_eq!(rows.len(), lb.len());
    for (r, c) in rows.iter().zip(&lb) {
        let num = |k: &str| c[k].parse::<f64>().unwrap();
        let provisional = c["provisional"] == "true";
        let rank = if c["rank_ub"] == c["rank_worst"] {
            c["rank_ub"].clone()
        } else {
            format!("{}–{}", c["rank_ub"], c["rank_worst"])
        };
        assert_eq!(r[0], rank);
        let model = if provisional {
            format!("{} † provisional", c["model"])
        } else {
            c["model"].clone()
        };
        assert_eq!(r[1], model, "{r:?}");
        assert_eq!(r[2], format!("{:.1}", num("rating")));
        assert_eq!(
            r[3],
            format!("[{:.1}, {:.1}]", num("ci_low"), num("ci_high"))
        );
        assert_eq!(r[5], c["votes"]);
        assert_eq!(r[6], format!("{:.1}%", 100.0 * num("win_rate")));
        assert_eq!(
            r[7],
            format!("{:.1}", num("style_rating")),
            "style control shown"
        );
        assert_eq!(
            provisional,
            c["model"] == GHOST,
            "the ghost has 20 < {MIN_VOTES} votes"
        );
    }
    let d: serde_json::Value =
        serde_json::from_str(&read(&f.site.join("data/disclosure.json"))).unwrap();
    let disclosure = html::text(html::section(&index, "disclosure"));
    for key in ["generated_at", "anchor", "interval_method", "objective"] {
        assert!(
            disclosure.contains(d[key].as_str().unwrap()),
            "{key} not in the disclosure"
        );
    }
    let inputs: serde_json::Value =
        serde_json::from_str(&read(&f.site.join("data/inputs.json"))).unwrap();
    assert!(disclosure.contains(inputs["data_hash"].as_str().unwrap()));
    // Category boards: the categories' battle counts.
    let all = csv_rows(&f.battles);
    for (cat, stem) in [("coding", "coding"), ("long context", "long-context")] {
        let n = all
            .iter()
            .filter(|r| r["category"].split(';').any(|c| c == cat))
            .count();
        let page = page_of(&f.site, "index.html", cat);
        assert!(page.starts_with(&format!("category-{stem}-")), "{page}");
        let lead = read(&f.site.join(&page));
        assert!(
            lead.contains(&format!("Only the {n} battles")),
            "{cat}: {n}"
        );
    }
}

fn summary(f: &Fixture, run: &str) -> Vec<SummaryRow> {
    read_summary(&f.results.join(run).join("summary.csv"))
        .unwrap()
        .rows
}

#[test]
fn model_pages_show_the_runs_figures_and_say_what_is_missing() {
    let f = fixture();
    for model in ["gemma", "qwen"] {
        let page = read(&f.site.join(page_of(&f.site, "index.html", model)));
        let rows = html::rows(html::section(&page, "speed"));
        let mut seen = 0;
        for run in ["laptop-speed", "phone-speed"] {
            let s = summary(f, run);
            let get = |m: &str| {
                s.iter()
                    .find(|r| r.backend == model && r.metric == m)
                    .unwrap()
            };
            let device = if run == "laptop-speed" {
                "laptop"
            } else {
                PHONE
            };
            let row = rows
                .iter()
                .find(|r| r[0] == device && r[2] == run)
                .unwrap_or_else(|| panic!("{model} {run}: {rows:?}"));
            let ci = |r: &SummaryRow| fmt_ci(r.p50, r.ci_low, r.ci_high);
            assert_eq!(row[4], ci(get("decode_tok_s")), "{model} {run} decode");
            assert_eq!(row[5], ci(get("prefill_tok_s")), "{model} {run} prefill");
            assert_eq!(row[6], ci(get("ttft_ms")), "{model} {run} ttft");
            assert_eq!(row[7], get("decode_tok_s").n.to_string());
            seen += 1;
        }
        assert_eq!(seen, 2);
        if model == "gemma" {
            for id in ["tools", "context", "multimodal", "drift"] {
                assert!(
                    html::section(&page, id).contains("class=\"missing-block\""),
                    "gemma {id} not shown as missing"
                );
            }
        }
    }
    // Qwen's tool calls: every category's k/n from items.csv, share and interval from summary.csv.
    let qwen = read(&f.site.join(page_of(&f.site, "index.html", "qwen")));
    let rows = html::rows(html::section(&qwen, "tools"));
    let items = read_items(&f.results.join("laptop-tools/items.csv"))
        .unwrap()
        .rows;
    let s = summary(f, "laptop-tools");
    let mut cats: Vec<&str> = items.iter().map(|i| i.category.as_str()).collect();
    cats.sort_unstable();
    cats.dedup();
    assert!(cats.len() >= 2, "{cats:?}");
    for cat in std::iter::once("all").chain(cats) {
        let mine: Vec<_> = items
            .iter()
            .filter(|i| cat == "all" || i.category == cat)
            .collect();
        let k = mine.iter().filter(|i| i.pass).count();
        let metric = if cat == "all" {
            "accuracy".to_string()
        } else {
            format!("accuracy:{cat}")
        };
        let sr = s.iter().find(|r| r.metric == metric).unwrap();
        let row = rows
            .iter()
            .find(|r| r[3] == cat)
            .unwrap_or_else(|| panic!("{cat}: {rows:?}"));
        assert_eq!(row[4], format!("{k} / {}", mine.len()));
        assert_eq!(row[5], fmt_share(sr.mean, sr.ci_low, sr.ci_high));
    }
    // Context: the effective length and the recall per length, as summary.csv has them.
    let ctx = html::section(&qwen, "context");
    let s = summary(f, "laptop-ctx");
    let eff = s
        .iter()
        .find(|r| r.metric == "effective_context_length")
        .unwrap();
    let rows = html::rows(ctx);
    let shown = if eff.mean > 0.0 {
        (eff.mean as u32).to_string()
    } else {
        "none reached the threshold".into()
    };
    assert!(
        rows.iter().any(|r| r.len() == 5 && r[3] == shown),
        "effective {shown}: {rows:?}"
    );
    for r in s.iter().filter(|r| r.metric == "recall") {
        let len = (r.prompt_tokens + r.max_tokens).to_string();
        let row = rows.iter().find(|x| x.len() == 6 && x[3] == len).unwrap();
        assert_eq!(row[4], fmt_share(r.mean, r.ci_low, r.ci_high));
        assert_eq!(row[5], r.n.to_string());
    }
    assert!(ctx.contains("<svg"), "the recall heatmap");
    assert!(html::section(&qwen, "drift").contains("No drift run"));
    // The ghost: rated, nothing measured, and nothing shown as 0.
    let ghost = read(&f.site.join(page_of(&f.site, "index.html", GHOST)));
    for id in ["speed", "tools", "context", "multimodal", "drift"] {
        let sec = html::section(&ghost, id);
        assert!(sec.contains("class=\"missing-block\""), "ghost {id}");
        assert!(html::rows(sec).is_empty(), "ghost {id} has rows");
    }
}

#[test]
fn device_pages_show_pareto_and_roofline_from_the_data() {
    let f = fixture();
    let qs = csv_rows(&f.site.join("data/quality_speed.csv"));
    for device in ["laptop", PHONE] {
        let page = read(&f.site.join(page_of(&f.site, "index.html", device)));
        let sec = html::section(&page, "pareto");
        assert!(sec.contains("<svg"), "{device}: Pareto chart");
        let rows = html::rows(sec);
        let mine: Vec<_> = qs.iter().filter(|r| r["device"] == device).collect();
        assert_eq!(rows.len(), mine.len(), "{device}");
        assert!(
            mine.iter().any(|r| r["pareto"] == "true"),
            "someone is on the front"
        );
        for c in mine {
            let num = |k: &str| c[k].parse::<f64>().unwrap();
            let r = rows.iter().find(|r| r[0] == c["model"]).unwrap();
            assert_eq!(r[1], format!("{:.1}", num("rating")));
            assert_eq!(r[3], fmt_num(num("decode_tok_s")));
            assert_eq!(r[4], fmt_num(num("ttft_ms")));
            assert_eq!(r[6] == "on the front", c["pareto"] == "true");
        }
        // Tool-call accuracy × speed: Qwen's items pooled, against its decode speed there.
        let acc = html::section(&page, "accuracy-speed");
        if device == "laptop" {
            let items = read_items(&f.results.join("laptop-tools/items.csv"))
                .unwrap()
                .rows;
            let k = items.iter().filter(|i| i.pass).count();
            let w = edgebench::measure::proportion::wilson(k, items.len()).unwrap();
            let rows = html::rows(acc);
            let qwen = rows
                .iter()
                .find(|r| r[0] == "qwen")
                .unwrap_or_else(|| panic!("{rows:?}"));
            assert_eq!(qwen[1], format!("{k} / {}", items.len()));
            assert_eq!(qwen[2], fmt_share(w.p, w.ci_low, w.ci_high));
            let q = qs
                .iter()
                .find(|r| r["device"] == "laptop" && r["model"] == "qwen")
                .unwrap();
            assert_eq!(qwen[3], fmt_num(q["decode_tok_s"].parse().unwrap()));
            assert!(acc.contains("<svg"), "the accuracy × speed chart");
        } else {
            assert!(acc.contains("No tool-call run on this device"), "{device}");
        }
        let roof = html::section(&page, "roofline");
        if device == "laptop" {
            // The probe ran on the laptop; Gemma ran in process there.
            let m: serde_json::Value =
                serde_json::from_str(&read(&f.results.join("laptop-speed/run.json"))).unwrap();
            let bw = m["host"]["memory_bandwidth_gbs"].as_f64().unwrap();
            let rows = html::rows(roof);
            let gemma = rows
                .iter()
                .find(|r| r[0] == "gemma")
                .unwrap_or_else(|| panic!("{rows:?}"));
            assert_eq!(gemma[4], fmt_num(bw));
            assert!(roof.contains("<svg"));
        } else {
            assert!(roof.contains("No bandwidth probe"), "{device}");
        }
    }
}

#[test]
fn hostile_names_are_text_everywhere() {
    let f = fixture();
    for page in pages(&f.site) {
        let text = read(&f.site.join(&page));
        for raw in [PHONE, GHOST, HOSTILE_CATEGORY, "<b>board</b>"] {
            assert!(!text.contains(raw), "{page}: {raw} unescaped");
        }
    }
    let index = read(&f.site.join("index.html"));
    let t = html::text(&index);
    for name in [PHONE, GHOST, HOSTILE_CATEGORY, "Edge <b>board</b>"] {
        assert!(t.contains(name), "{name} not shown as written");
    }
}

#[test]
fn every_download_is_documented() {
    let f = fixture();
    let docs = read(&repo_root().join("docs/publish.md"));
    for e in std::fs::read_dir(f.site.join("data")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        match p.extension().and_then(|x| x.to_str()) {
            Some("csv") => {
                let stem = name.split('-').next().unwrap().trim_end_matches(".csv");
                assert!(
                    docs.contains(&format!("`{stem}")),
                    "{name} not in docs/publish.md"
                );
                let mut r = csv::Reader::from_path(&p).unwrap();
                for col in r.headers().unwrap() {
                    assert!(
                        docs.contains(&format!("`{col}`")),
                        "{name}: column {col} not in docs/publish.md"
                    );
                }
            }
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&read(&p)).unwrap();
            }
            _ => panic!("unexpected file in data/: {name}"),
        }
    }
}

#[test]
fn pages_render_in_chromium_at_phone_and_desktop_widths() {
    let f = fixture();
    if !Path::new(browser::CHROMIUM).exists() {
        eprintln!(
            "no {}: the browser checks need scripts/setup's chromium",
            browser::CHROMIUM
        );
        return;
    }
    let pick = |name: &str, page: String| (name.to_string(), page);
    let pages = vec![
        pick("index", "index.html".into()),
        pick("category", page_of(&f.site, "index.html", "coding")),
        pick("model-qwen", page_of(&f.site, "index.html", "qwen")),
        pick("model-gemma", page_of(&f.site, "index.html", "gemma")),
        pick("model-ghost", page_of(&f.site, "index.html", GHOST)),
        pick("device-laptop", page_of(&f.site, "index.html", "laptop")),
        pick("device-phone", page_of(&f.site, "index.html", PHONE)),
    ];
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shots = out.join("publish-screenshots");
    // The site itself beside its screenshots, to open after the test.
    let _ = std::fs::remove_dir_all(out.join("publish-site"));
    browser::copy_dir(&f.site, &out.join("publish-site"));
    let scratch = f.root.join("chromium");
    let files = browser::screenshots(&f.site, &pages, &shots, &scratch);
    assert_eq!(files.len(), pages.len() * browser::WIDTHS.len());
    let faults = browser::overflow(&f.site, &pages, &scratch);
    assert!(
        faults.is_empty(),
        "sticking out of the viewport:\n{}",
        faults.join("\n")
    );
    eprintln!("screenshots in {}", shots.display());
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let battles = battles(dir.path());
    let out = dir.path().join("site");
    let (b, o) = (battles.to_str().unwrap(), out.to_str().unwrap());
    let missing = dir.path().join("nowhere");
    let m = missing.to_str().unwrap();
    for (args, says) in [
        (vec!["publish", "--battles", m, "--out", o], "nowhere"),
        (
            vec!["publish", "--battles", b, "--runs", m, "--out", o],
            "no such run folder",
        ),
        (
            vec![
                "publish",
                "--battles",
                b,
                "--anchor",
                "nobody=1000",
                "--out",
                o,
            ],
            "no model `nobody`",
        ),
    ] {
        let (code, err) = crate::common::run_err(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
