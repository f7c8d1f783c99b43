//! Tool-call and structured-output scenarios on one backend. For each case (mode × depth,
//! or constrained / unconstrained) every item is sent and scored; each request gets its
//! `samples.csv` row and `transcripts.jsonl` line, each item its `items.csv` row, and each
//! case its accuracy and speed rows in `summary.csv`.
//!
//! Items run one at a time: correctness does not depend on concurrency, and one stream keeps
//! the speed figures comparable with a throughput case at concurrency 1. No salt is put in
//! front of the question (it would change what the model is asked); prefix caching is off
//! through `cache_prompt: false` instead, and depth filler carries a salt of its own.

mod agent_loop;
mod request;
mod run;
pub(crate) mod summary;
pub mod table;

use futures_util::future::LocalBoxFuture;
use serde_json::json;

use super::ctx::ScenarioRun;
use super::outcome::CaseOutcome;
use crate::backend::{Endpoint, Prompt, ToolRequest};
use crate::error::{Error, Result};
use crate::results::manifest::now_rfc3339;
use crate::scenario::structured::{Structured, StructuredItem};
use crate::scenario::tool_calls::{ToolCalls, case_mode};
use crate::scenario::{Case, ScenarioBody};
use crate::score::schema::{self, Compliance};
use crate::score::{Extraction, Mode, score_tool_item};
use crate::workload::tool_suite::ToolItem;
use crate::workload::{conversation, prompt, tool_format};
use request::{is_backend_failure, outcome};
use run::{ItemResult, ToolRun, calls_json, fill_speed};
use summary::{CaseFigures, summarize_items};

/// The kind runner of tool-call scenarios (see `runner::KindRunner`): the whole scenario is
/// one unit (a later case's figures refer to an earlier one's).
pub(crate) fn run_tool_calls<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let ScenarioBody::ToolCalls(t) = &s.scenario.body else {
            return Err(wrong_kind(s, "tool-call"));
        };
        run_scenario(s, cases, Items::ToolCalls(t)).await
    })
}

/// The kind runner of structured-output scenarios (see `runner::KindRunner`).
pub(crate) fn run_structured<'a>(
    s: &'a ScenarioRun<'a>,
    cases: &'a [Case],
) -> LocalBoxFuture<'a, Result<Vec<CaseOutcome>>> {
    Box::pin(async move {
        let ScenarioBody::Structured(st) = &s.scenario.body else {
            return Err(wrong_kind(s, "structured"));
        };
        run_scenario(s, cases, Items::Structured(st)).await
    })
}

fn wrong_kind(s: &ScenarioRun<'_>, runner: &str) -> Error {
    Error::Usage(format!(
        "internal: a {} scenario reached the {runner} runner",
        s.scenario.kind()
    ))
}

/// What a case's items are.
#[derive(Clone, Copy)]
enum Items<'a> {
    ToolCalls(&'a ToolCalls),
    Structured(&'a Structured),
}

impl Items<'_> {
    fn latency_target_ms(&self) -> Option<f64> {
        match self {
            Items::ToolCalls(t) => t.latency_target_ms,
            Items::Structured(s) => s.latency_target_ms,
        }
    }
}

async fn run_scenario(
    s: &ScenarioRun<'_>,
    cases: &[Case],
    items: Items<'_>,
) -> Result<Vec<CaseOutcome>> {
    if s.backend.endpoint() != Endpoint::Chat {
        return Err(Error::backend(
            s.backend.name(),
            format!(
                "scenario `{}` ({}) needs a chat endpoint (endpoint = \"chat\")",
                s.scenario.name,
                s.scenario.kind()
            ),
        ));
    }
    s.ctx.rec.open_item_files()?;
    let run = ToolRun { s };
    let mut outcomes = Vec::new();
    let mut figures: Vec<CaseFigures> = Vec::new();
    for case in cases {
        let (out, fig) = run.case(case, items, &figures).await?;
        figures.push(fig);
        outcomes.push(out);
    }
    Ok(outcomes)
}

impl ToolRun<'_, '_> {
    async fn case(
        &self,
        case: &Case,
        items: Items<'_>,
        earlier: &[CaseFigures],
    ) -> Result<(CaseOutcome, CaseFigures)> {
        let s = self.s;
        let label = s.label(&case.id);
        let latency_target = items.latency_target_ms();
        // --resume: a case with summary rows is done; otherwise finished items are kept
        // and only the others are sent.
        let key = s.key(&case.id);
        if let Some(done) = s.ctx.resume.finished(&key) {
            return Ok(finished_case(done, &case.id));
        }
        let mut done_items = s.ctx.resume.take_items(&key);
        let mut results: Vec<ItemResult> = Vec::new();
        match items {
            Items::ToolCalls(t) => {
                let mode = case_mode(&case.id);
                for (i, item) in t.items.iter().enumerate() {
                    if let Some(d) = done_items.remove(&item.id) {
                        results.push(resumed_item(d));
                        continue;
                    }
                    let r = if item.agent.is_some() {
                        agent_loop::run_item(self, case, mode, item, i as u32).await?
                    } else {
                        self.tool_item(case, mode, item, i as u32).await?
                    };
                    self.finish_item(&label, r, latency_target, &mut results)?;
                }
            }
            Items::Structured(st) => {
                let constrained = case.id == "constrained";
                for (i, item) in st.items.iter().enumerate() {
                    if let Some(d) = done_items.remove(&item.id) {
                        results.push(resumed_item(d));
                        continue;
                    }
                    let r = self
                        .structured_item(case, &st.suite, constrained, item, i as u32)
                        .await?;
                    self.finish_item(&label, r, latency_target, &mut results)?;
                }
            }
        }
        let (summary, warnings, fig) =
            summarize_items(s.summary_base(case), &results, latency_target, earlier);
        s.ctx.rec.summary(&summary)?;
        let failed = results.iter().map(|r| r.backend_failures).sum();
        let total = results.iter().map(|r| r.samples.len()).sum();
        if !s.ctx.quiet {
            s.ctx.progress.note(&table::case_line(
                s.backend.name(),
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
        self.s.ctx.rec.item(&r.row)?;
        self.s.ctx.progress.request_done(label, r.row.decode_tok_s);
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
            self.s.ctx.nonce,
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
        suite: &str,
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
        row.suite = suite.to_string();
        row.item_id = item.id.clone();
        row.category = item.category.clone();
        row.requests = 1;
        let failure = match outcome(&resp, constrained) {
            crate::score::Outcome::Answered => {
                let validator =
                    schema::compile(&item.schema).map_err(|message| Error::ItemSchema {
                        item: item.id.clone(),
                        message,
                    })?;
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
