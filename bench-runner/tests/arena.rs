//! Arena rankings: known truth, invariances, reproducibility, import, the vote page in
//! headless Chromium, and the judge loop against real llama-servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgebench::arena::battles::{BattleRow, Battles, Winner, read_rows};
use edgebench::arena::rate::{Leaderboard, RateOptions, rate_battles};
use edgebench::arena::synth::Synth;
use serde_json::{Value, json};

use crate::common::*;

const ELO: f64 = 400.0 / std::f64::consts::LN_10;

/// Five models with well-separated strengths, 20,000 battles with 10% ties.
fn known() -> (Synth, Vec<BattleRow>) {
    let s = Synth {
        models: ["m-a", "m-b", "m-c", "m-d", "m-e"]
            .map(String::from)
            .to_vec(),
        theta: vec![-1.2, 0.5, -0.6, 1.1, 0.0],
    };
    let rows = s.rows(20_000, 0.1, 7);
    (s, rows)
}

fn rated(rows: &[BattleRow], opts: RateOptions) -> Leaderboard {
    let b = Battles::from_rows(rows, opts.style).unwrap();
    rate_battles(&b, &opts, vec!["test".into()]).unwrap()
}

fn by_model(lb: &Leaderboard) -> std::collections::BTreeMap<String, (f64, f64, f64)> {
    lb.rows
        .iter()
        .map(|r| (r.model.clone(), (r.rating, r.ci_low, r.ci_high)))
        .collect()
}

/// An independent maximum-likelihood fit: per battle (no aggregation), θ of the last model
/// fixed at 0, no ridge, Newton with Gaussian elimination. Returns mean-1000 Elo ratings.
fn independent_newton(models: &[String], rows: &[BattleRow]) -> Vec<f64> {
    let k = models.len();
    let idx = |m: &str| models.iter().position(|x| x == m).unwrap();
    let data: Vec<(usize, usize, f64)> = rows
        .iter()
        .map(|r| {
            (
                idx(&r.model_a),
                idx(&r.model_b),
                match Winner::parse(&r.winner).unwrap() {
                    Winner::A => 1.0,
                    Winner::B => 0.0,
                    _ => 0.5,
                },
            )
        })
        .collect();
    let n = k - 1;
    let mut th = vec![0.0f64; k];
    for _ in 0..100 {
        let mut g = vec![0.0; n];
        let mut h = vec![vec![0.0; n]; n];
        for &(a, b, y) in &data {
            let p = 1.0 / (1.0 + (th[b] - th[a]).exp());
            let w = p * (1.0 - p);
            for (u, su) in [(a, 1.0), (b, -1.0)] {
                if u < n {
                    g[u] += su * (y - p);
                    for (v, sv) in [(a, 1.0), (b, -1.0)] {
                        if v < n {
                            h[u][v] += su * sv * w;
                        }
                    }
                }
            }
        }
        // Solve h Δ = g (h is the negative Hessian) by elimination with partial pivoting.
        let mut m: Vec<Vec<f64>> = h
            .iter()
            .zip(&g)
            .map(|(r, gi)| r.iter().copied().chain([*gi]).collect())
            .collect();
        for c in 0..n {
            let piv = (c..n)
                .max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))
                .unwrap();
            m.swap(c, piv);
            for r in 0..n {
                if r != c {
                    let f = m[r][c] / m[c][c];
                    for j in c..=n {
                        m[r][j] -= f * m[c][j];
                    }
                }
            }
        }
        let step: Vec<f64> = (0..n).map(|i| m[i][n] / m[i][i]).collect();
        for i in 0..n {
            th[i] += step[i];
        }
        if step.iter().all(|s| s.abs() < 1e-14) {
            break;
        }
    }
    let mean = th.iter().sum::<f64>() / k as f64;
    th.iter().map(|t| 1000.0 + ELO * (t - mean)).collect()
}

