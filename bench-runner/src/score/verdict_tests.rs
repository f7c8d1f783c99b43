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
        decoder: PromptDecoder::Lenient,
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

/// Prompt mode with each decoder: the item's verdict for an answer, and its failure.
fn prompt_verdict(decoder: PromptDecoder, category: &str, text: &str) -> (bool, Option<Failure>) {
    let expected = if category == "irrelevance" {
        Vec::new()
    } else {
        expected()
    };
    let mut e = ex(Mode::Prompt, text, &[]);
    e.decoder = decoder;
    let v = score_tool_item(category, &weather(), &expected, &e);
    (v.pass, v.failure)
}

/// BFCL's decoder: what it cannot read (a broken call list, JSON) is no call, so it is
/// correct on an irrelevance item and wrong elsewhere, as in BFCL's pipeline.
#[test]
fn bfcl_decoder_scores_unreadable_answers_as_no_call() {
    use PromptDecoder::Bfcl;
    let broken = "[weather.get(city='Paris'";
    let json = "{\"name\": \"weather.get\", \"arguments\": {\"city\": \"Paris\"}}";
    let fenced_json = format!("```json\n{json}\n```");
    for text in [broken, json, fenced_json.as_str(), "No function fits."] {
        assert_eq!(
            prompt_verdict(Bfcl, "irrelevance", text),
            (true, None),
            "{text}"
        );
    }
    for text in [broken, json, fenced_json.as_str()] {
        assert_eq!(
            prompt_verdict(Bfcl, "simple", text),
            (false, Some(Failure::InvalidJsonArguments)),
            "{text}"
        );
    }
    assert_eq!(
        prompt_verdict(Bfcl, "simple", "It is sunny."),
        (false, Some(Failure::WrongCount))
    );
    assert_eq!(
        prompt_verdict(Bfcl, "live_relevance", json),
        (false, Some(Failure::InvalidJsonArguments))
    );
    assert_eq!(
        prompt_verdict(Bfcl, "live_relevance", "No function fits."),
        (false, Some(Failure::WrongCount))
    );
    // What it can read is scored as before.
    let call = "[weather.get(city='Paris')]";
    assert_eq!(prompt_verdict(Bfcl, "simple", call), (true, None));
    assert_eq!(
        prompt_verdict(Bfcl, "irrelevance", call),
        (false, Some(Failure::HallucinatedCall))
    );
    // Names are taken as written: BFCL shows prompt-mode models the real names.
    assert_eq!(
        prompt_verdict(Bfcl, "simple", "[weather_get(city='Paris')]"),
        (false, Some(Failure::WrongFunction))
    );
}

/// The lenient decoder keeps edgebench's reading: JSON and fenced calls count, a broken
/// call is an attempted call, `_` names are mapped back.
#[test]
fn lenient_decoder_keeps_edgebenchs_reading() {
    use PromptDecoder::Lenient;
    let broken = "[weather.get(city='Paris'";
    let json = "{\"name\": \"weather.get\", \"arguments\": {\"city\": \"Paris\"}}";
    assert_eq!(
        prompt_verdict(Lenient, "irrelevance", broken),
        (false, Some(Failure::HallucinatedCall))
    );
    assert_eq!(
        prompt_verdict(Lenient, "irrelevance", json),
        (false, Some(Failure::HallucinatedCall))
    );
    assert_eq!(prompt_verdict(Lenient, "simple", json), (true, None));
    assert_eq!(
        prompt_verdict(
            Lenient,
            "simple",
            &format!("Here you go:\n```json\n{json}\n```")
        ),
        (true, None)
    );
    assert_eq!(
        prompt_verdict(Lenient, "simple", broken),
        (false, Some(Failure::InvalidJsonArguments))
    );
    assert_eq!(
        prompt_verdict(Lenient, "simple", "[weather_get(city='Paris')]"),
        (true, None)
    );
}
