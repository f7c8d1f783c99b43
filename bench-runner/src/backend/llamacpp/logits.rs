//! Token scoring in the llama.cpp engine: teacher-forced log-probabilities of every position
//! (one batch per `batch_size` tokens with logits on for every token, as llama-perplexity
//! does), greedy continuations by argmax, and tokenization. It runs on the engine thread as
//! the engine's extra command ([`Cmd`]), in a fresh context of its own, so the model is
//! loaded once and requests and scoring never share a KV cache.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use super::super::engine_thread::{Command, EngineHandle};
use super::super::scoring::{
    Continuation, NextToken, ScoreMethod, Scored, ScoredPosition, TokenId, log_softmax_in_place,
};
use super::super::{ErrorCategory, RequestError};

/// The scoring commands the engine thread serves.
pub(crate) enum Cmd {
    Tokenize {
        text: String,
        reply: oneshot::Sender<Vec<TokenId>>,
    },
    Score {
        tokens: Vec<TokenId>,
        reply: oneshot::Sender<Result<Scored, String>>,
    },
    Greedy {
        tokens: Vec<TokenId>,
        n: u32,
        reply: oneshot::Sender<Result<Continuation, String>>,
    },
}

/// Serves one command with `model`; `new_ctx(n)` makes a context of `n` tokens with the
/// backend's settings (threads, batch, KV cache types).
pub(super) fn serve<'m>(
    model: &'m LlamaModel,
    batch_size: u32,
    cmd: Cmd,
    new_ctx: impl Fn(u32) -> Result<LlamaContext<'m>, String>,
) {
    match cmd {
        Cmd::Tokenize { text, reply } => {
            let t = model.vocab().tokenize(text.as_bytes(), true, true);
            let _ = reply.send(t.iter().map(|t| t.0 as TokenId).collect());
        }
        Cmd::Score { tokens, reply } => {
            let r = new_ctx(fit(tokens.len(), 0))
                .and_then(|mut ctx| score(model, &mut ctx, batch_size, &tokens));
            let _ = reply.send(r);
        }
        Cmd::Greedy { tokens, n, reply } => {
            let r = new_ctx(fit(tokens.len(), n))
                .and_then(|mut ctx| greedy(model, &mut ctx, batch_size, &tokens, n));
            let _ = reply.send(r);
        }
    }
}

/// A context size for a prompt and a continuation (llama.cpp wants a multiple of 256).
fn fit(prompt: usize, n: u32) -> u32 {
    (((prompt as u32 + n + 1).max(16)).div_ceil(256)) * 256
}

fn to_tokens(ids: &[TokenId], n_vocab: i32) -> Result<Vec<LlamaToken>, String> {
    ids.iter()
        .map(|&t| {
            if (t as i64) < n_vocab as i64 {
                Ok(LlamaToken(t as i32))
            } else {
                Err(format!(
                    "token id {t} is outside the vocabulary ({n_vocab})"
                ))
            }
        })
        .collect()
}

/// Decodes `tokens` in batches from position 0; `logits` turns every position's output on
/// (else only the last token's), and `each(i, ctx, batch_index)` reads position `i` after
/// its batch is decoded.
fn prefill<'m>(
    ctx: &mut LlamaContext<'m>,
    batch_size: u32,
    tokens: &[LlamaToken],
    logits: bool,
    mut each: impl FnMut(usize, &LlamaContext<'m>, i32),
) -> Result<(), String> {
    let n_batch = (batch_size as usize).max(1);
    let mut batch = LlamaBatch::new(n_batch, 1);
    ctx.clear_kv_cache();
    for (c, chunk) in tokens.chunks(n_batch).enumerate() {
        batch.clear();
        let start = c * n_batch;
        for (i, t) in chunk.iter().enumerate() {
            let pos = start + i;
            let out = logits || pos + 1 == tokens.len();
            batch
                .add(*t, pos as i32, &[0], out)
                .map_err(|e| e.to_string())?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| format!("decode at position {start}: {e}"))?;
        for i in 0..chunk.len() {
            if logits || start + i + 1 == tokens.len() {
                each(start + i, ctx, i as i32);
            }
        }
    }
    Ok(())
}

