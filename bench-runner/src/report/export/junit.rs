//! The comparison as JUnit XML, for CI systems that show test results: one test case per
//! case × metric, and one per thing the gate could not check (a baseline case missing from
//! the candidate, new failed requests, nothing compared). A regression is a failure; so is
//! *too few samples* and everything else the gate could not judge, unless `--allow-missing`
//! or `--allow-errors` let it pass, which makes it a skip.

use std::fmt::Write;

use super::escape::xml;
use crate::report::compare::{Comparison, Row, Verdict};

pub fn render(c: &Comparison) -> String {
    let tests = c.rows.len() + c.problems.len();
    let failures = c.rows.iter().filter(|r| c.row_fails(r)).count()
        + c.problems.iter().filter(|p| !p.allowed).count();
    let skipped = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::TooFewSamples && !c.row_fails(r))
        .count()
        + c.problems.iter().filter(|p| p.allowed).count();
    let mut o = String::new();
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="edgebench compare" tests="{tests}" failures="{failures}" skipped="{skipped}">"#,
    );
    let _ = writeln!(
        o,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" skipped="{skipped}">"#,
        xml(&format!("{} vs {}", c.candidate, c.baseline)),
    );
    for p in &c.problems {
        let classname = if p.case.is_empty() {
            "edgebench compare"
        } else {
            &p.case
        };
        let _ = write!(
            o,
            r#"    <testcase classname="{}" name="{}">"#,
            xml(classname),
            p.kind.as_str()
        );
        if p.allowed {
            let _ = write!(
                o,
                r#"<skipped message="{}"/>"#,
                xml(&format!(
                    "{} (let pass by {})",
                    p.message,
                    p.kind.allow_flag()
                ))
            );
        } else {
            let _ = write!(
                o,
                r#"<failure message="{}" type="{}">{}</failure>"#,
                xml(&p.message),
                p.kind.as_str(),
                xml(&p.message)
            );
        }
        let _ = writeln!(o, "</testcase>");
    }
    for r in &c.rows {
        let msg = message(c, r);
        let _ = write!(
            o,
            r#"    <testcase classname="{}" name="{}">"#,
            xml(&r.case_name()),
            xml(&r.metric)
        );
        match r.verdict {
            Verdict::Regressed => {
                let _ = write!(
                    o,
                    r#"<failure message="regressed" type="regression">{}</failure>"#,
                    xml(&msg)
                );
            }
            Verdict::TooFewSamples if c.row_fails(r) => {
                let _ = write!(
                    o,
                    r#"<failure message="too few samples: the gate cannot judge this" type="too_few_samples">{}</failure>"#,
                    xml(&msg)
                );
            }
            Verdict::TooFewSamples => {
                let _ = write!(
                    o,
                    r#"<skipped message="{}"/>"#,
                    xml(&format!("{msg} (let pass by --allow-missing)"))
                );
            }
            _ => {
                let _ = write!(o, "<system-out>{}</system-out>", xml(&msg));
            }
        }
        let _ = writeln!(o, "</testcase>");
    }
    let _ = writeln!(o, "  </testsuite>\n</testsuites>");
    o
}

/// What a row's test case says: the metric, the interval, both sides, the threshold, the verdict.
fn message(c: &Comparison, r: &Row) -> String {
    if let Some(d) = &r.difference {
        format!(
            "{} difference {:+.4} [95% Newcombe CI {:+.4}, {:+.4}], baseline {:.4} (n={} items), candidate {:.4} (n={} items), threshold {:.1} points: {}",
            r.metric,
            d.diff,
            d.low,
            d.high,
            r.baseline.median,
            r.baseline.n,
            r.candidate.median,
            r.candidate.n,
            c.threshold * 100.0,
            r.verdict.as_str()
        )
    } else {
        format!(
            "{} ratio ×{:.4} [95% CI {:.4}, {:.4}], baseline median {:.4} (n={}), candidate median {:.4} (n={}), threshold {:.1}%: {}",
            r.metric,
            r.ratio.ratio,
            r.ratio.low,
            r.ratio.high,
            r.baseline.median,
            r.baseline.n,
            r.candidate.median,
            r.candidate.n,
            c.threshold * 100.0,
            r.verdict.as_str()
        )
    }
}
