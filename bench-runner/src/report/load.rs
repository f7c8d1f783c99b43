//! Reads run folders and CSV files into one [`Dataset`]: runs, series (who was measured) and
//! cells (one series × one case) holding compact per-request values and the summary rows.
//!
//! samples.csv is streamed row by row into [`Request`]s of fixed size, so a report over
//! millions of requests holds a few dozen bytes per request, not the whole file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::metric::{METRICS, N_METRICS};
use crate::error::{Error, Result};
use crate::results::items::{ItemRow, read_items};
use crate::results::reader::{read_summary, visit_samples};
use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::results::{RunManifest, SampleRow, SummaryRow};

/// One measured request, reduced to what reports need.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// When it was sent, Unix milliseconds; `None` if the row's `started_at` is unreadable.
    pub t_ms: Option<i64>,
    pub ok: bool,
    /// Per-request values in the order of [`METRICS`]; NaN = not measured.
    pub values: [f64; N_METRICS],
}

impl Request {
    pub fn from_row(row: &SampleRow) -> Self {
        let mut values = [f64::NAN; N_METRICS];
        for m in METRICS {
            if let Some(v) = m.read(row) {
                values[m.slot] = v;
            }
        }
        let t_ms = chrono::DateTime::parse_from_rfc3339(&row.started_at)
            .ok()
            .map(|t| t.timestamp_millis());
        Request {
            t_ms,
            ok: row.error_category.as_deref().is_none_or(str::is_empty),
            values,
        }
    }
}

/// One scored item of items.csv, reduced to what reports and the gate need.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub item_id: String,
    /// BFCL category (`simple`, `parallel`, …, `agent`) or the structured suite's.
    pub category: String,
    /// `native` / `prompt` (tool calls), `constrained` / `unconstrained` (structured).
    pub mode: String,
    /// Filler tokens before the question (requested).
    pub depth: u32,
    pub pass: bool,
    pub failure: Option<String>,
    pub e2e_ms: Option<f64>,
    pub within_latency_target: Option<bool>,
}

impl Item {
    pub fn from_row(r: ItemRow) -> Self {
        Item {
            item_id: r.item_id,
            category: r.category,
            mode: r.mode,
            depth: r.depth,
            pass: r.pass,
            failure: r.failure_category.filter(|f| !f.is_empty()),
            e2e_ms: r.e2e_ms,
            within_latency_target: r.within_latency_target,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The folder (or file) it was read from.
    pub source: PathBuf,
    pub manifest: Option<RunManifest>,
}

/// Who was measured: one backend (and model) on one device in one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesId {
    pub run: usize,
    pub run_id: String,
    pub device: String,
    pub backend: String,
    pub model: String,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub id: SeriesId,
    /// Unique, human-readable: `device/backend`, with `@run_id` where that is ambiguous.
    pub label: String,
}

/// A point of a scenario's grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseId {
    pub scenario: String,
    pub case_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct CaseShape {
    pub kind: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub concurrency: u32,
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub series: usize,
    pub case: CaseId,
    pub shape: CaseShape,
    pub requests: Vec<Request>,
    pub summary: Vec<SummaryRow>,
    /// Scored items (items.csv): tool-call and structured-output cases.
    pub items: Vec<Item>,
}

impl Cell {
    /// Values of one metric over the successful requests.
    pub fn values(&self, slot: usize) -> Vec<f64> {
        self.requests
            .iter()
            .filter(|r| r.ok)
            .map(|r| r.values[slot])
            .filter(|v| !v.is_nan())
            .collect()
    }

    pub fn failed(&self) -> usize {
        self.requests.iter().filter(|r| !r.ok).count()
    }

    pub fn summary_row(&self, metric: &str) -> Option<&SummaryRow> {
        self.summary.iter().find(|r| r.metric == metric)
    }
}

#[derive(Debug, Default)]
pub struct Dataset {
    pub runs: Vec<RunInfo>,
    pub series: Vec<Series>,
    pub cells: Vec<Cell>,
    pub warnings: Vec<String>,
}

impl Dataset {
    pub fn manifest_of(&self, series: usize) -> Option<&RunManifest> {
        self.runs.get(self.series[series].id.run)?.manifest.as_ref()
    }

    /// Cases in first-seen order.
    pub fn cases(&self) -> Vec<CaseId> {
        let mut out: Vec<CaseId> = Vec::new();
        for c in &self.cells {
            if !out.contains(&c.case) {
                out.push(c.case.clone());
            }
        }
        out
    }

    pub fn cell(&self, series: usize, case: &CaseId) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.series == series && &c.case == case)
    }

    /// Requests over all cells.
    pub fn request_count(&self) -> usize {
        self.cells.iter().map(|c| c.requests.len()).sum()
    }
}