#[test]
fn known_truth_is_recovered_and_matches_an_independent_fit() {
    let (s, rows) = known();
    let lb = rated(
        &rows,
        RateOptions {
            rounds: 200,
            ..Default::default()
        },
    );
    // The order of the fit is the order of the true strengths.
    let mut truth: Vec<(String, f64)> = s
        .models
        .iter()
        .cloned()
        .zip(s.theta.iter().copied())
        .collect();
    truth.sort_by(|a, b| b.1.total_cmp(&a.1));
    let fitted: Vec<&str> = lb.rows.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(
        fitted,
        truth.iter().map(|t| t.0.as_str()).collect::<Vec<_>>()
    );
    // Point estimates agree with the independent per-battle Newton fit to 1e-6 Elo.
    let models: Vec<String> = {
        let mut m = s.models.clone();
        m.sort();
        m
    };
    let indep = independent_newton(&models, &rows);
    let got = by_model(&lb);
    for (m, r) in models.iter().zip(&indep) {
        assert!((got[m].0 - r).abs() < 1e-6, "{m}: {} vs {r}", got[m].0);
    }
    // The truth (centred, on the Elo scale) is near each estimate: within twice the interval.
    let mean = s.theta.iter().sum::<f64>() / 5.0;
    for (m, t) in s.models.iter().zip(&s.theta) {
        let (r, lo, hi) = got[m];
        let truth = 1000.0 + ELO * (t - mean);
        assert!(lo < r && r < hi, "{m}: {lo} {r} {hi}");
        assert!(
            (truth - r).abs() < (hi - lo),
            "{m}: truth {truth}, fit {r} [{lo}, {hi}]"
        );
    }
    // Clearly separated models get distinct ranks, and everything adds up.
    assert!(
        lb.rows.iter().all(|r| r.rank_ub == r.rank_worst),
        "{:?}",
        lb.rows
    );
    assert_eq!(lb.rows.iter().map(|r| r.votes).sum::<u64>(), 40_000);
    assert!(
        lb.rows
            .iter()
            .all(|r| !r.provisional && r.sandwich_low.unwrap() < r.rating)
    );
    // Online Elo agrees on who is best and worst.
    let best = lb
        .rows
        .iter()
        .max_by(|a, b| a.online_elo.total_cmp(&b.online_elo))
        .unwrap();
    assert_eq!(best.model, "m-d");
}

#[test]
fn anchoring_shifts_by_a_constant_and_swapping_sides_changes_nothing() {
    let (_, rows) = known();
    let base = rated(
        &rows,
        RateOptions {
            rounds: 100,
            ..Default::default()
        },
    );
    let anchored = rated(
        &rows,
        RateOptions {
            rounds: 100,
            anchor: Some(("m-c".into(), 1200.0)),
            ..Default::default()
        },
    );
    let (b, a) = (by_model(&base), by_model(&anchored));
    assert_eq!(a["m-c"].0, 1200.0);
    let shift = a["m-a"].0 - b["m-a"].0;
    for m in b.keys() {
        assert!((a[m].0 - b[m].0 - shift).abs() < 1e-9, "{m}");
    }
    // The anchor's own interval collapses: it is pinned in every bootstrap round.
    assert!((a["m-c"].2 - a["m-c"].1).abs() < 1e-9);
    // Mean 1000 without an anchor.
    assert!((b.values().map(|x| x.0).sum::<f64>() / 5.0 - 1000.0).abs() < 1e-9);

    // Every battle written from the other side, rows in reverse order.
    let swapped: Vec<BattleRow> = rows
        .iter()
        .rev()
        .map(|r| BattleRow {
            model_a: r.model_b.clone(),
            model_b: r.model_a.clone(),
            winner: Winner::parse(&r.winner).unwrap().mirrored().as_str().into(),
            ..r.clone()
        })
        .collect();
    let sw = by_model(&rated(
        &swapped,
        RateOptions {
            rounds: 100,
            ..Default::default()
        },
    ));
    for m in b.keys() {
        assert!(
            (sw[m].0 - b[m].0).abs() < 1e-9,
            "{m}: {} vs {}",
            sw[m].0,
            b[m].0
        );
        assert_eq!(
            (sw[m].1, sw[m].2),
            (b[m].1, b[m].2),
            "{m}: bootstrap intervals differ"
        );
    }
}

#[test]
fn bootstrap_is_reproducible_for_a_seed() {
    let (_, rows) = known();
    let run = |seed, threads| {
        rated(
            &rows,
            RateOptions {
                rounds: 300,
                seed,
                threads,
                ..Default::default()
            },
        )
        .rows
    };
    let a = run(11, 1);
    assert_eq!(a, run(11, 2), "same seed, other thread count");
    assert_eq!(a, run(11, 1));
    let c = run(12, 2);
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.ci_low != y.ci_low),
        "another seed should move the intervals"
    );
}

