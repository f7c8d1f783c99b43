//! `arena run`: collect answers from each contestant backend, then ask a judge backend which
//! of two answers is better, for every prompt and every pair of models.
//!
//! - Backends run one at a time (a launched server is stopped before the next starts), so
//!   servers never compete for the machine.
//! - Each pair is judged in both orders (A/B and B/A) to cancel position bias. When the two
//!   orders disagree — including one tie or an unreadable verdict — the battle is a tie.
//! - Everything is appended as soon as it is known: answers to `answers.jsonl`, each judge
//!   verdict (raw text included) to `judgments.jsonl`, each decided battle to `battles.csv`.
//!   Re-running skips what is there, so an interrupted run continues where it stopped.
//!
//! The judge prompt follows the MT-bench pairwise format: the verdict is `[[A]]`, `[[B]]` or
//! `[[C]]` (tie). The last such token in the reply counts; a reply that starts with a bare
//! `A` or `B` is read as that; anything else is recorded as `?` and counts as a tie.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::answers::{Answer, JsonlAppender, PromptItem, read_answers, read_prompts};
use super::battles::{self, BattleRow, Winner};
use super::style;
use crate::backend::{Backend, BackendConfig, Config, Message, Prompt, Request};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ArenaRunOptions {
    pub prompts: PathBuf,
    /// Contestant backend names from the config.
    pub models: Vec<String>,
    pub judge: String,
    pub config: PathBuf,
    pub out: PathBuf,
    pub max_tokens: u32,
    pub judge_max_tokens: u32,
    pub temperature: f64,
    pub seed: u64,
    pub quiet: bool,
}

#[derive(Debug, Default)]
pub struct ArenaRunOutcome {
    pub answers_new: usize,
    pub judgments_new: usize,
    pub battles_new: usize,
    pub battles_total: usize,
    pub failures: Vec<String>,
}

/// One judge verdict for one order of one battle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Judgment {
    pub battle_id: String,
    /// `ab`: model_x shown as A; `ba`: model_y shown as A.
    pub order: String,
    pub judge: String,
    pub model_x: String,
    pub model_y: String,
    /// `A`, `B`, `C` (tie) or `?` (unreadable).
    pub verdict: String,
    pub raw: String,
}

pub const JUDGE_SYSTEM: &str = "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. You should choose the assistant that follows the user's instructions and answers the user's question better. Consider helpfulness, relevance, accuracy, depth and level of detail. Avoid any position bias: the order in which the responses were presented must not influence your decision. Do not let the length of the responses or the names of the assistants influence you. Be as objective as possible. Output your final verdict by strictly following this format: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better, and \"[[C]]\" for a tie.";

pub fn judge_prompt(question: &str, a: &str, b: &str) -> String {
    format!(
        "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{a}\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{b}\n[The End of Assistant B's Answer]\n\nYour verdict ([[A]], [[B]] or [[C]]):"
    )
}

/// Reads a verdict out of the judge's reply: `A`, `B`, `C` or `?`.
pub fn parse_verdict(reply: &str) -> &'static str {
    let last = ["[[A]]", "[[B]]", "[[C]]"]
        .iter()
        .filter_map(|t| reply.rfind(t).map(|i| (i, *t)))
        .max_by_key(|x| x.0);
    match last.map(|x| x.1) {
        Some("[[A]]") => return "A",
        Some("[[B]]") => return "B",
        Some("[[C]]") => return "C",
        _ => {}
    }
    let t = reply.trim_start().trim_start_matches(['[', '*', '"', '\'']);
    let bare = |c: char| t.starts_with(c) && !t[1..].starts_with(|x: char| x.is_alphanumeric());
    if bare('A') {
        "A"
    } else if bare('B') {
        "B"
    } else {
        "?"
    }
}

/// Combines the two orders: the same model preferred in both wins, anything else is a tie.
pub fn combine(ab: &str, ba: &str) -> Winner {
    // In `ab`, A is model_x; in `ba`, A is model_y.
    let first = match ab {
        "A" => Some(Winner::A),
        "B" => Some(Winner::B),
        _ => None,
    };
    let second = match ba {
        "A" => Some(Winner::B),
        "B" => Some(Winner::A),
        _ => None,
    };
    match (first, second) {
        (Some(x), Some(y)) if x == y => x,
        _ => Winner::Tie,
    }
}

