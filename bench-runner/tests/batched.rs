//! llama-batched-bench's grid in process (`mode = "batched"`) on the real Gemma 3 270M model,
//! `edgebench import llama-batched-bench` on files made by the llama-batched-bench that
//! scripts/build-llama-bench builds from the vendored sources, and the parity script's smoke
//! run. Timings are checked only against each other (the columns' arithmetic), never for speed.

#![allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job

use std::path::{Path, PathBuf};
use std::process::Command;

use edgebench::results::SampleRow;
use edgebench::scenario::BatchedCell;

use crate::common::{COMMAND_TIMEOUT, gemma, llama_bench, repo_root, rows, run_err, run_ok, write};

/// llama-batched-bench, built beside llama-bench by scripts/build-llama-bench.
fn llama_batched_bench() -> PathBuf {
    let b = llama_bench().with_file_name("llama-batched-bench");
    assert!(
        b.is_file(),
        "{} is missing: scripts/build-llama-bench builds it",
        b.display()
    );
    b
}

/// The in-process backend on one thread (tests run two at a time on 2 cores).
fn config(dir: &Path) -> PathBuf {
    write(
        dir,
        "backends.toml",
        &format!(
            "default = \"gemma\"\n[backends.gemma]\nkind = \"llamacpp\"\nmodel = \"{}\"\nthreads = 1\n",
            gemma().display()
        ),
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The cell a row belongs to, from its own columns.
fn cell_of(r: &SampleRow, shared: bool) -> BatchedCell {
    BatchedCell {
        npp: r.prompt_tokens_requested,
        ntg: r.max_tokens,
        npl: r.concurrency,
        shared_prompt: shared,
        n_seq_max: 0,
        n_ctx: 0,
    }
}

#[test]
fn batched_rows_have_llama_batched_bench_columns_and_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    for shared in [false, true] {
        let scenario = write(
            dir.path(),
            &format!("b{shared}.toml"),
            &format!(
                "name = \"b\"\nkind = \"throughput\"\nmode = \"batched\"\nnpp = [16]\nntg = [4]\nnpl = [1, 2]\nshared_prompt = {shared}\nwarmup = 1\nrepetitions = 2\n"
            ),
        );
        let out = dir.path().join("runs");
        let id = format!("r{shared}");
        let stdout = run_ok(&[
            "run",
            scenario.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--run-id",
            &id,
        ]);
        assert!(
            stdout.contains("| edgebench backend | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |"),
            "{stdout}"
        );
        let (samples, summary) = rows(&out.join(&id));
        assert_eq!(samples.len(), 4, "2 cells × 2 repetitions");
        for r in &samples {
            assert!(r.error_category.is_none(), "{r:?}");
            let b = r.concurrency as u64;
            let pp = if shared { 16 } else { 16 * b };
            assert_eq!(
                (
                    r.prompt_tokens_requested,
                    r.max_tokens,
                    r.prompt_tokens,
                    r.output_tokens
                ),
                (16, 4, Some(pp), Some(4 * b)),
                "{r:?}"
            );
            assert_eq!(r.n_kv, Some(b * (16 + 4)), "N_KV = B·(PP + TG): {r:?}");
            assert_eq!(r.n_kv, Some(cell_of(r, shared).n_kv()));
            let (t_pp, t_tg, t) = (r.ttft_ms.unwrap(), r.tg_ms.unwrap(), r.e2e_ms.unwrap());
            assert!(t_pp > 0.0 && t_tg > 0.0, "{r:?}");
            assert!((t_pp + t_tg - t).abs() < 1e-3, "T = T_PP + T_TG: {r:?}");
            assert_eq!(r.test_ns.map(|ns| ns as f64 / 1e6), Some(t));
            assert!(
                close(r.prefill_tok_s.unwrap(), pp as f64 * 1e3 / t_pp),
                "{r:?}"
            );
            assert!(
                close(r.decode_tok_s.unwrap(), 4.0 * b as f64 * 1e3 / t_tg),
                "{r:?}"
            );
            assert!(
                close(r.test_tok_s.unwrap(), (pp + 4 * b) as f64 * 1e3 / t),
                "{r:?}"
            );
            assert_eq!(r.test.as_deref(), Some(cell_of(r, shared).name().as_str()));
        }
        for case in ["pp16_tg4_b1", "pp16_tg4_b2"] {
            let case = if shared {
                format!("{case}_pps")
            } else {
                case.to_string()
            };
            for m in [
                "test_tok_s",
                "ttft_ms",
                "tg_ms",
                "e2e_ms",
                "prefill_tok_s",
                "decode_tok_s",
                "n_kv",
            ] {
                let row = summary
                    .iter()
                    .find(|r| r.case_id == case && r.metric == m)
                    .unwrap_or_else(|| panic!("{case} {m} in {summary:?}"));
                assert_eq!(row.n, 2, "{row:?}");
                assert!(row.ci_low <= row.p50 && row.p50 <= row.ci_high, "{row:?}");
            }
        }
    }
}

#[test]
fn resume_finishes_a_cut_cell_from_its_rows_without_running_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let scenario = write(
        dir.path(),
        "b.toml",
        "name = \"b\"\nkind = \"throughput\"\nmode = \"batched\"\nnpp = [16]\nntg = [2]\nnpl = [2]\nrepetitions = 2\n",
    );
    let out = dir.path().join("runs");
    run_ok(&[
        "run",
        scenario.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "r",
    ]);
    let run = out.join("r");
    let (before, summary) = rows(&run);
    assert_eq!(before.len(), 2);
    // Killed after the cell's rows, before its summary: the header alone is left.
    let text = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    std::fs::write(
        run.join("summary.csv"),
        format!("{}\n", text.lines().next().unwrap()),
    )
    .unwrap();
    run_ok(&["run", "--quiet", "--resume", run.to_str().unwrap()]);
    let (after, resumed) = rows(&run);
    assert_eq!(after, before, "no repetition ran again");
    let p50 = |rows: &[edgebench::results::SummaryRow]| {
        rows.iter()
            .find(|r| r.metric == "decode_tok_s")
            .map(|r| (r.n, r.p50))
    };
    assert_eq!(p50(&resumed), p50(&summary));
}

