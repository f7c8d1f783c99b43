//! `edgebench merge RUN_DIR… -o RUN_DIR`: joins shards of one run, or runs of several
//! devices, into one run folder that reports read like any other.
//!
//! Every file of rows a run writes is carried: samples.csv, summary.csv, and where any input
//! has them items.csv (tool-call and structured items), media.csv (multimodal items),
//! drift.csv (scored positions) and transcripts.jsonl (the responses, for `replay`), each row
//! with the merged run's `run_id`.
//!
//! Refused: the same scenario name with different file hashes (not the same experiment),
//! the same backend on the same device with different model files, and duplicate rows
//! (the same backend, device, scenario, case and repetition twice — e.g. a shard merged
//! twice).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::CsvAppender;
use super::drift::{DRIFT_COLUMNS, read_drift};
use super::items::{ITEM_COLUMNS, read_items};
use super::manifest::{Invocation, RunManifest, now_rfc3339};
use super::media::{MEDIA_COLUMNS, read_media};
use super::reader::{Rows, read_samples, read_summary};
use super::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub samples: usize,
    pub summary: usize,
    /// Rows carried from the other files, by file name (only files some input has).
    pub other: Vec<(&'static str, usize)>,
}

/// The files of rows a merged folder holds, samples.csv and summary.csv first.
const FILES: [&str; 6] = [
    "samples.csv",
    "summary.csv",
    "items.csv",
    "media.csv",
    "drift.csv",
    "transcripts.jsonl",
];

pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Merged> {
    if inputs.len() < 2 {
        return Err(Error::Usage("merge needs at least two run folders".into()));
    }
    if FILES.iter().any(|f| out.join(f).exists()) || out.join("run.json").exists() {
        return Err(Error::RunFolderExists {
            path: out.to_path_buf(),
            instead: "merge into a new folder",
        });
    }
    let manifests: Vec<RunManifest> = inputs
        .iter()
        .map(|d| RunManifest::read(d))
        .collect::<Result<_>>()?;

    check_comparable(&manifests)?;

    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    let run_id = out
        .file_name()
        .map_or_else(|| "merged".into(), |n| n.to_string_lossy().into_owned());
    let mut seen = HashSet::new();
    let mut seen_summary = HashSet::new();
    let mut samples = CsvAppender::open(&out.join("samples.csv"), SAMPLE_COLUMNS)?;
    let mut summary = CsvAppender::open(&out.join("summary.csv"), SUMMARY_COLUMNS)?;
    let (mut n_samples, mut n_summary, mut failed) = (0, 0, 0);
    let undo = |e: Error| {
        // Leave no half-merged folder behind.
        for f in FILES {
            let _ = std::fs::remove_file(out.join(f));
        }
        e
    };
    for dir in inputs {
        let rows = read_samples(&dir.join("samples.csv")).map_err(undo)?;
        for w in rows.warnings {
            eprintln!("warning: {w}");
        }
        for mut r in rows.rows {
            let key = (
                r.backend.clone(),
                r.device.clone(),
                r.scenario.clone(),
                r.case_id.clone(),
                r.repetition,
            );
            if !seen.insert(key) {
                return Err(undo(Error::DuplicateRow {
                    input: dir.clone(),
                    row: format!(
                        "backend {}, device {}, scenario {}, case {}, repetition {}",
                        r.backend, r.device, r.scenario, r.case_id, r.repetition
                    ),
                }));
            }
            failed += usize::from(r.error_category.is_some());
            r.run_id = run_id.clone();
            samples.append(&r)?;
            n_samples += 1;
        }
        let path = dir.join("summary.csv");
        if path.exists() {
            for mut r in read_summary(&path).map_err(undo)?.rows {
                let key = (
                    r.backend.clone(),
                    r.device.clone(),
                    r.scenario.clone(),
                    r.case_id.clone(),
                    r.metric.clone(),
                );
                if !seen_summary.insert(key) {
                    return Err(undo(Error::DuplicateSummary {
                        input: dir.clone(),
                        row: format!(
                            "{} / {} / {} / {} / {}",
                            r.backend, r.device, r.scenario, r.case_id, r.metric
                        ),
                    }));
                }
                r.run_id = run_id.clone();
                summary.append(&r)?;
                n_summary += 1;
            }
        }
    }

    let other = carry_other_files(inputs, out, &run_id).map_err(undo)?;

    merged_manifest(&manifests, run_id, n_samples, failed).write(out)?;
    Ok(Merged {
        dir: out.to_path_buf(),
        samples: n_samples,
        summary: n_summary,
        other,
    })
}

