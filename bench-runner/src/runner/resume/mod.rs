//! What an interrupted run already holds, for `edgebench run --resume RUN_DIR`.
//!
//! A case whose summary rows were written is finished: it is not run again, and its rows
//! count towards the run's totals. A case with some sample rows but no summary runs only
//! its missing requests; its summary is then computed from the old and new rows together
//! (samples.csv holds every per-request value the summary needs, ITL lists included).
//!
//! Tool-call, structured and multimodal cases resume by item: an item whose `items.csv` /
//! `media.csv` row was written is kept; the requests of an item cut short by the interruption
//! are moved out of samples.csv, and the item is sent again.
//!
//! With `--retry-failed`, failed requests are not final: before anything runs, their rows
//! (for an item, every request of the item; for a `duration_s` case, the whole case, since
//! another slice of time is another experiment) move from samples.csv to `attempts.csv`
//! (same columns), and the summary rows of the cases they belong to are dropped. The runners
//! then see those requests as missing and send them again, so samples.csv keeps one row per
//! request. Files are rewritten whole, through a temporary file and a rename, so a kill
//! leaves either the old file or the new one.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

mod moves;

use super::outcome::CaseOutcome;
use crate::error::{Error, Result};
use crate::results::items::{ITEM_COLUMNS, ItemRow};
use crate::results::media::{MEDIA_COLUMNS, MediaRow};
use crate::results::reader::{read, read_samples};
use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::results::{CsvAppender, SampleRow, SummaryRow};
use moves::{Moves, plan_moves, renumber};

/// (backend, scenario, case id).
pub(crate) type CaseKey = (String, String, String);

/// The file that receives the rows `--retry-failed` (or an item cut short) moved out of
/// samples.csv.
pub const ATTEMPTS_FILE: &str = "attempts.csv";

/// A finished tool-call or structured item: its verdict and the requests it made.
pub(crate) type DoneItem = (ItemRow, Vec<SampleRow>);

#[derive(Default)]
pub(crate) struct ResumeState {
    rows: RefCell<HashMap<CaseKey, Vec<SampleRow>>>,
    summaries: HashMap<CaseKey, Vec<SummaryRow>>,
    items: RefCell<HashMap<CaseKey, Vec<DoneItem>>>,
    media: RefCell<HashMap<CaseKey, Vec<MediaRow>>>,
    /// Rows moved to attempts.csv by this resume.
    pub moved: usize,
}

/// Which cases a failure reopens whole (scenario, case id): the `duration_s` cases.
pub(crate) type WholeCases = HashSet<(String, String)>;

fn key_of(backend: &str, scenario: &str, case_id: &str) -> CaseKey {
    (backend.into(), scenario.into(), case_id.into())
}

fn sample_key(r: &SampleRow) -> CaseKey {
    key_of(&r.backend, &r.scenario, &r.case_id)
}

/// A request that failed at the server (an empty answer is the model's doing, and a
/// modality the backend cannot take is a finding: neither is retried).
fn failed_at_server(r: &SampleRow) -> bool {
    r.error_category
        .as_deref()
        .is_some_and(|c| c != "empty_response" && c != "unsupported_modality")
}

