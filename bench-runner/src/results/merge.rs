//! `edgebench merge RUN_DIR… -o RUN_DIR`: joins shards of one run, or runs of several
//! devices, into one run folder that reports read like any other.
//!
//! Refused: the same scenario name with different file hashes (not the same experiment),
//! the same backend on the same device with different model files, and duplicate rows
//! (the same backend, device, scenario, case and repetition twice — e.g. a shard merged
//! twice).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::CsvAppender;
use super::manifest::{Invocation, RunManifest, now_rfc3339};
use super::reader::{read_samples, read_summary};
use super::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::error::{Error, Result};

#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub samples: usize,
    pub summary: usize,
}

pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Merged> {
    if inputs.len() < 2 {
        return Err(Error::Usage("merge needs at least two run folders".into()));
    }
    if out.join("samples.csv").exists() || out.join("run.json").exists() {
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
        let _ = std::fs::remove_file(out.join("samples.csv"));
        let _ = std::fs::remove_file(out.join("summary.csv"));
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

    merged_manifest(&manifests, run_id, n_samples, failed).write(out)?;
    Ok(Merged {
        dir: out.to_path_buf(),
        samples: n_samples,
        summary: n_summary,
    })
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
}
