//! The wire vocabulary every backend speaks: what is asked ([`Request`], [`Prompt`]), what
//! comes back ([`Response`], [`ContentChunk`], [`Usage`], [`ServerTimings`], [`RawCall`]) and how
//! a failure is named ([`RequestError`], [`ErrorCategory`]). No backend logic lives here.

use std::time::Instant;

use serde::Serialize;

/// Which OpenAI-style endpoint a request goes to (in-process engines mimic one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Chat,
    Completions,
}

/// A call as it came off the wire: the arguments are still the raw string the server sent
/// (native mode), so that invalid JSON can be told apart from a wrong call.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RawCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// What is sent: a chat conversation, or a raw text prompt for the completions endpoint.
#[derive(Debug, Clone)]
pub enum Prompt {
    Chat(Vec<Message>),
    Text(String),
}

impl Prompt {
    /// A one-turn prompt of the right shape for an endpoint.
    pub fn user(endpoint: Endpoint, text: String) -> Self {
        match endpoint {
            Endpoint::Chat => Prompt::Chat(vec![Message {
                role: "user".into(),
                content: text,
            }]),
            Endpoint::Completions => Prompt::Text(text),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: Prompt,
    pub max_tokens: u32,
    pub temperature: f64,
    pub top_p: f64,
    pub seed: Option<u64>,
    pub ignore_eos: bool,
    /// Let the server reuse a cached prefix (off unless a scenario measures caching).
    pub allow_prefix_cache: bool,
    /// Tools and structured output; empty for a speed case.
    pub tools: ToolRequest,
}

/// The tool-calling and structured-output parts of a request (all empty by default).
#[derive(Debug, Clone, Default)]
pub struct ToolRequest {
    /// Whole OpenAI-style messages (assistant `tool_calls`, `tool` results); when set they
    /// replace `prompt`'s messages. Backends without native tools ignore this.
    pub messages: Option<Vec<serde_json::Value>>,
    /// OpenAI `tools` (`{"type": "function", "function": {…}}`).
    pub tools: Vec<serde_json::Value>,
    pub tool_choice: Option<serde_json::Value>,
    pub parallel_tool_calls: Option<bool>,
    /// OpenAI `response_format`, e.g. `{"type": "json_schema", "json_schema": {…}}`.
    pub response_format: Option<serde_json::Value>,
    /// Which recorded answer the `replay` backend should give (item id and turn).
    pub replay_key: Option<String>,
    /// Images and audio sent with the last user message (multimodal scenarios). They live
    /// here, beside the other optional parts, so every `Request` literal keeps compiling.
    pub media: Vec<MediaPart>,
}

/// One image or audio clip of a request, as bytes; the backend encodes it for its dialect.
#[derive(Debug, Clone)]
pub enum MediaPart {
    /// `mime` is `image/png` or `image/jpeg`.
    Image { mime: String, data: Vec<u8> },
    /// `format` is `wav` or `mp3` (OpenAI `input_audio.format`).
    Audio { format: String, data: Vec<u8> },
}

impl MediaPart {
    pub fn modality(&self) -> Modality {
        match self {
            MediaPart::Image { .. } => Modality::Image,
            MediaPart::Audio { .. } => Modality::Audio,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Audio,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Image => "image",
            Modality::Audio => "audio",
        }
    }
}

/// One network read that carried generated content, stamped on arrival.
#[derive(Debug, Clone, Copy)]
pub struct ContentChunk {
    pub at: Instant,
    /// Generated tokens in this read, where the server says (else `None`).
    pub tokens: Option<u32>,
    /// Bytes of generated text in this read (used to apportion tokens when unknown).
    pub text_bytes: usize,
}

/// Token counts as the server reports them in `usage`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Prompt tokens served from a prefix cache (`prompt_tokens_details.cached_tokens`).
    pub cached_tokens: Option<u64>,
}

/// The server's own timings (llama.cpp's `timings` object), kept beside our clocks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ServerTimings {
    pub cache_n: Option<u64>,
    pub prompt_n: Option<u64>,
    pub prompt_ms: Option<f64>,
    pub prompt_per_second: Option<f64>,
    pub predicted_n: Option<u64>,
    pub predicted_ms: Option<f64>,
    pub predicted_per_second: Option<f64>,
}

/// Declares [`ErrorCategory`] from one table — each variant beside the name samples.csv and
/// transcripts.jsonl carry — so that writing (`as_str`, `Serialize`) and reading back (`parse`,
/// `Deserialize`, [`ErrorCategory::ALL`]) cannot drift apart when a category is added.
macro_rules! error_categories {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// Every failure lands in one of these categories (documented in docs/results.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCategory {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCategory {
            /// Every category, in declaration order.
            pub const ALL: &'static [ErrorCategory] = &[$(ErrorCategory::$variant),+];

            /// The name written in `error_category` columns.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCategory::$variant => $name,)+
                }
            }
        }
    };
}

