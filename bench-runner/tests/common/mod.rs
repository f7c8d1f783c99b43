//! Shared helpers: where the repository, the model and llama-server are, and how to write a
//! backend config for a test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn gemma() -> PathBuf {
    let p = repo_root().join("models/gemma-3-270m-q4_k_m.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup first",
        p.display()
    );
    p
}

pub fn llama_server() -> PathBuf {
    let p = repo_root().join(".venv/llama-bin/llama-server");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup first",
        p.display()
    );
    p
}

pub fn edgebench() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("edgebench").expect("edgebench binary");
    c.current_dir(repo_root());
    c
}

/// A backend config with one launched llama-server on Gemma, with extra backend keys and
/// extra server arguments.
pub fn llama_server_config(dir: &Path, extra_keys: &str, extra_args: &[&str]) -> PathBuf {
    // One thread per server: tests run two at a time on a 2-core machine, and llama.cpp's
    // spin-waiting threads slow down many-fold when they outnumber the cores.
    let mut args = vec![
        "-m",
        "{model}",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "-c",
        "4096",
        "-np",
        "4",
        "-t",
        "1",
        "--no-webui",
    ];
    args.extend_from_slice(extra_args);
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        "default = \"srv\"\n[backends.srv]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{{port}}/v1\"\n{extra_keys}\n[backends.srv.launch]\ncommand = {:?}\nmodel = {:?}\nargs = [{}]\nstartup_timeout_s = 120\n",
        llama_server().display().to_string(),
        gemma().display().to_string(),
        args.join(", ")
    );
    let path = dir.join("backends.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs edgebench (in the repository root), asserts it succeeded, and returns its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = edgebench()
        .args(args)
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .expect("run edgebench");
    assert!(
        out.status.success(),
        "edgebench {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs edgebench expecting an error: the exit code and stderr, which must not be a panic.
pub fn run_err(args: &[&str]) -> (i32, String) {
    let out = edgebench().args(args).output().expect("run edgebench");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "a panic, not an error:\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

/// A run directory's sample and summary rows.
pub fn rows(
    run: &Path,
) -> (
    Vec<edgebench::results::SampleRow>,
    Vec<edgebench::results::SummaryRow>,
) {
    use edgebench::results::reader::{read_samples, read_summary};
    (
        read_samples(&run.join("samples.csv"))
            .expect("samples.csv")
            .rows,
        read_summary(&run.join("summary.csv"))
            .expect("summary.csv")
            .rows,
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write file");
    p
}

/// Waits until `run`'s samples.csv has `lines` lines (header included), failing after `limit`.
pub fn wait_for_lines(run: &Path, lines: usize, limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    while std::fs::read_to_string(run.join("samples.csv"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < lines
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no rows appeared in {}",
            run.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pid of the server the run launched first, as run.json records it.
pub fn launched_pid(run: &Path) -> u64 {
    let m = edgebench::results::RunManifest::read(run).expect("run.json");
    m.backends[0]["launched"]["pid"]
        .as_u64()
        .expect("a launched server's pid")
}
