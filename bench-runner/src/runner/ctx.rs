//! What the cases of a run share: the run context (`RunCtx`), the `Recorder` that owns every
//! results file a run appends to, and `ScenarioRun`, the view a kind runner works in (one
//! scenario on one backend), which builds the base of every sample and summary row.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::progress::Progress;
use super::resume::{CaseKey, ResumeState};
use crate::backend::replay::Recorded;
use crate::backend::{Backend, BackendFacts, RequestError};
use crate::error::{Error, Result};
use crate::results::items::{ITEM_COLUMNS, ItemRow};
use crate::results::manifest::now_rfc3339;
use crate::results::media::{MEDIA_COLUMNS, MediaRow};
use crate::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};
use crate::results::transcript::TranscriptWriter;
use crate::results::{CsvAppender, SampleRow, SummaryRow};
use crate::scenario::{Case, Scenario};

/// Everything the cases of one run share.
pub(crate) struct RunCtx {
    pub run_id: String,
    /// Per-run randomness of the prompt salts.
    pub nonce: u64,
    pub rec: Recorder,
    pub progress: Progress,
    pub quiet: bool,
    pub resume: ResumeState,
    /// Cases that got rows before a resume (their case-wide throughput is not reported).
    pub resumed_cases: RefCell<HashSet<CaseKey>>,
    /// The whole backend config: a drift scenario connects its reference backend from it.
    pub config: crate::backend::Config,
}

/// The run folder's files, each opened once and appended to through one method: every row
/// is written whole and flushed as it is made (see `CsvAppender`). samples.csv and
/// summary.csv exist for every run; items.csv, media.csv and transcripts.jsonl only for the
/// kinds that write them, opened when such a scenario starts.
pub(crate) struct Recorder {
    dir: PathBuf,
    samples: RefCell<CsvAppender>,
    summary: RefCell<CsvAppender>,
    items: RefCell<Option<CsvAppender>>,
    media: RefCell<Option<CsvAppender>>,
    transcripts: RefCell<Option<TranscriptWriter>>,
    drift: RefCell<Option<CsvAppender>>,
}

impl Recorder {
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Recorder {
            dir: dir.to_path_buf(),
            samples: CsvAppender::open(&dir.join("samples.csv"), SAMPLE_COLUMNS)?.into(),
            summary: CsvAppender::open(&dir.join("summary.csv"), SUMMARY_COLUMNS)?.into(),
            items: None.into(),
            media: None.into(),
            transcripts: None.into(),
            drift: None.into(),
        })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One request's row in samples.csv.
    pub fn sample(&self, row: &SampleRow) -> Result<()> {
        self.samples.borrow_mut().append(row)
    }

    /// A case's summary rows, in one write: they land together or not at all.
    pub fn summary(&self, rows: &[SummaryRow]) -> Result<()> {
        self.summary.borrow_mut().append_all(rows)
    }

    /// Opens items.csv and transcripts.jsonl (a tool-call or structured scenario starts):
    /// a file of another schema is refused before any request is sent.
    pub fn open_item_files(&self) -> Result<()> {
        if self.items.borrow().is_none() {
            let a = CsvAppender::open(&self.dir.join("items.csv"), ITEM_COLUMNS)?;
            *self.items.borrow_mut() = Some(a);
        }
        if self.transcripts.borrow().is_none() {
            let t = TranscriptWriter::open(&self.dir.join("transcripts.jsonl"))?;
            *self.transcripts.borrow_mut() = Some(t);
        }
        Ok(())
    }

    /// Opens media.csv (a multimodal scenario starts).
    pub fn open_media_file(&self) -> Result<()> {
        if self.media.borrow().is_none() {
            let a = CsvAppender::open(&self.dir.join("media.csv"), MEDIA_COLUMNS)?;
            *self.media.borrow_mut() = Some(a);
        }
        Ok(())
    }

    /// One tool-call or structured item's row in items.csv.
    pub fn item(&self, row: &ItemRow) -> Result<()> {
        self.open_item_files()?;
        self.items
            .borrow_mut()
            .as_mut()
            .map_or(Ok(()), |a| a.append(row))
    }

    /// One multimodal item's row in media.csv.
    pub fn media(&self, row: &MediaRow) -> Result<()> {
        self.open_media_file()?;
        self.media
            .borrow_mut()
            .as_mut()
            .map_or(Ok(()), |a| a.append(row))
    }

    /// A sweep's answer in sweep.json (a JSON array, one entry per backend × scenario ×
    /// sweep case): the entry with the same `backend`, `scenario` and `case_id` is replaced,
    /// and the file is rewritten whole through a temporary file and a rename.
    pub fn sweep(&self, entry: serde_json::Value) -> Result<()> {
        let path = self.dir.join("sweep.json");
        let mut all: Vec<serde_json::Value> = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::read(&path, e))?,
            Err(_) => Vec::new(),
        };
        let same = |a: &serde_json::Value| {
            ["backend", "scenario", "case_id"]
                .iter()
                .all(|k| a.get(k) == entry.get(k))
        };
        all.retain(|a| !same(a));
        all.push(entry);
        let text = serde_json::to_string_pretty(&all).map_err(|e| Error::write(&path, e))?;
        let text = crate::secret::scrub(&text);
        let tmp = self.dir.join("sweep.json.tmp");
        std::fs::write(&tmp, text.as_bytes()).map_err(|e| Error::write(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::write(&path, e))
    }

    /// A drift scenario's rows in drift.csv (opened at the first), in one write.
    pub fn drift(&self, rows: &[crate::results::drift::DriftRow]) -> Result<()> {
        if self.drift.borrow().is_none() {
            let cols = crate::results::drift::DRIFT_COLUMNS;
            let a = CsvAppender::open(&self.dir.join("drift.csv"), cols)?;
            *self.drift.borrow_mut() = Some(a);
        }
        self.drift
            .borrow_mut()
            .as_mut()
            .map_or(Ok(()), |a| a.append_all(rows))
    }

    /// One response as it came back, in transcripts.jsonl (what the replay backend reads).
    pub fn transcript(&self, r: &Recorded) -> Result<()> {
        self.open_item_files()?;
        self.transcripts
            .borrow_mut()
            .as_mut()
            .map_or(Ok(()), |t| t.append(r))
    }
}