fn score<'m>(
    model: &'m LlamaModel,
    ctx: &mut LlamaContext<'m>,
    batch_size: u32,
    ids: &[TokenId],
) -> Result<Scored, String> {
    let n_vocab = model.n_vocab();
    let tokens = to_tokens(ids, n_vocab)?;
    let mut positions = Vec::with_capacity(tokens.len().saturating_sub(1));
    prefill(ctx, batch_size, &tokens, true, |i, ctx, bi| {
        // The last token predicts nothing that is scored.
        if i + 1 >= ids.len() {
            return;
        }
        let mut lp = ctx.get_logits_ith(bi).to_vec();
        log_softmax_in_place(&mut lp);
        let target = lp.get(ids[i + 1] as usize).copied();
        positions.push(ScoredPosition {
            next: NextToken::Full(lp),
            target_logprob: target,
        });
    })?;
    Ok(Scored {
        method: ScoreMethod::FullLogits,
        positions,
        n_vocab: Some(n_vocab as u32),
    })
}

fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best
}

fn greedy<'m>(
    model: &'m LlamaModel,
    ctx: &mut LlamaContext<'m>,
    batch_size: u32,
    ids: &[TokenId],
    n: u32,
) -> Result<Continuation, String> {
    let vocab = model.vocab();
    let tokens = to_tokens(ids, model.n_vocab())?;
    if tokens.is_empty() {
        return Err("greedy continuation of an empty prompt".into());
    }
    let mut next = 0usize;
    prefill(ctx, batch_size, &tokens, false, |_, ctx, bi| {
        next = argmax(ctx.get_logits_ith(bi));
    })?;
    let mut out = Continuation {
        tokens: Vec::new(),
        ended: false,
    };
    let mut batch = LlamaBatch::new(1, 1);
    let mut pos = tokens.len() as i32;
    while out.tokens.len() < n as usize {
        let t = LlamaToken(next as i32);
        if vocab.is_eog(t) {
            out.ended = true;
            break;
        }
        out.tokens.push(next as TokenId);
        if out.tokens.len() == n as usize {
            break;
        }
        batch.clear();
        batch.add(t, pos, &[0], true).map_err(|e| e.to_string())?;
        ctx.decode(&mut batch)
            .map_err(|e| format!("decode at position {pos}: {e}"))?;
        pos += 1;
        next = argmax(ctx.get_logits_ith(0));
    }
    Ok(out)
}

fn engine_error(e: String) -> RequestError {
    RequestError::new(ErrorCategory::Engine, e)
}

/// The async side: each call sends one command to the engine thread.
impl EngineHandle<Cmd> {
    pub(super) async fn tokenize(&self, text: &str) -> Result<Vec<TokenId>, RequestError> {
        let text = text.to_string();
        self.ask(|reply| Command::Extra(Cmd::Tokenize { text, reply }))
            .await
            .ok_or_else(|| self.dead())
    }

    pub(super) async fn score(&self, tokens: &[TokenId]) -> Result<Scored, RequestError> {
        let tokens = tokens.to_vec();
        match self
            .ask(|reply| Command::Extra(Cmd::Score { tokens, reply }))
            .await
        {
            Some(r) => r.map_err(engine_error),
            None => Err(self.dead()),
        }
    }

    pub(super) async fn greedy(
        &self,
        tokens: &[TokenId],
        n: u32,
    ) -> Result<Continuation, RequestError> {
        let tokens = tokens.to_vec();
        match self
            .ask(|reply| Command::Extra(Cmd::Greedy { tokens, n, reply }))
            .await
        {
            Some(r) => r.map_err(engine_error),
            None => Err(self.dead()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn contexts_fit_the_prompt_and_continuation_in_multiples_of_256() {
        assert_eq!(super::fit(10, 0), 256);
        assert_eq!(super::fit(255, 1), 512);
        assert_eq!(super::argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
    }
}
