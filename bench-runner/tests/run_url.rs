//! `edgebench run --url` (a server named on the command line) and `--json` (the summary as
//! JSON on stdout), against the shared llama-server on Gemma.

use std::path::{Path, PathBuf};

use edgebench::results::RunManifest;
use edgebench::results::reader::read_summary;
use serde_json::Value;

use crate::common::*;
use crate::fault_proxy::{Fault, Proxy};

const SCENARIO: &str = "name = \"url\"\nkind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [4]\nconcurrency = [1, 2]\nwarmup = 0\nrepetitions = 2\nignore_eos = true\n";
const KEY_VAR: &str = "EDGEBENCH_URL_TEST_KEY";
const SECRET: &str = "sk-edgebench-url-secret-7171";

struct Ran {
    stdout: String,
    stderr: String,
    code: i32,
}

fn run(args: &[&str]) -> Ran {
    let out = edgebench()
        .args(args)
        .env(KEY_VAR, SECRET)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .expect("run edgebench");
    Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn ok(args: &[&str]) -> Ran {
    let r = run(args);
    assert_eq!(r.code, 0, "edgebench {args:?}:\n{}\n{}", r.stdout, r.stderr);
    r
}

/// The header and the (case, column count) of every row of samples.csv, and the backend and
/// model columns.
fn sample_table(run: &Path) -> (String, Vec<(String, String, String, usize)>) {
    let text = std::fs::read_to_string(run.join("samples.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header = rdr.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (case, backend, model) = (col("case_id"), col("backend"), col("model"));
    let mut rows: Vec<_> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[case].to_string(),
                r[backend].to_string(),
                r[model].to_string(),
                r.len(),
            )
        })
        .collect();
    rows.sort();
    (header.iter().collect::<Vec<_>>().join(","), rows)
}

fn files_contain(dir: &Path, needle: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle)))
        .collect()
}

/// The same figure in summary.csv and in the JSON document (null where the CSV has NaN).
fn same(csv: f64, json: &Value, what: &str) {
    if csv.is_nan() {
        assert!(json.is_null(), "{what}: NaN in summary.csv, {json} in JSON");
    } else {
        let j = json.as_f64().unwrap_or_else(|| panic!("{what}: {json}"));
        assert!(
            (csv - j).abs() <= 1e-9 * csv.abs().max(1.0),
            "{what}: {csv} in summary.csv, {j} in JSON"
        );
    }
}

/// Every summary row of `run` is in the document, with the same numbers.
fn json_matches_summary(doc: &Value, run: &Path) {
    let rows = read_summary(&run.join("summary.csv")).unwrap().rows;
    assert!(!rows.is_empty());
    let cases = doc["cases"].as_array().expect("cases");
    for r in &rows {
        let case = cases
            .iter()
            .find(|c| {
                c["backend"] == r.backend && c["scenario"] == r.scenario && c["case"] == r.case_id
            })
            .unwrap_or_else(|| panic!("no case {} / {} in {doc}", r.backend, r.case_id));
        let m = &case["metrics"][&r.metric];
        let what = format!("{} {}", r.case_id, r.metric);
        assert_eq!(m["n"].as_u64(), Some(r.n as u64), "{what}");
        assert_eq!(m["unit"], r.unit, "{what}");
        assert_eq!(case["errors"].as_u64(), Some(r.errors as u64), "{what}");
        for (csv, key) in [
            (r.mean, "mean"),
            (r.stddev, "stddev"),
            (r.min, "min"),
            (r.p50, "median"),
            (r.p90, "p90"),
            (r.p99, "p99"),
            (r.max, "max"),
            (r.ci_low, "ci_low"),
            (r.ci_high, "ci_high"),
        ] {
            same(csv, &m[key], &format!("{what} {key}"));
        }
    }
    let metrics: usize = cases
        .iter()
        .map(|c| c["metrics"].as_object().unwrap().len())
        .sum();
    assert_eq!(
        metrics,
        rows.len(),
        "the document holds what summary.csv holds"
    );
}

