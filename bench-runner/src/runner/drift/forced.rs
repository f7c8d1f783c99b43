//! A teacher-forced case: `sequences` shared texts of `length` tokens, scored on the
//! reference and the candidate, every position compared (`measure::drift::compare`), and the
//! case summed up as llama-perplexity does: mean KL ± its standard error, top-1 agreement,
//! each side's perplexity and their ratio.

use super::{Pair, Tokens, row_value, texts};
use crate::backend::RequestError;
use crate::backend::scoring::{NextToken, ScoreMethod, Scored};
use crate::error::Result;
use crate::measure::drift::{self, Dist, MeanSe, Position};
use crate::measure::summarize;
use crate::results::drift::DriftRow;
use crate::results::summary::{row, share_row};
use crate::scenario::Case;

fn dist(n: &NextToken) -> Dist<'_> {
    match n {
        NextToken::Full(v) => Dist::Full(v),
        NextToken::TopK(t) => Dist::TopK(t),
    }
}

/// What a case gathers over its sequences.
#[derive(Default)]
struct Tally {
    positions: Vec<Position>,
    /// ln P(target) on the reference and on the candidate, where both are known.
    pairs: Vec<(f64, f64)>,
    ref_lp: Vec<f64>,
    cand_lp: Vec<f64>,
    /// Positions where a side did not give the target's log-probability.
    missing_lp: usize,
    methods: Option<(ScoreMethod, ScoreMethod)>,
    n_vocab: (Option<u64>, Option<u64>),
}

impl Pair<'_, '_> {
    async fn score_both(
        &self,
        text: &str,
        len: u32,
    ) -> std::result::Result<std::result::Result<(Vec<u32>, Scored, Scored), usize>, RequestError>
    {
        let tokens = match self.tokens(text, len).await? {
            Tokens::Same(t) => t,
            Tokens::Differ(i) => return Ok(Err(i)),
        };
        let r = self.reference.score_tokens(&tokens, self.d.top_k).await?;
        let c = self.s.backend.score_tokens(&tokens, self.d.top_k).await?;
        Ok(Ok((tokens, r, c)))
    }

    pub(super) async fn forced(&self, case: &Case) -> Result<crate::runner::outcome::CaseOutcome> {
        let d = self.d;
        let len = case.prompt_tokens;
        let mut t = Tally::default();
        let mut drift_rows = Vec::new();
        let (mut failed, mut mismatches, mut errors) = (0usize, Vec::new(), Vec::new());
        for j in 0..d.sequences {
            let kind = d.mix[j as usize % d.mix.len()];
            // Eight characters a token is more than any tokenizer here needs: the text is cut
            // to `len` tokens.
            let text = texts::text(kind, d.seed ^ len as u64, j, len as usize * 8);
            let (tokens, rs, cs) = match self.score_both(&text, len).await {
                Ok(Ok(x)) => x,
                Ok(Err(i)) => {
                    mismatches.push((j, i));
                    continue;
                }
                Err(e) => {
                    failed += 1;
                    errors.push(e.message);
                    continue;
                }
            };
            self.s
                .ctx
                .progress
                .request_done(&self.s.label(&case.id), None);
            t.methods = Some((rs.method, cs.method));
            let (fr, fc) = self.facts_vocab;
            t.n_vocab = (
                rs.n_vocab.map(u64::from).or(fr),
                cs.n_vocab.map(u64::from).or(fc),
            );
            for (i, (rp, cp)) in rs.positions.iter().zip(&cs.positions).enumerate() {
                let pos = drift::compare(dist(&rp.next), dist(&cp.next));
                t.positions.push(pos);
                let (rl, cl) = (
                    rp.target_logprob.map(f64::from),
                    cp.target_logprob.map(f64::from),
                );
                if let Some(x) = rl {
                    t.ref_lp.push(x);
                }
                if let Some(x) = cl {
                    t.cand_lp.push(x);
                }
                match rl.zip(cl) {
                    Some(p) => t.pairs.push(p),
                    None => t.missing_lp += 1,
                }
                drift_rows.push(DriftRow {
                    position: Some(i as u32),
                    token: tokens.get(i + 1).copied(),
                    kl: pos.kl,
                    kl_top_k_only: Some(pos.kl_top_k_only),
                    same_top: Some(pos.same_top),
                    reference_logprob: rl,
                    candidate_logprob: cl,
                    reference_scored: rs.method.as_str().into(),
                    candidate_scored: cs.method.as_str().into(),
                    ..self.drift_row(case, j, kind.as_str())
                });
            }
        }
        let mut warnings: Vec<String> = self
            .mismatch_warning(case, &mismatches)
            .into_iter()
            .collect();
        if let (Some(a), Some(b)) = t.n_vocab
            && a != b
        {
            warnings.push(format!(
                "{}: {} has {b} tokens and the reference {} {a}: not the same vocabulary",
                self.s.scenario.name,
                self.s.backend.name(),
                self.ref_name()
            ));
            mismatches.push((0, 0));
        }
        if let Some(e) = errors.first() {
            warnings.push(format!(
                "{}: case {} on {}: {failed} sequence(s) failed: {e}",
                self.s.scenario.name,
                case.id,
                self.s.backend.name()
            ));
        }
        let comparable = mismatches.is_empty() && self.verdict.not_comparable.is_empty();
        let summary = self.forced_summary(case, &t, comparable, failed);
        if comparable {
            self.s.ctx.rec.drift(&drift_rows)?;
        }
        self.s.ctx.rec.summary(&summary)?;
        Ok(crate::runner::outcome::CaseOutcome {
            total: d.sequences as usize,
            failed,
            summary,
            warnings,
        })
    }

