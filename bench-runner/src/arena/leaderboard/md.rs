//! `leaderboard.md`: the table, quality × speed per device, and the disclosure block.

use std::fmt::Write;

use crate::arena::pareto;
use std::path::Path;

use super::JUDGES_FILE;
use crate::arena::rate::{Disclosure, Leaderboard, Row};
use crate::results::markdown as mdtable;
// Model names are data: Markdown and HTML specials are escaped so a name cannot break the
// table or inject markup where the Markdown is rendered.
use crate::report::export::escape::md as md_escape;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

/// Rows of the table printed to the terminal; the files have them all.
pub const TERMINAL_ROWS: usize = 20;

/// `leaderboard.md`: everything.
pub fn markdown(lb: &Leaderboard, charts: &[(String, String)]) -> String {
    let mut s = String::new();
    table(&mut s, lb, usize::MAX);
    speed(&mut s, lb, charts);
    disclosure(&mut s, lb);
    s
}

/// What `arena rate` prints: the top of the table, quality × speed, one line on the battles and
/// judges, and where the rest is. Its size does not grow with the judges or the pairs (FastChat's
/// data makes a leaderboard.md of a megabyte).
pub fn terminal(lb: &Leaderboard, charts: &[(String, String)], md_path: &Path) -> String {
    let mut s = String::new();
    table(&mut s, lb, TERMINAL_ROWS);
    speed(&mut s, lb, charts);
    let _ = writeln!(s, "\n{}", battles_line(&lb.disclosure));
    let _ = writeln!(
        s,
        "Disclosure (intervals, filters, battles per pair): {}",
        md_path.display()
    );
    s
}

/// "Battles: N among K models; judges: …", the judges summarised where there are many.
fn battles_line(d: &Disclosure) -> String {
    let top: Vec<String> = d
        .top_judges
        .iter()
        .map(|j| format!("{} ({})", md_escape(&j.judge), j.battles))
        .collect();
    let judges = if d.judges <= d.top_judges.len() {
        top.join(", ")
    } else {
        format!(
            "{} (most battles: {}, …; every judge with its battle count in {JUDGES_FILE})",
            d.judges,
            top.join(", ")
        )
    };
    format!(
        "Battles: {} among {} models; judges: {judges}",
        d.battles, d.models
    )
}

fn table(s: &mut String, lb: &Leaderboard, limit: usize) {
    let d = &lb.disclosure;
    let style = lb.rows.iter().any(|r| r.style_rating.is_some());
    let _ = writeln!(s, "# Arena leaderboard\n");
    let mut titles = vec![
        "Rank (UB)",
        "Rank spread",
        "Model",
        "Rating",
        "95% CI",
        "Votes",
        "Win rate",
    ];
    let mut aligns = String::from("rclrcrr");
    if style {
        titles.extend(["Style-controlled rating", "Style-controlled rank"]);
        aligns.push_str("rc");
    }
    s.push_str(&mdtable::header(&titles, &aligns));
    for r in lb.rows.iter().take(limit) {
        let name = if r.provisional {
            format!("{} †", md_escape(&r.model))
        } else {
            md_escape(&r.model)
        };
        let mut cells = vec![
            r.rank_ub.to_string(),
            r.rank_spread(),
            name,
            format!("{:.1}", r.rating),
            format!("{:+.1} / {:+.1}", r.ci_low - r.rating, r.ci_high - r.rating),
            r.votes.to_string(),
            format!("{:.1}%", 100.0 * r.win_rate),
        ];
        if style {
            let rank = match (r.style_rank_ub, r.style_rank_worst) {
                (Some(a), Some(b)) if a == b => a.to_string(),
                (Some(a), Some(b)) => format!("{a}–{b}"),
                _ => "–".into(),
            };
            cells.extend([opt(r.style_rating, 1), rank]);
        }
        s.push_str(&mdtable::row(&cells));
    }
    if lb.rows.len() > limit {
        s.push_str(&mdtable::row(&[format!(
            "… {} more models in leaderboard.md and leaderboard.csv",
            lb.rows.len() - limit
        )]));
    }
    if !d.provisional.is_empty() {
        let _ = writeln!(s, "\n† provisional: fewer than {} votes.", d.min_votes);
    }
}

fn speed(s: &mut String, lb: &Leaderboard, charts: &[(String, String)]) {
    if !lb.speed.is_empty() {
        let _ = writeln!(s, "\n## Quality × speed\n");
        s.push_str(&mdtable::header(
            &[
                "Device",
                "Model",
                "Rating",
                "95% CI",
                "Decode tok/s",
                "TTFT ms",
                "Cases",
                "Pareto",
            ],
            "llrcrrrc",
        ));
        for r in &lb.speed {
            s.push_str(&mdtable::row(&[
                md_escape(&r.device),
                md_escape(&r.model),
                format!("{:.1}", r.rating),
                format!("{:.1}–{:.1}", r.ci_low, r.ci_high),
                opt(r.decode_tok_s, 1),
                opt(r.ttft_ms, 1),
                r.cases.to_string(),
                if r.pareto { "★" } else { "" }.to_string(),
            ]));
        }
        if let Some(m) = lb.min_tok_s {
            s.push('\n');
            for (device, best) in &lb.best_at_speed {
                match best {
                    Some(b) => {
                        let _ = writeln!(
                            s,
                            "- Best on **{}** at ≥ {m} tok/s: **{}**",
                            md_escape(device),
                            md_escape(b)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "- On **{}** no model reaches {m} tok/s.",
                            md_escape(device)
                        );
                    }
                }
            }
        }
        s.push('\n');
        for (device, _) in charts {
            let _ = writeln!(
                s,
                "![Rating vs decode speed on {}]({})",
                md_escape(device),
                pareto::file_name(device)
            );
        }
    }
}