#[test]
fn style_control_separates_length_from_quality() {
    // Two equally good models; `verbose` tends to write longer answers, and the voters prefer
    // the longer answer whoever wrote it: P(A wins) = σ(3 (len_A − len_B) / (len_A + len_B)).
    let mut state = 12345u64;
    let mut rnd = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut rows = Vec::new();
    for i in 0..8000 {
        let (a, b) = if i % 2 == 0 {
            ("verbose", "terse")
        } else {
            ("terse", "verbose")
        };
        let mut len = |m: &str| {
            if m == "verbose" {
                150.0 + 300.0 * rnd()
            } else {
                50.0 + 300.0 * rnd()
            }
        };
        let (la, lb) = (len(a).round(), len(b).round());
        let p_a = 1.0 / (1.0 + (-3.0 * (la - lb) / (la + lb)).exp());
        rows.push(BattleRow {
            battle_id: i.to_string(),
            model_a: a.into(),
            model_b: b.into(),
            winner: if rnd() < p_a { "model_a" } else { "model_b" }.into(),
            judge: "h".into(),
            tokens_a: Some(la as u64),
            tokens_b: Some(lb as u64),
            headers_a: Some(0),
            headers_b: Some(0),
            lists_a: Some(0),
            lists_b: Some(0),
            bold_a: Some(0),
            bold_b: Some(0),
            ..Default::default()
        });
    }
    let lb = rated(
        &rows,
        RateOptions {
            rounds: 0,
            style: true,
            ..Default::default()
        },
    );
    let m = |name: &str| lb.rows.iter().find(|r| r.model == name).unwrap().clone();
    let plain = m("verbose").rating - m("terse").rating;
    let styled = m("verbose").style_rating.unwrap() - m("terse").style_rating.unwrap();
    assert!(plain > 40.0, "plain gap {plain}");
    assert!(styled.abs() < 25.0, "style-controlled gap {styled}");
    assert!(m("verbose").style_rank_ub.is_some());
    let coef = lb.disclosure.style_control.as_ref().unwrap();
    assert_eq!(coef[0].0, "tokens");
    assert!(coef[0].1 > 0.3, "{coef:?}");
}

