//! The agent loop: a multi-turn item answered by the deterministic simulator.
//!
//! Each turn sends the conversation so far. A turn with calls gets every call answered by the
//! simulator and the loop goes on; a turn without calls is the final answer. The item
//! succeeds when the final answer contains one of the item's `answer` strings (both compared
//! after BFCL's string normalisation) and no call on the way was malformed.
//!
//! - native: calls come as `tool_calls`; a call whose arguments are not a JSON object is
//!   malformed — it is answered with an error result and the loop goes on; a turn whose text
//!   holds a call but has no `tool_calls` ends the item as `call_as_plain_text`;
//! - prompt: calls are written as text; a call that cannot be parsed is malformed and the
//!   model is told so in the next user turn.
//!
//! Failure categories: `server_error` / `stall` (backend), `stall` (no final answer within
//! `max_turns`, or the text loops), `truncated`, `invalid_json_arguments` (a malformed call
//! and no correct answer), `call_as_plain_text`, `wrong_value` (final answer without the
//! expected content).

use serde_json::json;

use super::request::{is_backend_failure, outcome};
use super::run::{ItemResult, ToolRun, calls_json, fill_speed};
use crate::backend::{Message, Prompt, Response, ToolRequest};
use crate::error::Result;
use crate::scenario::Case;
use crate::score::normalize::standardize;
use crate::score::text_calls::{self, TextCalls};
use crate::score::verdict::{map_name_back, parse_native};
use crate::score::{Call, Failure, Mode, Outcome};
use crate::workload::simulator::Simulator;
use crate::workload::tool_suite::ToolItem;
use crate::workload::{conversation, prompt, tool_format};

/// The conversation of one agent item so far, and what it has found.
struct Agent<'a> {
    item: &'a ToolItem,
    sim: Simulator,
    /// The conversation as `messages` (native mode).
    native: Vec<serde_json::Value>,
    /// The conversation as chat text (prompt mode, and the simple form of native mode).
    text: Vec<Message>,
    calls: Vec<Call>,
    malformed: u32,
    failure: Option<(Failure, String)>,
    final_text: Option<String>,
}

/// After a turn: the loop goes on, or the item is over.
enum Turn {
    Next,
    Done,
}

pub(crate) async fn run_item(
    run: &ToolRun<'_, '_>,
    case: &Case,
    mode: Mode,
    item: &ToolItem,
    index: u32,
) -> Result<ItemResult> {
    let Some(spec) = &item.agent else {
        return Err(crate::error::Error::Usage(format!(
            "item {} has no agent block",
            item.id
        )));
    };
    let salt = prompt::salt(
        run.s.ctx.nonce,
        index as u64 ^ ((case.prompt_tokens as u64) << 32) ^ 0xA6E7,
    );
    let filler = conversation::filler(case.prompt_tokens, &salt, case.seed);
    let tools = tool_format::openai_tools(&item.functions, &item.category);
    let mut a = Agent {
        item,
        sim: Simulator::new(&spec.files, &spec.weather),
        native: conversation::native(&item.messages, &filler),
        text: conversation::prompt(
            &item.messages,
            &filler,
            &tool_format::prompt_mode_system(&item.functions, &item.category),
        ),
        calls: Vec::new(),
        malformed: 0,
        failure: None,
        final_text: None,
    };
    let base = run.base_sample(case);
    let mut samples = Vec::new();
    let mut backend_failures = 0usize;
    let mut last_error = None;

    for turn in 0..spec.max_turns {
        let key = run.key(case, &item.id, turn);
        let req_tools = match mode {
            Mode::Native => ToolRequest {
                messages: Some(a.native.clone()),
                tools: tools.clone(),
                replay_key: Some(key.clone()),
                ..Default::default()
            },
            Mode::Prompt => ToolRequest {
                replay_key: Some(key.clone()),
                ..Default::default()
            },
        };
        let req = run.request(case, Prompt::Chat(a.text.clone()), req_tools);
        let (resp, sample) = run.send(&req, key, &base, index * 100 + turn).await?;
        let hit_limit = resp.finish_reason.as_deref() == Some("length")
            || sample
                .output_tokens
                .is_some_and(|n| n >= case.max_tokens as u64);
        samples.push(sample);
        if is_backend_failure(&resp) {
            backend_failures += 1;
        }
        last_error = resp.error.as_ref().map(|e| e.message.clone());
        let truncated = || {
            (
                Failure::Truncated,
                format!("generation hit max_tokens ({})", case.max_tokens),
            )
        };
        let next = match outcome(&resp, false) {
            Outcome::Stalled(m) => a.fail(Failure::Stall, m),
            Outcome::SchemaRefused(m) | Outcome::Failed(m) => a.fail(Failure::ServerError, m),
            Outcome::Answered if crate::score::repetition::ends_in_loop(&resp.text) => a.fail(
                Failure::Stall,
                "the output repeats itself without finishing".into(),
            ),
            Outcome::Answered => match mode {
                Mode::Native => a.native_turn(&resp, turn, hit_limit.then(truncated)),
                Mode::Prompt => a.prompt_turn(&resp, hit_limit.then(truncated)),
            },
        };
        if let Turn::Done = next {
            break;
        }
    }

    let failure = a.verdict(&spec.answer, spec.max_turns);
    let mut row = run.base_item(case, mode.as_str());
    row.suite = item.suite.clone();
    row.item_id = item.id.clone();
    row.category = item.category.clone();
    row.requests = samples.len() as u32;
    row.pass = failure.is_none();
    row.failure_category = failure.as_ref().map(|(f, _)| f.as_str().to_string());
    row.malformed_calls = a.malformed;
    row.calls = calls_json(&a.calls);
    row.detail = failure.map(|(_, d)| d).unwrap_or_default();
    fill_speed(&mut row, &samples);
    row.error_message = last_error;
    Ok(ItemResult {
        row,
        samples,
        backend_failures,
    })
}

