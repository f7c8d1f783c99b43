//! The comparison as Markdown: printed on stdout and appended to `$GITHUB_STEP_SUMMARY`.

use std::fmt::Write;

use super::escape::md;
use crate::report::compare::{Comparison, Verdict};
use crate::report::metric::Direction;
use crate::report::model::{fmt_ci, fmt_num};

pub fn render(c: &Comparison) -> String {
    let mut o = String::new();
    let reg = c.count(Verdict::Regressed);
    let headline = if reg > 0 {
        format!(
            "❌ **{reg} regression(s)** beyond the {:.1}% threshold",
            c.threshold * 100.0
        )
    } else {
        format!(
            "✅ no regression beyond the {:.1}% threshold",
            c.threshold * 100.0
        )
    };
    let _ = writeln!(o, "## edgebench compare\n");
    let _ = writeln!(
        o,
        "{headline}: {} regressed, {} improved, {} within noise, {} too few samples.\n",
        reg,
        c.count(Verdict::Improved),
        c.count(Verdict::WithinNoise),
        c.count(Verdict::TooFewSamples)
    );
    let _ = writeln!(
        o,
        "Baseline `{}` → candidate `{}`. Ratio = candidate median ÷ baseline median, [95% bootstrap CI]; *regressed* only when the whole CI is worse than the threshold.\n",
        md(&c.baseline).replace('`', "'"),
        md(&c.candidate).replace('`', "'")
    );
    let _ = writeln!(
        o,
        "| case | metric | baseline median [CI] | candidate median [CI] | ratio [95% CI] | change | verdict |"
    );
    let _ = writeln!(o, "|---|---|--:|--:|--:|--:|---|");
    for r in &c.rows {
        let better = match r.direction {
            Direction::HigherIsBetter => "↑",
            Direction::LowerIsBetter => "↓",
        };
        let verdict = match r.verdict {
            Verdict::Regressed => "❌ **regressed**".to_string(),
            Verdict::Improved => "✅ improved".to_string(),
            v => v.as_str().to_string(),
        };
        let change = (r.ratio.ratio - 1.0) * 100.0;
        let _ = writeln!(
            o,
            "| {} | {} {better} | {} (n={}) | {} (n={}) | ×{:.3} [{}, {}] | {change:+.1}% | {verdict} |",
            md(&r.case_name()),
            r.metric,
            fmt_ci(r.baseline.median, r.baseline.low, r.baseline.high),
            r.baseline.n,
            fmt_ci(r.candidate.median, r.candidate.low, r.candidate.high),
            r.candidate.n,
            r.ratio.ratio,
            fmt_num(r.ratio.low),
            fmt_num(r.ratio.high),
        );
    }
    if !c.warnings.is_empty() {
        let _ = writeln!(o, "\n**Warnings**\n");
        for w in &c.warnings {
            let _ = writeln!(o, "- {}", md(w));
        }
    }
    o
}
