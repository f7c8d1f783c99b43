//! A small Markdown table builder: the terminal table, the report, `compare` and the arena
//! leaderboard all write GitHub-flavoured tables with the same header, rule and cell syntax.

/// A column's alignment in the rule line: `l` → `---`, `r` → `--:`, `c` → `:-:`.
fn rule(align: char) -> &'static str {
    match align {
        'r' => "--:",
        'c' => ":-:",
        _ => "---",
    }
}

/// The header and rule lines, each ending in a newline: `header(&["a", "n"], "lr")` is
/// `"| a | n |\n|---|--:|\n"`. `aligns` holds one letter per column (`l`, `r` or `c`).
pub fn header<S: AsRef<str>>(titles: &[S], aligns: &str) -> String {
    debug_assert_eq!(
        titles.len(),
        aligns.chars().count(),
        "one alignment per column"
    );
    let mut out = row(titles);
    out.push('|');
    for a in aligns.chars() {
        out.push_str(rule(a));
        out.push('|');
    }
    out.push('\n');
    out
}

/// One body line ending in a newline: `row(&["x", "1"])` is `"| x | 1 |\n"`. Cells are written
/// as given: escape model or user text before.
pub fn row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::from("|");
    for c in cells {
        out.push(' ');
        out.push_str(c.as_ref());
        out.push_str(" |");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_writes_titles_and_one_rule_per_column() {
        assert_eq!(
            header(&["backend", "n", "pareto"], "lrc"),
            "| backend | n | pareto |\n|---|--:|:-:|\n"
        );
        assert_eq!(header(&[String::from("a")], "l"), "| a |\n|---|\n");
    }

    #[test]
    fn row_writes_cells_as_given() {
        assert_eq!(row(&["x", "", "1.5"]), "| x |  | 1.5 |\n");
        let empty: [&str; 0] = [];
        assert_eq!(row(&empty), "|\n");
    }

    /// The headers that were written by hand before, byte for byte: the report's pivot (one
    /// right-aligned column per series) and the arena leaderboard with style control.
    #[test]
    fn reproduces_the_hand_written_headers() {
        assert_eq!(
            header(&["case", "a", "b (reference)"], "lrr"),
            "| case | a | b (reference) |\n|---|--:|--:|\n"
        );
        let lb = "| Rank (UB) | Rank spread | Model | Rating | 95% CI | Votes | Win rate | Style-controlled rating | Style-controlled rank |\n|--:|:-:|---|--:|:-:|--:|--:|--:|:-:|\n";
        assert_eq!(
            header(
                &[
                    "Rank (UB)",
                    "Rank spread",
                    "Model",
                    "Rating",
                    "95% CI",
                    "Votes",
                    "Win rate",
                    "Style-controlled rating",
                    "Style-controlled rank"
                ],
                "rclrcrrrc"
            ),
            lb
        );
    }
}
