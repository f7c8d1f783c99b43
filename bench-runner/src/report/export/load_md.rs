//! report.md's sweep headlines and Load section (request-rate cases), see
//! [`crate::report::rate`].

use std::fmt::Write;

use super::escape::md;
use crate::report::rate::LoadSection;
use crate::results::markdown as mdtable;

/// The sweep's answers, one line each, at the top of the report.
pub fn headlines(o: &mut String, l: &LoadSection) {
    for h in &l.headlines {
        let _ = writeln!(o, "**Maximum sustainable rate:** {}\n", md(h));
    }
}

/// One table per series × prompt/output point, a row per offered rate.
pub fn section(o: &mut String, l: &LoadSection) {
    if l.tables.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Load\n");
    let _ = writeln!(
        o,
        "Request-rate cases, from summary.csv: offered and achieved requests/s, latencies in ms, goodput (good requests/s) and the share of good requests [95% Wilson interval] where an SLO was given, and the schedule lag (how late the client sent, ms).\n"
    );
    for t in &l.tables {
        let slo = if t.slo.is_empty() {
            String::new()
        } else {
            format!(", SLO {}", t.slo)
        };
        let _ = writeln!(
            o,
            "### {} · {} · {}{}\n",
            md(&t.series),
            md(&t.scenario),
            t.point,
            md(&slo)
        );
        o.push_str(&mdtable::header(
            &[
                "case",
                "offered req/s",
                "achieved req/s",
                "TTFT p50",
                "TTFT p99",
                "TPOT p50",
                "E2E p99",
                "goodput req/s",
                "SLO share [95% CI]",
                "lag p50",
                "lag p99",
                "lag max",
            ],
            "lrrrrrrrrrrr",
        ));
        for r in &t.rows {
            o.push_str(&mdtable::row(&[
                md(&r.case),
                r.offered.clone(),
                r.achieved.clone(),
                r.ttft_p50.clone(),
                r.ttft_p99.clone(),
                r.tpot_p50.clone(),
                r.e2e_p99.clone(),
                r.goodput.clone(),
                r.slo_share.clone(),
                r.lag_p50.clone(),
                r.lag_p99.clone(),
                r.lag_max.clone(),
            ]));
        }
        if !t.lag_warning.is_empty() {
            let _ = writeln!(o, "\n> **⚠** {}", md(&t.lag_warning));
        }
        o.push('\n');
    }
}
