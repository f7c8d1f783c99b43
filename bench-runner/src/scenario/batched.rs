//! `mode = "batched"` in a throughput scenario: llama-batched-bench's grid.
//!
//! ```toml
//! kind = "throughput"
//! mode = "batched"
//! npp = [128, 512]       # prompt tokens per sequence (llama-batched-bench -npp)
//! ntg = [128]            # generated tokens per sequence (-ntg)
//! npl = [1, 2, 4, 8]     # sequences decoded together (-npl)
//! shared_prompt = false  # true: one prompt, copied to every sequence (-pps)
//! repetitions = 5
//! ```
//!
//! Each cell (npp × ntg × npl, in llama-batched-bench's order) is a case, run in process on
//! the llamacpp backend only: one context whose sequence count is the largest `npl` and whose
//! size fits the largest cell in every sequence's share (`-c` = max npl × (max npp + max ntg)).

use std::path::Path;

use toml::Spanned;

use super::check_grid;
use crate::error::Result;
use crate::source;

/// llama.cpp's limit on sequences in one context (`LLAMA_MAX_SEQ`).
pub const MAX_SEQUENCES: u32 = 256;
/// The largest context a grid may ask for, far above any model this runs.
const MAX_CTX: u64 = 4_194_304;

#[derive(Debug, Clone, PartialEq)]
pub struct Batched {
    pub npp: Vec<u32>,
    pub ntg: Vec<u32>,
    pub npl: Vec<u32>,
    pub shared_prompt: bool,
    /// Where `mode = "batched"` is written, for "this backend cannot run it" errors.
    pub mode_at: (usize, usize),
}

impl Batched {
    /// Sequences of the one context every cell runs in: the largest `npl`.
    pub fn n_seq_max(&self) -> u32 {
        self.npl.iter().copied().max().unwrap_or(1)
    }

    /// Cells of that context: every sequence's share holds the largest prompt and output.
    pub fn n_ctx(&self) -> u32 {
        let max = |v: &[u32]| v.iter().copied().max().unwrap_or(0);
        self.n_seq_max() * (max(&self.npp) + max(&self.ntg))
    }
}

/// The keys of the mode, as the file holds them.
pub(super) struct Keys<'a> {
    pub mode: std::ops::Range<usize>,
    pub npp: &'a Option<Spanned<Vec<u32>>>,
    pub ntg: &'a Option<Spanned<Vec<u32>>>,
    pub npl: &'a Option<Spanned<Vec<u32>>>,
    pub shared_prompt: Option<bool>,
}

pub(super) fn parse(path: &Path, text: &str, k: &Keys) -> Result<Batched> {
    let grid = |key: &str, g: &Option<Spanned<Vec<u32>>>, max: u32| match g {
        Some(g) => check_grid(path, text, key, g, 1, max),
        None => Err(source::error_at(
            path,
            text,
            Some(k.mode.clone()),
            format!("mode batched needs `{key}` (a list, as llama-batched-bench's -{key})"),
        )),
    };
    let b = Batched {
        npp: grid("npp", k.npp, 1_048_576)?,
        ntg: grid("ntg", k.ntg, 1_048_576)?,
        npl: grid("npl", k.npl, MAX_SEQUENCES)?,
        shared_prompt: k.shared_prompt.unwrap_or(false),
        mode_at: source::line_col(text, k.mode.start),
    };
    let need = u64::from(b.n_seq_max())
        * (u64::from(*b.npp.iter().max().unwrap_or(&0))
            + u64::from(*b.ntg.iter().max().unwrap_or(&0)));
    if need > MAX_CTX {
        return Err(source::error_at(
            path,
            text,
            k.npl.as_ref().map(Spanned::span),
            format!(
                "the grid needs a context of {need} tokens (largest npl × (largest npp + largest ntg)); at most {MAX_CTX}"
            ),
        ));
    }
    Ok(b)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use std::path::Path;

    use crate::error::Error;
    use crate::scenario::{Scenario, ScenarioBody};

    fn located(text: &str) -> (usize, usize, String) {
        match Scenario::parse(Path::new("s.toml"), text) {
            Err(Error::Input {
                line, col, message, ..
            }) => (line, col, message),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn expands_in_llama_batched_bench_order_with_one_context() {
        let s = Scenario::parse(
            Path::new("s.toml"),
            "kind = \"throughput\"\nmode = \"batched\"\nnpp = [128, 512]\nntg = [128]\nnpl = [1, 8, 2]\nshared_prompt = true\nrepetitions = 3\n",
        )
        .unwrap();
        let ScenarioBody::Throughput(t) = &s.body else {
            panic!("throughput")
        };
        assert!(t.batched.is_some() && t.pp_tg.is_none() && t.concurrency.is_empty());
        let cases = s.cases();
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "pp128_tg128_b1_pps",
                "pp128_tg128_b8_pps",
                "pp128_tg128_b2_pps",
                "pp512_tg128_b1_pps",
                "pp512_tg128_b8_pps",
                "pp512_tg128_b2_pps"
            ]
        );
        let c = cases[1].batched.unwrap();
        // -c = largest npl × (largest npp + largest ntg), n_seq_max = largest npl.
        assert_eq!((c.n_seq_max, c.n_ctx), (8, 8 * (512 + 128)));
        assert_eq!((cases[1].concurrency, cases[1].repetitions), (8, 3));
        assert_eq!(
            (c.prompt_tokens(), c.output_tokens(), c.n_kv()),
            (128, 1024, 2048)
        );
    }

    #[test]
    fn mistakes_are_located() {
        let (line, _, msg) =
            located("kind = \"throughput\"\nmode = \"batched\"\nnpp = [16]\nntg = [4]\n");
        assert_eq!(line, 2, "{msg}");
        assert!(msg.contains("needs `npl`"), "{msg}");
        let (line, col, msg) = located(
            "kind = \"throughput\"\nmode = \"batched\"\nnpp = [16]\nntg = [4]\nnpl = [0]\n",
        );
        assert_eq!((line, col), (5, 7), "{msg}");
        assert!(msg.contains("`npl` holds 0"), "{msg}");
        let (line, _, msg) = located(
            "kind = \"throughput\"\nmode = \"batched\"\nnpp = [16]\nntg = [4]\nnpl = [1]\nconcurrency = [2]\n",
        );
        assert_eq!(line, 6, "{msg}");
        assert!(msg.contains("does not belong to mode batched"), "{msg}");
        let (line, _, msg) =
            located("kind = \"throughput\"\nmode = \"pp_tg\"\npp = [16]\nnpl = [2]\n");
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("mode = \"batched\""), "{msg}");
        let (_, _, msg) = located(
            "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nshared_prompt = true\n",
        );
        assert!(
            msg.contains("`shared_prompt` does not belong to mode serving"),
            "{msg}"
        );
    }
}