error_categories! {
    /// The server could not be reached (refused, DNS, reset before a response).
    Connect => "connect",
    /// The request or the stream took longer than the configured limits.
    Timeout => "timeout",
    /// HTTP 429.
    RateLimited => "rate_limited",
    /// Another HTTP 4xx: the request was refused (bad parameters, context too long…).
    HttpClient => "http_client",
    /// HTTP 5xx.
    HttpServer => "http_server",
    /// The connection broke in the middle of the stream.
    StreamBroken => "stream_broken",
    /// The stream could not be parsed (bad SSE framing or JSON).
    MalformedStream => "malformed_stream",
    /// The server sent an error payload inside the stream.
    ServerError => "server_error",
    /// The stream ended without any generated content.
    EmptyResponse => "empty_response",
    /// The request could not be prepared (tokenize / template endpoints failed).
    Prepare => "prepare",
    /// The in-process engine failed (decode error, out of memory, engine thread gone).
    Engine => "engine",
    /// The backend cannot take this request's media (no projector loaded, no audio
    /// encoder, a config limit, or an engine without multimodal input).
    UnsupportedModality => "unsupported_modality",
}

impl ErrorCategory {
    /// Reads a name written by [`ErrorCategory::as_str`]; `None` for any other text.
    pub fn parse(name: &str) -> Option<ErrorCategory> {
        Self::ALL.iter().copied().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an error category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCategory(pub String);

impl std::fmt::Display for UnknownCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = ErrorCategory::ALL.iter().map(|c| c.as_str()).collect();
        write!(
            f,
            "unknown error category `{}`; expected one of: {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownCategory {}

impl std::str::FromStr for ErrorCategory {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        ErrorCategory::parse(s).ok_or_else(|| UnknownCategory(s.to_string()))
    }
}

impl Serialize for ErrorCategory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCategory {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone)]
pub struct RequestError {
    pub category: ErrorCategory,
    pub message: String,
    /// The server's `Retry-After`, in seconds, when it sent one (429/503).
    pub retry_after_s: Option<f64>,
}

impl RequestError {
    pub fn new(category: ErrorCategory, message: impl Into<String>) -> Self {
        RequestError {
            category,
            message: message.into(),
            retry_after_s: None,
        }
    }
}

/// Everything a request produced. Timings are raw instants; `measure` turns them into metrics.
#[derive(Debug, Clone)]
pub struct Response {
    /// Stamped immediately before the request was handed to the HTTP client.
    pub sent_at: Instant,
    pub content: Vec<ContentChunk>,
    pub text: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub timings: Option<ServerTimings>,
    pub error: Option<RequestError>,
    /// Attempts before this one that failed without reaching generation (retried).
    pub retries: u32,
    /// Native tool calls, assembled from the stream (arguments still raw).
    pub tool_calls: Vec<RawCall>,
}

impl Response {
    pub fn failed(sent_at: Instant, error: RequestError) -> Self {
        Response {
            sent_at,
            content: Vec::new(),
            text: String::new(),
            finish_reason: None,
            usage: None,
            timings: None,
            error: Some(error),
            retries: 0,
            tool_calls: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCategory;

    #[test]
    fn every_error_category_reads_back_as_itself() {
        let mut names = std::collections::BTreeSet::new();
        for &c in ErrorCategory::ALL {
            assert!(names.insert(c.as_str()), "{} named twice", c.as_str());
            assert_eq!(ErrorCategory::parse(c.as_str()), Some(c));
            assert_eq!(c.as_str().parse::<ErrorCategory>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCategory>(&json).unwrap(), c);
        }
        assert_eq!(names.len(), 12);
        assert_eq!(ErrorCategory::parse("Engine"), None);
        let e = "nope".parse::<ErrorCategory>().unwrap_err().to_string();
        assert!(
            e.contains("`nope`") && e.contains("unsupported_modality"),
            "{e}"
        );
    }

    /// The documented table of error categories (docs/results.md) names exactly the
    /// categories there are.
    #[test]
    fn docs_list_every_error_category() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/results.md"))
                .unwrap();
        let table = doc
            .split("## Error categories")
            .nth(1)
            .expect("docs/results.md has an Error categories section");
        let listed: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        let ours: Vec<&str> = ErrorCategory::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ours);
    }
}