impl Agent<'_> {
    fn fail(&mut self, f: Failure, detail: String) -> Turn {
        self.failure = Some((f, detail));
        Turn::Done
    }

    /// The final answer (or, when generation hit max_tokens, `truncated`).
    fn answer(&mut self, text: &str, truncated: Option<(Failure, String)>) -> Turn {
        match truncated {
            Some((f, d)) => self.fail(f, d),
            None => {
                self.final_text = Some(text.to_string());
                Turn::Done
            }
        }
    }

    /// Native mode: every call answered by the simulator, or the final answer.
    fn native_turn(
        &mut self,
        resp: &Response,
        turn: u32,
        truncated: Option<(Failure, String)>,
    ) -> Turn {
        if resp.tool_calls.is_empty() {
            if let TextCalls::Found(c) = text_calls::parse(&resp.text) {
                self.malformed += 1;
                self.calls.extend(c);
                return self.fail(
                    Failure::CallAsPlainText,
                    "a call came as text, not as tool_calls".into(),
                );
            }
            return self.answer(&resp.text, truncated);
        }
        let mut results = Vec::new();
        for raw in &resp.tool_calls {
            let id = raw
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{turn}_{}", results.len()));
            let answer = match parse_native(std::slice::from_ref(raw), &self.item.functions) {
                Ok(mut c) => {
                    let c = c.remove(0);
                    let a = self.sim.answer(&c.name, &c.arguments);
                    self.calls.push(c);
                    a
                }
                Err(e) => {
                    self.malformed += 1;
                    json!({"error": format!("invalid arguments: {e}")}).to_string()
                }
            };
            results.push((id, raw.name.clone(), raw.arguments.clone(), answer));
        }
        self.native.push(json!({"role": "assistant", "content": resp.text, "tool_calls": results.iter().map(|(id, name, args, _)| json!({
            "id": id, "type": "function", "function": {"name": name, "arguments": args}
        })).collect::<Vec<_>>()}));
        for (id, _, _, answer) in results {
            self.native
                .push(json!({"role": "tool", "tool_call_id": id, "content": answer}));
        }
        Turn::Next
    }

    /// Prompt mode: calls written as text answered in the next user turn, a malformed call
    /// pointed out, or the final answer.
    fn prompt_turn(&mut self, resp: &Response, truncated: Option<(Failure, String)>) -> Turn {
        match text_calls::parse(&resp.text) {
            TextCalls::Found(calls) => {
                let mut results = String::new();
                for c in calls {
                    let name = map_name_back(&c.name, &self.item.functions);
                    let a = self.sim.answer(&name, &c.arguments);
                    results.push_str(&format!("Result of {name}: {a}\n"));
                    self.calls.push(Call {
                        name,
                        arguments: c.arguments,
                    });
                }
                self.say(&resp.text, results);
                Turn::Next
            }
            TextCalls::Malformed(e) => {
                self.malformed += 1;
                if let Some((f, d)) = truncated {
                    return self.fail(f, d);
                }
                self.say(
                    &resp.text,
                    format!(
                        "That call could not be parsed ({e}). Write calls as [func(param=value)]."
                    ),
                );
                Turn::Next
            }
            TextCalls::NoCall => self.answer(&resp.text, truncated),
        }
    }

    /// The model's turn and our reply, in prompt mode's conversation.
    fn say(&mut self, assistant: &str, user: String) {
        self.text.push(Message {
            role: "assistant".into(),
            content: assistant.to_string(),
        });
        self.text.push(Message {
            role: "user".into(),
            content: user,
        });
    }

    /// The item's failure, if any, once the loop is over.
    fn verdict(&mut self, expected: &[String], max_turns: u32) -> Option<(Failure, String)> {
        let answered = self.final_text.as_deref().is_some_and(|t| {
            let got = standardize(t);
            expected.iter().any(|a| got.contains(&standardize(a)))
        });
        let malformed = self.malformed;
        match (self.failure.take(), self.final_text.is_some()) {
            (Some(f), _) => Some(f),
            (None, false) => Some((
                Failure::Stall,
                format!("no final answer within {max_turns} turns"),
            )),
            (None, true) if malformed > 0 && !answered => Some((
                Failure::InvalidJsonArguments,
                format!("{malformed} malformed call(s); final answer wrong"),
            )),
            (None, true) if malformed > 0 => Some((
                Failure::InvalidJsonArguments,
                format!("{malformed} malformed call(s) on the way"),
            )),
            (None, true) if !answered => Some((
                Failure::WrongValue,
                format!("the final answer holds none of {expected:?}"),
            )),
            (None, true) => None,
        }
    }
}
