//! What every tool-call and structured-output item shares: the per-scenario context
//! (`ToolRun`), how a request is made and recorded, and what an item produced. The case driver
//! (`tool_case`) and the agent loop (`agent_loop`) both build on it.

use serde_json::{Value, json};

use super::request::{sample_row, transcript};
use crate::backend::{Prompt, Request, Response, ToolRequest};
use crate::error::Result;
use crate::results::SampleRow;
use crate::results::items::ItemRow;
use crate::results::manifest::now_rfc3339;
use crate::runner::ctx::ScenarioRun;
use crate::scenario::Case;

/// Everything one tool-call or structured scenario on one backend shares.
pub(crate) struct ToolRun<'a, 'b> {
    pub s: &'a ScenarioRun<'b>,
}

/// What one item produced.
pub(crate) struct ItemResult {
    pub row: ItemRow,
    pub samples: Vec<SampleRow>,
    pub backend_failures: usize,
}

impl ToolRun<'_, '_> {
    pub(crate) fn base_sample(&self, case: &Case) -> SampleRow {
        self.s.sample_base(case)
    }

    pub(crate) fn base_item(&self, case: &Case, mode: &str) -> ItemRow {
        let s = self.s;
        ItemRow {
            run_id: s.ctx.run_id.clone(),
            backend: s.backend.name().to_string(),
            model: s.facts.model.clone().unwrap_or_default(),
            device: s.device.to_string(),
            scenario: s.scenario.name.clone(),
            case_id: case.id.clone(),
            kind: s.scenario.kind().to_string(),
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
        let resp = self.s.backend.generate(req).await;
        let mut row = sample_row(self.s.backend, base, &resp).await;
        row.started_at = started_at;
        row.repetition = repetition;
        self.s.ctx.rec.sample(&row)?;
        let t = transcript(key, self.s.backend.name(), &row.model, &resp, &row);
        self.s.ctx.rec.transcript(&t)?;
        Ok((resp, row))
    }

    pub(crate) fn key(&self, case: &Case, item: &str, turn: u32) -> String {
        format!("{}/{}/{item}/{turn}", self.s.scenario.name, case.id)
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