    fn forced_summary(
        &self,
        case: &Case,
        t: &Tally,
        comparable: bool,
        failed: usize,
    ) -> Vec<crate::results::SummaryRow> {
        let mut extra = Vec::new();
        if let Some((r, c)) = t.methods {
            extra.push(format!("reference_scored={}", r.as_str()));
            extra.push(format!("candidate_scored={}", c.as_str()));
        }
        if !comparable {
            extra.push("not_comparable".into());
        }
        if t.missing_lp > 0 {
            extra.push("perplexity_partial".into());
        }
        let mut base = self.summary_base(case, &extra);
        base.errors = failed;
        base.flags = {
            // `not_comparable` once, even when both the facts and the tokens say so.
            let mut f: Vec<&str> = base.flags.split(';').collect();
            let mut seen = std::collections::HashSet::new();
            f.retain(|x| seen.insert(*x));
            f.join(";")
        };
        if t.positions.is_empty() && failed > 0 {
            // Nothing was scored: the case failed, it did not measure "comparable".
            return vec![crate::results::summary::failed_case_row(&base)];
        }
        let mut out = vec![row_value(
            &base,
            "drift_comparable",
            "bool",
            t.positions.len(),
            if comparable { 1.0 } else { 0.0 },
        )];
        if !comparable {
            return out;
        }
        let kls: Vec<f64> = t.positions.iter().filter_map(|p| p.kl).collect();
        let top_k_only = t.positions.iter().any(|p| p.kl_top_k_only);
        if let (Some(st), Some(m)) = (summarize(&kls), MeanSe::of(&kls)) {
            // The interval is that of the mean (llama-perplexity's ±), not of the median.
            let (lo, hi) = m.ci95();
            let metric = if top_k_only {
                "drift_kl_top_k"
            } else {
                "drift_kl"
            };
            out.push(crate::results::SummaryRow {
                ci_low: lo,
                ci_high: hi,
                ..row(&base, metric, "nats", &st)
            });
        }
        if let Some(p) = drift::top1_agreement(&t.positions) {
            out.push(share_row(&base, "drift_top1_agreement", &p));
        }
        if let Some(ppl) = drift::perplexity(&t.ref_lp) {
            out.push(row_value(
                &base,
                "drift_ppl_reference",
                "ppl",
                t.ref_lp.len(),
                ppl,
            ));
        }
        if let Some(ppl) = drift::perplexity(&t.cand_lp) {
            out.push(row_value(
                &base,
                "drift_ppl_candidate",
                "ppl",
                t.cand_lp.len(),
                ppl,
            ));
        }
        if let Some((r, lo, hi)) = drift::perplexity_ratio(&t.pairs) {
            out.push(crate::results::SummaryRow {
                ci_low: lo,
                ci_high: hi,
                ..row_value(&base, "drift_ppl_ratio", "ratio", t.pairs.len(), r)
            });
        }
        out
    }
}
