//! A small fault-injecting HTTP proxy that tests put between edgebench and a real
//! llama-server. It forces one request per connection (`Connection: close`), passes helper
//! calls (`/props`, `/tokenize`, …) through untouched, and applies its fault only to
//! completion requests: cut the stream after some bytes, delay every chunk, truncate a
//! chunk, replay the stream in bursts on the proxy's own clock, or answer 429/503 with
//! `Retry-After` a number of times first.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Close the connection after this many response bytes (headers included).
    CutAfter(usize),
    /// Sleep before forwarding each response read.
    Delay(Duration),
    /// Forward the response up to the middle of the n-th SSE event, then close.
    TruncateEvent(usize),
    /// Wait for the whole upstream response, then send its SSE events in groups of `events`
    /// (each event its own HTTP chunk, a group in one write) with `pause` between groups: a
    /// buffered stream whose rhythm is the proxy's, however fast or slow the server decodes.
    Bursts { events: usize, pause: Duration },
    /// Answer the first `times` completion requests with this status and Retry-After.
    Refuse {
        status: u16,
        retry_after_s: u32,
        times: usize,
    },
}

pub struct Proxy {
    pub port: u16,
    /// Completion requests seen (refused ones included).
    pub completions: Arc<AtomicUsize>,
}

fn read_head(s: &mut TcpStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf[..i + 4].to_vec();
            let mut body = buf[i + 4..].to_vec();
            let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
            let len = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
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

/// The request head with any Connection header replaced by `Connection: close`.
fn close_head(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn serve(mut client: TcpStream, upstream: u16, fault: Fault, completions: Arc<AtomicUsize>) {
    let Some((head, body)) = read_head(&mut client) else {
        return;
    };
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let is_completion = line.starts_with("POST") && line.contains("/completions");
    let fault = if is_completion { fault } else { Fault::None };
    if is_completion {
        let k = completions.fetch_add(1, Ordering::SeqCst);
        if let Fault::Refuse {
            status,
            retry_after_s,
            times,
        } = fault
        {
            if k < times {
                let body = r#"{"error":{"message":"injected refusal"}}"#;
                let msg = format!(
                    "HTTP/1.1 {status} Refused\r\nRetry-After: {retry_after_s}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(msg.as_bytes());
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = up.write_all(&close_head(&head));
    let _ = up.write_all(&body);
    if let Fault::Bursts { events, pause } = fault {
        replay_in_bursts(&mut client, &mut up, events, pause);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let mut sent = 0usize;
    let mut events = 0usize;
    let mut b = [0u8; 8192];
    loop {
        let n = match up.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &b[..n];
        match &fault {
            Fault::CutAfter(limit) if sent + n >= *limit => {
                let _ = client.write_all(&chunk[..limit - sent]);
                break;
            }
            Fault::Delay(d) => thread::sleep(*d),
            Fault::TruncateEvent(nth) => {
                // Count SSE events ("data:" lines); stop in the middle of the n-th.
                let mut cut = None;
                for (i, w) in chunk.windows(5).enumerate() {
                    if w == b"data:" {
                        events += 1;
                        if events == *nth {
                            cut = Some(i + 12.min(n - i));
                            break;
                        }
                    }
                }
                if let Some(c) = cut {
                    let _ = client.write_all(&chunk[..c]);
                    break;
                }
            }
            _ => {}
        }
        if client.write_all(chunk).is_err() {
            break;
        }
        sent += n;
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads the upstream response to its end, then re-sends its SSE events `events` at a time,
/// `pause` apart. The upstream answers chunked (llama-server streams SSE that way); the events
/// are re-framed one per HTTP chunk, so the client sees one read per event.
fn replay_in_bursts(client: &mut TcpStream, up: &mut TcpStream, events: usize, pause: Duration) {
    let mut raw = Vec::new();
    if up.read_to_end(&mut raw).is_err() {
        return;
    }
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let (head, rest) = (&raw[..split + 4], &raw[split + 4..]);
    let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let body = if head_text.contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    let text = String::from_utf8_lossy(&body);
    let sse: Vec<String> = text
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect();
    // The upstream head, with its framing replaced by ours.
    let mut out = String::new();
    for line in String::from_utf8_lossy(head).split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if line.is_empty()
            || lower.starts_with("transfer-encoding:")
            || lower.starts_with("content-length:")
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Transfer-Encoding: chunked\r\n\r\n");
    if client.write_all(out.as_bytes()).is_err() {
        return;
    }
    let _ = client.set_nodelay(true);
    for (i, group) in sse.chunks(events.max(1)).enumerate() {
        if i > 0 {
            thread::sleep(pause);
        }
        let mut frame = Vec::new();
        for e in group {
            frame.extend_from_slice(format!("{:x}\r\n{e}\r\n", e.len()).as_bytes());
        }
        if client.write_all(&frame).is_err() {
            return;
        }
    }
    let _ = client.write_all(b"0\r\n\r\n");
}

/// The payload of a chunked HTTP body.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        if size == 0 || rest.len() < eol + 2 + size {
            break;
        }
        body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[(eol + 4 + size).min(rest.len())..];
    }
    body
}

impl Proxy {
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let completions = Arc::new(AtomicUsize::new(0));
        let c = completions.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, c) = (fault.clone(), c.clone());
                thread::spawn(move || serve(stream, upstream, f, c));
            }
        });
        Proxy { port, completions }
    }
}

/// A llama-server started by the test itself (not by edgebench), killed on drop.
pub struct Server {
    pub child: std::process::Child,
    pub port: u16,
}

impl Server {
    pub fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(crate::common::llama_server())
            .args(["-m"])
            .arg(crate::common::gemma())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "-c",
                "2048",
                "-np",
                "2",
                "-t",
                "1",
                "--no-webui",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start llama-server");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ =
                    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut r = String::new();
                let _ = s.read_to_string(&mut r);
                if r.starts_with("HTTP/1.1 200") {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "llama-server did not become healthy"
            );
            thread::sleep(Duration::from_millis(100));
        }
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
