//! Verdicts from whole transcripts: extraction, names mapped back, precedence of categories.

use serde_json::{Value, json};

use super::*;

fn weather() -> Vec<Value> {
    vec![
        json!({"name": "weather.get", "description": "", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}),
    ]
}

fn expected() -> Vec<ExpectedCall> {
    vec![
        ExpectedCall::from_bfcl(&json!({"weather.get": {"city": ["Paris"], "days": [1, ""]}}))
            .unwrap(),
    ]
}

fn raw(name: &str, args: &str) -> RawCall {
    RawCall {
        id: Some("c1".into()),
        name: name.into(),
        arguments: args.into(),
    }
}

fn ex<'a>(mode: Mode, text: &'a str, calls: &'a [RawCall]) -> Extraction<'a> {
    Extraction {
        mode,
        outcome: Outcome::Answered,
        text,
        tool_calls: calls,
        finish_reason: Some("stop"),
        output_tokens: Some(20),
        max_tokens: 256,
    }
}

#[test]
fn native_call_with_sanitised_name_passes() {
    let calls = [raw("weather_get", "{\"city\": \"paris\"}")];
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, "", &calls),
    );
    assert!(v.pass, "{v:?}");
    assert_eq!(v.calls[0].name, "weather.get");
    assert!(v.lenient_pass);
}

#[test]
fn invalid_json_arguments() {
    let calls = [raw("weather_get", "{\"city\": \"Paris\"")];
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, "", &calls),
    );
    assert_eq!(v.failure, Some(Failure::InvalidJsonArguments));
    let calls = [raw("weather_get", "[\"Paris\"]")];
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, "", &calls),
    );
    assert_eq!(v.failure, Some(Failure::InvalidJsonArguments));
    // Two objects merged into one arguments string are not one JSON value.
    let calls = [raw(
        "weather_get",
        "{\"city\": \"Paris\"}{\"city\": \"Rome\"}",
    )];
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, "", &calls),
    );
    assert_eq!(v.failure, Some(Failure::InvalidJsonArguments));
}

#[test]
fn call_as_plain_text_in_native_mode_with_lenient_verdict() {
    let text = "```json\n{\"name\": \"weather.get\", \"arguments\": {\"city\": \"Paris\"}}\n```";
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, text, &[]),
    );
    assert!(!v.pass);
    assert_eq!(v.failure, Some(Failure::CallAsPlainText));
    assert!(v.lenient_pass);
    // The same text in prompt mode is a correct call.
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Prompt, text, &[]),
    );
    assert!(v.pass);
}

#[test]
fn no_call_is_wrong_count_and_truncation_wins() {
    let v = score_tool_item(
        "simple",
        &weather(),
        &expected(),
        &ex(Mode::Native, "It is sunny.", &[]),
    );
    assert_eq!(v.failure, Some(Failure::WrongCount));
    let mut e = ex(Mode::Native, "Let me think about the weather in", &[]);
    e.finish_reason = Some("length");
    assert_eq!(
        score_tool_item("simple", &weather(), &expected(), &e).failure,
        Some(Failure::Truncated)
    );
    let mut e = ex(Mode::Prompt, "[weather.get(city='Par", &[]);
    e.output_tokens = Some(256);
    e.finish_reason = None;
    assert_eq!(
        score_tool_item("simple", &weather(), &expected(), &e).failure,
        Some(Failure::Truncated)
    );
}

#[test]
fn repetition_is_a_stall_and_backend_failures_are_categorised() {
    let looped = format!("I will check. {}", "Checking the weather now. ".repeat(8));
    let mut e = ex(Mode::Native, &looped, &[]);
    e.finish_reason = Some("length");
    assert_eq!(
        score_tool_item("simple", &weather(), &expected(), &e).failure,
        Some(Failure::Stall)
    );
    let mut e = ex(Mode::Native, "", &[]);
    e.outcome = Outcome::Stalled("no data for 30s".into());
    assert_eq!(
        score_tool_item("simple", &weather(), &expected(), &e).failure,
        Some(Failure::Stall)
    );
    e.outcome = Outcome::Failed("HTTP 500".into());
    assert_eq!(
        score_tool_item("simple", &weather(), &expected(), &e).failure,
        Some(Failure::ServerError)
    );
}

#[test]
fn irrelevance_items() {
    let v = score_tool_item(
        "irrelevance",
        &weather(),
        &[],
        &ex(Mode::Native, "I can't do that.", &[]),
    );
    assert!(v.pass);
    let calls = [raw("weather_get", "{\"city\": \"Paris\"}")];
    let v = score_tool_item(
        "irrelevance",
        &weather(),
        &[],
        &ex(Mode::Native, "", &calls),
    );
    assert_eq!(v.failure, Some(Failure::HallucinatedCall));
    let v = score_tool_item(
        "irrelevance",
        &weather(),
        &[],
        &ex(Mode::Prompt, "[weather.get(city='Paris')]", &[]),
    );
    assert_eq!(v.failure, Some(Failure::HallucinatedCall));
    let v = score_tool_item(
        "irrelevance",
        &weather(),
        &[],
        &ex(Mode::Prompt, "No function fits.", &[]),
    );
    assert!(v.pass);
}

#[test]
fn wrong_type_and_value_come_through() {
    let calls = [raw("weather_get", "{\"city\": \"Paris\", \"days\": \"1\"}")];
    assert_eq!(
        score_tool_item(
            "simple",
            &weather(),
            &expected(),
            &ex(Mode::Native, "", &calls)
        )
        .failure,
        Some(Failure::WrongType)
    );
    let calls = [raw("weather_get", "{\"city\": \"Rome\"}")];
    assert_eq!(
        score_tool_item(
            "simple",
            &weather(),
            &expected(),
            &ex(Mode::Native, "", &calls)
        )
        .failure,
        Some(Failure::WrongValue)
    );
}
