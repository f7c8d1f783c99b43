//! The `replay` backend: answers from recorded responses (`transcripts.jsonl`, written by
//! every tool-call and structured-output run), so a stored run can be re-scored —
//! deterministically, with a newer scorer, or on a machine without the model.
//!
//! ```toml
//! [backends.replay-qwen]
//! kind = "replay"
//! file = "../results/20260101-120000-tool_calls/transcripts.jsonl"  # relative to this config
//! source_backend = "llama-server-qwen"   # which recorded backend, when the file holds several
//! model = "qwen2.5-coder-0.5b"           # label (default: the recorded model)
//! ```
//!
//! A request is matched by its replay key (`scenario/case/item/turn`), so the scenario must be
//! the one that was recorded. The response carries the recorded text, tool calls, finish
//! reason, token counts and error; its content chunks are placed at the recorded TTFT and
//! spread evenly to the recorded E2E, so speed columns come back as recorded (ITL is then
//! synthetic). A key that was never recorded is a `prepare` error for that request.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::RawCall;
use super::config::BackendConfig;
pub use config::ReplayConfig;

pub mod config;
use super::{
    BackendFacts, ContentChunk, Endpoint, ErrorCategory, Prompt, Request, RequestError, Response,
    Usage,
};
use crate::error::{Error, Result};

/// One recorded response: a line of `transcripts.jsonl`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    /// `scenario/case_id/item_id/turn`: what a replayed request is matched by.
    pub key: String,
    pub backend: String,
    pub model: String,
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<RawCall>,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub error_category: Option<ErrorCategory>,
    pub error_message: Option<String>,
}

pub struct ReplayBackend {
    name: String,
    cfg: ReplayConfig,
    device: Option<String>,
    records: HashMap<String, Recorded>,
    model: Option<String>,
}

/// Reads a transcripts file; a torn last line (a killed run) is skipped.
pub fn read_transcripts(path: &Path) -> Result<Vec<Recorded>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Input {
                path: path.to_path_buf(),
                line: i + 1,
                col: e.column().max(1),
                message: e.to_string(),
            })
        })
        .collect()
}