impl ResumeState {
    /// `open_scenarios`: scenarios whose cases are request-rate cases (or a sweep), measured
    /// whole: the rows of such a case without summary rows (cut short, or reopened by
    /// `--retry-failed`) all move to attempts.csv, and the case runs again from its start.
    pub fn load(
        run_dir: &Path,
        retry_failed: bool,
        whole_cases: &WholeCases,
        open_scenarios: &HashSet<String>,
    ) -> Result<Self> {
        let mut f = Files::read(run_dir)?;
        f.upgrade_headers(run_dir)?;
        let mut plan = plan_moves(&f.samples, &f.items, &f.media, retry_failed, whole_cases);
        let finished: HashSet<CaseKey> = f
            .summary
            .iter()
            .map(|r| key_of(&r.backend, &r.scenario, &r.case_id))
            .filter(|k| !plan.reopened.contains(k))
            .collect();
        for (i, r) in f.samples.iter().enumerate() {
            if open_scenarios.contains(&r.scenario) && !finished.contains(&sample_key(r)) {
                plan.samples.insert(i);
            }
        }
        let moved = plan.samples.len();
        if moved > 0 || !plan.items.is_empty() || !plan.media.is_empty() {
            f.apply(run_dir, &plan)?;
        }
        let Files {
            samples,
            summary,
            items,
            media,
        } = f;

        // Items take their requests in file order: each item's rows were appended right
        // after its requests', and both files only ever grow in that order.
        let mut by_case: HashMap<CaseKey, Vec<SampleRow>> = HashMap::new();
        for r in samples {
            by_case.entry(sample_key(&r)).or_default().push(r);
        }
        let mut done_items: HashMap<CaseKey, Vec<DoneItem>> = HashMap::new();
        let mut items_by_case: HashMap<CaseKey, Vec<ItemRow>> = HashMap::new();
        for it in items {
            items_by_case
                .entry(key_of(&it.backend, &it.scenario, &it.case_id))
                .or_default()
                .push(it);
        }
        for (key, its) in items_by_case {
            // (The rows stay in `by_case` too: a finished case counts them from there.)
            let mut rows = by_case.get(&key).cloned().unwrap_or_default().into_iter();
            let v = its
                .into_iter()
                .map(|it| {
                    let reqs = rows.by_ref().take(it.requests as usize).collect();
                    (it, reqs)
                })
                .collect();
            done_items.insert(key, v);
        }
        let mut media_by_case: HashMap<CaseKey, Vec<MediaRow>> = HashMap::new();
        for m in media {
            media_by_case
                .entry(key_of(&m.backend, &m.scenario, &m.case_id))
                .or_default()
                .push(m);
        }
        let mut summaries: HashMap<CaseKey, Vec<SummaryRow>> = HashMap::new();
        for r in summary {
            summaries
                .entry(key_of(&r.backend, &r.scenario, &r.case_id))
                .or_default()
                .push(r);
        }
        Ok(ResumeState {
            rows: RefCell::new(by_case),
            summaries,
            items: RefCell::new(done_items),
            media: RefCell::new(media_by_case),
            moved,
        })
    }

    /// The outcome of a case finished before the resume, or `None` if it must (still) run.
    pub fn finished(&self, key: &CaseKey) -> Option<CaseOutcome> {
        let summary = self.summaries.get(key)?.clone();
        let rows = self.rows.borrow_mut().remove(key).unwrap_or_default();
        let failed = rows.iter().filter(|r| r.error_category.is_some()).count();
        Some(CaseOutcome {
            total: rows.len(),
            failed,
            summary,
            warnings: Vec::new(),
        })
    }

    /// The summary rows of a case finished before the resume.
    pub fn finished_summary(&self, key: &CaseKey) -> Option<Vec<SummaryRow>> {
        self.summaries.get(key).cloned()
    }

    /// The rows a case measured before the resume (empty for a fresh run).
    pub fn take_rows(&self, key: &CaseKey) -> Vec<SampleRow> {
        let mut rows = self.rows.borrow_mut().remove(key).unwrap_or_default();
        rows.sort_by_key(|r| r.repetition);
        rows
    }

    /// The tool-call or structured items a case finished before the resume, by item id.
    pub fn take_items(&self, key: &CaseKey) -> HashMap<String, DoneItem> {
        self.items
            .borrow_mut()
            .remove(key)
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.0.item_id.clone(), d))
            .collect()
    }

    /// The multimodal items a case finished before the resume, by item index.
    pub fn take_media(&self, key: &CaseKey) -> HashMap<u32, MediaRow> {
        self.media
            .borrow_mut()
            .remove(key)
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.item, m))
            .collect()
    }
}

/// The rows of a run folder's files.
struct Files {
    samples: Vec<SampleRow>,
    summary: Vec<SummaryRow>,
    items: Vec<ItemRow>,
    media: Vec<MediaRow>,
}

fn read_if_there<T: serde::de::DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Vec<T>> {
    if path.exists() {
        Ok(read(path, columns)?.rows)
    } else {
        Ok(Vec::new())
    }
}

/// The rows of `rows` whose index is not in `drop`.
fn without<T>(rows: Vec<T>, drop: &HashSet<usize>) -> Vec<T> {
    rows.into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, r)| r)
        .collect()
}

impl Files {
    fn read(run_dir: &Path) -> Result<Self> {
        Ok(Files {
            samples: read_if_there(&run_dir.join("samples.csv"), SAMPLE_COLUMNS)?,
            summary: read_if_there(&run_dir.join("summary.csv"), SUMMARY_COLUMNS)?,
            items: read_if_there(&run_dir.join("items.csv"), ITEM_COLUMNS)?,
            media: read_if_there(&run_dir.join("media.csv"), MEDIA_COLUMNS)?,
        })
    }