#[test]
fn import_fastchat_battles_and_rate_them() {
    let tmp = tempfile::tempdir().unwrap();
    let records = json!([
        {"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "u1", "turn": 1, "anony": true, "tstamp": 10.0},
        {"model_a": "alpha", "model_b": "beta", "winner": "model_a", "judge": "u2", "turn": 1, "anony": true, "tstamp": 11.0},
        {"model_a": "beta", "model_b": "alpha", "winner": "tie", "judge": "u3", "turn": 1, "anony": true, "tstamp": 12.0},
        {"model_a": "beta", "model_b": "evil<script>alert(1)</script>", "winner": "tie (bothbad)", "judge": "u1", "turn": 2, "anony": true, "tstamp": 13.0,
         "conv_metadata": {"sum_assistant_a_tokens": 12, "sum_assistant_b_tokens": 30, "header_count_a": {"h1": 1}, "header_count_b": {"h1": 0},
                           "list_count_a": {"ordered": 0, "unordered": 2}, "list_count_b": {"ordered": 0, "unordered": 0},
                           "bold_count_a": {"**": 1, "__": 0}, "bold_count_b": {"**": 0, "__": 0}}},
        {"model_a": "evil<script>alert(1)</script>", "model_b": "alpha", "winner": "model_b", "judge": "u4", "turn": 1, "anony": true, "tstamp": 14.0},
        {"model_a": "alpha", "model_b": "beta", "winner": "model_b", "judge": "u5", "turn": 1, "anony": false, "tstamp": 15.0},
        {"model_a": "beta", "model_b": "alpha", "winner": "model_a", "judge": "u6", "turn": 1, "anony": false, "tstamp": 16.0}
    ]);
    let file = write(
        tmp.path(),
        "clean_battle.json",
        &serde_json::to_string_pretty(&records).unwrap(),
    );
    let battles = tmp.path().join("battles.csv");
    let out = edgebench()
        .args(["arena", "import"])
        .arg(&file)
        .arg("--out")
        .arg(&battles)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("7 battles read, 5 anonymous kept, 2 named skipped"),
        "{stdout}"
    );
    let rows = read_rows(&battles).unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[3].winner, "tie (bothbad)");
    assert_eq!(
        (
            rows[3].tokens_a,
            rows[3].tokens_b,
            rows[3].headers_a,
            rows[3].lists_a,
            rows[3].bold_a
        ),
        (Some(12), Some(30), Some(1), Some(2), Some(1))
    );
    assert_eq!(rows[0].tokens_a, None);

    let lb_dir = tmp.path().join("lb");
    let out = edgebench()
        .args([
            "arena",
            "rate",
            "--rounds",
            "50",
            "--min-votes",
            "4",
            "--quiet",
        ])
        .arg(&battles)
        .arg("--out")
        .arg(&lb_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_path(lb_dir.join("leaderboard.csv")).unwrap();
    let hdr = rdr.headers().unwrap().clone();
    let recs: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let col = |r: &csv::StringRecord, name: &str| {
        r[hdr.iter().position(|h| h == name).unwrap()].to_string()
    };
    let get = |m: &str| recs.iter().find(|r| col(r, "model") == m).unwrap().clone();
    // alpha: 2 wins + 1 tie vs beta, 1 win vs evil → 4 votes, 3 wins.
    assert_eq!(
        (
            col(&get("alpha"), "votes"),
            col(&get("alpha"), "wins"),
            col(&get("alpha"), "ties")
        ),
        ("4".into(), "3".into(), "1".into())
    );
    assert_eq!(
        (
            col(&get("beta"), "votes"),
            col(&get("beta"), "losses"),
            col(&get("beta"), "ties")
        ),
        ("4".into(), "2".into(), "2".into())
    );
    assert_eq!(col(&get("evil<script>alert(1)</script>"), "votes"), "2");
    assert_eq!(
        col(&get("evil<script>alert(1)</script>"), "provisional"),
        "true"
    );
    assert_eq!(col(&get("alpha"), "provisional"), "false");
    assert_eq!(col(&recs[0], "model"), "alpha");
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(lb_dir.join("disclosure.json")).unwrap())
            .unwrap();
    assert_eq!(d["battles"], 5);
    let pair = d["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model_x"] == "alpha" && p["model_y"] == "beta")
        .unwrap();
    assert_eq!(
        (
            pair["battles"].as_u64(),
            pair["wins_x"].as_u64(),
            pair["ties"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    // Hostile model names stay text in HTML and Markdown.
    let html = std::fs::read_to_string(lb_dir.join("leaderboard.html")).unwrap();
    assert!(
        html.contains("evil&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("evil&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    let md = std::fs::read_to_string(lb_dir.join("leaderboard.md")).unwrap();
    assert!(
        !md.contains("<script") && md.contains("## Disclosure") && md.contains("Minimum votes: 4")
    );

    // Bad input: exit 2 with the battle named.
    let bad = write(
        tmp.path(),
        "bad.json",
        r#"[{"model_a":"x","model_b":"y","winner":"leftvote","anony":true}]"#,
    );
    edgebench()
        .args(["arena", "import"])
        .arg(&bad)
        .arg("--out")
        .arg(tmp.path().join("b2.csv"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("leftvote"));
    edgebench()
        .args(["arena", "rate", "--anchor", "nobody=1000"])
        .arg(&battles)
        .arg("--out")
        .arg(&lb_dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nobody"));
}

// ---------------------------------------------------------------------------------------
// The vote page in headless Chromium, driven over the Chrome DevTools Protocol.

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

// ---------------------------------------------------------------------------------------
// The judge loop on real llama-servers: Gemma 3 270M and Qwen2.5-Coder 0.5B as contestants,
// Qwen as the judge. The quality is low; the pipeline is real.

/// The two contestants as the shipped config names them, on the tests' shared servers (one
/// thread each, started once per test process) instead of two servers launched per command.
fn arena_config(dir: &Path) -> PathBuf {
    let entry = |name: &str, url: String| {
        format!(
            "[backends.{name}]\nkind = \"openai\"\nbase_url = {url:?}\nendpoint = \"chat\"\ndevice = \"local\"\n"
        )
    };
    write(
        dir,
        "arena-backends.toml",
        &format!(
            "default = \"llama-server\"\n{}{}",
            entry("llama-server", shared_gemma().base_url()),
            entry("llama-server-qwen", shared_qwen().base_url())
        ),
    )
}

fn arena_run(dir: &Path, prompts: &Path, config: &Path) -> (bool, String) {
    let out = edgebench()
        .args([
            "arena",
            "run",
            "--models",
            "llama-server,llama-server-qwen",
            "--judge",
            "llama-server-qwen",
            "--max-tokens",
            "24",
            "--judge-max-tokens",
            "8",
            "--quiet",
        ])
        .arg("--prompts")
        .arg(prompts)
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(dir)
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn judge_loop_on_llama_server_with_speed_beside_quality() {
    llama_server();
    gemma();
    let tmp = tempfile::tempdir().unwrap();
    let prompts = write(
        tmp.path(),
        "prompts.jsonl",
        "{\"id\": \"capital\", \"prompt\": \"What is the capital of France? Answer in one sentence.\"}\n{\"id\": \"sum\", \"prompt\": \"What is 12 + 30? Answer with the number.\"}\n",
    );
    let dir = tmp.path().join("arena");
    let config = arena_config(tmp.path());
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(ok, "{log}");
    assert!(
        log.contains("4 new answers, 4 new judgments, 2 new battles (2 in all)"),
        "{log}"
    );
    let answers: Vec<Value> = std::fs::read_to_string(dir.join("answers.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    let models: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        vec![
            "gemma-3-270m-q4_k_m.gguf",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        ]
    );
    assert!(
        answers
            .iter()
            .all(|a| !a["text"].as_str().unwrap().is_empty())
    );
    let judgments: Vec<Value> = std::fs::read_to_string(dir.join("judgments.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(judgments.len(), 4);
    let rows = read_rows(&dir.join("battles.csv")).unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r.judge, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
        let j = |o: &str| {
            judgments
                .iter()
                .find(|j| j["battle_id"] == r.battle_id.as_str() && j["order"] == o)
                .unwrap()
        };
        let (ab, ba) = (
            j("ab")["verdict"].as_str().unwrap(),
            j("ba")["verdict"].as_str().unwrap(),
        );
        assert!(["A", "B", "C", "?"].contains(&ab) && ["A", "B", "C", "?"].contains(&ba));
        // Both orders were asked, with the answers swapped; the battle follows the rule.
        assert_eq!(r.verdict, format!("ab={ab} ba={ba}"));
        assert_eq!(r.winner, edgebench::arena::judge::combine(ab, ba).as_str());
        assert!(j("ab")["raw"].is_string());
        assert!(r.tokens_a.unwrap() > 0 && r.tokens_b.unwrap() > 0);
    }

    // Re-running does nothing new; after losing the last battle and its last verdict, it
    // continues where it stopped.
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(
        ok && log.contains("0 new answers, 0 new judgments, 0 new battles (2 in all)"),
        "{log}"
    );
    let csv = std::fs::read_to_string(dir.join("battles.csv")).unwrap();
    let keep: Vec<&str> = csv.lines().take(2).collect();
    std::fs::write(dir.join("battles.csv"), keep.join("\n") + "\n").unwrap();
    let jl = std::fs::read_to_string(dir.join("judgments.jsonl")).unwrap();
    let keep: Vec<&str> = jl.lines().take(3).collect();
    std::fs::write(dir.join("judgments.jsonl"), keep.join("\n") + "\n").unwrap();
    let (ok, log) = arena_run(&dir, &prompts, &config);
    assert!(
        ok && log.contains("0 new answers, 1 new judgments, 1 new battles (2 in all)"),
        "{log}"
    );
    assert_eq!(read_rows(&dir.join("battles.csv")).unwrap().len(), 2);

    // Speed from real runs of both models, joined with the ratings: a few short requests each.
    let scenario = write(
        tmp.path(),
        "speed.toml",
        "name = \"speed\"\nkind = \"throughput\"\nprompt_tokens = [32]\nmax_tokens = [8]\nwarmup = 0\nrepetitions = 2\nignore_eos = true\n",
    );
    let out = edgebench()
        .arg("run")
        .arg(&scenario)
        .arg("--config")
        .arg(&config)
        .args([
            "--backend",
            "llama-server",
            "--backend",
            "llama-server-qwen",
            "--quiet",
            "--run-id",
            "speed",
        ])
        .arg("--out")
        .arg(tmp.path())
        .timeout(COMMAND_TIMEOUT)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lb = tmp.path().join("lb");
    let out = edgebench()
        .args([
            "arena",
            "rate",
            "--rounds",
            "100",
            "--style",
            "--min-tok-s",
            "0.001",
        ])
        .arg(dir.join("battles.csv"))
        .arg("--speed")
        .arg(tmp.path().join("speed"))
        .arg("--out")
        .arg(&lb)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("## Quality × speed")
            && stdout.contains("Best on **local** at ≥ 0.001 tok/s"),
        "{stdout}"
    );
    let mut rdr = csv::Reader::from_path(lb.join("quality_speed.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(&r[0], "local");
        // Any positive speed: the figure itself is the benchmark's business, and a loaded
        // 2-core machine has measured Gemma below 1 tok/s here.
        let tok_s: f64 = r[5].parse().unwrap();
        assert!(tok_s > 0.0, "{r:?}");
    }
    assert!(
        rows.iter().any(|r| &r[8] == "true"),
        "someone is on the frontier"
    );
    let svg = std::fs::read_to_string(lb.join("pareto-local.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("Pareto frontier") && svg.contains("gemma-3-270m")
    );
    let html = std::fs::read_to_string(lb.join("leaderboard.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Quality × speed"));
}
