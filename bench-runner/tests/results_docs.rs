//! docs/results.md documents every column of samples.csv, summary.csv, items.csv and
//! media.csv: the column tables of each file's section must name exactly the schema's
//! columns (a column added to the schema without a line in the docs fails, and so does a
//! line about a column that no longer exists). No model involved.

use std::collections::BTreeSet;

use edgebench::results::drift::DRIFT_COLUMNS;
use edgebench::results::items::ITEM_COLUMNS;
use edgebench::results::media::MEDIA_COLUMNS;
use edgebench::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};

use crate::common::repo_root;

/// The columns named (in backticks) in the first cell of the table rows under the heading
/// that starts with `## \`file\``, up to the next `## ` heading.
fn documented(doc: &str, file: &str) -> BTreeSet<String> {
    let heading = format!("## `{file}`");
    let section: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with(&heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    assert!(
        !section.is_empty(),
        "docs/results.md has no section {heading}"
    );
    let mut out = BTreeSet::new();
    for line in section {
        let Some(first) = line.strip_prefix('|').and_then(|l| l.split('|').next()) else {
            continue;
        };
        // Names are the backticked parts of the first cell: `a`, `b` (the header and rule
        // lines have none).
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                out.insert(part.to_string());
            }
        }
    }
    out
}

#[test]
fn every_csv_column_is_documented_and_no_other() {
    let doc = std::fs::read_to_string(repo_root().join("docs/results.md")).unwrap();
    let mut problems = Vec::new();
    for (file, columns) in [
        ("samples.csv", SAMPLE_COLUMNS),
        ("summary.csv", SUMMARY_COLUMNS),
        ("items.csv", ITEM_COLUMNS),
        ("media.csv", MEDIA_COLUMNS),
        ("drift.csv", DRIFT_COLUMNS),
    ] {
        let docs = documented(&doc, file);
        let schema: BTreeSet<String> = columns.iter().map(|c| c.to_string()).collect();
        let missing: Vec<&String> = schema.difference(&docs).collect();
        let stale: Vec<&String> = docs.difference(&schema).collect();
        if !missing.is_empty() {
            problems.push(format!("{file}: not documented: {missing:?}"));
        }
        if !stale.is_empty() {
            problems.push(format!(
                "{file}: documented but not in the schema: {stale:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/results.md:\n{}",
        problems.join("\n")
    );
}

/// The check itself can fail: a section that drops a column is caught.
#[test]
fn a_dropped_column_is_noticed() {
    let doc = "## `x.csv`\n\n| column | meaning |\n|---|---|\n| `a`, `b` | two |\n| `c` | see `d` |\n\n## next\n| `e` | no |\n";
    let got: Vec<String> = documented(doc, "x.csv").into_iter().collect();
    assert_eq!(got, ["a", "b", "c"]);
}
