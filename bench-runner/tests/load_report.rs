//! `edgebench report` over request-rate runs, end to end on the shared llama-server: the Load
//! table holds the figures of summary.csv, the throughput–latency and goodput figures are
//! well-formed SVG (with the SLO's TTFT bound drawn only when an SLO was given), and a sweep's
//! answer is the report's headline, in the numbers of its `max_sustainable_rate` row.
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::path::{Path, PathBuf};

use edgebench::results::SummaryRow;

use crate::common::*;

fn run(dir: &Path, id: &str, scenario: &Path) -> PathBuf {
    let config = shared_gemma_config(dir, "");
    run_ok(&[
        "run",
        "--quiet",
        "--run-id",
        id,
        &scenario.display().to_string(),
        "--config",
        &config.display().to_string(),
        "--out",
        &dir.display().to_string(),
    ]);
    dir.join(id)
}

/// Runs `edgebench report` on `run` into `out`; returns (report.md, report.html).
fn report(run: &Path, out: &Path) -> (String, String) {
    let o = edgebench()
        .arg("report")
        .arg(run)
        .arg("-o")
        .arg(out)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        std::fs::read_to_string(out.join("report.md")).unwrap(),
        std::fs::read_to_string(out.join("report.html")).unwrap(),
    )
}

/// Well-formed XML, checked by hand (no XML crate here): every element closed in order,
/// quoted attributes, no stray `<` or `&` in text.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg.trim_start();
    if let Some(after) = rest.strip_prefix("<?xml") {
        rest = &after[after.find("?>").expect("unclosed declaration") + 2..];
    }
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        check_text(text);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").expect("unclosed comment") + 3..];
            continue;
        }
        // The tag's end: the first `>` outside quotes.
        let (mut quote, mut end) = (None, None);
        for (i, ch) in rest.char_indices().skip(1) {
            match (quote, ch) {
                (None, '"' | '\'') => quote = Some(ch),
                (Some(q), c) if c == q => quote = None,
                (None, '<') => panic!("`<` inside a tag: {}", &rest[..i]),
                (None, '>') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.expect("unclosed tag");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("stray </{name}>"));
            assert_eq!(open, name.trim(), "mismatched close tag");
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            assert!(!name.is_empty(), "empty tag name");
            check_text(tag);
            if stack.is_empty() {
                roots += 1;
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1, "one root element");
}

/// Every `&` starts an entity.
fn check_text(t: &str) {
    for (i, _) in t.match_indices('&') {
        let ent = &t[i..];
        let semi = ent.find(';').expect("`&` without `;`");
        let name = &ent[1..semi];
        assert!(
            ["lt", "gt", "amp", "quot", "apos"].contains(&name)
                || name.starts_with('#') && semi < 10,
            "bad entity &{name};"
        );
    }
}

