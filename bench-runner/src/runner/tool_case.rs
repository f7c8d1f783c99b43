//! Tool-call and structured-output scenarios on one backend. For each case (mode × depth,
//! or constrained / unconstrained) every item is sent and scored; each request gets its
//! `samples.csv` row and `transcripts.jsonl` line, each item its `items.csv` row, and each
//! case its accuracy and speed rows in `summary.csv`.
//!
//! Items run one at a time: correctness does not depend on concurrency, and one stream keeps
//! the speed figures comparable with a throughput case at concurrency 1. No salt is put in
//! front of the question (it would change what the model is asked); prefix caching is off
//! through `cache_prompt: false` instead, and depth filler carries a salt of its own.

use serde_json::json;

use super::RunCtx;
use super::request::CaseOutcome;
use super::tool_request::{is_backend_failure, outcome};
use super::tool_run::{ItemResult, ToolRun, calls_json, fill_speed};
use super::tool_summary::{CaseFigures, summarize_items};
use crate::backend::{Backend, BackendFacts, Endpoint, Prompt, ToolRequest};
use crate::error::{Error, Result};
use crate::results::CsvAppender;
use crate::results::items::ITEM_COLUMNS;
use crate::results::manifest::now_rfc3339;
use crate::results::transcript::TranscriptWriter;
use crate::scenario::structured::StructuredItem;
use crate::scenario::tool_calls::case_mode;
use crate::scenario::{Case, Scenario, ScenarioBody};
use crate::score::schema::{self, Compliance};
use crate::score::{Extraction, Mode, score_tool_item};
use crate::workload::tool_suite::ToolItem;
use crate::workload::{conversation, prompt, tool_format};

pub(crate) async fn run_scenario(
    ctx: &RunCtx,
    backend: &Backend,
    facts: &BackendFacts,
    device: &str,
    scenario: &Scenario,
) -> Result<Vec<CaseOutcome>> {
    if backend.endpoint() != Endpoint::Chat {
        return Err(Error::backend(
            backend.name(),
            format!(
                "scenario `{}` ({}) needs a chat endpoint (endpoint = \"chat\")",
                scenario.name,
                scenario.kind()
            ),
        ));
    }
    let run_dir = ctx
        .samples
        .borrow()
        .path()
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let run = ToolRun {
        ctx,
        backend,
        facts,
        device,
        scenario,
        items_csv: CsvAppender::open(&run_dir.join("items.csv"), ITEM_COLUMNS)?.into(),
        transcripts: TranscriptWriter::open(&run_dir.join("transcripts.jsonl"))?.into(),
    };
    let mut outcomes = Vec::new();
    let mut figures: Vec<CaseFigures> = Vec::new();
    for case in scenario.cases() {
        let (out, fig) = run.case(&case, &figures).await?;
        figures.push(fig);
        outcomes.push(out);
    }
    Ok(outcomes)
}

