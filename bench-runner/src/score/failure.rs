//! The failure categories: exactly one per failed item, recorded in `items.csv`.
//!
//! Order of precedence when several apply (the first wins): `server_error`, `stall`,
//! `schema_unsupported`, `truncated`, then what extraction found (`invalid_json_arguments`,
//! `call_as_plain_text`, `hallucinated_call`), then what the checker found.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// A tool call's `arguments` are not a JSON object (or a text call could not be parsed).
    InvalidJsonArguments,
    /// Native mode: no `tool_calls`, but the text holds a call (a ```json block, `[f(x=1)]`).
    CallAsPlainText,
    /// A call names a function that is not the expected one.
    WrongFunction,
    /// A required parameter (or one the answer needs and does not mark optional) is absent.
    MissingRequired,
    /// A parameter the function does not declare, or the answer does not list.
    UnexpectedParam,
    /// A value of the wrong JSON type (integer given `5.0`, `true` or `"5"`; boolean given `1`).
    WrongType,
    /// The right type, but not among the acceptable values.
    WrongValue,
    /// Not as many calls as expected.
    WrongCount,
    /// `finish_reason` is `length`, or the output reached `max_tokens`.
    Truncated,
    /// No data for the backend's stall timeout, or the same text repeated without finishing.
    Stall,
    /// A call on an irrelevance item (none of the functions fits the question).
    HallucinatedCall,
    /// The request failed at the server or on the way (HTTP error, broken stream, refused).
    ServerError,
    /// Structured output: the server refused the JSON schema.
    SchemaUnsupported,
    /// Structured output: the text is not JSON.
    InvalidJson,
    /// Structured output: JSON that breaks the schema.
    SchemaViolation,
}

impl Failure {
    pub const ALL: &'static [Failure] = &[
        Failure::InvalidJsonArguments,
        Failure::CallAsPlainText,
        Failure::WrongFunction,
        Failure::MissingRequired,
        Failure::UnexpectedParam,
        Failure::WrongType,
        Failure::WrongValue,
        Failure::WrongCount,
        Failure::Truncated,
        Failure::Stall,
        Failure::HallucinatedCall,
        Failure::ServerError,
        Failure::SchemaUnsupported,
        Failure::InvalidJson,
        Failure::SchemaViolation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Failure::InvalidJsonArguments => "invalid_json_arguments",
            Failure::CallAsPlainText => "call_as_plain_text",
            Failure::WrongFunction => "wrong_function",
            Failure::MissingRequired => "missing_required",
            Failure::UnexpectedParam => "unexpected_param",
            Failure::WrongType => "wrong_type",
            Failure::WrongValue => "wrong_value",
            Failure::WrongCount => "wrong_count",
            Failure::Truncated => "truncated",
            Failure::Stall => "stall",
            Failure::HallucinatedCall => "hallucinated_call",
            Failure::ServerError => "server_error",
            Failure::SchemaUnsupported => "schema_unsupported",
            Failure::InvalidJson => "invalid_json",
            Failure::SchemaViolation => "schema_violation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &f in Failure::ALL {
            assert_eq!(Failure::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
    }
}