    /// Writes again, under today's header, each file an older edgebench wrote before columns
    /// were added (the request-rate ones, say): its rows were read by name with the missing
    /// cells empty, and the run appends only under today's header.
    fn upgrade_headers(&self, run_dir: &Path) -> Result<()> {
        let dir = |f: &str| run_dir.join(f);
        if stale_header(&dir("samples.csv"), SAMPLE_COLUMNS)? {
            rewrite(&dir("samples.csv"), SAMPLE_COLUMNS, &self.samples)?;
        }
        if stale_header(&dir("summary.csv"), SUMMARY_COLUMNS)? {
            rewrite(&dir("summary.csv"), SUMMARY_COLUMNS, &self.summary)?;
        }
        if stale_header(&dir("items.csv"), ITEM_COLUMNS)? {
            rewrite(&dir("items.csv"), ITEM_COLUMNS, &self.items)?;
        }
        if stale_header(&dir("media.csv"), MEDIA_COLUMNS)? {
            rewrite(&dir("media.csv"), MEDIA_COLUMNS, &self.media)?;
        }
        if stale_header(&dir(ATTEMPTS_FILE), SAMPLE_COLUMNS)? {
            let rows = read_samples(&dir(ATTEMPTS_FILE))?.rows;
            rewrite(&dir(ATTEMPTS_FILE), SAMPLE_COLUMNS, &rows)?;
        }
        Ok(())
    }

    /// Moves the planned rows out: to attempts.csv (requests), or away (items, media rows,
    /// the summaries of reopened cases), rewriting each file that changes.
    fn apply(&mut self, run_dir: &Path, plan: &Moves) -> Result<()> {
        // Summaries first: a kill after this leaves failed rows in a case without a
        // summary, which the next resume handles like any half-done case.
        let before = self.summary.len();
        self.summary.retain(|r| {
            !plan
                .reopened
                .contains(&key_of(&r.backend, &r.scenario, &r.case_id))
        });
        if self.summary.len() != before {
            rewrite(&run_dir.join("summary.csv"), SUMMARY_COLUMNS, &self.summary)?;
        }
        append_attempts(
            &run_dir.join(ATTEMPTS_FILE),
            self.samples
                .iter()
                .enumerate()
                .filter(|(i, _)| plan.samples.contains(i))
                .map(|(_, r)| r),
        )?;
        let mut kept = without(std::mem::take(&mut self.samples), &plan.samples);
        renumber(&mut kept, &plan.renumber);
        rewrite(&run_dir.join("samples.csv"), SAMPLE_COLUMNS, &kept)?;
        self.samples = kept;
        if !plan.items.is_empty() {
            self.items = without(std::mem::take(&mut self.items), &plan.items);
            rewrite(&run_dir.join("items.csv"), ITEM_COLUMNS, &self.items)?;
        }
        if !plan.media.is_empty() {
            self.media = without(std::mem::take(&mut self.media), &plan.media);
            rewrite(&run_dir.join("media.csv"), MEDIA_COLUMNS, &self.media)?;
        }
        Ok(())
    }
}

/// True when `path` exists with a header other than `columns` (an empty file has none yet).
fn stale_header(path: &Path, columns: &[&str]) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    let mut rdr = csv::Reader::from_path(path).map_err(|e| Error::read(path, e))?;
    let header = rdr.headers().map_err(|e| Error::read(path, e))?;
    Ok(!header.is_empty() && header.iter().ne(columns.iter().copied()))
}

/// Writes `rows` as the whole of `path`: a temporary file beside it, then a rename.
fn rewrite<T: Serialize>(path: &Path, columns: &[&str], rows: &[T]) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| Error::write(&tmp, e))?;
    }
    let mut w = CsvAppender::open(&tmp, columns)?;
    w.append_all(rows)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| Error::write(path, e))
}