impl ToolRun<'_> {
    async fn case(
        &self,
        case: &Case,
        earlier: &[CaseFigures],
    ) -> Result<(CaseOutcome, CaseFigures)> {
        let label = format!("{} {}", self.backend.name(), case.id);
        let latency_target = match &self.scenario.body {
            ScenarioBody::ToolCalls(t) => t.latency_target_ms,
            ScenarioBody::Structured(s) => s.latency_target_ms,
            ScenarioBody::Throughput(_)
            | ScenarioBody::Context(_)
            | ScenarioBody::Multimodal(_) => None,
        };
        // --resume: a case with summary rows is done; otherwise finished items are kept
        // and only the others are sent.
        let key = (
            self.backend.name().to_string(),
            self.scenario.name.clone(),
            case.id.clone(),
        );
        if let Some(done) = self.ctx.resume.finished(&key) {
            return Ok(finished_case(done, &case.id));
        }
        let mut done_items = self.ctx.resume.take_items(&key);
        let mut results: Vec<ItemResult> = Vec::new();
        match &self.scenario.body {
            ScenarioBody::ToolCalls(t) => {
                let mode = case_mode(&case.id);
                for (i, item) in t.items.iter().enumerate() {
                    if let Some(d) = done_items.remove(&item.id) {
                        results.push(resumed_item(d));
                        continue;
                    }
                    let r = if item.agent.is_some() {
                        super::agent_loop::run_item(self, case, mode, item, i as u32).await?
                    } else {
                        self.tool_item(case, mode, item, i as u32).await?
                    };
                    self.finish_item(&label, r, latency_target, &mut results)?;
                }
            }
            ScenarioBody::Structured(s) => {
                let constrained = case.id == "constrained";
                for (i, item) in s.items.iter().enumerate() {
                    if let Some(d) = done_items.remove(&item.id) {
                        results.push(resumed_item(d));
                        continue;
                    }
                    let r = self
                        .structured_item(case, constrained, item, i as u32)
                        .await?;
                    self.finish_item(&label, r, latency_target, &mut results)?;
                }
            }
            ScenarioBody::Throughput(_)
            | ScenarioBody::Context(_)
            | ScenarioBody::Multimodal(_) => {
                return Err(Error::Usage(
                    "internal: a speed or context case reached the tool runner".into(),
                ));
            }
        }
        let base = crate::results::SummaryRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.facts.name.clone(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: self.scenario.kind().to_string(),
            prompt_tokens: case.prompt_tokens,
            max_tokens: case.max_tokens,
            concurrency: 1,
            ..Default::default()
        };
        let (summary, warnings, fig) = summarize_items(base, &results, latency_target, earlier);
        for row in &summary {
            self.ctx.summary.borrow_mut().append(row)?;
        }
        let failed = results.iter().map(|r| r.backend_failures).sum();
        let total = results.iter().map(|r| r.samples.len()).sum();
        if !self.ctx.quiet {
            self.ctx.progress.note(&super::tool_table::case_line(
                self.backend.name(),
                &case.id,
                &summary,
                failed,
                total,
            ));
        }
        Ok((
            CaseOutcome {
                total,
                failed,
                summary,
                warnings,
            },
            fig,
        ))
    }

    fn finish_item(
        &self,
        label: &str,
        mut r: ItemResult,
        latency_target: Option<f64>,
        results: &mut Vec<ItemResult>,
    ) -> Result<()> {
        r.row.started_at = r
            .samples
            .first()
            .map(|s| s.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        r.row.within_latency_target = latency_target.map(|t| r.row.e2e_ms.is_some_and(|e| e <= t));
        self.items_csv.borrow_mut().append(&r.row)?;
        self.ctx.progress.request_done(label, r.row.decode_tok_s);
        results.push(r);
        Ok(())
    }

    async fn tool_item(
        &self,
        case: &Case,
        mode: Mode,
        item: &ToolItem,
        index: u32,
    ) -> Result<ItemResult> {
        let salt = prompt::salt(
            self.ctx.nonce,
            index as u64 ^ ((case.prompt_tokens as u64) << 32),
        );
        let filler = conversation::filler(case.prompt_tokens, &salt, case.seed);
        let (prompt_msgs, tools) = match mode {
            Mode::Native => {
                let raw = conversation::native(&item.messages, &filler);
                let simple = conversation::prompt(&item.messages, &filler, "");
                let tools = ToolRequest {
                    messages: Some(raw),
                    tools: tool_format::openai_tools(&item.functions, &item.category),
                    parallel_tool_calls: tool_format::wants_parallel(&item.category)
                        .then_some(true),
                    replay_key: Some(self.key(case, &item.id, 0)),
                    ..Default::default()
                };
                (simple, tools)
            }
            Mode::Prompt => {
                let system = tool_format::prompt_mode_system(&item.functions, &item.category);
                let msgs = conversation::prompt(&item.messages, &filler, &system);
                (
                    msgs,
                    ToolRequest {
                        replay_key: Some(self.key(case, &item.id, 0)),
                        ..Default::default()
                    },
                )
            }
        };
        let req = self.request(case, Prompt::Chat(prompt_msgs), tools);
        let (resp, sample) = self
            .send(
                &req,
                self.key(case, &item.id, 0),
                &self.base_sample(case),
                index,
            )
            .await?;
        let ex = Extraction {
            mode,
            decoder: item.prompt_decoder,
            outcome: outcome(&resp, false),
            text: &resp.text,
            tool_calls: &resp.tool_calls,
            finish_reason: resp.finish_reason.as_deref(),
            output_tokens: sample.output_tokens,
            max_tokens: case.max_tokens,
        };
        let v = score_tool_item(&item.category, &item.functions, &item.expected, &ex);
        let mut row = self.base_item(case, mode.as_str());
        row.suite = item.suite.clone();
        row.item_id = item.id.clone();
        row.category = item.category.clone();
        row.requests = 1;
        row.pass = v.pass;
        row.failure_category = v.failure.map(|f| f.as_str().to_string());
        row.lenient_pass = (mode == Mode::Native).then_some(v.lenient_pass);
        row.calls = calls_json(&v.calls);
        row.detail = v.detail;
        fill_speed(&mut row, std::slice::from_ref(&sample));
        row.error_message = resp.error.as_ref().map(|e| e.message.clone());
        Ok(ItemResult {
            row,
            samples: vec![sample],
            backend_failures: usize::from(is_backend_failure(&resp)),
        })
    }

    async fn structured_item(
        &self,
        case: &Case,
        constrained: bool,
        item: &StructuredItem,
        index: u32,
    ) -> Result<ItemResult> {
        let messages = conversation::prompt(&item.messages, &[], "");
        let mut tools = ToolRequest {
            replay_key: Some(self.key(case, &item.id, 0)),
            ..Default::default()
        };
        if constrained {
            tools.response_format = Some(
                json!({"type": "json_schema", "json_schema": {"name": item.name, "schema": item.schema, "strict": true}}),
            );
        }
        let req = self.request(case, Prompt::Chat(messages), tools);
        let (resp, sample) = self
            .send(
                &req,
                self.key(case, &item.id, 0),
                &self.base_sample(case),
                index,
            )
            .await?;
        let mut row = self.base_item(case, &case.id);
        row.suite = match &self.scenario.body {
            ScenarioBody::Structured(s) => s.suite.clone(),
            _ => String::new(),
        };
        row.item_id = item.id.clone();
        row.category = item.category.clone();
        row.requests = 1;
        let failure = match outcome(&resp, constrained) {
            crate::score::Outcome::Answered => {
                let validator = schema::compile(&item.schema)
                    .map_err(|e| Error::Usage(format!("item {}: {e}", item.id)))?;
                match schema::check(&validator, &resp.text) {
                    Compliance::Valid(_) => None,
                    Compliance::Invalid(f, d) => {
                        row.detail = d;
                        let hit_limit = resp.finish_reason.as_deref() == Some("length")
                            || sample
                                .output_tokens
                                .is_some_and(|n| n >= case.max_tokens as u64);
                        Some(if crate::score::repetition::ends_in_loop(&resp.text) {
                            crate::score::Failure::Stall
                        } else if hit_limit {
                            crate::score::Failure::Truncated
                        } else {
                            f
                        })
                    }
                }
            }
            crate::score::Outcome::Stalled(m) => {
                row.detail = m;
                Some(crate::score::Failure::Stall)
            }
            crate::score::Outcome::SchemaRefused(m) => {
                row.detail = m;
                Some(crate::score::Failure::SchemaUnsupported)
            }
            crate::score::Outcome::Failed(m) => {
                row.detail = m;
                Some(crate::score::Failure::ServerError)
            }
        };
        row.pass = failure.is_none();
        row.failure_category = failure.map(|f| f.as_str().to_string());
        row.calls = String::new();
        fill_speed(&mut row, std::slice::from_ref(&sample));
        row.error_message = resp.error.as_ref().map(|e| e.message.clone());
        Ok(ItemResult {
            row,
            samples: vec![sample],
            backend_failures: usize::from(
                is_backend_failure(&resp)
                    && failure != Some(crate::score::Failure::SchemaUnsupported),
            ),
        })
    }
}

/// A case finished before a resume: its summary rows as written, its requests as counted
/// then (failures at the server only), and the figures later cases need from it.
fn finished_case(mut done: CaseOutcome, case_id: &str) -> (CaseOutcome, CaseFigures) {
    done.failed = done.summary.first().map_or(done.failed, |r| r.errors);
    let fig = CaseFigures {
        case_id: case_id.to_string(),
        ttft_p50: done
            .summary
            .iter()
            .find(|r| r.metric == "ttft_ms")
            .map(|r| r.p50),
    };
    (done, fig)
}

/// An item finished before a resume, rebuilt from its items.csv row and its requests' rows.
fn resumed_item((row, samples): super::resume::DoneItem) -> ItemResult {
    let backend_failures = if row.failure_category.as_deref() == Some("schema_unsupported") {
        0
    } else {
        samples
            .iter()
            .filter(|s| {
                s.error_category
                    .as_deref()
                    .is_some_and(|c| c != "empty_response")
            })
            .count()
    };
    ItemResult {
        row,
        samples,
        backend_failures,
    }
}
