//! Shared helpers: where the repository, the model and llama-server are, and how to write a
//! backend config for a test.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The longest any one edgebench command of a test may run. A safety net that ends a hung
/// command, not a pass condition: the workloads take seconds to a few minutes even on a
/// loaded 2-core machine, so this is many times what they need.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1800);

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
        .timeout(COMMAND_TIMEOUT)
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

/// A llama-server started once per test process and shared by every test that needs only a
/// plain server (no launch block, no restarts, not frozen or killed): starting one server per
/// test cost seconds each on a loaded machine, and many servers side by side fight for the
/// cores. Requests of tests running at the same time queue in its slots, so tests that use it
/// must not assert on queueing-sensitive timings.
pub struct SharedServer {
    pub port: u16,
    /// The test process's end of a pipe to the watchdog shell beside the server: when the test
    /// process exits (however it ends), the pipe closes and the shell stops the server.
    _lifeline: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
}

/// Arguments of the shared Gemma server: 2 slots of 2048 tokens, one thread (tests run two at
/// a time on a 2-core machine; llama.cpp's spinning threads slow down many-fold when they
/// outnumber the cores).
pub const SHARED_GEMMA_ARGS: &[&str] = &["-c", "4096", "-np", "2", "-t", "1"];
/// Context per slot of the shared Gemma server.
pub const SHARED_GEMMA_SLOT_CTX: u32 = 2048;

/// The shared llama-server on Gemma 3 270M (chat template fallback, no `--jinja`).
pub fn shared_gemma() -> &'static SharedServer {
    static S: OnceLock<SharedServer> = OnceLock::new();
    S.get_or_init(|| SharedServer::start(&gemma(), SHARED_GEMMA_ARGS))
}

pub fn qwen() -> PathBuf {
    let p = repo_root().join("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup first",
        p.display()
    );
    p
}

/// The shared llama-server on Qwen2.5-Coder 0.5B Instruct, with `--jinja` (its template knows
/// tools): 2 slots of 2048 tokens, one thread.
pub fn shared_qwen() -> &'static SharedServer {
    static S: OnceLock<SharedServer> = OnceLock::new();
    S.get_or_init(|| {
        SharedServer::start(&qwen(), &["-c", "4096", "-np", "2", "-t", "1", "--jinja"])
    })
}

impl SharedServer {
    fn start(model: &Path, args: &[&str]) -> SharedServer {
        let port = free_port();
        // The shell runs the server, and beside it waits for its stdin (our pipe) to close;
        // then it stops the server. It exits when the server does, so a server that dies at
        // start is seen at once.
        let mut shell = Command::new("sh")
            .arg("-c")
            // (A background job's stdin is /dev/null unless redirected: hence fd 3.)
            .arg(r#"exec 3<&0; "$@" </dev/null >/dev/null 2>&1 3<&- & srv=$!; (cat <&3 >/dev/null; kill $srv 2>/dev/null) & wait $srv"#)
            .arg("sh")
            .arg(llama_server())
            .arg("-m")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--no-webui"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llama-server");
        let lifeline = shell.stdin.take().expect("watchdog pipe");
        wait_healthy(port, || {
            shell
                .try_wait()
                .ok()
                .flatten()
                .map(|s| format!("llama-server exited ({s}) before it became healthy"))
        });
        SharedServer {
            port,
            _lifeline: Mutex::new(lifeline),
            _shell: Mutex::new(shell),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits until the server on `port` answers /health with 200. `dead` says why to give up (the
/// server process ended); the time limit is only a safety net for a server that hangs.
pub fn wait_healthy(port: u16, mut dead: impl FnMut() -> Option<String>) {
    let limit = Instant::now() + Duration::from_secs(900);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        if let Some(why) = dead() {
            panic!("{why}");
        }
        assert!(
            Instant::now() < limit,
            "llama-server on port {port} was not healthy after 900 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A backend config named `srv` that talks to the shared Gemma server (no launch block), with
/// extra backend keys.
pub fn shared_gemma_config(dir: &Path, extra_keys: &str) -> PathBuf {
    let text = format!(
        "default = \"srv\"\n[backends.srv]\nkind = \"openai\"\nbase_url = {:?}\ndevice = \"local\"\n{extra_keys}\n",
        shared_gemma().base_url()
    );
    let path = dir.join("backends.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// llama-bench built from the llama.cpp sources the crate vendors (scripts/build-llama-bench),
/// built once per test process: two builds at once would share one build folder.
pub fn llama_bench() -> PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/build-llama-bench"))
            .output()
            .expect("run scripts/build-llama-bench");
        assert!(
            out.status.success(),
            "scripts/build-llama-bench failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}