#[test]
fn batched_mode_is_refused_on_a_backend_that_is_not_llamacpp() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "backends.toml",
        "default = \"srv\"\n[backends.srv]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    );
    let scenario = write(
        dir.path(),
        "s.toml",
        "kind = \"throughput\"\n\nmode = \"batched\"\nnpp = [16]\nntg = [4]\nnpl = [1]\n",
    );
    let (code, stderr) = run_err(&[
        "run",
        scenario.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("runs").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("s.toml:3:8"), "{stderr}");
    assert!(
        stderr.contains("`llamacpp` backend only") && stderr.contains("`srv` is `openai`"),
        "{stderr}"
    );
    assert!(!dir.path().join("runs").exists(), "nothing ran");
}

/// One real llama-batched-bench run, its JSON lines.
fn batched_bench(extra: &[&str]) -> String {
    let model = gemma();
    let o = Command::new(llama_batched_bench())
        .args(["-m", model.to_str().unwrap(), "-t", "1", "-c", "64"])
        .args([
            "-npp",
            "16",
            "-ntg",
            "4",
            "-npl",
            "1,2",
            "--output-format",
            "jsonl",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn import_keeps_llama_batched_bench_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // Two runs of the separate-prompt grid (each cell twice: two repetitions) and one shared.
    let text = format!(
        "{}{}{}",
        batched_bench(&[]),
        batched_bench(&[]),
        batched_bench(&["-pps"])
    );
    let file = write(dir.path(), "bb.jsonl", &text);
    let out = dir.path().join("out");
    let stdout = run_ok(&[
        "import",
        "llama-batched-bench",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--run-id",
        "imp",
        "--model",
        gemma().to_str().unwrap(),
    ]);
    assert!(stdout.contains("imported 6 cells"), "{stdout}");
    assert!(
        stdout.contains("| llama-batched-bench | 16 | 4 | 2 | 40 |"),
        "{stdout}"
    );
    let (samples, summary) = rows(&out.join("imp"));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(samples.len(), 6);
    assert!(
        samples
            .iter()
            .all(|r| r.model == "gemma-3-270m-q4_k_m.gguf")
    );
    for (v, r) in lines.iter().zip(&samples_in_file_order(&samples, &lines)) {
        let f = |k: &str| v[k].as_f64().unwrap();
        let shared = f("is_pp_shared") == 1.0;
        let (pp, tg, pl) = (f("pp") as u64, f("tg") as u64, f("pl") as u64);
        assert_eq!(
            (
                r.prompt_tokens_requested as u64,
                r.max_tokens as u64,
                r.concurrency as u64
            ),
            (pp, tg, pl)
        );
        assert_eq!(r.prompt_tokens, Some(if shared { pp } else { pl * pp }));
        assert_eq!(r.output_tokens, Some(pl * tg));
        assert_eq!(r.n_kv, Some(f("n_kv") as u64));
        // edgebench's own N_KV of the cell is llama-batched-bench's.
        assert_eq!(r.n_kv, Some(cell_of(r, shared).n_kv()), "{v}");
        assert_eq!(r.ttft_ms, Some(f("t_pp") * 1e3));
        assert_eq!(r.tg_ms, Some(f("t_tg") * 1e3));
        assert_eq!(r.e2e_ms, Some(f("t") * 1e3));
        assert_eq!(r.prefill_tok_s, Some(f("speed_pp")));
        assert_eq!(r.decode_tok_s, Some(f("speed_tg")));
        assert_eq!(r.test_tok_s, Some(f("speed")));
    }
    let reps = |case: &str| {
        summary
            .iter()
            .find(|r| r.case_id == case && r.metric == "decode_tok_s")
            .map(|r| r.n)
    };
    assert_eq!(reps("pp16_tg4_b2"), Some(2));
    assert_eq!(reps("pp16_tg4_b2_pps"), Some(1));
}

/// The sample rows in the order of the file's lines (rows are grouped by cell).
fn samples_in_file_order(samples: &[SampleRow], lines: &[serde_json::Value]) -> Vec<SampleRow> {
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    lines
        .iter()
        .map(|v| {
            let shared = if v["is_pp_shared"] == 1 { "_pps" } else { "" };
            let id = format!("pp{}_tg{}_b{}{shared}", v["pp"], v["tg"], v["pl"]);
            let rep = seen.entry(id.clone()).or_insert(0);
            let row = samples
                .iter()
                .find(|r| r.case_id == id && r.repetition == *rep)
                .unwrap_or_else(|| panic!("{id} #{rep}"))
                .clone();
            *rep += 1;
            row
        })
        .collect()
}

#[test]
fn parity_smoke_runs_both_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(repo_root().join("scripts/parity-llama-batched-bench"))
        .current_dir(repo_root())
        .env("EDGEBENCH_SMOKE", "1")
        .env("EDGEBENCH_BIN", assert_cmd::cargo::cargo_bin("edgebench"))
        .env("LLAMA_BATCHED_BENCH", llama_batched_bench())
        .env("OUT", tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    for cell in ["pp16_tg4_b1", "pp16_tg4_b2"] {
        for m in ["S_PP", "S_TG"] {
            assert!(log.contains(&format!("| {cell} | {m} |")), "{log}");
        }
    }
    assert!(log.contains("n/a (< 6 rounds)"), "{log}");
}