fn f2(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

/// The Load table's row for `case`, made here from summary.csv.
fn expected_row(summary: &[SummaryRow], case: &str) -> String {
    let get = |m: &str| {
        summary
            .iter()
            .find(|r| r.case_id == case && r.metric == m)
            .unwrap_or_else(|| panic!("no {m} row for {case}"))
    };
    let share = summary
        .iter()
        .find(|r| r.case_id == case && r.metric == "slo_good_share")
        .map_or("-".into(), |s| {
            format!(
                "{:.1}% [{:.1}, {:.1}] (n={})",
                s.mean * 100.0,
                s.ci_low * 100.0,
                s.ci_high * 100.0,
                s.n
            )
        });
    let goodput = summary
        .iter()
        .find(|r| r.case_id == case && r.metric == "goodput")
        .map_or("-".into(), |r| f2(r.mean));
    let lag = get("send_lag_ms");
    format!(
        "| {case} | {} | {} | {} | {} | {} | {} | {goodput} | {share} | {} | {} | {} |",
        f2(get("offered_rate").mean),
        f2(get("requests_per_s").mean),
        f2(get("ttft_ms").p50),
        f2(get("ttft_ms").p99),
        f2(get("tpot_ms").p50),
        f2(get("e2e_ms").p99),
        f2(lag.p50),
        f2(lag.p99),
        f2(lag.max),
    )
}

#[test]
fn a_rate_run_gets_a_load_table_and_its_two_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = |name: &str, slo: &str| {
        write(
            tmp.path(),
            &format!("{name}.toml"),
            &format!(
                "kind = \"throughput\"\nname = \"{name}\"\nprompt_tokens = [32]\nmax_tokens = [4]\nrequest_rate = [5, 50]\nrequests = 4\nwarmup = 0\n{slo}"
            ),
        )
    };
    let with_slo = run(
        tmp.path(),
        "slo",
        &scenario("load", "slo = { ttft_ms = 60000 }\n"),
    );
    let out = tmp.path().join("report-slo");
    let (md, html) = report(&with_slo, &out);
    let (_, summary) = rows(&with_slo);

    assert!(md.contains("\n## Load\n"), "{md}");
    assert!(
        md.contains(&format!(
            "### local/srv ({}) · load · prompt 32 / output 4, SLO TTFT ≤ 60000 ms",
            summary[0].model
        )),
        "{md}"
    );
    for case in ["pp32_tg4_r5", "pp32_tg4_r50"] {
        let row = expected_row(&summary, case);
        assert!(row.contains("(n=4)"), "an SLO share over 4 requests: {row}");
        assert!(md.contains(&row), "expected\n{row}\nin\n{md}");
    }
    assert!(html.contains("<h2>Load</h2>"));
    assert!(
        !html.contains("figure withheld"),
        "the load figures pass the SVG check"
    );
    let lag_p99 = |case: &str| {
        summary
            .iter()
            .find(|r| r.case_id == case && r.metric == "send_lag_ms")
            .unwrap()
            .p99
    };
    let lagging = lag_p99("pp32_tg4_r5") > 10.0 || lag_p99("pp32_tg4_r50") > 10.0;
    assert_eq!(
        md.contains("the client could not keep up; these rates are not the server's"),
        lagging
    );

    let latency = std::fs::read_to_string(out.join("load-latency.svg")).unwrap();
    let goodput = std::fs::read_to_string(out.join("goodput-vs-offered.svg")).unwrap();
    assert_well_formed(&latency);
    assert_well_formed(&goodput);
    assert!(latency.contains("SLO TTFT ≤ 60000 ms"), "{latency}");
    assert!(goodput.contains("y = x"), "{goodput}");
    assert!(md.contains("![Goodput against offered rate](goodput-vs-offered.svg)"));

    // Without an SLO: the same table without goodput, and no SLO line.
    let plain = run(tmp.path(), "plain", &scenario("plain", ""));
    let out = tmp.path().join("report-plain");
    let (md, _) = report(&plain, &out);
    let (_, summary) = rows(&plain);
    assert!(md.contains(&expected_row(&summary, "pp32_tg4_r50")), "{md}");
    assert!(md.contains(&format!(
        "### local/srv ({}) · plain · prompt 32 / output 4\n",
        summary[0].model
    )));
    let latency = std::fs::read_to_string(out.join("load-latency.svg")).unwrap();
    assert_well_formed(&latency);
    assert!(!latency.contains("SLO TTFT"));
    assert!(!out.join("goodput-vs-offered.svg").exists());
}

#[test]
fn a_sweep_s_answer_heads_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(
        tmp.path(),
        "sweep.toml",
        "kind = \"throughput\"\nname = \"sw\"\nmode = \"sweep\"\nprompt_tokens = [48]\nmax_tokens = [4]\nrequests = 4\nwarmup = 0\nslo = { ttft_ms = 5000 }\nsweep_rates = 2\nslo_target = 0.75\ntolerance = 0.5\n",
    );
    let run_dir = run(tmp.path(), "sw", &scenario);
    let out = tmp.path().join("report");
    let (md, html) = report(&run_dir, &out);
    let (_, summary) = rows(&run_dir);
    let row = summary
        .iter()
        .find(|r| r.metric == "max_sustainable_rate")
        .unwrap();
    assert_eq!(row.case_id, "pp48_tg4_sweep");
    let numbers = if row.mean.is_nan() {
        "no sustainable rate at TTFT ≤ 5000 ms for 75% of requests".to_string()
    } else {
        let hi = if row.ci_high.is_nan() {
            "no failing rate up to saturation".into()
        } else {
            format!("{:.3}", row.ci_high)
        };
        format!(
            "{:.3} req/s [{:.3}, {hi}] at TTFT ≤ 5000 ms for 75% of requests",
            row.mean, row.ci_low
        )
    };
    let headline = format!(
        "**Maximum sustainable rate:** srv on local ({}): {numbers}",
        row.model
    );
    let line = md
        .lines()
        .find(|l| l.starts_with("**Maximum sustainable rate:**"))
        .unwrap_or_else(|| panic!("no headline in\n{md}"))
        .replace('\\', ""); // Markdown escapes of `[` and `]`
    assert!(line.starts_with(&headline), "{line}\nvs\n{headline}");
    assert!(line.contains(", prompt 48 / output 4"), "{line}");
    assert_eq!(
        line.contains("not converged"),
        row.flags.contains("not_converged"),
        "{line}"
    );
    // At the top: before the first table.
    assert!(md.find("**Maximum sustainable rate:**").unwrap() < md.find("\n## ").unwrap());
    assert!(html.contains("Maximum sustainable rate:"), "{html}");
    // The planner's rates are load cases, with the sweep's knee on the curve.
    assert!(md.contains("| pp48_tg4_sweep_r"), "{md}");
    let latency = std::fs::read_to_string(out.join("load-latency.svg")).unwrap();
    assert_well_formed(&latency);
    assert!(latency.contains("SLO TTFT ≤ 5000 ms"));
    if !row.mean.is_nan() {
        assert!(latency.contains("max sustainable rate"), "{latency}");
    }
}
