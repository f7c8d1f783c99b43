//! Token scoring in the ONNX Runtime engine, for the drift scenario: one `session.run` over
//! the whole sequence from an empty cache gives logits for every position (`full_logits`),
//! and greedy continuations re-run the growing sequence (no cache: a drift check is short,
//! and it keeps this apart from the timed decode path). Runs on the engine thread as the
//! engine's extra command; `engine.rs` hands it the session, layout and tokenizer.

use std::borrow::Cow;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType};
use tokio::sync::oneshot;

use super::super::engine_thread::{Command, EngineHandle};
use super::super::scoring::{
    Continuation, NextToken, ScoreMethod, Scored, ScoredPosition, TokenId, log_softmax_in_place,
};
use super::super::{ErrorCategory, RequestError};
use super::kv_cache::KvCache;
use super::layout::DecoderLayout;
use super::sampler::argmax;
use super::tokenizer::TextCodec;

/// The engine's extra commands: its own (`G`, the greedy check in `engine.rs`), and token
/// scoring. Generic so that this file does not name the engine's type (no import cycle).
pub(crate) enum Extra<G> {
    Own(G),
    Tokenize {
        text: String,
        reply: oneshot::Sender<Result<Vec<TokenId>, String>>,
    },
    Score {
        tokens: Vec<TokenId>,
        reply: oneshot::Sender<Result<Scored, String>>,
    },
    Continue {
        tokens: Vec<TokenId>,
        n: u32,
        reply: oneshot::Sender<Result<Continuation, String>>,
    },
}

fn int_tensor(ty: TensorElementType, values: Vec<i64>) -> Result<DynValue, String> {
    let shape = [1usize, values.len()];
    let made = match ty {
        TensorElementType::Int64 => Tensor::from_array((shape, values)).map(Tensor::into_dyn),
        TensorElementType::Int32 => Tensor::from_array((
            shape,
            values.into_iter().map(|v| v as i32).collect::<Vec<_>>(),
        ))
        .map(Tensor::into_dyn),
        other => {
            return Err(format!(
                "integer inputs of type {other:?} are not supported"
            ));
        }
    };
    made.map_err(|e| format!("cannot make an input tensor: {e}"))
}

/// The logits of every position of `tokens` (from an empty cache), `[n][vocab]` flattened.
fn all_logits(
    session: &mut Session,
    layout: &DecoderLayout,
    tokens: &[TokenId],
) -> Result<(Vec<f32>, usize), String> {
    let n = tokens.len();
    let empty = KvCache::empty(layout, session.allocator())?;
    let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
        (
            "input_ids".into(),
            int_tensor(
                layout.input_ids_type,
                tokens.iter().map(|&t| i64::from(t)).collect(),
            )?
            .into(),
        ),
        (
            "attention_mask".into(),
            int_tensor(layout.attention_mask_type, vec![1; n])?.into(),
        ),
    ];
    if let Some(ty) = layout.position_ids_type {
        inputs.push((
            "position_ids".into(),
            int_tensor(ty, (0..n as i64).collect())?.into(),
        ));
    }
    if layout.use_cache_branch {
        let branch = Tensor::from_array(([1usize], vec![false]))
            .map_err(|e| format!("cannot make use_cache_branch: {e}"))?;
        inputs.push(("use_cache_branch".into(), branch.into()));
    }
    for (name, value) in layout.past_names.iter().zip(empty.values()) {
        inputs.push((Cow::Borrowed(name.as_str()), value.into()));
    }
    let outputs = session
        .run(inputs)
        .map_err(|e| format!("session.run over {n} tokens: {e}"))?;
    let value = outputs
        .get("logits")
        .ok_or("the model did not return logits")?;
    let (_, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| format!("logits are not float32 ({e})"))?;
    let vocab = data.len() / n.max(1);
    Ok((data.to_vec(), vocab))
}

fn score(
    session: &mut Session,
    layout: &DecoderLayout,
    tokens: &[TokenId],
) -> Result<Scored, String> {
    let (logits, vocab) = all_logits(session, layout, tokens)?;
    let mut positions = Vec::with_capacity(tokens.len().saturating_sub(1));
    for (i, row) in logits
        .chunks(vocab)
        .enumerate()
        .take(tokens.len().saturating_sub(1))
    {
        let mut lp = row.to_vec();
        log_softmax_in_place(&mut lp);
        let target = lp.get(tokens[i + 1] as usize).copied();
        positions.push(ScoredPosition {
            next: NextToken::Full(lp),
            target_logprob: target,
        });
    }
    Ok(Scored {
        method: ScoreMethod::FullLogits,
        positions,
        n_vocab: Some(vocab as u32),
    })
}

fn greedy(
    session: &mut Session,
    layout: &DecoderLayout,
    eos: &[u32],
    tokens: &[TokenId],
    n: u32,
) -> Result<Continuation, String> {
    let mut seq = tokens.to_vec();
    let mut out = Continuation {
        tokens: Vec::new(),
        ended: false,
    };
    while out.tokens.len() < n as usize {
        let (logits, vocab) = all_logits(session, layout, &seq)?;
        let next = argmax(&logits[logits.len() - vocab..]);
        if eos.contains(&next) {
            out.ended = true;
            break;
        }
        out.tokens.push(next);
        seq.push(next);
    }
    Ok(out)
}

/// Serves a scoring command (the greedy check is the engine's own).
pub(super) fn serve<G>(
    session: &mut Session,
    layout: &DecoderLayout,
    codec: &TextCodec,
    x: Extra<G>,
) {
    match x {
        Extra::Own(_) => {}
        Extra::Tokenize { text, reply } => {
            let _ = reply.send(codec.encode(&text, true));
        }
        Extra::Score { tokens, reply } => {
            let _ = reply.send(score(session, layout, &tokens));
        }
        Extra::Continue { tokens, n, reply } => {
            let _ = reply.send(greedy(session, layout, &codec.eos_ids, &tokens, n));
        }
    }
}

fn engine_error(e: String) -> RequestError {
    RequestError::new(ErrorCategory::Engine, e)
}

/// The async side of the scoring commands.
impl<G> EngineHandle<Extra<G>> {
    pub(super) async fn tokenize(&self, text: &str) -> Result<Vec<TokenId>, RequestError> {
        let text = text.to_string();
        match self
            .ask(|reply| Command::Extra(Extra::Tokenize { text, reply }))
            .await
        {
            Some(r) => r.map_err(|e| RequestError::new(ErrorCategory::Prepare, e)),
            None => Err(self.dead()),
        }
    }

    pub(super) async fn score(&self, tokens: &[TokenId]) -> Result<Scored, RequestError> {
        let tokens = tokens.to_vec();
        match self
            .ask(|reply| Command::Extra(Extra::Score { tokens, reply }))
            .await
        {
            Some(r) => r.map_err(engine_error),
            None => Err(self.dead()),
        }
    }

    pub(super) async fn continue_greedy(
        &self,
        tokens: &[TokenId],
        n: u32,
    ) -> Result<Continuation, RequestError> {
        let tokens = tokens.to_vec();
        match self
            .ask(|reply| Command::Extra(Extra::Continue { tokens, n, reply }))
            .await
        {
            Some(r) => r.map_err(engine_error),
            None => Err(self.dead()),
        }
    }
}
