//! Multimodal scenarios on one backend. Every item is sent twice: with its media, and as a
//! text-only twin with the same text, in alternating order (so drift between the two cancels
//! out). The media cost is TTFT(media) − TTFT(twin), paired per item; the answer is scored by
//! exact match against what our own code drew or spoke. Media go to `<run>/media/<case>/`.
//!
//! What a backend cannot take never crashes the run: a modality the backend config declares
//! off (or more images than its `max_images`) is skipped with a warning; one the server
//! reports off (`/props` `modalities`) or refuses (HTTP error naming the media) gives rows
//! with `unsupported_modality`, without further requests for that modality.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::RunCtx;
use super::request::{CaseOutcome, measure_response};
use super::summary::row as stats_row;
use super::tool_summary::proportion_row;
use crate::backend::{
    Backend, BackendFacts, ErrorCategory, MediaPart, Modality, Prompt, Request, RequestError,
    Response, ToolRequest,
};
use crate::error::{Error, Result};
use crate::measure::proportion::wilson;
use crate::measure::stats::summarize;
use crate::results::manifest::now_rfc3339;
use crate::results::media::{MEDIA_COLUMNS, MediaRow};
use crate::results::{CsvAppender, SampleRow, SummaryRow};
use crate::scenario::multimodal::{MediaCase, Multimodal};
use crate::scenario::{Case, Scenario};
use crate::score::exact::{exact_match, normalize};
use crate::workload::media::audio::{self, AudioTask};
use crate::workload::media::image;
use crate::workload::prompt;

/// Characters of the answer kept in media.csv.
const ANSWER_HEAD: usize = 200;

/// One item's media, made before anything is sent.
struct Item {
    task: &'static str,
    parts: Vec<MediaPart>,
    files: Vec<(String, Vec<u8>)>,
    expected: String,
    question: String,
    width: Option<u32>,
    height: Option<u32>,
    audio_s: Option<f64>,
}

struct MmRun<'a> {
    ctx: &'a RunCtx,
    backend: &'a Backend,
    facts: &'a BackendFacts,
    device: &'a str,
    scenario: &'a Scenario,
    mm: &'a Multimodal,
    run_dir: PathBuf,
    media_csv: std::cell::RefCell<CsvAppender>,
    espeak: Option<PathBuf>,
    /// A modality found unsupported (by `/props`, the engine or a refused request), and why.
    unsupported: std::cell::RefCell<HashMap<Modality, String>>,
}

pub(crate) async fn run_scenario(
    ctx: &RunCtx,
    backend: &Backend,
    facts: &BackendFacts,
    device: &str,
    scenario: &Scenario,
    mm: &Multimodal,
) -> Result<Vec<CaseOutcome>> {
    let run_dir = ctx
        .samples
        .borrow()
        .path()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let run = MmRun {
        ctx,
        backend,
        facts,
        device,
        scenario,
        mm,
        media_csv: CsvAppender::open(&run_dir.join("media.csv"), MEDIA_COLUMNS)?.into(),
        run_dir,
        espeak: audio::find_espeak(),
        unsupported: Default::default(),
    };
    let mut outcomes = Vec::new();
    let mut warnings = Vec::new();
    if mm.audio_task == AudioTask::Spoken && !mm.audio_seconds.is_empty() && run.espeak.is_none() {
        warnings.push(format!(
            "{}: espeak-ng is not installed; audio items use counted tones instead of spoken digits",
            scenario.name
        ));
    }
    for m in [Modality::Image, Modality::Audio] {
        if backend.supports(m) == Some(false) {
            run.unsupported.borrow_mut().insert(
                m,
                format!(
                    "backend '{}' reports no {} input (llama-server: /props modalities; it needs an --mmproj projector with that encoder)",
                    backend.name(),
                    m.as_str()
                ),
            );
        }
    }
    let limits = backend.media_limits();
    let mut warmed: Vec<Modality> = Vec::new();
    for (mc, case) in mm.plan().into_iter().zip(scenario.cases()) {
        let declared_off = match mc.modality {
            Modality::Image => limits.image == Some(false),
            Modality::Audio => limits.audio == Some(false),
        };
        let too_many = limits.max_images.is_some_and(|n| mc.images > n);
        if declared_off || too_many {
            let why = if declared_off {
                format!("the config declares no {} input", mc.modality.as_str())
            } else {
                format!("{} images exceed the config's max_images", mc.images)
            };
            warnings.push(format!(
                "{}: case {} skipped on backend {}: {why}",
                scenario.name,
                mc.id,
                backend.name()
            ));
            continue;
        }
        let finished = ctx.resume.finished_summary(&run.key(&mc.id)).is_some();
        if !warmed.contains(&mc.modality) && !finished {
            warmed.push(mc.modality);
            run.warm_up(&mc, &case).await?;
        }
        outcomes.push(run.case(&mc, &case).await?);
    }
    if let Some(first) = outcomes.first_mut() {
        first.warnings.extend(warnings);
    } else {
        outcomes.push(CaseOutcome {
            total: 0,
            failed: 0,
            summary: Vec::new(),
            warnings,
        });
    }
    Ok(outcomes)
}