/// Appends the moved rows to attempts.csv, skipping rows already there (a resume killed
/// between this append and the rewrite of samples.csv moves the same rows again).
fn append_attempts<'a>(path: &Path, rows: impl Iterator<Item = &'a SampleRow>) -> Result<()> {
    let rows: Vec<&SampleRow> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    let existing: Vec<SampleRow> = if path.exists() {
        read_samples(path)?.rows
    } else {
        Vec::new()
    };
    let new: Vec<&SampleRow> = rows.into_iter().filter(|r| !existing.contains(r)).collect();
    let mut w = CsvAppender::open(path, SAMPLE_COLUMNS)?;
    w.append_all(&new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::reader::read_summary;

    fn row(case: &str, kind: &str, rep: u32, err: Option<&str>) -> SampleRow {
        SampleRow {
            run_id: "r".into(),
            backend: "b".into(),
            scenario: "s".into(),
            case_id: case.into(),
            kind: kind.into(),
            repetition: rep,
            error_category: err.map(str::to_string),
            ..Default::default()
        }
    }

    fn summary(case: &str) -> SummaryRow {
        SummaryRow {
            run_id: "r".into(),
            backend: "b".into(),
            scenario: "s".into(),
            case_id: case.into(),
            metric: "ttft_ms".into(),
            ..Default::default()
        }
    }

    fn write_rows<T: Serialize>(path: &Path, columns: &[&str], rows: &[T]) {
        let mut w = CsvAppender::open(path, columns).unwrap();
        w.append_all(rows).unwrap();
    }

    #[test]
    fn retry_failed_moves_failed_rows_out_and_renumbers_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("c1", "throughput", 0, None),
            row("c1", "throughput", 1, Some("connect")),
            row("c1", "throughput", 2, None),
            row("c1", "throughput", 3, Some("empty_response")),
            row("c2", "throughput", 0, None),
        ];
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        write_rows(
            &dir.path().join("summary.csv"),
            SUMMARY_COLUMNS,
            &[summary("c1"), summary("c2")],
        );

        // Without --retry-failed nothing moves and both cases stay finished.
        let s = ResumeState::load(dir.path(), false, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 0);
        assert!(s.finished(&key_of("b", "s", "c1")).is_some());
        assert!(!dir.path().join(ATTEMPTS_FILE).exists());

        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 1);
        assert!(s.finished(&key_of("b", "s", "c1")).is_none(), "reopened");
        assert!(s.finished(&key_of("b", "s", "c2")).is_some(), "untouched");
        let kept = s.take_rows(&key_of("b", "s", "c1"));
        let reps: Vec<u32> = kept.iter().map(|r| r.repetition).collect();
        assert_eq!(reps, [0, 1, 2], "kept rows numbered 0.. again");
        let attempts = read_samples(&dir.path().join(ATTEMPTS_FILE)).unwrap().rows;
        assert_eq!(attempts, vec![rows[1].clone()]);
        let on_disk = read_samples(&dir.path().join("samples.csv")).unwrap().rows;
        assert_eq!(on_disk.len(), 4);
        let sums = read_summary(&dir.path().join("summary.csv")).unwrap().rows;
        assert_eq!(sums, vec![summary("c2")]);
        // A second resume moves nothing more and adds nothing twice.
        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 0);
        assert_eq!(
            read_samples(&dir.path().join(ATTEMPTS_FILE))
                .unwrap()
                .rows
                .len(),
            1
        );
    }

    #[test]
    fn a_duration_case_with_a_failure_is_retried_whole() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("d", "throughput", 0, None),
            row("d", "throughput", 1, Some("timeout")),
        ];
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        let whole: WholeCases = [("s".to_string(), "d".to_string())].into();
        let s = ResumeState::load(dir.path(), true, &whole, &HashSet::new()).unwrap();
        assert_eq!(s.moved, 2);
        assert!(s.take_rows(&key_of("b", "s", "d")).is_empty());
    }

    #[test]
    #[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
    fn an_unfinished_rate_case_moves_out_whole_and_a_finished_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("r1", "throughput", 0, None),
            row("r1", "throughput", 1, None),
            row("r2", "throughput", 0, None),
        ];
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        write_rows(
            &dir.path().join("summary.csv"),
            SUMMARY_COLUMNS,
            &[summary("r1")],
        );
        let open: HashSet<String> = ["s".to_string()].into();
        let s = ResumeState::load(dir.path(), false, &WholeCases::new(), &open).unwrap();
        assert_eq!(s.moved, 1);
        assert!(s.take_rows(&key_of("b", "s", "r2")).is_empty());
        assert!(s.finished(&key_of("b", "s", "r1")).is_some());
        let on_disk = read_samples(&dir.path().join("samples.csv")).unwrap().rows;
        assert_eq!(on_disk, rows[..2].to_vec());
        let attempts = read_samples(&dir.path().join(ATTEMPTS_FILE)).unwrap().rows;
        assert_eq!(attempts, vec![rows[2].clone()]);
        // With --retry-failed a failure reopens a finished rate case whole.
        let mut failed = rows[..2].to_vec();
        failed[1].error_category = Some("timeout".into());
        write_rows(&dir.path().join("samples.csv.new"), SAMPLE_COLUMNS, &failed);
        std::fs::rename(
            dir.path().join("samples.csv.new"),
            dir.path().join("samples.csv"),
        )
        .unwrap();
        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &open).unwrap();
        assert_eq!(s.moved, 2);
        assert!(s.finished(&key_of("b", "s", "r1")).is_none());
        assert!(s.take_rows(&key_of("b", "s", "r1")).is_empty());
    }

    #[test]
    fn tool_items_keep_finished_ones_and_resend_cut_and_failed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let item = |id: &str, requests: u32| ItemRow {
            run_id: "r".into(),
            backend: "b".into(),
            scenario: "s".into(),
            case_id: "native".into(),
            item_id: id.into(),
            requests,
            ..Default::default()
        };
        let rows = vec![
            row("native", "tool_calls", 0, None),
            row("native", "tool_calls", 100, None),
            row("native", "tool_calls", 101, Some("connect")),
            row("native", "tool_calls", 2, None), // item 2, cut short before its item row
        ];
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        write_rows(
            &dir.path().join("items.csv"),
            ITEM_COLUMNS,
            &[item("a", 1), item("agent", 2)],
        );
        let s = ResumeState::load(dir.path(), false, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 1, "the cut item's request");
        let done = s.take_items(&key_of("b", "s", "native"));
        assert_eq!(done.len(), 2);
        assert_eq!(done["agent"].1.len(), 2);

        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 2, "both requests of the failed agent item");
        let done = s.take_items(&key_of("b", "s", "native"));
        assert_eq!(done.keys().collect::<Vec<_>>(), ["a"]);
        let attempts = read_samples(&dir.path().join(ATTEMPTS_FILE)).unwrap().rows;
        assert_eq!(attempts.len(), 3);
        let items = read::<ItemRow>(&dir.path().join("items.csv"), ITEM_COLUMNS)
            .unwrap()
            .rows;
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn a_retried_context_length_also_reopens_the_effective_length() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("ctx1024", "context", 0, None),
            row("ctx1024", "context", 1, Some("timeout")),
            row("ctx2048", "context", 0, None),
        ];
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        write_rows(
            &dir.path().join("summary.csv"),
            SUMMARY_COLUMNS,
            &[summary("ctx1024"), summary("ctx2048"), summary("all")],
        );
        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 1);
        assert!(s.finished(&key_of("b", "s", "ctx1024")).is_none());
        assert!(s.finished(&key_of("b", "s", "all")).is_none());
        assert!(s.finished(&key_of("b", "s", "ctx2048")).is_some());
        // Context rows keep their numbers: the missing one is sent again under its own.
        let kept = s.take_rows(&key_of("b", "s", "ctx1024"));
        assert_eq!(kept.iter().map(|r| r.repetition).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn a_failed_multimodal_item_is_sent_again_with_its_twin() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            row("img", "multimodal", 0, None),
            row("img_text", "multimodal", 0, None),
            row("img", "multimodal", 1, Some("stream_broken")),
            row("img_text", "multimodal", 1, None),
            row("img", "multimodal", 2, Some("unsupported_modality")),
            row("img", "multimodal", 3, None), // cut short before its media.csv row
        ];
        let media = |item: u32| MediaRow {
            run_id: "r".into(),
            backend: "b".into(),
            scenario: "s".into(),
            case_id: "img".into(),
            item,
            ..Default::default()
        };
        write_rows(&dir.path().join("samples.csv"), SAMPLE_COLUMNS, &rows);
        write_rows(
            &dir.path().join("media.csv"),
            MEDIA_COLUMNS,
            &[media(0), media(1), media(2)],
        );
        let s = ResumeState::load(dir.path(), false, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 1, "only the cut item");
        let s = ResumeState::load(dir.path(), true, &WholeCases::new(), &HashSet::new()).unwrap();
        assert_eq!(s.moved, 2, "item 1 and its twin; unsupported is a finding");
        let mut done: Vec<u32> = s.take_media(&key_of("b", "s", "img")).into_keys().collect();
        done.sort_unstable();
        assert_eq!(done, [0, 2]);
        let left = read_samples(&dir.path().join("samples.csv")).unwrap().rows;
        assert_eq!(left.len(), 3);
    }
}