/// items.csv, media.csv, drift.csv and transcripts.jsonl of every input that has them, into
/// `out`; returns the rows carried per file (only files some input has).
fn carry_other_files(
    inputs: &[PathBuf],
    out: &Path,
    run_id: &str,
) -> Result<Vec<(&'static str, usize)>> {
    let carried = [
        carry_csv(
            inputs,
            out,
            "items.csv",
            ITEM_COLUMNS,
            run_id,
            read_items,
            |r, id| r.run_id = id,
        )?,
        carry_csv(
            inputs,
            out,
            "media.csv",
            MEDIA_COLUMNS,
            run_id,
            read_media,
            |r, id| r.run_id = id,
        )?,
        carry_csv(
            inputs,
            out,
            "drift.csv",
            DRIFT_COLUMNS,
            run_id,
            read_drift,
            |r, id| r.run_id = id,
        )?,
        carry_transcripts(inputs, out)?,
    ];
    Ok(carried.into_iter().flatten().collect())
}

/// The inputs' copies of file `name`, where they have one.
fn present(inputs: &[PathBuf], name: &str) -> Vec<PathBuf> {
    inputs
        .iter()
        .map(|d| d.join(name))
        .filter(|p| p.exists())
        .collect()
}

/// transcripts.jsonl of every input that has it, line by line (a torn last line, which the
/// writer can leave when killed, is dropped as the reader drops it).
fn carry_transcripts(inputs: &[PathBuf], out: &Path) -> Result<Option<(&'static str, usize)>> {
    const NAME: &str = "transcripts.jsonl";
    let present = present(inputs, NAME);
    if present.is_empty() {
        return Ok(None);
    }
    let (mut text, mut n) = (Vec::new(), 0);
    for path in present {
        let data = std::fs::read(&path).map_err(|e| Error::read(&path, e))?;
        for line in data.split_inclusive(|b| *b == b'\n') {
            if line.ends_with(b"\n") && line.len() > 1 {
                text.extend_from_slice(line);
                n += 1;
            }
        }
    }
    let dest = out.join(NAME);
    std::fs::write(&dest, text).map_err(|e| Error::write(&dest, e))?;
    Ok(Some((NAME, n)))
}

/// One CSV file of rows from every input that has it (None when none has), each row given
/// the merged run's id; read with the file's own reader, so a file of another schema is
/// refused by name and a torn last line is dropped with a warning.
fn carry_csv<T: Serialize>(
    inputs: &[PathBuf],
    out: &Path,
    name: &'static str,
    columns: &[&str],
    run_id: &str,
    read: fn(&Path) -> Result<Rows<T>>,
    set_run_id: fn(&mut T, String),
) -> Result<Option<(&'static str, usize)>> {
    let present = present(inputs, name);
    if present.is_empty() {
        return Ok(None);
    }
    let mut w = CsvAppender::open(&out.join(name), columns)?;
    let mut n = 0;
    for path in present {
        let rows = read(&path)?;
        for warning in rows.warnings {
            eprintln!("warning: {warning}");
        }
        for mut r in rows.rows {
            set_run_id(&mut r, run_id.to_string());
            w.append(&r)?;
            n += 1;
        }
    }
    Ok(Some((name, n)))
}

/// Comparability: one hash per scenario name, one model file per backend and device.
fn check_comparable(manifests: &[RunManifest]) -> Result<()> {
    let mut scen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut models: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for m in manifests {
        for s in &m.scenarios {
            match scen.get(&s.name) {
                Some((sha, run)) if sha != &s.sha256 => {
                    return Err(Error::ScenarioDiffers {
                        scenario: s.name.clone(),
                        runs: [run.clone(), m.run_id.clone()],
                        hashes: [sha.clone(), s.sha256.clone()],
                    });
                }
                _ => {
                    scen.insert(s.name.clone(), (s.sha256.clone(), m.run_id.clone()));
                }
            }
        }
        for b in &m.backends {
            let name = b
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let device = b
                .get("device")
                .and_then(|v| v.as_str())
                .unwrap_or(&m.device)
                .to_string();
            let Some(sha) = b.get("model_sha256").and_then(|v| v.as_str()) else {
                continue;
            };
            match models.get(&(name.clone(), device.clone())) {
                Some((other, run)) if other != sha => {
                    return Err(Error::ModelFilesDiffer {
                        backend: name,
                        device,
                        runs: [run.clone(), m.run_id.clone()],
                    });
                }
                _ => {
                    models.insert((name, device), (sha.to_string(), m.run_id.clone()));
                }
            }
        }
    }
    Ok(())
}

