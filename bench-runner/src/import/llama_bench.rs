//! `edgebench import llama-bench FILE…`: llama-bench's `-o json`, `-o jsonl` and `-o csv`
//! outputs as an edgebench run (run.json, samples.csv, summary.csv).
//!
//! Numbers are kept exactly: each test's `avg_ts`, `stddev_ts`, `avg_ns` and `stddev_ns` become
//! the mean and stddev of its `test_tok_s` and `test_ns` summary rows as the file states them
//! (not recomputed), and each of `samples_ns` becomes a sample row whose t/s is recomputed
//! with llama-bench's own arithmetic, 1e9 · (n_prompt + n_gen) / ns. The CSV format carries no
//! samples: its tests get summary rows only, with n = 0 and the flag `no_samples`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backend::ModelColumns;
use crate::error::{Error, Result};
use crate::results::device::HostFingerprint;
use crate::results::manifest::{ScenarioRecord, now_rfc3339};
use crate::results::summary::pp_tg_summary;
use crate::results::{RunManifest, SampleRow, SummaryRow};
use crate::scenario::PpTgTest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Jsonl,
    Csv,
}

/// One llama-bench test as a file states it.
#[derive(Debug, Clone, PartialEq)]
pub struct LbTest {
    /// Every field as text, for the manifest.
    pub fields: BTreeMap<String, String>,
    pub model_filename: String,
    pub model_type: String,
    pub model_size: u64,
    pub model_n_params: u64,
    pub backends: String,
    pub n_threads: u32,
    pub n_prompt: u32,
    pub n_gen: u32,
    pub n_depth: u32,
    pub test_time: String,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ns: Option<Vec<u64>>,
}

impl LbTest {
    pub fn test(&self) -> PpTgTest {
        PpTgTest {
            n_prompt: self.n_prompt,
            n_gen: self.n_gen,
            n_depth: self.n_depth,
        }
    }
}

/// Reads a llama-bench output file of any of the three formats (told apart by content).
pub fn read(path: &Path) -> Result<(Format, Vec<LbTest>)> {
    let text = crate::source::read(path)?;
    let t = text.trim_start();
    if t.starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(&text).map_err(|e| json_error(path, &e, 0))?;
        let tests = v
            .iter()
            .enumerate()
            .map(|(i, o)| from_json(path, o, i + 1))
            .collect::<Result<_>>()?;
        Ok((Format::Json, tests))
    } else if t.starts_with('{') {
        let mut tests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| json_error(path, &e, i))?;
            tests.push(from_json(path, &v, tests.len() + 1)?);
        }
        Ok((Format::Jsonl, tests))
    } else {
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let header = rdr.headers().map_err(|e| Error::read(path, e))?.clone();
        if !header.iter().any(|h| h == "avg_ts") {
            return Err(Error::file(
                path,
                "not a llama-bench output: expected JSON (-o json), JSON lines (-o jsonl) or CSV (-o csv) with an avg_ts column",
            ));
        }
        let mut tests = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| Error::BadRow {
                path: path.to_path_buf(),
                row: i + 2,
                source: e.into(),
            })?;
            let fields: BTreeMap<String, String> = header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            tests.push(from_fields(path, fields, None, &format!("row {}", i + 2))?);
        }
        Ok((Format::Csv, tests))
    }
}

fn json_error(path: &Path, e: &serde_json::Error, line_offset: usize) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line: e.line() + line_offset,
        col: e.column(),
        message: format!("not llama-bench JSON: {e}"),
    }
}

fn from_json(path: &Path, v: &Value, n: usize) -> Result<LbTest> {
    let Some(o) = v.as_object() else {
        return Err(Error::file(path, format!("test {n}: expected an object")));
    };
    let mut fields = BTreeMap::new();
    for (k, v) in o {
        if k == "samples_ns" || k == "samples_ts" {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => u8::from(*b).to_string(),
            other => other.to_string(),
        };
        fields.insert(k.clone(), text);
    }
    let samples = match o.get("samples_ns") {
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|x| {
                    x.as_u64().ok_or_else(|| {
                        Error::file(
                            path,
                            format!("test {n}: samples_ns holds {x}, not a whole number"),
                        )
                    })
                })
                .collect::<Result<Vec<u64>>>()?,
        ),
        _ => None,
    };
    from_fields(path, fields, samples, &format!("test {n}"))
}