enum CsvKind {
    Samples,
    Summary,
}

/// What one input path stands for: a run folder with the files found in it.
struct RunFiles {
    dir: PathBuf,
    samples: Option<PathBuf>,
    summary: Option<PathBuf>,
}

/// Loads every input: a run folder (with samples.csv and/or summary.csv, and run.json), a
/// folder of run folders (such as `results/`), or single CSV files. A run folder's items.csv
/// (tool-call and structured scenarios) is read beside them.
pub fn load(inputs: &[PathBuf]) -> Result<Dataset> {
    if inputs.is_empty() {
        return Err(Error::Usage(
            "name at least one run folder or CSV file".into(),
        ));
    }
    let mut runs: Vec<RunFiles> = Vec::new();
    for input in inputs {
        for rf in expand(input)? {
            // The same folder named twice (or its two CSVs named one by one) is one run.
            if let Some(existing) = runs.iter_mut().find(|r| same_dir(&r.dir, &rf.dir)) {
                existing.samples = existing.samples.take().or(rf.samples);
                existing.summary = existing.summary.take().or(rf.summary);
            } else {
                runs.push(rf);
            }
        }
    }
    let mut b = Builder::default();
    for (run, rf) in runs.into_iter().enumerate() {
        b.read_run(run, rf)?;
    }
    let mut ds = b.ds;
    if ds.cells.is_empty() {
        return Err(Error::Usage(format!(
            "no results found in {}",
            inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    label_series(&mut ds);
    Ok(ds)
}

/// Who and where a row belongs: (run, run id, device, backend, model, scenario, case id).
type CellKey = (usize, String, String, String, String, String, String);

/// The dataset being read, with the indexes that find a row's cell and series.
#[derive(Default)]
struct Builder {
    ds: Dataset,
    index: HashMap<CellKey, usize>,
    series_index: HashMap<SeriesId, usize>,
}

impl Builder {
    fn read_run(&mut self, run: usize, rf: RunFiles) -> Result<()> {
        let manifest = if rf.dir.join("run.json").is_file() {
            Some(RunManifest::read(&rf.dir)?)
        } else {
            self.ds.warnings.push(format!("{}: no run.json beside the results: devices, models and comparability cannot be checked", rf.dir.display()));
            None
        };
        self.ds.runs.push(RunInfo {
            source: rf.dir.clone(),
            manifest,
        });
        if let Some(p) = &rf.samples {
            self.read_samples(run, p)?;
        }
        if let Some(p) = &rf.summary {
            let rows = read_summary(p)?;
            self.ds.warnings.extend(rows.warnings);
            for row in rows.rows {
                let i = self.cell(
                    run,
                    &row.run_id,
                    &row.device,
                    &row.backend,
                    &row.model,
                    &row.scenario,
                    &row.case_id,
                );
                let cell = &mut self.ds.cells[i];
                if cell.shape.kind.is_empty() {
                    cell.shape = CaseShape {
                        kind: row.kind.clone(),
                        prompt_tokens: row.prompt_tokens,
                        max_tokens: row.max_tokens,
                        concurrency: row.concurrency,
                    };
                }
                cell.summary.push(row);
            }
        }
        let items = rf.dir.join("items.csv");
        if items.is_file() {
            let rows = read_items(&items)?;
            self.ds.warnings.extend(rows.warnings);
            for row in rows.rows {
                let i = self.cell(
                    run,
                    &row.run_id,
                    &row.device,
                    &row.backend,
                    &row.model,
                    &row.scenario,
                    &row.case_id,
                );
                let cell = &mut self.ds.cells[i];
                if cell.shape.kind.is_empty() {
                    cell.shape.kind = row.kind.clone();
                    cell.shape.max_tokens = row.max_tokens;
                }
                cell.items.push(Item::from_row(row));
            }
        }
        Ok(())
    }

    fn read_samples(&mut self, run: usize, p: &Path) -> Result<()> {
        // Rows of one case come together: remember the last cell to skip the map lookup.
        let mut last: Option<(SampleRow, usize)> = None;
        let warnings = visit_samples(p, |row| {
            let i = match &last {
                Some((l, i)) if same_cell(l, &row) => *i,
                _ => {
                    let i = self.cell(
                        run,
                        &row.run_id,
                        &row.device,
                        &row.backend,
                        &row.model,
                        &row.scenario,
                        &row.case_id,
                    );
                    self.ds.cells[i].shape = CaseShape {
                        kind: row.kind.clone(),
                        prompt_tokens: row.prompt_tokens_requested,
                        max_tokens: row.max_tokens,
                        concurrency: row.concurrency,
                    };
                    i
                }
            };
            self.ds.cells[i].requests.push(Request::from_row(&row));
            last = Some((row, i));
            Ok(())
        })?;
        self.ds.warnings.extend(warnings);
        Ok(())
    }

    /// The cell of a row, made (with its series) on first sight.
    #[allow(clippy::too_many_arguments)] // the seven parts of a row's identity, as the CSVs spell them
    fn cell(
        &mut self,
        run: usize,
        run_id: &str,
        device: &str,
        backend: &str,
        model: &str,
        scenario: &str,
        case_id: &str,
    ) -> usize {
        let key = (
            run,
            run_id.to_string(),
            device.to_string(),
            backend.to_string(),
            model.to_string(),
            scenario.to_string(),
            case_id.to_string(),
        );
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let sid = SeriesId {
            run,
            run_id: run_id.into(),
            device: device.into(),
            backend: backend.into(),
            model: model.into(),
        };
        let ds = &mut self.ds;
        let series = *self.series_index.entry(sid.clone()).or_insert_with(|| {
            ds.series.push(Series {
                id: sid,
                label: String::new(),
            });
            ds.series.len() - 1
        });
        ds.cells.push(Cell {
            series,
            case: CaseId {
                scenario: scenario.into(),
                case_id: case_id.into(),
            },
            shape: CaseShape::default(),
            requests: Vec::new(),
            summary: Vec::new(),
            items: Vec::new(),
        });
        self.index.insert(key, ds.cells.len() - 1);
        ds.cells.len() - 1
    }
}

fn same_cell(a: &SampleRow, b: &SampleRow) -> bool {
    a.case_id == b.case_id
        && a.scenario == b.scenario
        && a.backend == b.backend
        && a.device == b.device
        && a.model == b.model
        && a.run_id == b.run_id
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn expand(input: &Path) -> Result<Vec<RunFiles>> {
    if input.is_file() {
        let kind = csv_kind(input)?;
        let dir = input.parent().map_or_else(
            || PathBuf::from("."),
            |d| {
                if d.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    d.to_path_buf()
                }
            },
        );
        return Ok(vec![match kind {
            CsvKind::Samples => RunFiles {
                dir,
                samples: Some(input.into()),
                summary: None,
            },
            CsvKind::Summary => RunFiles {
                dir,
                samples: None,
                summary: Some(input.into()),
            },
        }]);
    }
    if !input.is_dir() {
        return Err(Error::file(input, "no such run folder or CSV file"));
    }
    if let Some(rf) = run_folder(input) {
        return Ok(vec![rf]);
    }
    // A folder of run folders, such as results/.
    let mut subs: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| Error::read(input, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subs.sort();
    let found: Vec<RunFiles> = subs.iter().filter_map(|p| run_folder(p)).collect();
    if found.is_empty() {
        return Err(Error::file(
            input,
            "holds no samples.csv or summary.csv (nor run folders that do)",
        ));
    }
    Ok(found)
}

fn run_folder(dir: &Path) -> Option<RunFiles> {
    let samples = Some(dir.join("samples.csv")).filter(|p| p.is_file());
    let summary = Some(dir.join("summary.csv")).filter(|p| p.is_file());
    (samples.is_some() || summary.is_some()).then(|| RunFiles {
        dir: dir.to_path_buf(),
        samples,
        summary,
    })
}

fn csv_kind(path: &Path) -> Result<CsvKind> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let mut first = String::new();
    std::io::BufReader::new(f)
        .read_line(&mut first)
        .map_err(|e| Error::read(path, e))?;
    let header: Vec<&str> = first.trim_end().split(',').collect();
    if header == SAMPLE_COLUMNS {
        Ok(CsvKind::Samples)
    } else if header == SUMMARY_COLUMNS {
        Ok(CsvKind::Summary)
    } else {
        Err(Error::file(
            path,
            "is neither an edgebench samples.csv nor a summary.csv (unknown columns)",
        ))
    }
}

/// `device/backend`; where two series would share a label, the run id is added, and where
/// even that is ambiguous (the same run read twice), a counter.
fn label_series(ds: &mut Dataset) {
    let base: Vec<String> = ds
        .series
        .iter()
        .map(|s| format!("{}/{}", s.id.device, s.id.backend))
        .collect();
    let count = |v: &Vec<String>, x: &String| v.iter().filter(|y| *y == x).count();
    let mut labels: Vec<String> = base
        .iter()
        .zip(&ds.series)
        .map(|(b, s)| {
            if count(&base, b) > 1 {
                format!("{b}@{}", s.id.run_id)
            } else {
                b.clone()
            }
        })
        .collect();
    let snapshot = labels.clone();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for l in labels.iter_mut() {
        if count(&snapshot, l) > 1 {
            let k = seen.entry(l.clone()).or_insert(0);
            *k += 1;
            *l = format!("{l}#{k}");
        }
    }
    for (s, l) in ds.series.iter_mut().zip(labels) {
        s.label = l;
    }
}