pub fn battle_id(prompt_id: &str, x: &str, y: &str) -> String {
    format!("{prompt_id}:{x}:vs:{y}")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn note(quiet: bool, s: &str) {
    if !quiet {
        eprintln!("{s}");
    }
}

async fn connect(bc: &BackendConfig, dir: &Path) -> Result<(Backend, String)> {
    let mut b = crate::backend::Backend::connect(bc, dir).await?;
    let facts = b.probe().await?;
    let label = facts.model.clone().unwrap_or_else(|| bc.name.clone());
    Ok((b, label))
}

fn request(
    b: &Backend,
    messages: Vec<Message>,
    max_tokens: u32,
    temperature: f64,
    seed: u64,
) -> Request {
    let prompt = match b.endpoint() {
        crate::backend::Endpoint::Chat => Prompt::Chat(messages),
        crate::backend::Endpoint::Completions => Prompt::Text(
            messages
                .into_iter()
                .map(|m| m.content)
                .collect::<Vec<_>>()
                .join("\n\n"),
        ),
    };
    Request {
        prompt,
        max_tokens,
        temperature,
        top_p: 1.0,
        seed: Some(seed),
        ignore_eos: false,
        allow_prefix_cache: true,
        tools: Default::default(),
    }
}

pub async fn run(opts: ArenaRunOptions) -> Result<ArenaRunOutcome> {
    tokio::select! {
        r = run_inner(&opts) => r,
        _ = interrupted() => Err(Error::Interrupted),
    }
}

// Stays whole: three resumable phases (answers, what is decided, judging) that share the
// open logs, the connected backends and the outcome; each phase is marked below.
async fn run_inner(opts: &ArenaRunOptions) -> Result<ArenaRunOutcome> {
    let prompts = read_prompts(&opts.prompts)?;
    let config = Config::load(&opts.config)?;
    let mut names = opts.models.clone();
    names.dedup();
    if names.len() < 2 {
        return Err(Error::Usage("--models needs at least two backends".into()));
    }
    let contestants = config.select(&names)?;
    let judge_cfg = config.select(std::slice::from_ref(&opts.judge))?.remove(0);
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::write(&opts.out, e))?;
    let answers_path = opts.out.join("answers.jsonl");
    let judgments_path = opts.out.join("judgments.jsonl");
    let battles_path = opts.out.join("battles.csv");
    let mut out = ArenaRunOutcome::default();

    // 1. Answers, backend by backend, only what is missing.
    let mut answers = read_answers(&answers_path)?;
    let mut answer_log = JsonlAppender::open(&answers_path)?;
    for bc in &contestants {
        let have: HashSet<&str> = answers
            .iter()
            .filter(|a| a.backend == bc.name)
            .map(|a| a.prompt_id.as_str())
            .collect();
        let missing: Vec<&PromptItem> = prompts
            .iter()
            .filter(|p| !have.contains(p.id.as_str()))
            .collect();
        if missing.is_empty() {
            continue;
        }
        note(
            opts.quiet,
            &format!(
                "answers: {} prompt(s) on backend {}",
                missing.len(),
                bc.name
            ),
        );
        let (backend, label) = connect(bc, &opts.out).await?;
        if let Some(other) = answers
            .iter()
            .find(|a| a.model == label && a.backend != bc.name)
        {
            return Err(Error::SameModelTwice {
                model: label,
                backends: [other.backend.clone(), bc.name.clone()],
            });
        }
        for p in missing {
            let req = request(
                &backend,
                vec![Message {
                    role: "user".into(),
                    content: p.text.clone(),
                }],
                opts.max_tokens,
                opts.temperature,
                opts.seed,
            );
            let r = backend.generate(&req).await;
            if let Some(e) = &r.error {
                out.failures.push(format!(
                    "{} on prompt {}: {}: {}",
                    bc.name,
                    p.id,
                    e.category.as_str(),
                    e.message
                ));
                continue;
            }
            let a = Answer {
                prompt_id: p.id.clone(),
                prompt: p.text.clone(),
                model: label.clone(),
                backend: bc.name.clone(),
                text: r.text.clone(),
                tokens: r.usage.and_then(|u| u.completion_tokens),
                finish_reason: r.finish_reason.clone(),
            };
            answer_log.append(&a)?;
            answers.push(a);
            out.answers_new += 1;
        }
        drop(backend); // stops a launched server before the next one starts
    }

    // The contestants' labels in --models order.
    let mut labels: Vec<String> = Vec::new();
    for bc in &contestants {
        if let Some(a) = answers.iter().find(|a| a.backend == bc.name) {
            if !labels.contains(&a.model) {
                labels.push(a.model.clone());
            }
        } else {
            out.failures.push(format!("{}: no answers at all", bc.name));
        }
    }
    let index: HashMap<(&str, &str), &Answer> = answers
        .iter()
        .filter(|a| labels.contains(&a.model))
        .map(|a| ((a.prompt_id.as_str(), a.model.as_str()), a))
        .collect();

    // 2. What is already decided.
    let done: HashSet<String> = if battles_path.exists() {
        battles::read_rows(&battles_path)?
            .into_iter()
            .map(|r| r.battle_id)
            .collect()
    } else {
        HashSet::new()
    };
    let mut judged: BTreeMap<(String, String), Judgment> = BTreeMap::new();
    if judgments_path.exists() {
        for line in std::fs::read_to_string(&judgments_path)
            .map_err(|e| Error::read(&judgments_path, e))?
            .lines()
        {
            if let Ok(j) = serde_json::from_str::<Judgment>(line) {
                judged.insert((j.battle_id.clone(), j.order.clone()), j);
            }
        }
    }
    struct Todo<'a> {
        id: String,
        prompt: &'a PromptItem,
        x: &'a Answer,
        y: &'a Answer,
    }
    let mut todo = Vec::new();
    for p in &prompts {
        for i in 0..labels.len() {
            for j in i + 1..labels.len() {
                let (Some(x), Some(y)) = (
                    index.get(&(p.id.as_str(), labels[i].as_str())),
                    index.get(&(p.id.as_str(), labels[j].as_str())),
                ) else {
                    continue;
                };
                let id = battle_id(&p.id, &labels[i], &labels[j]);
                if !done.contains(&id) {
                    todo.push(Todo {
                        id,
                        prompt: p,
                        x,
                        y,
                    });
                }
            }
        }
    }
    let need_judge = todo.iter().any(|t| {
        !judged.contains_key(&(t.id.clone(), "ab".into()))
            || !judged.contains_key(&(t.id.clone(), "ba".into()))
    });

    // 3. Judge, appending each verdict and each decided battle at once.
    let mut battle_log = battles::appender(&battles_path)?;
    let mut judgment_log = JsonlAppender::open(&judgments_path)?;
    let mut judge: Option<(Backend, String)> = None;
    if need_judge {
        note(
            opts.quiet,
            &format!(
                "judging {} battle(s) with backend {}",
                todo.len(),
                judge_cfg.name
            ),
        );
        judge = Some(connect(&judge_cfg, &opts.out).await?);
    }
    'battles: for t in &todo {
        let mut verdicts = Vec::new();
        for order in ["ab", "ba"] {
            let key = (t.id.clone(), order.to_string());
            if let Some(j) = judged.get(&key) {
                verdicts.push(j.clone());
                continue;
            }
            let Some((jb, jlabel)) = judge.as_ref() else {
                continue 'battles;
            };
            let (a, b) = if order == "ab" {
                (t.x, t.y)
            } else {
                (t.y, t.x)
            };
            let messages = vec![
                Message {
                    role: "system".into(),
                    content: JUDGE_SYSTEM.into(),
                },
                Message {
                    role: "user".into(),
                    content: judge_prompt(&t.prompt.text, &a.text, &b.text),
                },
            ];
            let r = jb
                .generate(&request(
                    jb,
                    messages,
                    opts.judge_max_tokens,
                    0.0,
                    opts.seed,
                ))
                .await;
            if let Some(e) = &r.error {
                out.failures.push(format!(
                    "judge on {} ({order}): {}: {}",
                    t.id,
                    e.category.as_str(),
                    e.message
                ));
                continue 'battles;
            }
            let j = Judgment {
                battle_id: t.id.clone(),
                order: order.into(),
                judge: jlabel.clone(),
                model_x: t.x.model.clone(),
                model_y: t.y.model.clone(),
                verdict: parse_verdict(&r.text).into(),
                raw: r.text.clone(),
            };
            judgment_log.append(&j)?;
            out.judgments_new += 1;
            judged.insert(key, j.clone());
            verdicts.push(j);
        }
        let (ab, ba) = (&verdicts[0], &verdicts[1]);
        let winner = combine(&ab.verdict, &ba.verdict);
        let (sx, sy) = (
            style::features(&t.x.text, t.x.tokens),
            style::features(&t.y.text, t.y.tokens),
        );
        battle_log.append(&BattleRow {
            battle_id: t.id.clone(),
            model_a: t.x.model.clone(),
            model_b: t.y.model.clone(),
            winner: winner.as_str().into(),
            judge: ab.judge.clone(),
            prompt_id: t.prompt.id.clone(),
            turn: 1,
            tstamp: battles::now_tstamp(),
            tokens_a: Some(sx.tokens as u64),
            tokens_b: Some(sy.tokens as u64),
            headers_a: Some(sx.headers as u64),
            headers_b: Some(sy.headers as u64),
            lists_a: Some(sx.lists as u64),
            lists_b: Some(sy.lists as u64),
            bold_a: Some(sx.bold as u64),
            bold_b: Some(sy.bold as u64),
            verdict: format!("ab={} ba={}", ab.verdict, ba.verdict),
        })?;
        out.battles_new += 1;
    }
    drop(judge);
    out.battles_total = done.len() + out.battles_new;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_and_orders_combined() {
        assert_eq!(parse_verdict("Assistant A is clearer. [[A]]"), "A");
        assert_eq!(parse_verdict("[[A]] no wait, [[B]]"), "B");
        assert_eq!(parse_verdict("[[C]]"), "C");
        assert_eq!(parse_verdict(" B"), "B");
        assert_eq!(parse_verdict("Both are fine"), "?");
        assert_eq!(parse_verdict("Assistant"), "?");
        // x preferred in both orders (A first, then B because x is shown second).
        assert_eq!(combine("A", "B"), Winner::A);
        assert_eq!(combine("B", "A"), Winner::B);
        // Position bias: "A" both times is a disagreement → tie.
        assert_eq!(combine("A", "A"), Winner::Tie);
        assert_eq!(combine("C", "B"), Winner::Tie);
        assert_eq!(combine("?", "?"), Winner::Tie);
    }
}