fn from_fields(
    path: &Path,
    fields: BTreeMap<String, String>,
    samples_ns: Option<Vec<u64>>,
    at: &str,
) -> Result<LbTest> {
    let get = |k: &str| fields.get(k).map(String::as_str);
    fn num<T: std::str::FromStr>(path: &Path, at: &str, k: &str, v: Option<&str>) -> Result<T> {
        let v = v.ok_or_else(|| Error::file(path, format!("{at}: missing `{k}`")))?;
        v.trim()
            .parse()
            .map_err(|_| Error::file(path, format!("{at}: `{k}` is `{v}`, not a number")))
    }
    Ok(LbTest {
        model_filename: get("model_filename").unwrap_or_default().to_string(),
        model_type: get("model_type").unwrap_or_default().to_string(),
        model_size: num(path, at, "model_size", get("model_size"))?,
        model_n_params: num(path, at, "model_n_params", get("model_n_params"))?,
        backends: get("backends").unwrap_or("CPU").to_string(),
        n_threads: num(path, at, "n_threads", get("n_threads"))?,
        n_prompt: num(path, at, "n_prompt", get("n_prompt"))?,
        n_gen: num(path, at, "n_gen", get("n_gen"))?,
        // Older llama-bench versions have no depth: 0.
        n_depth: num(path, at, "n_depth", get("n_depth").or(Some("0")))?,
        test_time: get("test_time").unwrap_or_default().to_string(),
        avg_ns: num(path, at, "avg_ns", get("avg_ns"))?,
        stddev_ns: num(path, at, "stddev_ns", get("stddev_ns"))?,
        avg_ts: num(path, at, "avg_ts", get("avg_ts"))?,
        stddev_ts: num(path, at, "stddev_ts", get("stddev_ts"))?,
        samples_ns,
        fields,
    })
}

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub run_id: Option<String>,
    pub label: Option<String>,
    pub command_line: Vec<String>,
}

