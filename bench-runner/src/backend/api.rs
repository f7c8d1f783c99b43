//! What a backend kind can do, as one trait: every kind (`openai/`, `llamacpp/`, `onnx/`,
//! `replay/`) implements [`BackendImpl`], and [`super::Backend`] delegates to it in one
//! place. Optional capabilities have defaults, so a new kind writes only what it has.

use std::path::Path;

use super::config::{BackendConfig, MediaLimits};
use super::scoring::{self, Continuation, Scored, TokenId};
use super::{BackendFacts, Endpoint, InProcess, Modality, Prompt, Request, RequestError, Response};
use crate::error::Result;

// The futures are only ever awaited through the concrete kinds (static dispatch via the
// `Backend` enum), so their `Send`-ness is known where they are used.
#[allow(async_fn_in_trait)]
pub trait BackendImpl {
    /// Connects to (or, with a `launch` block, starts; or, in process, loads) the backend a
    /// config entry of this kind describes; `run_dir` receives a launched server's log.
    /// [`super::Backend::connect`] calls it.
    async fn open(bc: &BackendConfig, run_dir: &Path) -> Result<Self>
    where
        Self: Sized;

    /// The backend's name in the config (`[backends.NAME]`).
    fn name(&self) -> &str;

    /// The endpoint requests are shaped for (in-process engines mimic one).
    fn endpoint(&self) -> Endpoint;

    /// Connects and reads what the backend says about itself. Fails if unreachable.
    async fn probe(&mut self) -> Result<BackendFacts>;

    /// The number of tokens the backend will process for this prompt (template included),
    /// or `None` when the backend cannot tell.
    async fn count_prompt_tokens(
        &self,
        prompt: &Prompt,
    ) -> std::result::Result<Option<u32>, RequestError>;

    /// Counts tokens of generated text (for servers that report no usage).
    async fn count_text_tokens(&self, _text: &str) -> Option<u32> {
        None
    }

    async fn generate(&self, req: &Request) -> Response;

    /// Whether the backend can take a modality: `Some(false)` where it says it cannot,
    /// `None` where it is unknown until a request tries.
    fn supports(&self, _m: Modality) -> Option<bool> {
        None
    }

    /// What the backend config declares the server takes (`[backends.X.media]`); a grid
    /// point beyond it is skipped, not sent.
    fn media_limits(&self) -> MediaLimits {
        MediaLimits::default()
    }

    /// Restarts of a launched server during the run, described for run.json.
    fn restart_log(&self) -> Vec<String> {
        Vec::new()
    }

    /// The in-process engine, where the backend has one (llama-bench-style tests run in it).
    fn in_process(&self) -> Option<InProcess<'_>> {
        None
    }

    /// Token ids of `text` as the backend's tokenizer makes them (special tokens added as for
    /// a prompt). Needed, with the two below, by the drift scenario.
    async fn tokenize(&self, _text: &str) -> std::result::Result<Vec<TokenId>, RequestError> {
        Err(scoring::unsupported("tokenize"))
    }

    /// Teacher-forced scores of `tokens` (see [`Scored`]); `top_k` is how many tokens a
    /// top-k-only backend returns per position.
    async fn score_tokens(
        &self,
        _tokens: &[TokenId],
        _top_k: u32,
    ) -> std::result::Result<Scored, RequestError> {
        Err(scoring::unsupported("score tokens"))
    }

    /// The greedy continuation of `tokens`, at most `n` tokens.
    async fn greedy_tokens(
        &self,
        _tokens: &[TokenId],
        _n: u32,
    ) -> std::result::Result<Continuation, RequestError> {
        Err(scoring::unsupported("continue token ids"))
    }

    /// Gets ready for a case that keeps `streams` requests in flight (0: as many as its
    /// schedule sends) and answers how many it serves at once from now on. Called between
    /// cases, with nothing in flight. `None` (the default): fixed, as `probe` said in `slots`.
    async fn reserve_streams(&self, _streams: u32) -> Option<u32> {
        None
    }

    /// The requests served at once now, where it changes from case to case (see
    /// `reserve_streams`); `None`: the `slots` of `probe`.
    fn slots_now(&self) -> Option<u32> {
        None
    }
}
