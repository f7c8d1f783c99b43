//! The comparison as Markdown: printed on stdout and appended to `$GITHUB_STEP_SUMMARY`.
//! The headline says whether the gate passed and, when it failed, every reason why: a gate
//! that could not judge something says so as loudly as one that found a regression.

use std::fmt::Write;

use super::escape::md;
use crate::report::compare::{Comparison, MIN_SAMPLES, Row, Verdict};
use crate::report::format::{fmt_ci, fmt_num};
use crate::report::metric::Direction;
use crate::results::markdown as mdtable;

pub fn render(c: &Comparison) -> String {
    let mut o = String::new();
    let reg = c.count(Verdict::Regressed);
    let headline = headline(c);
    let _ = writeln!(o, "## edgebench compare\n");
    let _ = writeln!(o, "{headline}\n");
    let _ = writeln!(
        o,
        "Verdicts: {} regressed, {} improved, {} within noise, {} too few samples.\n",
        reg,
        c.count(Verdict::Improved),
        c.count(Verdict::WithinNoise),
        c.count(Verdict::TooFewSamples)
    );
    let _ = writeln!(
        o,
        "Baseline `{}` → candidate `{}`. Ratio = candidate median ÷ baseline median, [95% bootstrap CI]; *regressed* only when the whole CI is worse than the threshold; *too few samples* when a side has fewer than {MIN_SAMPLES} successful requests.\n",
        md(&c.baseline).replace('`', "'"),
        md(&c.candidate).replace('`', "'")
    );
    if c.rows.iter().any(|r| r.difference.is_some()) {
        let _ = writeln!(
            o,
            "Shares of items (accuracy, compliance; n = items): Δ = candidate − baseline in percentage points, [95% Newcombe CI]; *regressed* only when the whole CI lies below −{:.1} points.\n",
            c.threshold * 100.0
        );
    }
    if !c.problems.is_empty() {
        let _ = writeln!(o, "**Could not judge**\n");
        for p in &c.problems {
            let waived = if p.allowed {
                format!(" (let pass by {})", p.kind.allow_flag())
            } else {
                String::new()
            };
            let _ = writeln!(o, "- {}{waived}", md(&p.message));
        }
        let _ = writeln!(o);
    }
    o.push_str(&mdtable::header(
        &[
            "case",
            "metric",
            "baseline median [CI]",
            "candidate median [CI]",
            if c.rows.iter().any(|r| r.difference.is_some()) {
                "ratio or Δ [95% CI]"
            } else {
                "ratio [95% CI]"
            },
            "change",
            "verdict",
        ],
        "llrrrrl",
    ));
    for r in &c.rows {
        o.push_str(&mdtable::row(&row_cells(c, r)));
    }
    if !c.warnings.is_empty() {
        let _ = writeln!(o, "\n**Warnings**\n");
        for w in &c.warnings {
            let _ = writeln!(o, "- {}", md(w));
        }
    }
    o
}

/// The first line: passed, or every reason why not.
fn headline(c: &Comparison) -> String {
    if c.passed() {
        // What an --allow-… flag let pass is said in the headline too: a pass that checked
        // nothing must not read like a clean one.
        let waived =
            c.problems.iter().filter(|p| p.allowed).count() + c.count(Verdict::TooFewSamples);
        let waived = if waived > 0 {
            format!(
                " — but {waived} thing(s) could not be judged and were let pass (see *Could not judge* and *too few samples* below)"
            )
        } else {
            String::new()
        };
        format!(
            "✅ no regression beyond the {:.1}% threshold{waived}",
            c.threshold * 100.0
        )
    } else {
        format!("❌ **gate failed**: {}", c.failure_reasons().join("; "))
    }
}

/// The cells of one verdict row.
fn row_cells(c: &Comparison, r: &Row) -> Vec<String> {
    let better = match r.direction {
        Direction::HigherIsBetter => "↑",
        Direction::LowerIsBetter => "↓",
    };
    let verdict = match r.verdict {
        Verdict::Regressed => "❌ **regressed**".to_string(),
        Verdict::Improved => "✅ improved".to_string(),
        Verdict::TooFewSamples if c.row_fails(r) => "❌ too few samples".to_string(),
        v => v.as_str().to_string(),
    };
    let (ratio, change) = if let Some(d) = &r.difference {
        // A share of items: the difference in percentage points.
        (
            format!(
                "Δ {:+.1} pts [{:+.1}, {:+.1}]",
                d.diff * 100.0,
                d.low * 100.0,
                d.high * 100.0
            ),
            format!("{:+.1} pts", d.diff * 100.0),
        )
    } else if r.ratio.ratio.is_nan() {
        ("-".to_string(), "-".to_string())
    } else {
        (
            format!(
                "×{:.3} [{}, {}]",
                r.ratio.ratio,
                fmt_num(r.ratio.low),
                fmt_num(r.ratio.high)
            ),
            format!("{:+.1}%", (r.ratio.ratio - 1.0) * 100.0),
        )
    };
    vec![
        md(&r.case_name()),
        format!("{} {better}", md(&r.metric)),
        format!(
            "{} (n={})",
            fmt_ci(r.baseline.median, r.baseline.low, r.baseline.high),
            r.baseline.n
        ),
        format!(
            "{} (n={})",
            fmt_ci(r.candidate.median, r.candidate.low, r.candidate.high),
            r.candidate.n
        ),
        ratio,
        change,
        verdict,
    ]
}