#[derive(Debug)]
pub struct ImportOutcome {
    pub run_dir: PathBuf,
    pub summary: Vec<SummaryRow>,
    /// llama-bench's model columns per backend name, for the table.
    pub columns: BTreeMap<String, ModelColumns>,
    pub tests: usize,
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map_or_else(|| p.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes one run folder holding every test of every file.
// Stays whole: reads every file before writing anything, then per file its manifest
// records and its tests (each one through `test_rows`).
pub fn import(opts: &ImportOptions) -> Result<ImportOutcome> {
    if opts.files.is_empty() {
        return Err(Error::Usage(
            "name at least one llama-bench output file".into(),
        ));
    }
    let mut parsed = Vec::new();
    for f in &opts.files {
        let (format, tests) = read(f)?;
        if tests.is_empty() {
            return Err(Error::file(f, "holds no llama-bench tests"));
        }
        let bytes = std::fs::read(f).map_err(|e| Error::read(f, e))?;
        parsed.push((f.clone(), format, tests, crate::hash::sha256_hex(&bytes)));
    }
    let super::RunFolder {
        run_id,
        run_dir,
        mut samples,
        mut summary_w,
    } = super::new_run_folder(&opts.out, opts.run_id.as_deref(), "llama-bench")?;
    let host = HostFingerprint::read();
    let mut manifest = RunManifest::new(&run_id, "complete", opts.command_line.clone(), host);
    let mut all_summary = Vec::new();
    let mut columns = BTreeMap::new();
    let mut n_tests = 0;
    let single = parsed.len() == 1;
    for (path, format, tests, sha) in &parsed {
        let stem = path
            .file_stem()
            .map_or_else(|| "file".into(), |s| s.to_string_lossy().into_owned());
        let backend = if single {
            "llama-bench".to_string()
        } else {
            format!("llama-bench:{stem}")
        };
        let first = &tests[0];
        let device = opts.label.clone().unwrap_or_else(|| {
            let gpu = first.fields.get("gpu_info").filter(|g| !g.is_empty());
            let cpu = first.fields.get("cpu_info").cloned().unwrap_or_default();
            match gpu {
                Some(g) => format!("{cpu} + {g}"),
                None => cpu,
            }
        });
        manifest.device = device.clone();
        manifest.scenarios.push(ScenarioRecord {
            sampling: None,
            name: "llama-bench".into(),
            kind: "throughput".into(),
            path: path.display().to_string(),
            sha256: sha.clone(),
        });
        manifest.backends.push(serde_json::json!({
            "name": backend,
            "kind": "llama-bench",
            "imported_from": path.display().to_string(),
            "format": format,
            "model": first.model_type,
            "model_path": first.model_filename,
            "model_bytes": first.model_size,
            "n_params": first.model_n_params,
            "build_commit": first.fields.get("build_commit"),
            "build_number": first.fields.get("build_number"),
            "cpu_info": first.fields.get("cpu_info"),
            "gpu_info": first.fields.get("gpu_info"),
            "backends": first.backends,
            "tests": tests.iter().map(|t| &t.fields).collect::<Vec<_>>(),
        }));
        manifest.warnings.push(format!(
            "{backend}: imported from llama-bench output {}; `host` is the machine that imported it, the measured device is `{device}`",
            path.display()
        ));
        columns.insert(
            backend.clone(),
            ModelColumns {
                model: first.model_type.clone(),
                size_bytes: Some(first.model_size),
                n_params: Some(first.model_n_params),
                backend: first.backends.clone(),
                threads: Some(first.n_threads),
            },
        );
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for t in tests {
            n_tests += 1;
            let test = t.test();
            let mut case_id = test.id();
            let count = seen.entry(case_id.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                case_id = format!("{case_id}_{count}");
            }
            let (rows, summary) = test_rows(t, &run_id, &backend, &device, case_id);
            for r in &rows {
                samples.append(r)?;
            }
            manifest.requests_total += rows.len();
            for r in &summary {
                summary_w.append(r)?;
            }
            all_summary.extend(summary);
        }
    }
    manifest.ended_at = Some(now_rfc3339());
    manifest.write(&run_dir)?;
    Ok(ImportOutcome {
        run_dir,
        summary: all_summary,
        columns,
        tests: n_tests,
    })
}

/// One llama-bench test as sample rows (one per repetition it kept) and its summary rows,
/// whose mean and stddev are the file's own.
fn test_rows(
    t: &LbTest,
    run_id: &str,
    backend: &str,
    device: &str,
    case_id: String,
) -> (Vec<SampleRow>, Vec<SummaryRow>) {
    let test = t.test();
    let model = file_name(&t.model_filename);
    let base = SampleRow {
        run_id: run_id.to_string(),
        backend: backend.to_string(),
        model: model.clone(),
        device: device.to_string(),
        scenario: "llama-bench".into(),
        case_id: case_id.clone(),
        kind: "throughput".into(),
        concurrency: 1,
        started_at: t.test_time.clone(),
        prompt_tokens_requested: t.n_prompt,
        prompt_tokens: Some(t.n_prompt as u64),
        max_tokens: t.n_gen,
        output_tokens: Some(t.n_gen as u64),
        depth: Some(t.n_depth),
        test: Some(test.name()),
        ..Default::default()
    };
    let rows: Vec<SampleRow> = t
        .samples_ns
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, &ns)| {
            let ts = 1e9 * (t.n_prompt + t.n_gen) as f64 / ns as f64;
            let ms = ns as f64 / 1e6;
            SampleRow {
                repetition: i as u32,
                e2e_ms: Some(ms),
                prefill_tok_s: (t.n_prompt > 0 && t.n_gen == 0).then_some(ts),
                decode_tok_s: (t.n_gen > 0 && t.n_prompt == 0).then_some(ts),
                tpot_ms: (t.n_gen > 0 && t.n_prompt == 0).then(|| ms / t.n_gen as f64),
                test_ns: Some(ns),
                test_tok_s: Some(ts),
                ..base.clone()
            }
        })
        .collect();
    let sbase = SummaryRow {
        run_id: run_id.to_string(),
        backend: backend.to_string(),
        model,
        device: device.to_string(),
        scenario: "llama-bench".into(),
        case_id,
        kind: "throughput".into(),
        prompt_tokens: t.n_prompt,
        max_tokens: t.n_gen,
        concurrency: 1,
        depth: Some(t.n_depth),
        ..Default::default()
    };
    let mut summary = if rows.is_empty() {
        let nan = f64::NAN;
        let empty = SummaryRow {
            n: 0,
            min: nan,
            p50: nan,
            p90: nan,
            p99: nan,
            max: nan,
            ci_low: nan,
            ci_high: nan,
            flags: "no_samples".into(),
            ..sbase.clone()
        };
        vec![
            SummaryRow {
                metric: "test_tok_s".into(),
                unit: "tok/s".into(),
                ..empty.clone()
            },
            SummaryRow {
                metric: "test_ns".into(),
                unit: "ns".into(),
                ..empty
            },
        ]
    } else {
        pp_tg_summary(&sbase, &rows).0
    };
    // The file's own mean and stddev, verbatim.
    for r in &mut summary {
        match r.metric.as_str() {
            "test_tok_s" => (r.mean, r.stddev) = (t.avg_ts, t.stddev_ts),
            "test_ns" => (r.mean, r.stddev) = (t.avg_ns as f64, t.stddev_ns as f64),
            _ => {}
        }
    }
    (rows, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSONL: &str = r#"{"build_commit": "unknown", "build_number": 0, "cpu_info": "AMD EPYC", "gpu_info": "", "backends": "CPU", "model_filename": "m/gemma.gguf", "model_type": "gemma3 270M Q4_K - Medium", "model_size": 253113024, "model_n_params": 268098176, "n_threads": 2, "n_prompt": 512, "n_gen": 0, "n_depth": 0, "test_time": "2026-11-25T16:00:00Z", "avg_ns": 1000000000, "stddev_ns": 1000, "avg_ts": 512.000001, "stddev_ts": 0.000512, "samples_ns": [ 999999000, 1000001000 ],"samples_ts": [ 512.001, 511.999 ]}
"#;

    #[test]
    fn reads_jsonl_and_keeps_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, JSONL).unwrap();
        let (f, t) = read(&p).unwrap();
        assert_eq!(f, Format::Jsonl);
        assert_eq!(
            (t[0].n_prompt, t[0].avg_ts, t[0].samples_ns.clone()),
            (512, 512.000001, Some(vec![999_999_000, 1_000_001_000]))
        );
        let out = import(&ImportOptions {
            files: vec![p],
            out: dir.path().into(),
            run_id: Some("r".into()),
            label: None,
            command_line: vec![],
        })
        .unwrap();
        let ts = out
            .summary
            .iter()
            .find(|r| r.metric == "test_tok_s")
            .unwrap();
        assert_eq!((ts.mean, ts.stddev, ts.n), (512.000001, 0.000512, 2));
        let back = crate::results::reader::read_summary(&out.run_dir.join("summary.csv")).unwrap();
        assert_eq!(
            back.rows
                .iter()
                .find(|r| r.metric == "test_tok_s")
                .map(|r| r.mean),
            Some(512.000001)
        );
        let s = crate::results::reader::read_samples(&out.run_dir.join("samples.csv")).unwrap();
        assert_eq!(
            s.rows.iter().map(|r| r.test_ns).collect::<Vec<_>>(),
            vec![Some(999_999_000), Some(1_000_001_000)]
        );
    }

    #[test]
    fn a_run_id_that_holds_a_run_is_refused_by_name_with_the_old_message() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, JSONL).unwrap();
        let opts = ImportOptions {
            files: vec![p],
            out: dir.path().into(),
            run_id: Some("r".into()),
            label: None,
            command_line: vec![],
        };
        import(&opts).unwrap();
        let e = import(&opts).unwrap_err();
        let run = dir.path().join("r");
        assert!(matches!(&e, Error::RunFolderExists { path, .. } if path == &run));
        assert_eq!(
            e.to_string(),
            format!(
                "{} already holds a run; choose another --run-id",
                run.display()
            )
        );
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn rejects_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        assert!(
            read(&p)
                .unwrap_err()
                .to_string()
                .contains("not a llama-bench output")
        );
        std::fs::write(&p, "[{\"avg_ts\": 1}]").unwrap();
        assert!(
            read(&p)
                .unwrap_err()
                .to_string()
                .contains("missing `model_size`")
        );
    }
}
