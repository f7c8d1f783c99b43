//! One tool-call item's verdict: extract the calls (native `tool_calls`, or text in prompt
//! mode), run the AST checker, and name one failure category.
//!
//! Extraction rules:
//! - native mode: each assembled call's `arguments` string must parse, strictly, as a JSON
//!   object (an empty string counts as `{}`, since some servers send nothing for a call
//!   without parameters); otherwise `invalid_json_arguments`. Names sent with `_` in place of
//!   `.` are mapped back to the item's own function names;
//! - native mode, no `tool_calls` but a call in the text (a ```json block, `[f(x=1)]`):
//!   `call_as_plain_text`. The item still gets a *lenient* verdict, as if the text call had
//!   come natively, so a report can show how much the protocol alone costs;
//! - an irrelevance item passes when no native call is made (BFCL scores function-calling
//!   models the same way); in prompt mode, when the text holds no call;
//! - prompt mode: calls come from the text, read by the item's [`PromptDecoder`]. With
//!   `lenient`, text that starts like a call and does not parse is `invalid_json_arguments`
//!   (`hallucinated_call` on an irrelevance item). With `bfcl`, text BFCL's decoder cannot
//!   read is no call, as in BFCL: a pass on an irrelevance item; elsewhere the checker's
//!   verdict on no call, or `invalid_json_arguments` when the text looks like an attempt.
//!
//! Category precedence: backend failures first (`server_error`, `stall`,
//! `schema_unsupported`); then, for a failed item, `stall` if the text ends in a loop and
//! `truncated` if generation hit `max_tokens`; then extraction; then the checker's category.

use serde_json::Value;

use super::ast::{CheckKind, check_item};
use super::bfcl_decode;
use super::call::{Call, ExpectedCall, RawCall};
use super::failure::Failure;
use super::lang::Language;
use super::repetition::ends_in_loop;
use super::text_calls::{self, TextCalls};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The server's own tool calling (`tools` in the request, `tool_calls` in the answer).
    Native,
    /// Functions described in the prompt; the model writes calls as text.
    Prompt,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Prompt => "prompt",
        }
    }
}

/// How prompt-mode answers are read (scenario key `prompt_decoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptDecoder {
    /// BFCL's own decoder ([`bfcl_decode`]): the whole answer must be one Python call list;
    /// anything else is "no call" (correct on an irrelevance item), and names are taken as
    /// written. The default for `bfcl:` suites, so their scores are BFCL's.
    Bfcl,
    /// edgebench's ([`text_calls`]): Python or JSON calls, in fences or `<tool_call>` tags,
    /// prose around them allowed, `_` names mapped back; text that starts like a call and
    /// does not parse is an attempted call. The default for edgebench's own suites.
    Lenient,
}

impl PromptDecoder {
    pub fn as_str(self) -> &'static str {
        match self {
            PromptDecoder::Bfcl => "bfcl",
            PromptDecoder::Lenient => "lenient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PromptDecoder::Bfcl, PromptDecoder::Lenient]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A request that failed before the model could be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered,
    /// No data for the stall timeout (the backend's `timeout` error).
    Stalled(String),
    /// The server refused the request's JSON schema (structured output).
    SchemaRefused(String),
    /// Any other failure: HTTP error, refused connection, broken stream.
    Failed(String),
}

/// What came back, as the scorer needs it.
#[derive(Debug, Clone)]
pub struct Extraction<'a> {
    pub mode: Mode,
    /// How calls written as text are read in prompt mode.
    pub decoder: PromptDecoder,
    pub outcome: Outcome,
    pub text: &'a str,
    pub tool_calls: &'a [RawCall],
    pub finish_reason: Option<&'a str>,
    pub output_tokens: Option<u64>,
    pub max_tokens: u32,
}

impl Extraction<'_> {
    /// Generation stopped at the output limit.
    pub fn hit_limit(&self) -> bool {
        self.finish_reason == Some("length")
            || self
                .output_tokens
                .is_some_and(|n| n >= self.max_tokens as u64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemVerdict {
    pub pass: bool,
    pub failure: Option<Failure>,
    pub detail: String,
    /// The calls that were scored (native calls, or those parsed from text).
    pub calls: Vec<Call>,
    /// The verdict if calls written as text counted as calls (equals `pass` in prompt mode).
    pub lenient_pass: bool,
}

impl ItemVerdict {
    fn failed(failure: Failure, detail: impl Into<String>) -> Self {
        ItemVerdict {
            pass: false,
            failure: Some(failure),
            detail: detail.into(),
            calls: Vec::new(),
            lenient_pass: false,
        }
    }
}

/// Maps a name the server saw (`.` replaced by `_`) back to the item's function name.
pub fn map_name_back(name: &str, functions: &[Value]) -> String {
    let names = functions
        .iter()
        .filter_map(|f| f.get("name").and_then(Value::as_str));
    let mut fallback = None;
    for n in names {
        if n == name {
            return name.to_string();
        }
        if n.contains('.') && sanitize_name(n) == name {
            fallback = Some(n.to_string());
        }
    }
    fallback.unwrap_or_else(|| name.to_string())
}

/// The name sent to a server: OpenAI-style names allow `[a-zA-Z0-9_-]`, so `.` becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    name.replace('.', "_")
}

/// Parses native calls' arguments strictly.
pub fn parse_native(raw: &[RawCall], functions: &[Value]) -> Result<Vec<Call>, String> {
    raw.iter()
        .map(|c| {
            let args = if c.arguments.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str::<Value>(&c.arguments).map_err(|e| {
                    format!(
                        "call '{}': arguments are not JSON ({e}): {}",
                        c.name, c.arguments
                    )
                })?
            };
            if !args.is_object() {
                return Err(format!(
                    "call '{}': arguments are not a JSON object: {}",
                    c.name, c.arguments
                ));
            }
            Ok(Call::new(map_name_back(&c.name, functions), args))
        })
        .collect()
}