fn disclosure(s: &mut String, lb: &Leaderboard) {
    let d = &lb.disclosure;
    let _ = writeln!(s, "\n## Disclosure\n");
    let _ = writeln!(s, "- Generated: {}", d.generated_at);
    let _ = writeln!(s, "- {}", battles_line(d));
    let _ = writeln!(
        s,
        "- Inputs: {}",
        d.inputs
            .iter()
            .map(|j| md_escape(j))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "- Filters: {}",
        d.filters
            .iter()
            .map(|j| md_escape(j))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if !d.dropped.is_empty() {
        let _ = writeln!(s, "- Rows dropped: {}", d.dropped.join("; "));
    }
    let _ = writeln!(
        s,
        "- Minimum votes: {} (models below it are marked provisional †)",
        d.min_votes
    );
    let _ = writeln!(s, "- Intervals: {}", d.interval_method);
    if d.unconverged_rounds > 0 {
        let _ = writeln!(
            s,
            "- Bootstrap rounds whose fit did not converge: {}",
            d.unconverged_rounds
        );
    }
    let _ = writeln!(s, "- Rounds: {}, seed: {}", d.rounds, d.seed);
    let _ = writeln!(s, "- Anchor: {}", md_escape(&d.anchor));
    let _ = writeln!(s, "- Model: {}", d.objective);
    let _ = writeln!(s, "- Ties: {}", d.ties);
    let _ = writeln!(s, "- Weighting: {}", d.weighting);
    s.push_str("- Ranks: rank (UB) = 1 + the number of models whose lower bound is above this model's upper bound; the spread runs to the worst-case rank (the number of models minus those whose upper bound is below this model's lower bound).\n");
    if let Some(c) = &d.style_control {
        let coef: Vec<String> = c.iter().map(|(n, v)| format!("{n} {v:+.3}")).collect();
        let _ = writeln!(
            s,
            "- Style control (normalised differences, standardised; sandwich intervals for the style-controlled rank): {}",
            coef.join(", ")
        );
    }
    for w in &d.warnings {
        let _ = writeln!(s, "- Warning: {}", md_escape(w));
    }
    if let Some(a) = &d.anomalies {
        voters(s, a, &lb.rows);
    }
    s.push_str("\n### Battles per pair\n\n");
    s.push_str(&mdtable::header(
        &["Model X", "Model Y", "Battles", "X wins", "Ties", "Y wins"],
        "llrrrr",
    ));
    for p in &d.pairs {
        s.push_str(&mdtable::row(&[
            md_escape(&p.model_x),
            md_escape(&p.model_y),
            p.battles.to_string(),
            p.wins_x.to_string(),
            p.ties.to_string(),
            p.wins_y.to_string(),
        ]));
    }
}

/// The voters' anomaly report (present where the vote page's votes files were read).
fn voters(s: &mut String, a: &crate::arena::serve::anomaly::Anomalies, rows: &[Row]) {
    s.push_str("\n### Voters\n\n");
    let _ = writeln!(
        s,
        "- Votes with a voter record: {} from {} voters ({} battles without one); votes per voter: max {}, p99 {}",
        a.with_voter, a.voters, a.without_voter, a.max_votes_per_voter, a.p99_votes_per_voter
    );
    let _ = writeln!(s, "- Flagging rule: {}", a.rules);
    let _ = writeln!(s, "- Flagged voters: {}", a.flagged.len());
    match a.excluded_battles {
        Some(n) => {
            let _ = writeln!(
                s,
                "- The ratings above leave out the {n} battles of flagged voters (--exclude-flagged); the raw rating keeps them:\n"
            );
            s.push_str(&mdtable::header(
                &["Model", "Rating without flagged", "Raw rating"],
                "lrr",
            ));
            for (m, r) in &a.raw_ratings {
                let kept = rows
                    .iter()
                    .find(|x| &x.model == m)
                    .map_or("—".into(), |x| format!("{:.1}", x.rating));
                s.push_str(&mdtable::row(&[md_escape(m), kept, format!("{r:.1}")]));
            }
        }
        None if !a.flagged.is_empty() => {
            s.push_str("- The ratings above include the flagged voters' battles; `arena rate --exclude-flagged` leaves them out.\n");
        }
        None => {}
    }
    if !a.flagged.is_empty() {
        s.push('\n');
        s.push_str(&mdtable::header(
            &[
                "Voter",
                "Votes",
                "Median s on battle",
                "Left",
                "Right",
                "Side p",
                "Repeats",
                "Why",
            ],
            "lrrrrrrl",
        ));
        for v in &a.flagged {
            s.push_str(&mdtable::row(&[
                md_escape(&v.voter),
                v.votes.to_string(),
                format!("{:.1}", v.median_read_s),
                v.left.to_string(),
                v.right.to_string(),
                format!("{:.1e}", v.side_p),
                v.repeats.to_string(),
                md_escape(&v.why.join("; ")),
            ]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_the_table() {
        assert_eq!(md_escape("a|b<script>*x*"), "a\\|b&lt;script&gt;\\*x\\*");
    }
}