impl MmRun<'_> {
    /// A per-request salt seed: the run's nonce, the case and the item (and the image within
    /// it), so every request in every run sends media no server has seen.
    fn salt(&self, case: &str, item: u32, k: u32) -> u64 {
        super::request::hash_index(case, ((item as usize) << 8) | k as usize) ^ self.ctx.nonce
    }

    fn make_item(&self, mc: &MediaCase, item: u32) -> Result<Item> {
        let bad = |e: crate::workload::media::MediaError| {
            Error::Usage(format!("{} case {}: {e}", self.scenario.name, mc.id))
        };
        match mc.modality {
            Modality::Image => {
                let task = self.mm.image_tasks[item as usize % self.mm.image_tasks.len()];
                let px = mc.image_px.unwrap_or(224);
                let mut parts = Vec::new();
                let mut files = Vec::new();
                let mut first: Option<image::Image> = None;
                for k in 0..mc.images {
                    let img = image::render(task, px, self.salt(&mc.id, item, k)).map_err(bad)?;
                    files.push((format!("{item}-{k}-{}.png", task.as_str()), img.png.clone()));
                    parts.push(MediaPart::Image {
                        mime: "image/png".into(),
                        data: img.png.clone(),
                    });
                    first.get_or_insert(img);
                }
                let first =
                    first.ok_or_else(|| Error::Usage("an image case with no images".into()))?;
                let question = if mc.images > 1 {
                    format!("Look at the first image only. {}", task.question())
                } else {
                    task.question().to_string()
                };
                Ok(Item {
                    task: task.as_str(),
                    parts,
                    files,
                    expected: first.answer,
                    question,
                    width: Some(first.width),
                    height: Some(first.height),
                    audio_s: None,
                })
            }
            Modality::Audio => {
                let secs = mc.audio_s.unwrap_or(5) as f64;
                let salt = self.salt(&mc.id, item, 0);
                let clip = match (&self.espeak, self.mm.audio_task) {
                    (Some(e), AudioTask::Spoken) => {
                        audio::spoken_digits(secs, salt, e, &self.run_dir).map_err(bad)?
                    }
                    _ => audio::tones(secs, salt).map_err(bad)?,
                };
                Ok(Item {
                    task: clip.task.as_str(),
                    files: vec![(
                        format!("{item}-{}.wav", clip.task.as_str()),
                        clip.wav.clone(),
                    )],
                    parts: vec![MediaPart::Audio {
                        format: "wav".into(),
                        data: clip.wav,
                    }],
                    expected: clip.answer,
                    question: clip.task.question().to_string(),
                    width: None,
                    height: None,
                    audio_s: Some(clip.seconds),
                })
            }
        }
    }

    fn request(&self, case: &Case, text: String, media: Vec<MediaPart>) -> Request {
        Request {
            prompt: Prompt::Chat(vec![crate::backend::Message {
                role: "user".into(),
                content: text,
            }]),
            max_tokens: case.max_tokens,
            temperature: case.sampling.temperature,
            top_p: case.sampling.top_p,
            seed: Some(case.seed),
            ignore_eos: false,
            allow_prefix_cache: false,
            tools: ToolRequest {
                media,
                ..Default::default()
            },
        }
    }

    /// The first encode of a modality is slower (graph allocation, warm caches): discarded
    /// requests first. A refusal here marks the modality unsupported for the run.
    async fn warm_up(&self, mc: &MediaCase, case: &Case) -> Result<()> {
        if self.unsupported.borrow().contains_key(&mc.modality) {
            return Ok(());
        }
        for w in 0..self.mm.warmup {
            let item = self.make_item(mc, u32::MAX - w)?;
            let text = format!(
                "{} {}",
                prompt::salt(
                    self.ctx.nonce,
                    super::request::hash_index("warmup", w as usize)
                ),
                item.question
            );
            let resp = self
                .backend
                .generate(&self.request(case, text, item.parts))
                .await;
            if let Some(e) = &resp.error
                && e.category == ErrorCategory::UnsupportedModality
            {
                self.unsupported
                    .borrow_mut()
                    .insert(mc.modality, e.message.clone());
                return Ok(());
            }
        }
        Ok(())
    }

    fn base_sample(&self, case_id: &str, case: &Case) -> SampleRow {
        SampleRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.backend.name().to_string(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case_id.to_string(),
            kind: self.scenario.kind().to_string(),
            concurrency: 1,
            max_tokens: case.max_tokens,
            ..Default::default()
        }
    }

    /// Sends one request (or records, without sending, why it cannot be) and appends its row.
    async fn send(
        &self,
        case: &Case,
        case_id: &str,
        item: u32,
        req: &Request,
        modality: Option<Modality>,
    ) -> Result<(Response, SampleRow)> {
        let started_at = now_rfc3339();
        let refused = modality.and_then(|m| self.unsupported.borrow().get(&m).cloned());
        let resp = match refused {
            Some(why) => Response::failed(
                std::time::Instant::now(),
                RequestError::new(ErrorCategory::UnsupportedModality, why),
            ),
            None => self.backend.generate(req).await,
        };
        if let (Some(m), Some(e)) = (modality, &resp.error)
            && e.category == ErrorCategory::UnsupportedModality
        {
            self.unsupported
                .borrow_mut()
                .entry(m)
                .or_insert_with(|| e.message.clone());
        }
        let base = self.base_sample(case_id, case);
        let mut row = measure_response(self.backend, &base, None, &resp).await.row;
        row.started_at = started_at;
        row.repetition = item;
        row.output_head = Some(resp.text.chars().take(ANSWER_HEAD).collect());
        self.ctx.samples.borrow_mut().append(&row)?;
        self.ctx.progress.request_done(
            &format!("{} {case_id}", self.backend.name()),
            row.decode_tok_s,
        );
        Ok((resp, row))
    }

    fn write_files(&self, case_id: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<String>> {
        let dir = self.run_dir.join("media").join(case_id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::results(&dir, e))?;
        let mut rel = Vec::new();
        for (name, bytes) in files {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| Error::results(&p, e))?;
            rel.push(format!("media/{case_id}/{name}"));
        }
        Ok(rel)
    }

    fn key(&self, case_id: &str) -> super::resume::CaseKey {
        (
            self.backend.name().to_string(),
            self.scenario.name.clone(),
            case_id.to_string(),
        )
    }

    async fn case(&self, mc: &MediaCase, case: &Case) -> Result<CaseOutcome> {
        let twin_id = format!("{}_text", mc.id);
        let mut rows: Vec<MediaRow> = Vec::new();
        let mut failed = 0usize;
        let mut total = 0usize;
        let mut unsupported = 0usize;
        // --resume: a case with summary rows is done; otherwise finished items are kept.
        let resumed = self.ctx.resume.finished_summary(&self.key(&mc.id));
        let mut done_items = self.ctx.resume.take_media(&self.key(&mc.id));
        let done_rows: Vec<SampleRow> = [&mc.id, &twin_id]
            .into_iter()
            .flat_map(|id| self.ctx.resume.take_rows(&self.key(id)))
            .collect();
        let count_done = |item: Option<u32>, failed: &mut usize, total: &mut usize| {
            for r in done_rows
                .iter()
                .filter(|r| item.is_none_or(|i| r.repetition == i))
            {
                *total += 1;
                if r.error_category
                    .as_deref()
                    .is_some_and(|c| c != "empty_response" && c != "unsupported_modality")
                {
                    *failed += 1;
                }
            }
        };
        if let Some(summary) = resumed {
            count_done(None, &mut failed, &mut total);
            return Ok(CaseOutcome {
                total,
                failed,
                summary,
                warnings: Vec::new(),
            });
        }
        for i in 0..self.mm.items {
            if let Some(row) = done_items.remove(&i) {
                count_done(Some(i), &mut failed, &mut total);
                if row.error_category.as_deref() == Some("unsupported_modality") {
                    unsupported += 1;
                }
                rows.push(row);
                continue;
            }
            let item = self.make_item(mc, i)?;
            let files = self.write_files(&mc.id, &item.files)?;
            let media_bytes = item.files.iter().map(|(_, b)| b.len() as u64).sum();
            // The same salted text for both: only the media differ.
            let text = format!(
                "{} {}",
                prompt::salt(
                    self.ctx.nonce,
                    super::request::hash_index(&mc.id, i as usize)
                ),
                item.question
            );
            let with = self.request(case, text.clone(), item.parts);
            let twin = self.request(case, text.clone(), Vec::new());
            let skip_twin = self.unsupported.borrow().contains_key(&mc.modality);
            // Alternate which goes first, so a slow drift of the machine does not bias the cost.
            let ((m_resp, m_row), t) = if i % 2 == 0 || skip_twin {
                let m = self.send(case, &mc.id, i, &with, Some(mc.modality)).await?;
                let t = if self.unsupported.borrow().contains_key(&mc.modality) {
                    None
                } else {
                    Some(self.send(case, &twin_id, i, &twin, None).await?)
                };
                (m, t)
            } else {
                let t = self.send(case, &twin_id, i, &twin, None).await?;
                let m = self.send(case, &mc.id, i, &with, Some(mc.modality)).await?;
                (m, Some(t))
            };
            let started_at = m_row.started_at.clone();
            total += 1 + usize::from(t.is_some());
            let m_err = m_resp
                .error
                .as_ref()
                .filter(|e| e.category != ErrorCategory::EmptyResponse);
            match m_err {
                Some(e) if e.category == ErrorCategory::UnsupportedModality => unsupported += 1,
                Some(_) => failed += 1,
                None => {}
            }
            if let Some((tr, _)) = &t
                && tr
                    .error
                    .as_ref()
                    .is_some_and(|e| e.category != ErrorCategory::EmptyResponse)
            {
                failed += 1;
            }
            // The twin's prompt length stands whatever it answered; its timings only if it
            // succeeded (an empty answer has no first token).
            let t_tokens = t.as_ref().and_then(|(_, r)| r.prompt_tokens);
            let (t_ttft, t_server) = t
                .as_ref()
                .filter(|(r, _)| r.error.is_none())
                .map_or((None, None), |(_, r)| (r.ttft_ms, r.server_prompt_ms));
            let m_ok = m_resp.error.is_none();
            let m_ttft = m_row.ttft_ms.filter(|_| m_ok);
            let row = MediaRow {
                run_id: self.ctx.run_id.clone(),
                backend: self.backend.name().to_string(),
                model: self.facts.model.clone().unwrap_or_default(),
                device: self.device.to_string(),
                scenario: self.scenario.name.clone(),
                case_id: mc.id.clone(),
                modality: mc.modality.as_str().into(),
                task: item.task.into(),
                item: i,
                started_at,
                image_px: mc.image_px,
                images: mc.images,
                width: item.width,
                height: item.height,
                audio_s: item.audio_s,
                media_bytes,
                media_files: files.join(";"),
                prompt: item.question.clone(),
                expected: normalize(&item.expected),
                answer: m_resp.text.chars().take(ANSWER_HEAD).collect(),
                correct: m_err
                    .is_none()
                    .then(|| exact_match(&m_resp.text, &item.expected)),
                prompt_tokens_media: m_row.prompt_tokens,
                prompt_tokens_text: t_tokens,
                ttft_media_ms: m_ttft,
                ttft_text_ms: t_ttft,
                media_cost_ms: m_ttft.zip(t_ttft).map(|(a, b)| a - b),
                server_prompt_ms_media: m_row.server_prompt_ms.filter(|_| m_ok),
                server_prompt_ms_text: t_server,
                error_category: m_resp.error.as_ref().map(|e| e.category.as_str().into()),
                error_message: m_resp.error.as_ref().map(|e| e.message.clone()),
            };
            self.media_csv.borrow_mut().append(&row)?;
            rows.push(row);
        }
        let summary = self.summarize(mc, case, &rows, failed);
        for r in &summary {
            self.ctx.summary.borrow_mut().append(r)?;
        }
        let mut warnings = Vec::new();
        if unsupported > 0 {
            warnings.push(format!(
                "{}: {} {} item(s) of case {} on backend {}: unsupported_modality ({})",
                self.scenario.name,
                unsupported,
                mc.modality.as_str(),
                mc.id,
                self.backend.name(),
                self.unsupported
                    .borrow()
                    .get(&mc.modality)
                    .cloned()
                    .unwrap_or_default()
            ));
        }
        if !self.ctx.quiet {
            self.ctx.progress.note(&case_line(
                self.backend.name(),
                &mc.id,
                &summary,
                unsupported,
            ));
        }
        // A modality the backend cannot take is a finding, not a failure: such rows do not
        // count towards exit code 3 (the warning says what happened).
        Ok(CaseOutcome {
            total,
            failed,
            summary,
            warnings,
        })
    }

    /// Per case: TTFT with media and of the twin, the paired media cost (median with its
    /// bootstrap CI), accuracy (Wilson CI), and accuracy per task.
    fn summarize(
        &self,
        mc: &MediaCase,
        case: &Case,
        rows: &[MediaRow],
        failed: usize,
    ) -> Vec<SummaryRow> {
        let base = SummaryRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.facts.name.clone(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: mc.id.clone(),
            kind: self.scenario.kind().to_string(),
            prompt_tokens: 0,
            max_tokens: case.max_tokens,
            concurrency: 1,
            errors: failed
                + rows
                    .iter()
                    .filter(|r| {
                        r.error_category.as_deref()
                            == Some(ErrorCategory::UnsupportedModality.as_str())
                    })
                    .count(),
            ..Default::default()
        };
        let mut out = Vec::new();
        let col = |f: fn(&MediaRow) -> Option<f64>| rows.iter().filter_map(f).collect::<Vec<_>>();
        for (metric, values) in [
            ("ttft_ms", col(|r| r.ttft_media_ms)),
            ("ttft_text_ms", col(|r| r.ttft_text_ms)),
            ("media_cost_ms", col(|r| r.media_cost_ms)),
        ] {
            if let Some(s) = summarize(&values) {
                out.push(stats_row(&base, metric, "ms", &s));
            }
        }
        let scored: Vec<&MediaRow> = rows.iter().filter(|r| r.correct.is_some()).collect();
        let k = scored.iter().filter(|r| r.correct == Some(true)).count();
        if let Some(p) = wilson(k, scored.len()) {
            out.push(proportion_row(&base, "accuracy", &p));
        }
        let mut tasks: Vec<&str> = scored.iter().map(|r| r.task.as_str()).collect();
        tasks.sort_unstable();
        tasks.dedup();
        if tasks.len() > 1 {
            for t in tasks {
                let of: Vec<&&MediaRow> = scored.iter().filter(|r| r.task == t).collect();
                let k = of.iter().filter(|r| r.correct == Some(true)).count();
                if let Some(p) = wilson(k, of.len()) {
                    out.push(proportion_row(&base, &format!("accuracy:{t}"), &p));
                }
            }
        }
        out
    }
}

/// The progress line of a finished case.
fn case_line(backend: &str, case: &str, summary: &[SummaryRow], unsupported: usize) -> String {
    let get = |m: &str| summary.iter().find(|r| r.metric == m);
    let ms = |m: &str| get(m).map_or("-".to_string(), |r| format!("{:.1} ms", r.p50));
    let acc = get("accuracy").map_or("-".to_string(), |r| {
        format!("{:.0}% (n={})", r.p50 * 100.0, r.n)
    });
    let mut line = format!(
        "{backend} {case}: TTFT p50 {} (text-only {}), media cost {}, accuracy {acc}",
        ms("ttft_ms"),
        ms("ttft_text_ms"),
        ms("media_cost_ms")
    );
    if unsupported > 0 {
        line.push_str(&format!(", {unsupported} unsupported_modality"));
    }
    line
}
