//! Length distributions and `prompts_file` in closed-loop (`concurrency`) cases, against the
//! shared llama-server on Gemma: each request draws its own length from the seed, sent
//! exactly; the same seed gives the same lengths; a cut case resumes with the draws it would
//! have made; a prompts file's prompts are sent as written.
#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use edgebench::results::SampleRow;
use edgebench::results::schema::{SAMPLE_COLUMNS, SUMMARY_COLUMNS};

use crate::common::*;

/// Runs `scenario` against the shared Gemma server into `dir/<id>`.
fn run(dir: &Path, id: &str, scenario: &Path) -> PathBuf {
    let config = shared_gemma_config(dir, "");
    run_ok(&[
        "run",
        "--quiet",
        "--run-id",
        id,
        scenario.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    dir.join(id)
}

/// Each stream's requested prompt lengths in the order it sent them (a stream's requests
/// complete in turn, so its repetition numbers follow its order).
fn per_stream(rows: &[SampleRow]) -> Vec<Vec<u32>> {
    let mut rows: Vec<&SampleRow> = rows.iter().collect();
    rows.sort_by_key(|r| (r.stream, r.repetition));
    let n = rows
        .iter()
        .map(|r| r.stream as usize + 1)
        .max()
        .unwrap_or(0);
    let mut out = vec![Vec::new(); n];
    for r in rows {
        out[r.stream as usize].push(r.prompt_tokens_requested);
    }
    out
}

const UNIFORM: &str = "kind = \"throughput\"\nname = \"u\"\nprompt_tokens = [{ dist = \"uniform\", min = 16, max = 64 }]\nmax_tokens = [4]\nconcurrency = [2]\nrepetitions = 3\nwarmup = 1\nseed = 7\n";

/// Concurrency 2, prompt lengths uniform on [16, 64]: six rows of varying length, each sent
/// exactly (our count is the server's, and the draw, or the shortest prompt the chat template
/// and salt allow when the draw is below it), the case id naming the distribution; a second
/// run with the same seed draws the same lengths per stream.
#[test]
fn a_closed_loop_case_draws_each_prompt_length_from_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(tmp.path(), "u.toml", UNIFORM);
    let first = rows(&run(tmp.path(), "one", &s)).0;
    assert_eq!(first.len(), 6, "{first:?}");
    let (mut lengths, mut floors) = (BTreeSet::new(), BTreeSet::new());
    for r in &first {
        assert_eq!(r.case_id, "ppu16-64_tg4_c2");
        assert_eq!(r.error_category, None, "{r:?}");
        assert!((16..=64).contains(&r.prompt_tokens_requested), "{r:?}");
        let sent = r.prompt_tokens.unwrap();
        assert_eq!(r.prompt_tokens_server, Some(sent), "{r:?}");
        assert!((16..=64).contains(&sent), "{r:?}");
        assert!(sent >= u64::from(r.prompt_tokens_requested), "{r:?}");
        if sent > u64::from(r.prompt_tokens_requested) {
            floors.insert(sent);
        }
        assert_eq!(r.output_tokens, Some(4), "{r:?}");
        lengths.insert(sent);
    }
    assert!(
        floors.len() <= 1,
        "more than one shortest prompt: {floors:?}"
    );
    assert!(
        lengths.len() > 1,
        "every request the same length: {lengths:?}"
    );
    let second = rows(&run(tmp.path(), "two", &s)).0;
    assert_eq!(per_stream(&second), per_stream(&first));
}

fn rewrite<T: serde::Serialize>(path: &Path, columns: &[&str], rows: &[T]) {
    std::fs::remove_file(path).unwrap();
    let mut w = edgebench::results::CsvAppender::open(path, columns).unwrap();
    w.append_all(rows).unwrap();
}

/// A closed-loop case cut after two of its four requests (no summary yet): `--resume` sends
/// the other two only, with the third and fourth draws, so the rows are those of an uncut run.
#[test]
fn a_cut_closed_loop_case_resumes_with_the_same_draws() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "c.toml",
        "kind = \"throughput\"\nname = \"c\"\nprompt_tokens = [{ dist = \"uniform\", min = 48, max = 96 }]\nmax_tokens = [{ values = [2, 4], weights = [1, 1] }]\nconcurrency = [1]\nrepetitions = 4\nwarmup = 0\nseed = 11\n",
    );
    let run_dir = run(tmp.path(), "cut", &s);
    let (whole, _) = rows(&run_dir);
    let lengths = |rows: &[SampleRow]| -> Vec<(u32, u32, u32)> {
        let mut v: Vec<_> = rows
            .iter()
            .map(|r| (r.repetition, r.prompt_tokens_requested, r.max_tokens))
            .collect();
        v.sort();
        v
    };
    assert_eq!(whole.len(), 4);
    rewrite(&run_dir.join("samples.csv"), SAMPLE_COLUMNS, &whole[..2]);
    rewrite::<edgebench::results::SummaryRow>(&run_dir.join("summary.csv"), SUMMARY_COLUMNS, &[]);
    let out = edgebench()
        .args(["run", "--quiet", "--resume"])
        .arg(&run_dir)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (after, summary) = rows(&run_dir);
    assert_eq!(lengths(&after), lengths(&whole), "{after:?}");
    assert_eq!(
        after[..2],
        whole[..2],
        "the rows kept are kept as they were"
    );
    for r in &after {
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!(r.prompt_tokens, r.prompt_tokens_server, "{r:?}");
        assert_eq!(r.prompt_tokens, Some(u64::from(r.prompt_tokens_requested)));
        assert_eq!(r.output_tokens, Some(u64::from(r.max_tokens)), "{r:?}");
    }
    assert!(summary.iter().any(|r| r.case_id == "ppu48-96_tgw2-4_c1"));
}

/// A prompts file in a closed loop: its prompts are sent as written (no requested length,
/// two distinct exact counts), each equally often, a line's own `output_tokens` honoured.
#[test]
fn a_prompts_file_feeds_a_closed_loop_case() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "prompts.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Name three rivers of Europe and the seas they flow into.\"}]}\n{\"prompt\": \"Once upon a time\", \"output_tokens\": 2}\n",
    );
    let s = write(
        tmp.path(),
        "f.toml",
        "kind = \"throughput\"\nname = \"f\"\nprompts_file = \"prompts.jsonl\"\nmax_tokens = [4]\nconcurrency = [1]\nrepetitions = 4\nwarmup = 0\n",
    );
    let (samples, _) = rows(&run(tmp.path(), "file", &s));
    assert_eq!(samples.len(), 4);
    let (mut outputs, mut counts) = (BTreeSet::new(), BTreeSet::new());
    for r in &samples {
        assert_eq!(r.case_id, "ppfile_tg4_c1");
        assert_eq!(r.error_category, None, "{r:?}");
        assert_eq!(r.prompt_tokens_requested, 0);
        assert_eq!(r.output_tokens, Some(u64::from(r.max_tokens)), "{r:?}");
        outputs.insert(r.max_tokens);
        counts.insert(r.prompt_tokens.unwrap());
    }
    assert_eq!(outputs, BTreeSet::from([2, 4]));
    assert_eq!(counts.len(), 2, "{counts:?}");
}
