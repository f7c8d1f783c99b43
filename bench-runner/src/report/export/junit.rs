//! The comparison as JUnit XML, for CI systems that show test results: one test case per
//! case × metric; a regression is a failure, too few samples is a skip.

use std::fmt::Write;

use super::escape::xml;
use crate::report::compare::{Comparison, Verdict};

pub fn render(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="edgebench compare" tests="{}" failures="{}" skipped="{}">"#,
        c.rows.len(),
        c.count(Verdict::Regressed),
        c.count(Verdict::TooFewSamples)
    );
    let _ = writeln!(
        o,
        r#"  <testsuite name="{}" tests="{}" failures="{}" skipped="{}">"#,
        xml(&format!("{} vs {}", c.candidate, c.baseline)),
        c.rows.len(),
        c.count(Verdict::Regressed),
        c.count(Verdict::TooFewSamples)
    );
    for r in &c.rows {
        let msg = format!(
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
        );
        let _ = write!(
            o,
            r#"    <testcase classname="{}" name="{}">"#,
            xml(&r.case_name()),
            xml(r.metric)
        );
        match r.verdict {
            Verdict::Regressed => {
                let _ = write!(
                    o,
                    r#"<failure message="regressed" type="regression">{}</failure>"#,
                    xml(&msg)
                );
            }
            Verdict::TooFewSamples => {
                let _ = write!(o, r#"<skipped message="{}"/>"#, xml(&msg));
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
