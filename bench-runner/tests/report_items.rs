//! Reports and the gate over scored items and context sweeps, end to end on real runs: Qwen
//! 0.5B on the shared llama-server answers a small tool-call suite at two depths and a short
//! needle sweep; the report must hold the accuracy table, the failure counts, the
//! accuracy-against-depth figure and the effective-length table with exactly the figures that
//! items.csv and summary.csv hold, and `compare --metric accuracy` must fail a candidate whose
//! accuracy fell beyond the threshold.
//!
//! The weaker candidate is a second real run whose scenario allows 4 output tokens: too few
//! for any call of the suite (`[get_weather(city="Paris")]` alone is more), so its answers are
//! cut short — a build that truncates answers, measured, not written by hand.

use std::path::{Path, PathBuf};

use edgebench::report::format::fmt_num;
use edgebench::results::SummaryRow;
use edgebench::results::items::{ItemRow, read_items};
use edgebench::results::reader::read_summary;

use crate::common::*;

fn qwen_config(dir: &Path) -> PathBuf {
    write(
        dir,
        "backends.toml",
        &format!(
            "default = \"qwen\"\n[backends.qwen]\nkind = \"openai\"\nbase_url = {:?}\ndevice = \"local\"\nstall_timeout_s = 300\n",
            shared_qwen().base_url()
        ),
    )
}

/// Eight simple and multiple items of the shipped suite (no irrelevance items: answering
/// nothing would pass them), asked as text (prompt mode) at depths 0 and 600.
fn tools_scenario(dir: &Path, name: &str, max_tokens: u32) -> PathBuf {
    // Items Qwen answered right in prompt mode at depth 0 when this test was written, so the
    // baseline has an accuracy a drop can be seen from with 8 items.
    let keep = [
        "simple_weather_paris",
        "simple_currency",
        "simple_email",
        "simple_stock",
        "simple_song",
        "simple_lights_off",
        "multiple_time",
        "multiple_weather",
    ];
    let suite: String =
        std::fs::read_to_string(repo_root().join("scenarios/data/tool_suite.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| {
                l.starts_with("{\"define\"")
                    || keep
                        .iter()
                        .any(|id| l.contains(&format!("\"id\": \"{id}\"")))
            })
            .map(|l| format!("{l}\n"))
            .collect();
    write(dir, "suite.jsonl", &suite);
    write(
        dir,
        name,
        &format!(
            "name = \"tools\"\nkind = \"tool_calls\"\nsuites = [\"suite.jsonl\"]\nmode = [\"prompt\"]\ndepth = [0, 600]\nmax_tokens = {max_tokens}\nlatency_target_ms = 600000\n"
        ),
    )
}

