//! A server that repeats the API key back (as hosted APIs do: "Incorrect API key provided:
//! Bearer sk-…") must not get it into anything edgebench writes or prints. The server here is
//! the test's own, on 127.0.0.1: it echoes the `Authorization` header it received.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use edgebench::results::reader::read_samples;

use crate::common::*;

/// The key (a quote and a backslash in it, so its JSON- and CSV-escaped forms differ from
/// it) and a distinctive part of it that every form of it contains.
const KEY: &str = r#"sk-edgebench-TEST-7Q2x9Lk4v8"q\z-0"#;
const KEY_CORE: &str = "TEST-7Q2x9Lk4v8";

/// What the echoing server answers: `/v1/models` lists a model (its `owned_by` is the
/// Authorization header, so the probe's record in run.json carries it) or, with
/// `refuse_models`, refuses with the header in the message; completions are refused with 401
/// and the header in the message.
fn start_echo_server(refuse_models: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, refuse_models));
        }
    });
    port
}

fn answer(mut s: TcpStream, refuse_models: bool) {
    let Some((head, _body)) = read_request(&mut s) else {
        return;
    };
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let auth = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let refusal = serde_json::json!({"error": {
        "message": format!("Incorrect API key provided: {auth}. You can find your API key at …"),
        "type": "invalid_request_error"
    }})
    .to_string();
    let (status, body) = match path.as_str() {
        "/v1/models" if refuse_models => ("401 Unauthorized", refusal),
        "/v1/models" => (
            "200 OK",
            serde_json::json!({"object": "list", "data": [{"id": "echo", "owned_by": auth}]})
                .to_string(),
        ),
        "/v1/chat/completions" => ("401 Unauthorized", refusal),
        _ => ("404 Not Found", format!("no {path} here (you sent {auth})")),
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The request head (as text) and body.
fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = buf[i + 4..].to_vec();
            while body.len() < len {
                let n = s.read(&mut b).ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&b[..n]);
            }
            return Some((head, body));
        }
        let n = s.read(&mut b).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
}

/// Runs a one-request scenario against the echoing server, the key in `EB_TEST_SECRET_KEY`.
fn run_against(port: u16, out: &Path) -> std::process::Output {
    let config = write(
        out,
        "b.toml",
        &format!(
            "default = \"echo\"\n[backends.echo]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key_env = \"EB_TEST_SECRET_KEY\"\nretries = 0\n"
        ),
    );
    let scenario = write(
        out,
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 1\n",
    );
    edgebench()
        .args(["run", "--run-id", "k"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(out)
        .env("EB_TEST_SECRET_KEY", KEY)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

/// Every file under `dir` (its path) that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if String::from_utf8_lossy(&std::fs::read(&p).unwrap()).contains(needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn a_key_the_server_repeats_reaches_no_file_and_no_terminal() {
    let port = start_echo_server(false);
    let tmp = tempfile::tempdir().unwrap();
    let out = run_against(port, tmp.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");

    // The row still says what happened, without the key.
    let rows = read_samples(&tmp.path().join("k/samples.csv"))
        .unwrap()
        .rows;
    assert_eq!(rows.len(), 1, "{stderr}");
    assert_eq!(rows[0].error_category.as_deref(), Some("http_client"));
    let msg = rows[0].error_message.as_deref().unwrap_or("");
    assert!(
        msg.contains("HTTP 401") && msg.contains("Incorrect API key provided: Bearer ***"),
        "{msg}"
    );
    // run.json keeps the server's model list, with the key masked where the server put it.
    let manifest = std::fs::read_to_string(tmp.path().join("k/run.json")).unwrap();
    assert!(
        manifest.contains("\"owned_by\": \"Bearer ***\""),
        "{manifest}"
    );

    let leaks = files_containing(tmp.path().join("k").as_path(), KEY_CORE);
    assert!(leaks.is_empty(), "the key is in {leaks:?}");
    assert!(!stdout.contains(KEY_CORE), "stdout: {stdout}");
    assert!(!stderr.contains(KEY_CORE), "stderr: {stderr}");
}

#[test]
fn a_key_in_a_refused_probe_is_masked_in_the_error() {
    let port = start_echo_server(true);
    let tmp = tempfile::tempdir().unwrap();
    let out = run_against(port, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("Incorrect API key provided: Bearer ***"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY_CORE), "stderr: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(KEY_CORE));
    let leaks = files_containing(tmp.path().join("k").as_path(), KEY_CORE);
    assert!(leaks.is_empty(), "the key is in {leaks:?}");
}

/// A launched "server" (Python's http.server, the test's own) that prints the key from its
/// environment and the Authorization header of every request into its log, and refuses
/// completions with the header in the message.
const LOGGING_SERVER: &str = r#"
import http.server, json, os, sys
print("started with key", os.environ["EB_TEST_SECRET_KEY"], flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        b = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        print("GET", self.path, "auth:", auth, file=sys.stderr, flush=True)
        if self.path == "/health":
            self.answer(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self.answer(200, {"data": [{"id": "echo", "owned_by": auth}]})
        else:
            self.answer(404, {"error": {"message": "no " + self.path}})
    def do_POST(self):
        auth = self.headers.get("Authorization", "")
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        print("POST", self.path, "auth:", auth, file=sys.stderr, flush=True)
        self.answer(401, {"error": {"message": "Incorrect API key provided: " + auth}})
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn a_launched_server_that_logs_the_key_leaves_it_out_of_the_kept_log() {
    let tmp = tempfile::tempdir().unwrap();
    let script = write(tmp.path(), "server.py", LOGGING_SERVER);
    let config = write(
        tmp.path(),
        "b.toml",
        &format!(
            "default = \"logged\"\n[backends.logged]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{{port}}/v1\"\napi_key_env = \"EB_TEST_SECRET_KEY\"\nretries = 0\n[backends.logged.launch]\ncommand = \"python3\"\nargs = [\"{}\", \"{{port}}\"]\nstartup_timeout_s = 120\n",
            script.display()
        ),
    );
    let scenario = write(
        tmp.path(),
        "s.toml",
        "kind = \"throughput\"\nprompt_tokens = [16]\nmax_tokens = [4]\nwarmup = 0\nrepetitions = 1\n",
    );
    let out = edgebench()
        .args(["run", "--run-id", "k"])
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(tmp.path())
        .env("EB_TEST_SECRET_KEY", KEY)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // The log is kept, with what the server wrote, the key masked.
    let log = std::fs::read_to_string(tmp.path().join("k/logged.log")).unwrap();
    assert!(log.contains("started with key ***"), "{log}");
    assert!(
        log.contains("POST /v1/chat/completions auth: Bearer ***"),
        "{log}"
    );
    let leaks = files_containing(tmp.path().join("k").as_path(), KEY_CORE);
    assert!(leaks.is_empty(), "the key is in {leaks:?}");
    assert!(!stderr.contains(KEY_CORE), "stderr: {stderr}");
}
