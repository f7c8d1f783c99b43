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
use crate::backend::{Message, Prompt, ToolRequest};
use crate::error::Result;
use crate::scenario::Case;
use crate::score::normalize::standardize;
use crate::score::text_calls::{self, TextCalls};
use crate::score::verdict::{map_name_back, parse_native};
use crate::score::{Call, Failure, Mode, Outcome};
use crate::workload::simulator::Simulator;
use crate::workload::tool_suite::ToolItem;
use crate::workload::{conversation, prompt, tool_format};

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
    let sim = Simulator::new(&spec.files, &spec.weather);
    let salt = prompt::salt(
        run.s.ctx.nonce,
        index as u64 ^ ((case.prompt_tokens as u64) << 32) ^ 0xA6E7,
    );
    let filler = conversation::filler(case.prompt_tokens, &salt, case.seed);
    let tools = tool_format::openai_tools(&item.functions, &item.category);
    let mut native = conversation::native(&item.messages, &filler);
    let mut text = conversation::prompt(
        &item.messages,
        &filler,
        &tool_format::prompt_mode_system(&item.functions, &item.category),
    );
    let base = run.base_sample(case);

    let mut samples = Vec::new();
    let mut all_calls: Vec<Call> = Vec::new();
    let mut malformed = 0u32;
    let mut backend_failures = 0usize;
    let mut failure: Option<(Failure, String)> = None;
    let mut final_text: Option<String> = None;
    let mut last_error = None;

    for turn in 0..spec.max_turns {
        let key = run.key(case, &item.id, turn);
        let req_tools = match mode {
            Mode::Native => ToolRequest {
                messages: Some(native.clone()),
                tools: tools.clone(),
                replay_key: Some(key.clone()),
                ..Default::default()
            },
            Mode::Prompt => ToolRequest {
                replay_key: Some(key.clone()),
                ..Default::default()
            },
        };
        let req = run.request(case, Prompt::Chat(text.clone()), req_tools);
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
        match outcome(&resp, false) {
            Outcome::Answered => {}
            Outcome::Stalled(m) => {
                failure = Some((Failure::Stall, m));
                break;
            }
            Outcome::SchemaRefused(m) | Outcome::Failed(m) => {
                failure = Some((Failure::ServerError, m));
                break;
            }
        }
        if crate::score::repetition::ends_in_loop(&resp.text) {
            failure = Some((
                Failure::Stall,
                "the output repeats itself without finishing".into(),
            ));
            break;
        }
        match mode {
            Mode::Native if !resp.tool_calls.is_empty() => {
                let mut results = Vec::new();
                for raw in &resp.tool_calls {
                    let id = raw
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("call_{turn}_{}", results.len()));
                    let answer = match parse_native(std::slice::from_ref(raw), &item.functions) {
                        Ok(mut c) => {
                            let c = c.remove(0);
                            let a = sim.answer(&c.name, &c.arguments);
                            all_calls.push(c);
                            a
                        }
                        Err(e) => {
                            malformed += 1;
                            json!({"error": format!("invalid arguments: {e}")}).to_string()
                        }
                    };
                    results.push((id, raw.name.clone(), raw.arguments.clone(), answer));
                }
                native.push(json!({"role": "assistant", "content": resp.text, "tool_calls": results.iter().map(|(id, name, args, _)| json!({
                    "id": id, "type": "function", "function": {"name": name, "arguments": args}
                })).collect::<Vec<_>>()}));
                for (id, _, _, answer) in results {
                    native.push(json!({"role": "tool", "tool_call_id": id, "content": answer}));
                }
            }
            Mode::Native => {
                if let TextCalls::Found(c) = text_calls::parse(&resp.text) {
                    malformed += 1;
                    all_calls.extend(c);
                    failure = Some((
                        Failure::CallAsPlainText,
                        "a call came as text, not as tool_calls".into(),
                    ));
                    break;
                }
                if hit_limit {
                    failure = Some((
                        Failure::Truncated,
                        format!("generation hit max_tokens ({})", case.max_tokens),
                    ));
                    break;
                }
                final_text = Some(resp.text.clone());
                break;
            }
            Mode::Prompt => match text_calls::parse(&resp.text) {
                TextCalls::Found(calls) => {
                    let mut results = String::new();
                    for c in calls {
                        let name = map_name_back(&c.name, &item.functions);
                        let a = sim.answer(&name, &c.arguments);
                        results.push_str(&format!("Result of {name}: {a}\n"));
                        all_calls.push(Call {
                            name,
                            arguments: c.arguments,
                        });
                    }
                    text.push(Message {
                        role: "assistant".into(),
                        content: resp.text.clone(),
                    });
                    text.push(Message {
                        role: "user".into(),
                        content: results,
                    });
                }
                TextCalls::Malformed(e) => {
                    malformed += 1;
                    if hit_limit {
                        failure = Some((
                            Failure::Truncated,
                            format!("generation hit max_tokens ({})", case.max_tokens),
                        ));
                        break;
                    }
                    text.push(Message {
                        role: "assistant".into(),
                        content: resp.text.clone(),
                    });
                    text.push(Message { role: "user".into(), content: format!("That call could not be parsed ({e}). Write calls as [func(param=value)].") });
                }
                TextCalls::NoCall => {
                    if hit_limit {
                        failure = Some((
                            Failure::Truncated,
                            format!("generation hit max_tokens ({})", case.max_tokens),
                        ));
                        break;
                    }
                    final_text = Some(resp.text.clone());
                    break;
                }
            },
        }
    }

    let answered = final_text.as_deref().is_some_and(|t| {
        let got = standardize(t);
        spec.answer.iter().any(|a| got.contains(&standardize(a)))
    });
    let failure = match (failure, final_text.is_some()) {
        (Some(f), _) => Some(f),
        (None, false) => Some((
            Failure::Stall,
            format!("no final answer within {} turns", spec.max_turns),
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
            format!("the final answer holds none of {:?}", spec.answer),
        )),
        (None, true) => None,
    };

    let mut row = run.base_item(case, mode.as_str());
    row.suite = item.suite.clone();
    row.item_id = item.id.clone();
    row.category = item.category.clone();
    row.requests = samples.len() as u32;
    row.pass = failure.is_none();
    row.failure_category = failure.as_ref().map(|(f, _)| f.as_str().to_string());
    row.malformed_calls = malformed;
    row.calls = calls_json(&all_calls);
    row.detail = failure.map(|(_, d)| d).unwrap_or_default();
    fill_speed(&mut row, &samples);
    row.error_message = last_error;
    Ok(ItemResult {
        row,
        samples,
        backend_failures,
    })
}