/// What every kind runner is handed: one scenario on one backend, within a run.
pub(crate) struct ScenarioRun<'a> {
    pub ctx: &'a RunCtx,
    pub backend: &'a Backend,
    pub facts: &'a BackendFacts,
    /// The device label its rows carry.
    pub device: &'a str,
    pub scenario: &'a Scenario,
}

impl ScenarioRun<'_> {
    /// The scenario's SLO (`slo = { … }` of a throughput scenario), if it has one.
    pub fn slo(&self) -> Option<&crate::measure::slo::Slo> {
        match &self.scenario.body {
            crate::scenario::ScenarioBody::Throughput(t) => t.slo.as_ref(),
            _ => None,
        }
    }

    /// The resume key of one of the scenario's cases on this backend.
    pub fn key(&self, case_id: &str) -> CaseKey {
        (
            self.backend.name().to_string(),
            self.scenario.name.clone(),
            case_id.to_string(),
        )
    }

    /// `backend case`, as progress lines name a case.
    pub fn label(&self, case_id: &str) -> String {
        format!("{} {case_id}", self.backend.name())
    }

    /// The one base of every sample row: who measured what, for which case. The runners fill
    /// in the request's own columns (or mark it failed) and write it with `Recorder::sample`.
    pub fn sample_base(&self, case: &Case) -> SampleRow {
        SampleRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.backend.name().to_string(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: self.scenario.kind().to_string(),
            concurrency: case.concurrency,
            prompt_tokens_requested: case.prompt_tokens,
            max_tokens: case.max_tokens,
            ..Default::default()
        }
    }

    /// The row of a request that could not be made (its prompt could not be prepared, the
    /// engine failed): the base, sent now, failed with `e`.
    pub fn failed_row(base: &SampleRow, e: &RequestError) -> SampleRow {
        let mut row = base.clone();
        row.started_at = now_rfc3339();
        row.mark_failed(e.category.as_str(), e.message.clone());
        row
    }

    /// The base of a case's summary rows (one per metric).
    pub fn summary_base(&self, case: &Case) -> SummaryRow {
        SummaryRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.facts.name.clone(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: self.scenario.kind().to_string(),
            prompt_tokens: case.prompt_tokens,
            max_tokens: case.max_tokens,
            concurrency: case.concurrency,
            ..Default::default()
        }
    }
}
