//! `edgebench import llama-batched-bench FILE…`: llama-batched-bench's JSONL output
//! (`--output-format jsonl`) as an edgebench run (run.json, samples.csv, summary.csv).
//!
//! Each line is one cell (pp, tg, pl) measured once; it becomes one sample row with the columns
//! `mode = "batched"` writes (see `runner/batched.rs`), its numbers kept as the file states
//! them: T_PP, T_TG and T (seconds) in `ttft_ms`, `tg_ms` and `e2e_ms`, S_PP, S_TG and S in
//! `prefill_tok_s`, `decode_tok_s` and `test_tok_s`, N_KV in `n_kv`. A cell that appears on
//! several lines (runs appended to one file) is one case with several repetitions, so
//! summary.csv holds the median and its 95% interval over them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::llama_bench::ImportOptions;
use crate::error::{Error, Result};
use crate::results::device::HostFingerprint;
use crate::results::manifest::{ScenarioRecord, now_rfc3339};
use crate::results::summary::batched_summary;
use crate::results::{RunManifest, SampleRow, SummaryRow};
use crate::scenario::BatchedCell;

/// One line of llama-batched-bench's JSONL output.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct BbCell {
    pub n_kv_max: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub flash_attn: i32,
    pub is_pp_shared: u8,
    pub n_gpu_layers: i32,
    pub n_threads: u32,
    pub n_threads_batch: u32,
    pub pp: u32,
    pub tg: u32,
    pub pl: u32,
    pub n_kv: u64,
    pub t_pp: f64,
    pub speed_pp: f64,
    pub t_tg: f64,
    pub speed_tg: f64,
    pub t: f64,
    pub speed: f64,
}

impl BbCell {
    fn cell(&self) -> BatchedCell {
        BatchedCell {
            npp: self.pp,
            ntg: self.tg,
            npl: self.pl,
            shared_prompt: self.is_pp_shared != 0,
            n_seq_max: 0,
            n_ctx: self.n_kv_max,
        }
    }
}

/// Reads a llama-batched-bench JSONL file; other lines (its Markdown table, logs) are refused
/// at their line.
pub fn read(path: &Path) -> Result<Vec<BbCell>> {
    let text = crate::source::read(path)?;
    let mut cells = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            line: i + 1,
            col: e.column(),
            message: format!(
                "not llama-batched-bench JSON lines (run it with --output-format jsonl): {e}"
            ),
        })?;
        let cell: BbCell = serde_json::from_value(v).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            line: i + 1,
            col: 1,
            message: format!("not a llama-batched-bench result: {e}"),
        })?;
        cells.push(cell);
    }
    if cells.is_empty() {
        return Err(Error::file(path, "holds no llama-batched-bench results"));
    }
    Ok(cells)
}