fn run(out: &Path, id: &str, scenario: &Path, config: &Path) -> PathBuf {
    run_ok(&[
        "run",
        "--quiet",
        "--run-id",
        id,
        scenario.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    out.join(id)
}

/// The body rows of every Markdown table in `md`, as cells.
fn table_rows(md: &str) -> Vec<Vec<String>> {
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("|--"))
        .map(|l| {
            l.trim_start_matches("| ")
                .trim_end_matches(" |")
                .split(" | ")
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn share(r: &SummaryRow) -> String {
    format!(
        "{} [{}, {}]",
        fmt_num(r.mean),
        fmt_num(r.ci_low),
        fmt_num(r.ci_high)
    )
}

fn find<'a>(summary: &'a [SummaryRow], case: &str, metric: &str) -> &'a SummaryRow {
    summary
        .iter()
        .find(|r| r.case_id == case && r.metric == metric)
        .unwrap_or_else(|| panic!("summary.csv has no {case} / {metric}"))
}

/// Every figure of the tool section of `md` for the run `run` (series `label`) against its
/// items.csv and summary.csv.
fn check_tool_section(md: &str, run: &Path, label: &str) {
    let items: Vec<ItemRow> = read_items(&run.join("items.csv")).unwrap().rows;
    let summary = read_summary(&run.join("summary.csv")).unwrap().rows;
    let rows = table_rows(md);
    for case in ["prompt_d0", "prompt_d600"] {
        let case_items: Vec<&ItemRow> = items.iter().filter(|i| i.case_id == case).collect();
        assert_eq!(case_items.len(), 8, "{case}");
        let row = |category: &str| {
            rows.iter()
                .find(|r| {
                    r.len() == 9
                        && r[0] == label
                        && r[1] == "tools"
                        && r[2] == case
                        && r[3] == "accuracy"
                        && r[4] == category
                })
                .unwrap_or_else(|| panic!("no accuracy row {label} {case} {category} in\n{md}"))
                .clone()
        };
        // Overall: k and n from items.csv, the share and its interval and the goodput from
        // summary.csv, to the digit the report prints.
        let all = row("all");
        let pass = case_items.iter().filter(|i| i.pass).count();
        assert_eq!(all[5], pass.to_string(), "{all:?}");
        assert_eq!(all[6], "8");
        assert_eq!(all[7], share(find(&summary, case, "accuracy")), "{all:?}");
        assert_eq!(
            all[8],
            fmt_num(find(&summary, case, "correct_goodput").mean),
            "{all:?}"
        );
        for cat in ["simple", "multiple"] {
            let r = row(cat);
            let n = case_items.iter().filter(|i| i.category == cat).count();
            let k = case_items
                .iter()
                .filter(|i| i.category == cat && i.pass)
                .count();
            assert_eq!((r[5].clone(), r[6].clone()), (k.to_string(), n.to_string()));
            assert_eq!(
                r[7],
                share(find(&summary, case, &format!("accuracy:{cat}")))
            );
        }
        // Failure categories: every one items.csv holds, counted, with summary.csv's share.
        let mut failures: Vec<&str> = case_items
            .iter()
            .filter_map(|i| i.failure_category.as_deref())
            .collect();
        failures.sort_unstable();
        failures.dedup();
        for f in &failures {
            let count = case_items
                .iter()
                .filter(|i| i.failure_category.as_deref() == Some(f))
                .count();
            let r = rows
                .iter()
                .find(|r| r.len() == 7 && r[0] == label && r[2] == case && r[3] == *f)
                .unwrap_or_else(|| panic!("no failure row {label} {case} {f} in\n{md}"));
            assert_eq!(r[4], count.to_string(), "{r:?}");
            assert_eq!(r[5], "8");
            assert_eq!(r[6], share(find(&summary, case, &format!("failure:{f}"))));
        }
        let listed = rows
            .iter()
            .filter(|r| r.len() == 7 && r[0] == label && r[2] == case)
            .count();
        assert_eq!(listed, failures.len(), "no failure row beyond items.csv's");
    }
}

#[test]
fn report_and_gate_read_items_and_context_sweeps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = qwen_config(dir);
    let base = run(dir, "base", &tools_scenario(dir, "tools.toml", 64), &config);
    let cand = run(dir, "cand", &tools_scenario(dir, "short.toml", 4), &config);
    let ctx_scenario = write(
        dir,
        "ctx.toml",
        "kind = \"context\"\nname = \"ctx\"\nlengths = [512, 1024]\ndepths = [0, 100]\nmax_tokens = 8\nwarmup = 0\n",
    );
    let ctx = run(dir, "ctx", &ctx_scenario, &config);

    let report = dir.join("report");
    run_ok(&[
        "report",
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        ctx.to_str().unwrap(),
        "--metric",
        "decode_tok_s,accuracy",
        "-o",
        report.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("## Tool calls and structured output"), "{md}");
    check_tool_section(&md, &base, "local/qwen@base");
    check_tool_section(&md, &cand, "local/qwen@cand");

    // Accuracy against depth: one figure for the scenario, a line per series and mode, every
    // point an 8-item share.
    let fig = std::fs::read_to_string(report.join("accuracy-vs-depth-tools.svg")).unwrap();
    assert!(
        fig.contains("local/qwen@base prompt") && fig.contains("local/qwen@cand prompt"),
        "{fig}"
    );
    assert!(
        md.contains("### Accuracy vs context depth: tools")
            && md.contains("n = 8 items per point (32 in all)"),
        "{md}"
    );

    // `--metric accuracy` adds the device-to-device table of the share of items.
    assert!(md.contains("## tool-call accuracy (share of items, higher is better)"));
    assert!(md.contains("Δ "), "difference to the reference in points");

    // The effective context length per series, with the recall per length beside it: the
    // run's own figures from summary.csv.
    let summary = read_summary(&ctx.join("summary.csv")).unwrap().rows;
    let eff = find(&summary, "all", "effective_context_length");
    let eff_text = if eff.mean > 0.0 {
        (eff.mean as u32).to_string()
    } else {
        "none".to_string()
    };
    let rows = table_rows(&md);
    let row = rows
        .iter()
        .find(|r| r.len() == 8 && r[0] == "local" && r[1] == "qwen" && r[3] == "ctx")
        .unwrap_or_else(|| panic!("no effective-length row in\n{md}"));
    assert_eq!(row[2], eff.model);
    assert_eq!(row[4], eff_text, "{row:?}");
    // The threshold the run recorded (`threshold=0.85`), `-` when no length passed.
    assert_eq!(
        row[5],
        eff.flags.strip_prefix("threshold=").unwrap_or("-"),
        "{row:?}"
    );
    for (i, length) in ["ctx512", "ctx1024"].iter().enumerate() {
        let r = find(&summary, length, "recall");
        assert_eq!(row[6 + i], format!("{} (n={})", share(r), r.n), "{row:?}");
    }
    assert!(md.contains("| recall @ 512 | recall @ 1024 |"), "{md}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("<h2>Effective context length</h2>"));
    assert!(html.contains("<h2>Tool calls and structured output</h2>"));

    // The gate: the truncating candidate lost accuracy beyond the threshold; the baseline
    // against itself did not.
    let base_acc = find(
        &read_summary(&base.join("summary.csv")).unwrap().rows,
        "prompt_d0",
        "accuracy",
    )
    .mean;
    assert!(
        base_acc >= 0.75,
        "the premise: Qwen answers most of these items ({base_acc})"
    );
    let out = edgebench()
        .args(["compare", "--baseline"])
        .arg(&base)
        .arg("--candidate")
        .arg(&cand)
        .args(["--metric", "accuracy,accuracy:simple"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let regressed = table_rows(&stdout)
        .into_iter()
        .find(|r| r[0].ends_with("tools / prompt_d0") && r[1] == "accuracy ↑")
        .unwrap_or_else(|| panic!("no accuracy row in\n{stdout}"));
    assert_eq!(regressed[6], "❌ **regressed**", "{stdout}");
    assert!(regressed[4].starts_with("Δ -"), "{regressed:?}");
    assert!(stdout.contains("regression(s) beyond the 5.0% threshold"));
    assert!(stdout.contains(", 0 too few samples."), "{stdout}");
    let same = edgebench()
        .args(["compare", "--baseline"])
        .arg(&base)
        .arg("--candidate")
        .arg(&base)
        .args(["--metric", "accuracy"])
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
}