/// The run.json of the merged folder: the first input's, with the status, start, scenarios,
/// backends, warnings and counts of all of them.
fn merged_manifest(
    manifests: &[RunManifest],
    run_id: String,
    requests_total: usize,
    requests_failed: usize,
) -> RunManifest {
    let mut m = manifests[0].clone();
    m.run_id = run_id;
    let finished = |x: &RunManifest| x.status == "complete" || x.status == "complete_with_errors";
    m.status = if !manifests.iter().all(finished) {
        "partial".into()
    } else if manifests.iter().any(|x| x.status == "complete_with_errors") {
        "complete_with_errors".into()
    } else {
        "complete".into()
    };
    m.started_at = manifests
        .iter()
        .map(|x| x.started_at.clone())
        .min()
        .unwrap_or_default();
    m.ended_at = Some(now_rfc3339());
    m.scenarios.clear();
    m.backends.clear();
    m.warnings.clear();
    let mut names = HashSet::new();
    for x in manifests {
        for s in &x.scenarios {
            if names.insert(s.name.clone()) {
                m.scenarios.push(s.clone());
            }
        }
        for b in &x.backends {
            if !m.backends.contains(b) {
                m.backends.push(b.clone());
            }
        }
        m.warnings.extend(x.warnings.iter().cloned());
    }
    m.warnings.sort();
    m.warnings.dedup();
    m.requests_total = requests_total;
    m.requests_failed = requests_failed;
    let mut inv = m.invocation.clone().unwrap_or_default();
    inv.shard = None;
    inv.merged_from = manifests.iter().map(|x| x.run_id.clone()).collect();
    m.invocation = Some(Invocation { ..inv });
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::device::HostFingerprint;
    use crate::results::manifest::ScenarioRecord;
    use crate::results::schema::SampleRow;

    /// A run folder `name` holding a run.json with scenario `s` of file hash `sha`, one backend
    /// `b` on device `d` with model hash `model`, and the given sample rows.
    fn run(root: &Path, name: &str, sha: &str, model: &str, rows: &[SampleRow]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = RunManifest::new(name, "complete", vec![], HostFingerprint::default());
        m.scenarios.push(ScenarioRecord {
            name: "s".into(),
            kind: "throughput".into(),
            path: "s.toml".into(),
            sha256: sha.into(),
            sampling: None,
        });
        m.backends.push(serde_json::json!({
            "name": "b", "device": "d", "model_sha256": model
        }));
        m.write(&dir).unwrap();
        let mut w = CsvAppender::open(&dir.join("samples.csv"), SAMPLE_COLUMNS).unwrap();
        w.append_all(rows).unwrap();
        dir
    }

    fn row(case: &str) -> SampleRow {
        SampleRow {
            backend: "b".into(),
            device: "d".into(),
            scenario: "s".into(),
            case_id: case.into(),
            ..Default::default()
        }
    }

    #[test]
    fn runs_of_different_scenario_files_are_refused_by_name_with_the_old_message() {
        let tmp = tempfile::tempdir().unwrap();
        let a = run(tmp.path(), "a", &"a".repeat(64), "m", &[row("c1")]);
        let b = run(tmp.path(), "b", &"b".repeat(64), "m", &[row("c2")]);
        let e = merge(&[a, b], &tmp.path().join("out")).unwrap_err();
        assert!(matches!(&e, Error::ScenarioDiffers { scenario, .. } if scenario == "s"));
        assert_eq!(
            e.to_string(),
            "scenario `s` differs between a and b (file hashes aaaaaaaaaaaa… and bbbbbbbbbbbb…): not the same experiment"
        );
        assert_eq!(e.exit_code(), 2);
    }

    /// run.json is a file people edit: a hash whose twelfth byte falls inside a character is
    /// shortened by characters (the byte slice it used to be panicked).
    #[test]
    fn a_hand_edited_hash_with_wide_characters_is_shortened_without_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let a = run(tmp.path(), "a", "aéééééééé", "m", &[row("c1")]);
        let b = run(tmp.path(), "b", "b", "m", &[row("c2")]);
        let e = merge(&[a, b], &tmp.path().join("out")).unwrap_err();
        // Nine characters, seventeen bytes: byte 12 is the middle of an `é`.
        assert!(
            e.to_string().contains("(file hashes aéééééééé… and b…)"),
            "{e}"
        );
    }

    #[test]
    fn runs_of_different_model_files_are_refused_by_name_with_the_old_message() {
        let tmp = tempfile::tempdir().unwrap();
        let sha = "c".repeat(64);
        let a = run(tmp.path(), "a", &sha, "m1", &[row("c1")]);
        let b = run(tmp.path(), "b", &sha, "m2", &[row("c2")]);
        let e = merge(&[a, b], &tmp.path().join("out")).unwrap_err();
        assert!(
            matches!(&e, Error::ModelFilesDiffer { backend, device, .. } if backend == "b" && device == "d")
        );
        assert_eq!(
            e.to_string(),
            "backend `b` on `d` ran different model files in a and b"
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn a_row_in_two_inputs_is_refused_by_name_and_leaves_no_half_merged_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let sha = "c".repeat(64);
        let a = run(tmp.path(), "a", &sha, "m", &[row("c1")]);
        let b = run(tmp.path(), "b", &sha, "m", &[row("c1")]);
        let out = tmp.path().join("out");
        let e = merge(&[a, b.clone()], &out).unwrap_err();
        assert!(matches!(&e, Error::DuplicateRow { input, .. } if input == &b));
        assert_eq!(
            e.to_string(),
            format!(
                "duplicate row in {}: backend b, device d, scenario s, case c1, repetition 0 is already in another input",
                b.display()
            )
        );
        assert_eq!(e.exit_code(), 2);
        assert!(!out.join("samples.csv").exists());
    }

    #[test]
    fn items_drift_and_transcripts_are_carried_with_the_merged_run_id() {
        use crate::results::drift::read_drift;
        use crate::results::drift::{DRIFT_COLUMNS, DriftRow};
        use crate::results::items::{ITEM_COLUMNS, ItemRow, read_items};
        let tmp = tempfile::tempdir().unwrap();
        let sha = "c".repeat(64);
        let a = run(tmp.path(), "a", &sha, "m", &[row("c1")]);
        let b = run(tmp.path(), "b", &sha, "m", &[row("c2")]);
        for (dir, case) in [(&a, "c1"), (&b, "c2")] {
            let item = |n: &str| ItemRow {
                run_id: dir.file_name().unwrap().to_string_lossy().into(),
                case_id: case.into(),
                item_id: n.into(),
                ..Default::default()
            };
            let mut w = CsvAppender::open(&dir.join("items.csv"), ITEM_COLUMNS).unwrap();
            w.append_all(&[item("i1"), item("i2")]).unwrap();
        }
        let mut w = CsvAppender::open(&a.join("drift.csv"), DRIFT_COLUMNS).unwrap();
        w.append(&DriftRow {
            run_id: "a".into(),
            case_id: "c1".into(),
            ..Default::default()
        })
        .unwrap();
        // A killed writer leaves a torn last line; it is dropped, as the reader drops it.
        std::fs::write(a.join("transcripts.jsonl"), "{\"n\":1}\n{\"n\":2}\n{\"n\"").unwrap();
        std::fs::write(b.join("transcripts.jsonl"), "{\"n\":3}\n").unwrap();

        let out = tmp.path().join("out");
        let m = merge(&[a, b], &out).unwrap();
        assert_eq!(
            m.other,
            [("items.csv", 4), ("drift.csv", 1), ("transcripts.jsonl", 3)]
        );
        let items = read_items(&out.join("items.csv")).unwrap().rows;
        let ids: Vec<(&str, &str, &str)> = items
            .iter()
            .map(|r| (r.run_id.as_str(), r.case_id.as_str(), r.item_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("out", "c1", "i1"),
                ("out", "c1", "i2"),
                ("out", "c2", "i1"),
                ("out", "c2", "i2")
            ]
        );
        let drift = read_drift(&out.join("drift.csv")).unwrap().rows;
        assert_eq!(drift.len(), 1);
        assert_eq!(drift[0].run_id, "out");
        assert_eq!(
            std::fs::read_to_string(out.join("transcripts.jsonl")).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
        );
        assert!(!out.join("media.csv").exists());
    }
}