impl ReplayBackend {
    pub fn connect(bc: &BackendConfig, cfg: &ReplayConfig) -> Result<Self> {
        let all = read_transcripts(&cfg.file)?;
        let sources: BTreeSet<&str> = all.iter().map(|r| r.backend.as_str()).collect();
        let chosen = match &cfg.source_backend {
            Some(s) if !sources.contains(s.as_str()) => {
                return Err(Error::backend(
                    &bc.name,
                    format!(
                        "{} holds no responses of backend `{s}`; it holds: {}",
                        cfg.file.display(),
                        sources.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            Some(s) => s.clone(),
            None if sources.len() > 1 => {
                return Err(Error::backend(
                    &bc.name,
                    format!(
                        "{} holds responses of several backends ({}); choose one with `source_backend`",
                        cfg.file.display(),
                        sources.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            None => sources
                .iter()
                .next()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        };
        let mut records = HashMap::new();
        let mut model = cfg.model.clone();
        for r in all.into_iter().filter(|r| r.backend == chosen) {
            if model.is_none() && !r.model.is_empty() {
                model = Some(r.model.clone());
            }
            // The last record of a key wins (a resumed run may have re-recorded it).
            records.insert(r.key.clone(), r);
        }
        Ok(ReplayBackend {
            name: bc.name.clone(),
            cfg: cfg.clone(),
            device: bc.device.clone(),
            records,
            model,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Chat
    }

    pub fn probe(&self) -> BackendFacts {
        BackendFacts {
            name: self.name.clone(),
            kind: "replay".into(),
            model: self.model.clone(),
            endpoint: Some(Endpoint::Chat),
            server: Some("replay".into()),
            server_version: Some(format!(
                "{} ({} responses)",
                self.cfg.file.display(),
                self.records.len()
            )),
            device: self.device.clone(),
            ..Default::default()
        }
    }

    pub fn count_prompt_tokens(
        &self,
        _prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        Ok(None)
    }

    pub fn generate(&self, req: &Request) -> Response {
        let sent_at = Instant::now();
        let Some(key) = &req.tools.replay_key else {
            return Response::failed(
                sent_at,
                RequestError::new(
                    ErrorCategory::Prepare,
                    "the replay backend answers only tool-call and structured-output requests",
                ),
            );
        };
        let Some(r) = self.records.get(key) else {
            return Response::failed(
                sent_at,
                RequestError::new(
                    ErrorCategory::Prepare,
                    format!(
                        "no recorded response for `{key}` in {}",
                        self.cfg.file.display()
                    ),
                ),
            );
        };
        let mut out =
            Response::failed(sent_at, RequestError::new(ErrorCategory::EmptyResponse, ""));
        out.error = r
            .error_category
            .map(|c| RequestError::new(c, r.error_message.clone().unwrap_or_default()));
        out.text = r.text.clone();
        out.tool_calls = r.tool_calls.clone();
        out.finish_reason = r.finish_reason.clone();
        out.usage = Some(Usage {
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.output_tokens,
            cached_tokens: None,
        });
        if let (Some(ttft), Some(e2e)) = (r.ttft_ms, r.e2e_ms) {
            let n = r.output_tokens.unwrap_or(1).max(1);
            let at = |ms: f64| sent_at + Duration::from_secs_f64(ms.max(0.0) / 1000.0);
            for i in 0..n {
                let ms = if n == 1 {
                    ttft
                } else {
                    ttft + (e2e - ttft) * i as f64 / (n - 1) as f64
                };
                out.content.push(ContentChunk {
                    at: at(ms),
                    tokens: Some(1),
                    text_bytes: 1,
                });
            }
        }
        out
    }
}

/// Replay answers from memory: the trait's async methods wrap the synchronous ones.
impl super::BackendImpl for ReplayBackend {
    async fn open(bc: &BackendConfig, _run_dir: &Path) -> Result<Self> {
        let super::BackendKind::Replay(cfg) = &bc.kind else {
            return Err(Error::backend(&bc.name, "not a replay backend"));
        };
        ReplayBackend::connect(bc, cfg)
    }

    fn name(&self) -> &str {
        ReplayBackend::name(self)
    }

    fn endpoint(&self) -> Endpoint {
        ReplayBackend::endpoint(self)
    }

    async fn probe(&mut self) -> Result<BackendFacts> {
        Ok(ReplayBackend::probe(self))
    }

    async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError> {
        ReplayBackend::count_prompt_tokens(self, prompt)
    }

    async fn generate(&self, req: &Request) -> Response {
        ReplayBackend::generate(self, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Config, ToolRequest};

    fn record(backend: &str, key: &str) -> Recorded {
        Recorded {
            key: key.into(),
            backend: backend.into(),
            model: "m.gguf".into(),
            text: "".into(),
            tool_calls: vec![RawCall {
                id: Some("c".into()),
                name: "f".into(),
                arguments: "{\"a\": 1}".into(),
            }],
            finish_reason: Some("tool_calls".into()),
            prompt_tokens: Some(100),
            output_tokens: Some(11),
            ttft_ms: Some(50.0),
            e2e_ms: Some(150.0),
            ..Default::default()
        }
    }

    fn setup(records: &[Recorded], extra: &str) -> Result<ReplayBackend> {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for r in records {
            text.push_str(&serde_json::to_string(r).unwrap());
            text.push('\n');
        }
        text.push_str("{\"key\": \"torn");
        std::fs::write(dir.path().join("t.jsonl"), text).unwrap();
        let p = dir.path().join("b.toml");
        let c = Config::parse(
            &p,
            &format!("[backends.r]\nkind = \"replay\"\nfile = \"t.jsonl\"\n{extra}"),
        )
        .unwrap();
        let crate::backend::BackendKind::Replay(rc) = &c.backends["r"].kind else {
            panic!("replay expected")
        };
        ReplayBackend::connect(&c.backends["r"], rc)
    }

    fn request(key: &str) -> Request {
        Request {
            prompt: Prompt::Text(String::new()),
            max_tokens: 16,
            temperature: 0.0,
            top_p: 1.0,
            seed: None,
            ignore_eos: false,
            allow_prefix_cache: false,
            tools: ToolRequest {
                replay_key: Some(key.into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn answers_recorded_responses_with_their_timings() {
        let b = setup(&[record("qwen", "s/c/i/0")], "").unwrap();
        assert_eq!(b.probe().model.as_deref(), Some("m.gguf"));
        let r = b.generate(&request("s/c/i/0"));
        assert!(r.error.is_none());
        assert_eq!(r.tool_calls[0].arguments, "{\"a\": 1}");
        assert_eq!(r.content.len(), 11);
        let ttft = r.content[0].at.duration_since(r.sent_at).as_secs_f64() * 1000.0;
        let e2e = r.content[10].at.duration_since(r.sent_at).as_secs_f64() * 1000.0;
        assert!((ttft - 50.0).abs() < 1e-6 && (e2e - 150.0).abs() < 1e-6);
        let missing = b.generate(&request("s/c/other/0"));
        assert_eq!(missing.error.unwrap().category, ErrorCategory::Prepare);
    }

    /// A recorded failure replays with the category it was recorded with — every one of them.
    #[test]
    fn every_recorded_error_category_replays_as_itself() {
        let recs: Vec<Recorded> = ErrorCategory::ALL
            .iter()
            .map(|c| Recorded {
                error_category: Some(*c),
                error_message: Some(format!("failed: {c}")),
                ..record("qwen", c.as_str())
            })
            .collect();
        let b = setup(&recs, "").unwrap();
        for &c in ErrorCategory::ALL {
            let e = b.generate(&request(c.as_str())).error.unwrap();
            assert_eq!(e.category, c);
            assert_eq!(e.message, format!("failed: {c}"));
        }
        // On disk the category is the same name samples.csv carries.
        let line = serde_json::to_string(&recs[11]).unwrap();
        assert!(
            line.contains("\"error_category\":\"unsupported_modality\""),
            "{line}"
        );
    }

    /// A category this version does not know is a located input error, not a silent
    /// `server_error`.
    #[test]
    fn an_unknown_recorded_category_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"key\": \"k\", \"backend\": \"b\", \"model\": \"m\", \"text\": \"\", \"finish_reason\": null, \"prompt_tokens\": null, \"output_tokens\": null, \"ttft_ms\": null, \"e2e_ms\": null, \"error_category\": \"gremlins\", \"error_message\": null}\n",
        )
        .unwrap();
        let e = read_transcripts(&p).unwrap_err().to_string();
        assert!(
            e.contains("t.jsonl:1:") && e.contains("unknown error category `gremlins`"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_transcripts_file_keeps_its_io_cause() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("transcripts.jsonl");
        let e = read_transcripts(&p).unwrap_err();
        let Some(crate::error::Cause::Io(io)) = e
            .source()
            .and_then(|s| s.downcast_ref::<crate::error::Cause>())
        else {
            panic!("the io error is the cause: {e:?}");
        };
        assert_eq!(e.to_string(), format!("{}: {io}", p.display()));
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn several_recorded_backends_need_a_choice() {
        let recs = [record("qwen", "k"), record("gemma", "k")];
        assert!(
            setup(&recs, "")
                .err()
                .unwrap()
                .to_string()
                .contains("source_backend")
        );
        assert!(setup(&recs, "source_backend = \"gemma\"\n").is_ok());
        assert!(setup(&recs, "source_backend = \"llama\"\n").is_err());
        let dir = tempfile::tempdir().unwrap();
        let e = Config::parse(
            &dir.path().join("b.toml"),
            "[backends.r]\nkind = \"replay\"\nfile = \"t\"\nbase_url = \"http://x\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("belongs to kind openai"), "{e}");
    }
}