/// Writes one run folder holding every cell of every file (each file a backend). The file
/// does not name its model: `model` (the GGUF's file name) fills the `model` column.
pub fn import(
    opts: &ImportOptions,
    model: Option<&str>,
) -> Result<super::llama_bench::ImportOutcome> {
    let model = model.map(file_name).unwrap_or_default();
    if opts.files.is_empty() {
        return Err(Error::Usage(
            "name at least one llama-batched-bench output file".into(),
        ));
    }
    let mut parsed = Vec::new();
    for f in &opts.files {
        let cells = read(f)?;
        let bytes = std::fs::read(f).map_err(|e| Error::read(f, e))?;
        parsed.push((f.clone(), cells, crate::hash::sha256_hex(&bytes)));
    }
    let super::RunFolder {
        run_id,
        run_dir,
        mut samples,
        mut summary_w,
    } = super::new_run_folder(&opts.out, opts.run_id.as_deref(), "llama-batched-bench")?;
    let host = HostFingerprint::read();
    // The file says nothing of the machine: the label, else the importing host's CPU.
    let device = opts.label.clone().unwrap_or_else(|| host.cpu_model.clone());
    let mut manifest = RunManifest::new(&run_id, "complete", opts.command_line.clone(), host);
    manifest.device = device.clone();
    let mut all_summary = Vec::new();
    let single = parsed.len() == 1;
    let mut n_cells = 0;
    for (path, cells, sha) in &parsed {
        let stem = path
            .file_stem()
            .map_or_else(|| "file".into(), |s| s.to_string_lossy().into_owned());
        let backend = if single {
            "llama-batched-bench".to_string()
        } else {
            format!("llama-batched-bench:{stem}")
        };
        manifest.scenarios.push(ScenarioRecord {
            sampling: None,
            name: "llama-batched-bench".into(),
            kind: "throughput".into(),
            path: path.display().to_string(),
            sha256: sha.clone(),
        });
        manifest.backends.push(serde_json::json!({
            "name": backend,
            "kind": "llama-batched-bench",
            "imported_from": path.display().to_string(),
            "format": "jsonl",
            "model": model,
            "cells": cells,
        }));
        manifest.warnings.push(format!(
            "{backend}: imported from llama-batched-bench output {}; `host` is the machine that imported it, the measured device is `{device}`",
            path.display()
        ));
        // Cells in file order; a repeated cell adds a repetition.
        let mut cases: Vec<(String, Vec<SampleRow>)> = Vec::new();
        for c in cells {
            n_cells += 1;
            let id = c.cell().id();
            let i = match cases.iter().position(|(k, _)| *k == id) {
                Some(i) => i,
                None => {
                    cases.push((id, Vec::new()));
                    cases.len() - 1
                }
            };
            let rep = cases[i].1.len() as u32;
            let mut row = sample(c, rep, &run_id, &backend, &device);
            row.model = model.clone();
            cases[i].1.push(row);
        }
        for (_, rows) in &cases {
            for r in rows {
                samples.append(r)?;
            }
            manifest.requests_total += rows.len();
            let first = &rows[0];
            let base = SummaryRow {
                run_id: run_id.clone(),
                backend: backend.clone(),
                model: model.clone(),
                device: device.clone(),
                scenario: "llama-batched-bench".into(),
                case_id: first.case_id.clone(),
                kind: "throughput".into(),
                prompt_tokens: first.prompt_tokens_requested,
                max_tokens: first.max_tokens,
                concurrency: first.concurrency,
                ..Default::default()
            };
            let (summary, warnings) = batched_summary(&base, rows);
            manifest.warnings.extend(warnings);
            for r in &summary {
                summary_w.append(r)?;
            }
            all_summary.extend(summary);
        }
    }
    manifest.ended_at = Some(now_rfc3339());
    manifest.write(&run_dir)?;
    Ok(super::llama_bench::ImportOutcome {
        run_dir,
        summary: all_summary,
        columns: BTreeMap::new(),
        tests: n_cells,
    })
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map_or_else(|| p.to_string(), |n| n.to_string_lossy().into_owned())
}

/// One line as a sample row, its numbers as the file states them.
fn sample(c: &BbCell, rep: u32, run_id: &str, backend: &str, device: &str) -> SampleRow {
    let cell = c.cell();
    SampleRow {
        run_id: run_id.to_string(),
        backend: backend.to_string(),
        device: device.to_string(),
        scenario: "llama-batched-bench".into(),
        case_id: cell.id(),
        kind: "throughput".into(),
        repetition: rep,
        concurrency: c.pl,
        prompt_tokens_requested: c.pp,
        prompt_tokens: Some(cell.prompt_tokens()),
        max_tokens: c.tg,
        output_tokens: Some(cell.output_tokens()),
        ttft_ms: Some(c.t_pp * 1e3),
        tg_ms: Some(c.t_tg * 1e3),
        e2e_ms: Some(c.t * 1e3),
        prefill_tok_s: Some(c.speed_pp),
        decode_tok_s: Some(c.speed_tg),
        tpot_ms: (c.tg > 0).then(|| c.t_tg * 1e3 / c.tg as f64),
        test: Some(cell.name()),
        test_ns: Some((c.t * 1e9).round() as u64),
        test_tok_s: Some(c.speed),
        n_kv: Some(c.n_kv),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // an unwrap in a test fails it loudly, which is its job
mod tests {
    use super::*;

    #[test]
    fn refuses_the_markdown_table_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bb.txt");
        std::fs::write(&p, "\n|    PP |     TG |\n").unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(
            e.contains(":2:") && e.contains("--output-format jsonl"),
            "{e}"
        );
    }
}
