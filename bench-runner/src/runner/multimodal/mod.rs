//! Multimodal scenarios on one backend. Every item is sent twice: with its media, and as a
//! text-only twin with the same text, in alternating order (so drift between the two cancels
//! out). The media cost is TTFT(media) − TTFT(twin), paired per item; the answer is scored by
//! exact match against what our own code drew or spoke. Media go to `<run>/media/<case>/`.
//!
//! What a backend cannot take never crashes the run: a modality the backend config declares
//! off (or more images than its `max_images`) is skipped with a warning; one the server
//! reports off (`/props` `modalities`) or refuses (HTTP error naming the media) gives rows
//! with `unsupported_modality`, without further requests for that modality.

mod item;
mod summary;

use std::collections::HashMap;
use std::path::PathBuf;

use futures_util::future::LocalBoxFuture;

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use super::request::measure_response;
use crate::backend::{
    ErrorCategory, MediaPart, Modality, Prompt, Request, RequestError, Response, ToolRequest,
};
use crate::error::{Error, Result};
use crate::results::SampleRow;
use crate::results::manifest::now_rfc3339;
use crate::results::media::MediaRow;
use crate::scenario::multimodal::{MediaCase, Multimodal};
use crate::scenario::{Case, ScenarioBody};
use crate::score::exact::{exact_match, normalize};
use crate::workload::media::audio::{self, AudioTask};
use crate::workload::prompt;
use item::{Item, Maker};
use summary::{case_line, summarize_media};

/// Characters of the answer kept in media.csv.
const ANSWER_HEAD: usize = 200;

struct MmRun<'a, 'b> {
    s: &'a ScenarioRun<'b>,
    mm: &'a Multimodal,
    espeak: Option<PathBuf>,
    /// A modality found unsupported (by `/props`, the engine or a refused request), and why.
    unsupported: std::cell::RefCell<HashMap<Modality, String>>,
}

/// The kind runner (see `runner::KindRunner`): the whole scenario is one unit (a modality
/// found unsupported in one case is not asked again in the next).
pub(super) fn run<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let ScenarioBody::Multimodal(mm) = &s.scenario.body else {
            return Err(Error::Usage(format!(
                "internal: a {} scenario reached the multimodal runner",
                s.scenario.kind()
            )));
        };
        run_scenario(s, mm, cases).await
    })
}

