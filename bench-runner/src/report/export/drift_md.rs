//! report.md's drift section, see [`crate::report::drift`].

use std::fmt::Write;

use super::escape::md;
use crate::report::drift::DriftSection;
use crate::results::markdown as mdtable;

/// The section in Markdown (every name escaped); nothing when there is no drift scenario.
pub fn markdown(o: &mut String, d: &DriftSection) {
    if d.forced.is_empty() && d.free.is_empty() && d.not_comparable.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Drift against a reference\n");
    let _ = writeln!(
        o,
        "Teacher-forced: the same token sequences scored on the reference and the candidate; per position KL(reference ‖ candidate) in nats (mean, 95% interval of the mean), top-1 agreement (Wilson 95%), each side's perplexity on the true next tokens and their ratio. Where a side returns only its top k, the KL is over the tokens both top-k lists share, renormalised: not llama-perplexity's KL, and labelled so.\n"
    );
    for n in &d.not_comparable {
        let _ = writeln!(o, "> **⚠ Not comparable.** {}\n", md(n));
    }
    if !d.forced.is_empty() {
        o.push_str(&mdtable::header(
            &[
                "candidate",
                "reference",
                "case",
                "scored (ref / cand)",
                "positions",
                "measure",
                "mean KL nats",
                "top-1 agreement",
                "PPL ref",
                "PPL cand",
                "PPL ratio",
            ],
            "llllrlrrrrr",
        ));
        for f in &d.forced {
            o.push_str(&mdtable::row(&[
                md(&f.candidate),
                md(&f.reference),
                md(&f.case),
                md(&f.scored),
                f.positions.to_string(),
                md(&f.kl_kind),
                f.kl.clone(),
                f.top1.clone(),
                f.ppl_reference.clone(),
                f.ppl_candidate.clone(),
                f.ppl_ratio.clone(),
            ]));
        }
        o.push('\n');
    }
    if !d.free.is_empty() {
        let _ = writeln!(
            o,
            "Free-running: greedy continuations of the same prompts on both sides.\n"
        );
        o.push_str(&mdtable::header(
            &[
                "candidate",
                "reference",
                "prompts",
                "identical [95% Wilson]",
                "median first divergence (tokens)",
            ],
            "llrrr",
        ));
        for f in &d.free {
            o.push_str(&mdtable::row(&[
                md(&f.candidate),
                md(&f.reference),
                f.prompts.to_string(),
                f.identical.clone(),
                f.first_divergence_median.clone(),
            ]));
        }
        o.push('\n');
    }
}
