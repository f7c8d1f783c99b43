//! The vote page in headless Chromium, driven over the Chrome DevTools Protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgebench::arena::battles::read_rows;
use serde_json::{Value, json};

use crate::common::*;

fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
        {
            if o.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            }
        }
    }
    panic!("headless Chromium is missing: `apt-get install -y chromium` (scripts/setup)");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal HTTP/1.1 exchange: returns (status, body).
fn http(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

fn post_form(addr: &str, body: &str) -> (u16, String) {
    http(
        addr,
        &format!(
            "POST /vote HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

type Ws = tungstenite::WebSocket<TcpStream>;

struct Cdp {
    ws: Ws,
    next: u64,
}

impl Cdp {
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.ws
            .send(tungstenite::Message::text(
                json!({"id": id, "method": method, "params": params}).to_string(),
            ))
            .unwrap();
        loop {
            let msg = self.ws.read().unwrap();
            if let tungstenite::Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == id {
                    return v;
                }
            }
        }
    }

    /// Evaluates JavaScript in the page; `None` while the page is between documents.
    fn eval(&mut self, expr: &str) -> Option<Value> {
        let v = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        if v.get("error").is_some() || v["result"].get("exceptionDetails").is_some() {
            return None;
        }
        Some(v["result"]["result"]["value"].clone())
    }

    fn wait_for(&mut self, expr: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(v) = self.eval(expr) {
                if !v.is_null() && v != Value::Bool(false) {
                    return v;
                }
            }
            assert!(Instant::now() < until, "timed out waiting for `{expr}`");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn vote_page_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\"> plus **bold** text";
    let answers = [
        json!({"prompt_id": "p1", "prompt": "Say something <b>nice</b>.", "model": "model-good", "backend": "x", "text": "Something nice.", "tokens": 3, "finish_reason": "stop"}),
        json!({"prompt_id": "p1", "prompt": "Say something <b>nice</b>.", "model": "model-evil", "backend": "y", "text": evil, "tokens": 20, "finish_reason": "stop"}),
    ];
    let answers_path = write(
        tmp.path(),
        "answers.jsonl",
        &answers
            .iter()
            .map(|a| a.to_string() + "\n")
            .collect::<String>(),
    );
    let battles = tmp.path().join("battles.csv");

    let bin = assert_cmd::cargo::cargo_bin("edgebench");
    let mut server = Killed(
        Command::new(bin)
            .args([
                "arena",
                "serve",
                "--port",
                "0",
                "--seed",
                "3",
                "--min-read-s",
                "0",
            ])
            .arg("--answers")
            .arg(&answers_path)
            .arg("--battles")
            .arg(&battles)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "loopback by default: {url}"
    );
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    // Only the page's own assets are served.
    assert_eq!(get(&addr, "/assets/style.css").0, 200);
    for p in [
        "/../Cargo.toml",
        "/assets/../../Cargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/etc/passwd",
        "/battles.csv",
    ] {
        assert_eq!(get(&addr, p).0, 404, "{p}");
    }

    let profile = tmp.path().join("chromium-profile");
    let _browser = Killed(
        Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port_file = profile.join("DevToolsActivePort");
    let until = Instant::now() + Duration::from_secs(60);
    let devtools_port = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
            .filter(|p| !p.is_empty())
        {
            break p;
        }
        assert!(Instant::now() < until, "Chromium did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let devtools = format!("127.0.0.1:{devtools_port}");
    let page_ws = loop {
        let (_, body) = get(&devtools, "/json/list");
        let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if let Some(p) = list
            .as_array()
            .and_then(|l| l.iter().find(|t| t["type"] == "page"))
        {
            break p["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < until, "no page target");
        std::thread::sleep(Duration::from_millis(100));
    };
    let stream = TcpStream::connect(&devtools).unwrap();
    let (ws, _) = tungstenite::client(page_ws.as_str(), stream).unwrap();
    let mut cdp = Cdp { ws, next: 0 };

    cdp.call("Page.navigate", json!({"url": url}));
    cdp.wait_for(
        "document.readyState === 'complete' && document.getElementById('vote-a') !== null",
    );
    // A <script> inside a model answer is shown as text and never runs.
    let texts = cdp.wait_for("JSON.stringify([document.getElementById('answer-a').textContent, document.getElementById('answer-b').textContent, document.querySelectorAll('.answer .text *').length, typeof window.pwned, document.getElementById('prompt').textContent])");
    let v: Value = serde_json::from_str(texts.as_str().unwrap()).unwrap();
    assert!(
        v[0].as_str()
            .unwrap()
            .contains("<script>window.pwned = 1</script>")
            || v[1]
                .as_str()
                .unwrap()
                .contains("<script>window.pwned = 1</script>"),
        "{v}"
    );
    assert_eq!(v[2], 0, "no elements inside the answers: {v}");
    assert_eq!(v[3], "undefined", "model text ran as script: {v}");
    assert_eq!(v[4], "Say something <b>nice</b>.");
    // Names are not on the page before the vote.
    let body = cdp
        .wait_for("document.body.innerHTML")
        .as_str()
        .unwrap()
        .to_string();
    assert!(!body.contains("model-good") && !body.contains("model-evil"));
    let a_is_evil = v[0].as_str().unwrap().contains("pwned");
    let token = cdp
        .wait_for("document.querySelector('input[name=token]').value")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32);

    // Cast the vote through the page: click "B is better".
    cdp.eval("document.getElementById('vote-b').click(), true")
        .unwrap();
    let revealed = cdp.wait_for("location.pathname === '/vote' && document.readyState === 'complete' && document.getElementById('reveal') && document.getElementById('reveal').textContent");
    let revealed = revealed.as_str().unwrap();
    let (shown_a, shown_b) = if a_is_evil {
        ("model-evil", "model-good")
    } else {
        ("model-good", "model-evil")
    };
    assert!(
        revealed.contains(&format!(
            "Answer A was written by {shown_a}; answer B by {shown_b}"
        )),
        "{revealed}"
    );

    let rows = read_rows(&battles).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.model_a.as_str(),
            r.model_b.as_str(),
            r.winner.as_str(),
            r.judge.as_str(),
            r.verdict.as_str()
        ),
        (shown_a, shown_b, "model_b", "human", "b")
    );
    assert_eq!(r.prompt_id, "p1");
    assert!(r.tokens_a.is_some() && r.bold_a.is_some());

    // The same token again is refused, and nothing is written.
    let (status, body) = post_form(&addr, &format!("token={token}&choice=a"));
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already voted"));
    // An invented token too.
    assert_eq!(
        post_form(&addr, &format!("token={}&choice=a", "0".repeat(32))).0,
        409
    );
    // Oversized bodies are refused before they are read.
    let big = format!("token={token}&choice=a&pad={}", "x".repeat(4096));
    assert_eq!(post_form(&addr, &big).0, 413);
    assert_eq!(read_rows(&battles).unwrap().len(), 1);
    // Security headers are on every page.
    let (_, _) = get(&addr, "/");
    let raw = http(
        &addr,
        &format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(raw.0, 200);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = String::new();
    s.read_to_string(&mut head).unwrap();
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"));
}