/// Scores one item. `category` picks the checker (see [`CheckKind::of`]) and the language.
pub fn score_tool_item(
    category: &str,
    functions: &[Value],
    expected: &[ExpectedCall],
    ex: &Extraction,
) -> ItemVerdict {
    match &ex.outcome {
        Outcome::Answered => {}
        Outcome::Stalled(m) => return ItemVerdict::failed(Failure::Stall, m.clone()),
        Outcome::SchemaRefused(m) => {
            return ItemVerdict::failed(Failure::SchemaUnsupported, m.clone());
        }
        Outcome::Failed(m) => return ItemVerdict::failed(Failure::ServerError, m.clone()),
    }
    let kind = CheckKind::of(category);
    let lang = Language::of(category);
    let check = |calls: &[Call]| check_item(kind, functions, calls, expected, lang);
    let remap = |calls: Vec<Call>| -> Vec<Call> {
        calls
            .into_iter()
            .map(|c| Call {
                name: map_name_back(&c.name, functions),
                arguments: c.arguments,
            })
            .collect()
    };

    let mut v = match ex.mode {
        Mode::Native if !ex.tool_calls.is_empty() => match parse_native(ex.tool_calls, functions) {
            Ok(calls) => verdict_of(check(&calls), calls),
            Err(e) => ItemVerdict::failed(Failure::InvalidJsonArguments, e),
        },
        Mode::Native => match text_calls::parse(ex.text) {
            TextCalls::Found(calls) if kind != CheckKind::Irrelevance => {
                let calls = remap(calls);
                let lenient_pass = check(&calls).is_ok();
                ItemVerdict {
                    pass: false,
                    failure: Some(Failure::CallAsPlainText),
                    detail: "the call came as text, not as tool_calls".into(),
                    calls,
                    lenient_pass,
                }
            }
            TextCalls::Found(calls) => {
                // BFCL: no native call on an irrelevance item is a pass.
                ItemVerdict {
                    pass: true,
                    failure: None,
                    detail: "a call written as text (not a native call)".into(),
                    calls: remap(calls),
                    lenient_pass: false,
                }
            }
            TextCalls::Malformed(_) | TextCalls::NoCall => verdict_of(check(&[]), Vec::new()),
        },
        Mode::Prompt if ex.decoder == PromptDecoder::Bfcl => match bfcl_decode::decode(ex.text) {
            // Names as written: BFCL shows prompt-mode models the real names.
            Ok(calls) => verdict_of(check(&calls), calls),
            Err(why) => {
                // BFCL scores an answer its decoder cannot read as no call at all.
                let mut v = verdict_of(check(&[]), Vec::new());
                let attempted = !matches!(text_calls::parse(ex.text), TextCalls::NoCall);
                if v.pass {
                    v.detail = format!("no call (BFCL's decoder cannot read the answer: {why})");
                } else if attempted {
                    v.failure = Some(Failure::InvalidJsonArguments);
                    v.detail = format!(
                        "BFCL's decoder cannot read the answer as a Python call list: {why}"
                    );
                }
                v
            }
        },
        Mode::Prompt => match text_calls::parse(ex.text) {
            TextCalls::Found(calls) => {
                let calls = remap(calls);
                verdict_of(check(&calls), calls)
            }
            TextCalls::NoCall => verdict_of(check(&[]), Vec::new()),
            TextCalls::Malformed(e) if kind == CheckKind::Irrelevance => {
                // An attempted call on an irrelevance item, even a broken one, is a call.
                ItemVerdict::failed(Failure::HallucinatedCall, e)
            }
            TextCalls::Malformed(e) => ItemVerdict::failed(Failure::InvalidJsonArguments, e),
        },
    };
    if !v.pass {
        if ends_in_loop(ex.text) {
            v.failure = Some(Failure::Stall);
            v.detail = format!("the output repeats itself without finishing; {}", v.detail);
        } else if ex.hit_limit() {
            v.failure = Some(Failure::Truncated);
            v.detail = format!(
                "generation hit max_tokens ({}); {}",
                ex.max_tokens, v.detail
            );
        }
    }
    v
}

/// The verdict of a checker result on the calls it checked.
fn verdict_of(r: Result<(), super::ast::Mismatch>, calls: Vec<Call>) -> ItemVerdict {
    let pass = r.is_ok();
    let (failure, detail) = r
        .err()
        .map_or((None, String::new()), |m| (Some(m.failure), m.detail));
    ItemVerdict {
        pass,
        failure,
        detail,
        calls,
        lenient_pass: pass,
    }
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