#[test]
fn a_url_gives_the_rows_of_the_configured_backend_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "url.toml", SCENARIO);
    let config = shared_gemma_config(tmp.path(), "");
    let out = tmp.path().join("out");
    let (s, o) = (scenario.to_str().unwrap(), out.to_str().unwrap());
    let configured = ok(&[
        "run",
        s,
        "-c",
        config.to_str().unwrap(),
        "--out",
        o,
        "--run-id",
        "configured",
        "--label",
        "box",
        "--quiet",
    ]);
    let url = shared_gemma().base_url();
    let name = format!("127.0.0.1:{}", shared_gemma().port);
    let by_url = ok(&[
        "run",
        s,
        "--url",
        &url,
        "--api-key-env",
        KEY_VAR,
        "--out",
        o,
        "--label",
        "box",
        "--quiet",
        "--json",
    ]);

    // stdout is the document alone; the table went to stderr, with TTFT p90 and p99.
    let doc: Value = serde_json::from_str(&by_url.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", by_url.stdout));
    assert!(
        by_url
            .stderr
            .contains("| TTFT p50 ms | TTFT p90 ms | TTFT p99 ms |"),
        "{}",
        by_url.stderr
    );
    assert!(
        configured
            .stdout
            .contains("| TTFT p50 ms | TTFT p90 ms | TTFT p99 ms |"),
        "{}",
        configured.stdout
    );
    let run_dir = PathBuf::from(doc["run_dir"].as_str().expect("run_dir"));
    assert_eq!(run_dir.parent(), Some(out.as_path()));
    assert_eq!(doc["status"], "complete");
    assert_eq!(doc["requests"]["total"], 6);
    assert_eq!(doc["requests"]["failed"], 0);
    json_matches_summary(&doc, &run_dir);

    // The same rows: same columns, same cases, the same model; only the backend's name differs.
    let (header_a, rows_a) = sample_table(&out.join("configured"));
    let (header_b, rows_b) = sample_table(&run_dir);
    assert_eq!(header_a, header_b);
    assert_eq!(rows_a.len(), 6);
    let strip = |rows: &[(String, String, String, usize)], backend: &str| {
        rows.iter()
            .map(|(case, b, model, n)| {
                assert_eq!(b, backend);
                (case.clone(), model.clone(), *n)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&rows_a, "srv"), strip(&rows_b, &name));

    // run.json describes the backend as it describes a configured one.
    let a = RunManifest::read(&out.join("configured")).unwrap();
    let b = RunManifest::read(&run_dir).unwrap();
    let (fa, fb) = (&a.backends[0], &b.backends[0]);
    assert_eq!(fb["name"], name.as_str());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(fa), keys(fb));
    for k in [
        "kind",
        "model",
        "endpoint",
        "base_url",
        "server",
        "exact_prompt_tokens",
    ] {
        assert_eq!(fa[k], fb[k], "{k}");
    }
    let inv = b.invocation.clone().expect("invocation");
    assert_eq!(inv.backends, vec![name.clone()]);
    assert_eq!(
        PathBuf::from(&inv.config_path),
        run_dir.join("backends.toml")
    );
    // The key's variable is named; the key itself is nowhere.
    let entry = std::fs::read_to_string(run_dir.join("backends.toml")).unwrap();
    assert!(entry.contains(KEY_VAR), "{entry}");
    assert!(files_contain(&run_dir, SECRET).is_empty());
    assert!(!by_url.stdout.contains(SECRET) && !by_url.stderr.contains(SECRET));

    // --resume reads the backend back from the run's own record: drop the last request of
    // the second case (and that case's summary), and resume sends it again.
    let samples = run_dir.join("samples.csv");
    let text = std::fs::read_to_string(&samples).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let dropped = lines.pop().unwrap().to_string();
    assert!(dropped.contains("_c2,"), "{dropped}");
    std::fs::write(&samples, lines.join("\n") + "\n").unwrap();
    let summary = run_dir.join("summary.csv");
    let text = std::fs::read_to_string(&summary).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("_c2,")).collect();
    std::fs::write(&summary, kept.join("\n") + "\n").unwrap();
    ok(&["run", "--resume", run_dir.to_str().unwrap(), "--quiet"]);
    let (_, rows_c) = sample_table(&run_dir);
    assert_eq!(rows_c, rows_b);
    let c = RunManifest::read(&run_dir).unwrap();
    assert_eq!(c.status, "complete");
    assert_eq!(c.backends.len(), 1);
    assert_eq!(c.backends[0]["name"], name.as_str());
    assert_eq!(c.invocation.unwrap().resumed_at.len(), 1);
}

