//! What every tool-call and structured-output item shares: the per-scenario context
//! (`ToolRun`), how a request is made and recorded, and what an item produced. The case driver
//! (`tool_case`) and the agent loop (`agent_loop`) both build on it.

use serde_json::{Value, json};
use std::cell::RefCell;

use super::RunCtx;
use super::tool_request::{sample_row, transcript};
use crate::backend::{Backend, BackendFacts, Prompt, Request, Response, ToolRequest};
use crate::error::Result;
use crate::results::items::ItemRow;
use crate::results::manifest::now_rfc3339;
use crate::results::transcript::TranscriptWriter;
use crate::results::{CsvAppender, SampleRow};
use crate::scenario::{Case, Scenario};

/// Everything one scenario on one backend shares.
pub(crate) struct ToolRun<'a> {
    pub ctx: &'a RunCtx,
    pub backend: &'a Backend,
    pub facts: &'a BackendFacts,
    pub device: &'a str,
    pub scenario: &'a Scenario,
    pub items_csv: RefCell<CsvAppender>,
    pub transcripts: RefCell<TranscriptWriter>,
}

/// What one item produced.
pub(crate) struct ItemResult {
    pub row: ItemRow,
    pub samples: Vec<SampleRow>,
    pub backend_failures: usize,
}

impl ToolRun<'_> {
    pub(crate) fn base_sample(&self, case: &Case) -> SampleRow {
        SampleRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.backend.name().to_string(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: self.scenario.kind().to_string(),
            concurrency: 1,
            prompt_tokens_requested: case.prompt_tokens,
            max_tokens: case.max_tokens,
            ..Default::default()
        }
    }

    pub(crate) fn base_item(&self, case: &Case, mode: &str) -> ItemRow {
        ItemRow {
            run_id: self.ctx.run_id.clone(),
            backend: self.backend.name().to_string(),
            model: self.facts.model.clone().unwrap_or_default(),
            device: self.device.to_string(),
            scenario: self.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: self.scenario.kind().to_string(),
            mode: mode.to_string(),
            depth: case.prompt_tokens,
            max_tokens: case.max_tokens,
            ..Default::default()
        }
    }

    /// Sends one request and records it; returns the response and its sample row.
    pub(crate) async fn send(
        &self,
        req: &Request,
        key: String,
        base: &SampleRow,
        repetition: u32,
    ) -> Result<(Response, SampleRow)> {
        let started_at = now_rfc3339();
        let resp = self.backend.generate(req).await;
        let mut row = sample_row(self.backend, base, &resp).await;
        row.started_at = started_at;
        row.repetition = repetition;
        self.ctx.samples.borrow_mut().append(&row)?;
        let t = transcript(key, self.backend.name(), &row.model, &resp, &row);
        self.transcripts.borrow_mut().append(&t)?;
        Ok((resp, row))
    }

    pub(crate) fn key(&self, case: &Case, item: &str, turn: u32) -> String {
        format!("{}/{}/{item}/{turn}", self.scenario.name, case.id)
    }

    pub(crate) fn request(&self, case: &Case, prompt: Prompt, tools: ToolRequest) -> Request {
        Request {
            prompt,
            max_tokens: case.max_tokens,
            temperature: case.sampling.temperature,
            top_p: case.sampling.top_p,
            seed: Some(case.seed),
            ignore_eos: false,
            allow_prefix_cache: false,
            tools,
        }
    }
}

pub(crate) fn calls_json(calls: &[crate::score::Call]) -> String {
    Value::Array(
        calls
            .iter()
            .map(|c| json!({"name": c.name, "arguments": c.arguments}))
            .collect(),
    )
    .to_string()
}

/// An item's speed columns from its requests: first TTFT, summed E2E and output tokens,
/// mean decode speed, last prompt length.
pub(crate) fn fill_speed(row: &mut ItemRow, samples: &[SampleRow]) {
    row.ttft_ms = samples.first().and_then(|s| s.ttft_ms);
    let e2e: Vec<f64> = samples.iter().filter_map(|s| s.e2e_ms).collect();
    row.e2e_ms = (e2e.len() == samples.len() && !e2e.is_empty()).then(|| e2e.iter().sum());
    let dec: Vec<f64> = samples.iter().filter_map(|s| s.decode_tok_s).collect();
    row.decode_tok_s = (!dec.is_empty()).then(|| dec.iter().sum::<f64>() / dec.len() as f64);
    let out: Vec<u64> = samples.iter().filter_map(|s| s.output_tokens).collect();
    row.output_tokens = (!out.is_empty()).then(|| out.iter().sum());
    row.prompt_tokens = samples.last().and_then(|s| s.prompt_tokens);
    row.finish_reason = samples.last().and_then(|s| s.finish_reason.clone());
}