async fn run_scenario(
    s: &ScenarioRun<'_>,
    mm: &Multimodal,
    cases: &[Case],
) -> Result<Vec<CaseOutcome>> {
    let (ctx, backend) = (s.ctx, s.backend);
    ctx.rec.open_media_file()?;
    let run = MmRun {
        s,
        mm,
        espeak: audio::find_espeak(),
        unsupported: Default::default(),
    };
    let mut outcomes = Vec::new();
    let mut warnings = Vec::new();
    if mm.audio_task == AudioTask::Spoken && !mm.audio_seconds.is_empty() && run.espeak.is_none() {
        warnings.push(format!(
            "{}: espeak-ng is not installed; audio items use counted tones instead of spoken digits",
            s.scenario.name
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
    for (mc, case) in mm.plan().into_iter().zip(cases) {
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
                s.scenario.name,
                mc.id,
                backend.name()
            ));
            continue;
        }
        let finished = ctx.resume.finished_summary(&s.key(&mc.id)).is_some();
        if !warmed.contains(&mc.modality) && !finished {
            warmed.push(mc.modality);
            run.warm_up(&mc, case).await?;
        }
        outcomes.push(run.case(&mc, case).await?);
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

/// Counts of a case's requests: all, failed at the server, and items the backend could not take.
#[derive(Default)]
struct Counts {
    total: usize,
    failed: usize,
    unsupported: usize,
}

impl MmRun<'_, '_> {
    fn maker(&self) -> Maker<'_> {
        Maker {
            scenario: &self.s.scenario.name,
            mm: self.mm,
            nonce: self.s.ctx.nonce,
            espeak: self.espeak.as_deref(),
            scratch: self.s.ctx.rec.dir(),
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
            let item = self.maker().make(mc, u32::MAX - w)?;
            let text = format!(
                "{} {}",
                prompt::salt(
                    self.s.ctx.nonce,
                    super::request::hash_index("warmup", w as usize)
                ),
                item.question
            );
            let resp = self
                .s
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
            None => self.s.backend.generate(req).await,
        };
        if let (Some(m), Some(e)) = (modality, &resp.error)
            && e.category == ErrorCategory::UnsupportedModality
        {
            self.unsupported
                .borrow_mut()
                .entry(m)
                .or_insert_with(|| e.message.clone());
        }
        let base = SampleRow {
            case_id: case_id.to_string(),
            ..self.s.sample_base(case)
        };
        let mut row = measure_response(self.s.backend, &base, None, &resp)
            .await
            .row;
        row.started_at = started_at;
        row.repetition = item;
        row.output_head = Some(resp.text.chars().take(ANSWER_HEAD).collect());
        self.s.ctx.rec.sample(&row)?;
        self.s
            .ctx
            .progress
            .request_done(&self.s.label(case_id), row.decode_tok_s);
        Ok((resp, row))
    }

    fn write_files(&self, case_id: &str, files: &[(String, Vec<u8>)]) -> Result<Vec<String>> {
        let dir = self.s.ctx.rec.dir().join("media").join(case_id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        let mut rel = Vec::new();
        for (name, bytes) in files {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| Error::write(&p, e))?;
            rel.push(format!("media/{case_id}/{name}"));
        }
        Ok(rel)
    }

    async fn case(&self, mc: &MediaCase, case: &Case) -> Result<CaseOutcome> {
        let ctx = self.s.ctx;
        let twin_id = format!("{}_text", mc.id);
        let mut rows: Vec<MediaRow> = Vec::new();
        let mut n = Counts::default();
        // --resume: a case with summary rows is done; otherwise finished items are kept.
        let resumed = ctx.resume.finished_summary(&self.s.key(&mc.id));
        let mut done_items = ctx.resume.take_media(&self.s.key(&mc.id));
        let done_rows: Vec<SampleRow> = [&mc.id, &twin_id]
            .into_iter()
            .flat_map(|id| ctx.resume.take_rows(&self.s.key(id)))
            .collect();
        let count_done = |item: Option<u32>, n: &mut Counts| {
            for r in done_rows
                .iter()
                .filter(|r| item.is_none_or(|i| r.repetition == i))
            {
                n.total += 1;
                if r.error_category
                    .as_deref()
                    .is_some_and(|c| c != "empty_response" && c != "unsupported_modality")
                {
                    n.failed += 1;
                }
            }
        };
        if let Some(summary) = resumed {
            count_done(None, &mut n);
            return Ok(CaseOutcome {
                total: n.total,
                failed: n.failed,
                summary,
                warnings: Vec::new(),
            });
        }
        for i in 0..self.mm.items {
            if let Some(row) = done_items.remove(&i) {
                count_done(Some(i), &mut n);
                if row.error_category.as_deref() == Some("unsupported_modality") {
                    n.unsupported += 1;
                }
                rows.push(row);
                continue;
            }
            let row = self.item(mc, case, &twin_id, i, &mut n).await?;
            ctx.rec.media(&row)?;
            rows.push(row);
        }
        let summary = summarize_media(self.s.summary_base(case), &rows, n.failed);
        ctx.rec.summary(&summary)?;
        let mut warnings = Vec::new();
        if n.unsupported > 0 {
            warnings.push(format!(
                "{}: {} {} item(s) of case {} on backend {}: unsupported_modality ({})",
                self.s.scenario.name,
                n.unsupported,
                mc.modality.as_str(),
                mc.id,
                self.s.backend.name(),
                self.unsupported
                    .borrow()
                    .get(&mc.modality)
                    .cloned()
                    .unwrap_or_default()
            ));
        }
        if !ctx.quiet {
            ctx.progress.note(&case_line(
                self.s.backend.name(),
                &mc.id,
                &summary,
                n.unsupported,
            ));
        }
        // A modality the backend cannot take is a finding, not a failure: such rows do not
        // count towards exit code 3 (the warning says what happened).
        Ok(CaseOutcome {
            total: n.total,
            failed: n.failed,
            summary,
            warnings,
        })
    }

    /// One item: its media written, the request with media and its text-only twin sent (in
    /// alternating order, so a slow drift of the machine does not bias the cost), its row.
    async fn item(
        &self,
        mc: &MediaCase,
        case: &Case,
        twin_id: &str,
        i: u32,
        n: &mut Counts,
    ) -> Result<MediaRow> {
        let mut item = self.maker().make(mc, i)?;
        let files = self.write_files(&mc.id, &item.files)?;
        // The same salted text for both: only the media differ.
        let text = format!(
            "{} {}",
            prompt::salt(
                self.s.ctx.nonce,
                super::request::hash_index(&mc.id, i as usize)
            ),
            item.question
        );
        let with = self.request(case, text.clone(), std::mem::take(&mut item.parts));
        let twin = self.request(case, text, Vec::new());
        let skip_twin = self.unsupported.borrow().contains_key(&mc.modality);
        let (m, t) = if i.is_multiple_of(2) || skip_twin {
            let m = self.send(case, &mc.id, i, &with, Some(mc.modality)).await?;
            let t = if self.unsupported.borrow().contains_key(&mc.modality) {
                None
            } else {
                Some(self.send(case, twin_id, i, &twin, None).await?)
            };
            (m, t)
        } else {
            let t = self.send(case, twin_id, i, &twin, None).await?;
            let m = self.send(case, &mc.id, i, &with, Some(mc.modality)).await?;
            (m, Some(t))
        };
        n.total += 1 + usize::from(t.is_some());
        Ok(self.media_row(mc, i, &item, files, m, t, n))
    }

    /// The media.csv row of an item from its two responses; counts its failures in `n`.
    #[allow(clippy::too_many_arguments)] // the item, its files and both of its responses
    fn media_row(
        &self,
        mc: &MediaCase,
        i: u32,
        item: &Item,
        files: Vec<String>,
        (m_resp, m_row): (Response, SampleRow),
        t: Option<(Response, SampleRow)>,
        n: &mut Counts,
    ) -> MediaRow {
        let m_err = m_resp
            .error
            .as_ref()
            .filter(|e| e.category != ErrorCategory::EmptyResponse);
        match m_err {
            Some(e) if e.category == ErrorCategory::UnsupportedModality => n.unsupported += 1,
            Some(_) => n.failed += 1,
            None => {}
        }
        if let Some((tr, _)) = &t
            && tr
                .error
                .as_ref()
                .is_some_and(|e| e.category != ErrorCategory::EmptyResponse)
        {
            n.failed += 1;
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
        let s = self.s;
        MediaRow {
            run_id: s.ctx.run_id.clone(),
            backend: s.backend.name().to_string(),
            model: s.facts.model.clone().unwrap_or_default(),
            device: s.device.to_string(),
            scenario: s.scenario.name.clone(),
            case_id: mc.id.clone(),
            modality: mc.modality.as_str().into(),
            task: item.task.into(),
            item: i,
            started_at: m_row.started_at.clone(),
            image_px: mc.image_px,
            images: mc.images,
            width: item.width,
            height: item.height,
            audio_s: item.audio_s,
            media_bytes: item.files.iter().map(|(_, b)| b.len() as u64).sum(),
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
        }
    }
}