#[test]
fn json_is_valid_when_every_request_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "url.toml", SCENARIO);
    let proxy = Proxy::start(
        shared_gemma().port,
        Fault::Refuse {
            status: 500,
            retry_after_s: 0,
            times: 1000,
        },
    );
    let url = format!("http://127.0.0.1:{}/v1", proxy.port);
    let out = tmp.path().join("out");
    let r = run(&[
        "run",
        scenario.to_str().unwrap(),
        "--url",
        &url,
        "--name",
        "refusing",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--json",
    ]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", r.stdout));
    assert_eq!(doc["status"], "complete_with_errors");
    assert_eq!(doc["requests"]["failed"], 6);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        assert_eq!(c["backend"], "refusing");
        assert_eq!(c["metrics"]["requests"]["n"], 0);
        assert!(c["metrics"]["requests"]["median"].is_null(), "{c}");
        assert!(
            c["flags"]
                .as_array()
                .unwrap()
                .contains(&"all_failed".into()),
            "{c}"
        );
    }
    json_matches_summary(&doc, Path::new(doc["run_dir"].as_str().unwrap()));
}

#[test]
fn a_url_with_contradicting_flags_is_bad_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "url.toml", SCENARIO);
    let out = tmp.path().join("out");
    let (s, o) = (scenario.to_str().unwrap(), out.to_str().unwrap());
    let url = "http://127.0.0.1:9/v1";
    let cases: [(&[&str], &str); 7] = [
        (
            &["-c", "scenarios/backends.toml"],
            "cannot be used with '--config",
        ),
        (&["-b", "llama-server"], "cannot be used with '--backend"),
        (&["--resume", o], "cannot be used"),
        (&["--endpoint", "embeddings"], "invalid value 'embeddings'"),
        (
            &["--api-key-env", "sk-12345678"],
            "*name* of an environment variable",
        ),
        (&["--name", " "], "--name must not be empty"),
        (
            &["--api-key-env", "EDGEBENCH_URL_UNSET_VAR"],
            "EDGEBENCH_URL_UNSET_VAR",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["run", s, "--url", url, "--out", o];
        args.extend_from_slice(extra);
        let (code, stderr) = run_err(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // A URL without a scheme, or with a password in it (it would be recorded).
    for (bad, message) in [
        ("127.0.0.1:9/v1", "must start with http://"),
        ("http://user:pw@127.0.0.1:9/v1", "--api-key-env"),
    ] {
        let (code, stderr) = run_err(&["run", s, "--url", bad, "--out", o]);
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains(message), "{bad}: {stderr}");
        assert!(!stderr.contains("pw@"), "{stderr}");
    }
    // Refused before anything was written.
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    // --url's companions need it.
    for extra in [["--model", "m"], ["--name", "n"], ["--endpoint", "chat"]] {
        let mut args = vec!["run", s, "--out", o];
        args.extend_from_slice(&extra);
        let (code, stderr) = run_err(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("--url"), "{args:?}: {stderr}");
    }
}
