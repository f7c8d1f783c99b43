//! The vote page against an attacker (issue 21): a real `edgebench arena serve` on 127.0.0.1
//! and a real HTTP client. Forged Host, foreign Origin, a voter past the rate limit, a stolen
//! token, a vote before the minimum reading time, the access code; and the scripted-voter
//! fixture that `arena rate` must flag and `--exclude-flagged` must leave out.

// Stays whole: the four attacks share one server launcher and client helpers.
// Test helpers: an unwrap that fails is the test failing, with the value in the message.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use edgebench::arena::battles::{self, BattleRow};
use edgebench::arena::serve::record::{self, VoteRecord};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HOST, HeaderName, ORIGIN, REFERER, SET_COOKIE};

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    authority: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers for `prompts` prompts, each answered by `models` models.
fn answers(dir: &Path, prompts: usize, models: usize) -> PathBuf {
    let mut s = String::new();
    for p in 0..prompts {
        for m in 0..models {
            s += &json!({"prompt_id": format!("p{p}"), "prompt": format!("Question {p}?"), "model": format!("model-{m}"), "backend": "x", "text": format!("Answer {p} by {m}."), "tokens": 4, "finish_reason": "stop"}).to_string();
            s.push('\n');
        }
    }
    let path = dir.join(format!("answers-{prompts}x{models}.jsonl"));
    std::fs::write(&path, s).unwrap();
    path
}

fn serve(answers: &Path, battles: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("edgebench"));
    cmd.args(["arena", "serve", "--port", "0", "--seed", "1"])
        .arg("--answers")
        .arg(answers)
        .arg("--battles")
        .arg(battles)
        .args(extra)
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .trim_end_matches('/')
        .to_string();
    let authority = base.trim_start_matches("http://").to_string();
    Server {
        child,
        base,
        authority,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all().build().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A battle page: (status, voter cookie set by it, token on it, body).
struct Page {
    status: StatusCode,
    set_cookie: Option<String>,
    token: Option<String>,
    body: String,
}

async fn page(c: &reqwest::Client, s: &Server, cookies: &str) -> Page {
    let mut rq = c.get(format!("{}/", s.base));
    if !cookies.is_empty() {
        rq = rq.header(COOKIE, cookies);
    }
    let r = rq.send().await.unwrap();
    let status = r.status();
    let set_cookie = r
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.text().await.unwrap();
    let token = body
        .split_once("name=\"token\" value=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(t, _)| t.to_string());
    Page {
        status,
        set_cookie,
        token,
        body,
    }
}

/// `name=value` of a Set-Cookie header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Posts a vote with the given headers; returns (status, body).
async fn post(
    c: &reqwest::Client,
    s: &Server,
    headers: &[(reqwest::header::HeaderName, &str)],
    form: &str,
) -> (StatusCode, String) {
    let mut rq = c
        .post(format!("{}/vote", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string());
    for (k, v) in headers {
        rq = rq.header(k.clone(), *v);
    }
    let r = rq.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Rows in a battles file (the server creates it, with its header, when it starts).
fn rows(battles: &Path) -> usize {
    battles::read_rows(battles).unwrap().len()
}

#[test]
fn forged_host_foreign_origin_stolen_token_and_early_votes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = answers(tmp.path(), 20, 2);
    let battles = tmp.path().join("battles.csv");
    let s = serve(&answers, &battles, &["--min-read-s", "0"], &[]);
    let origin = s.base.clone();
    runtime().block_on(async {
        let c = client();
        // DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its own name.
        for host in ["evil.example", "evil.example:80", "127.0.0.1:1"] {
            let r = c
                .get(format!("{}/", s.base))
                .header(HOST, host)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
            let r = c
                .post(format!("{}/vote", s.base))
                .header(HOST, host)
                .header(ORIGIN, format!("http://{host}"))
                .body("token=x&choice=a")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
        // The loopback names with the port are this server.
        let port = s.authority.rsplit(':').next().unwrap();
        let r = c
            .get(format!("{}/", s.base))
            .header(HOST, format!("localhost:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);

        let p = page(&c, &s, "").await;
        assert_eq!(p.status, StatusCode::OK);
        let set = p.set_cookie.expect("a voter cookie");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = pair(&set);
        let token = p.token.unwrap();
        let form = format!("token={token}&choice=a");
        // Cross-origin and origin-less posts are refused, and write nothing.
        for bad in [
            vec![(ORIGIN, "http://evil.example")],
            vec![(ORIGIN, "null")],
            vec![(REFERER, "http://evil.example/page")],
            vec![
                (ORIGIN, "http://evil.example"),
                (REFERER, &format!("{origin}/")),
            ],
            vec![],
        ] {
            let mut h = bad.clone();
            h.push((COOKIE, &cookie));
            let (st, body) = post(&c, &s, &h, &form).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{bad:?}: {body}");
        }
        assert_eq!(rows(&battles), 0);
        // The token belongs to the voter it was shown to.
        let other = pair(&page(&c, &s, "").await.set_cookie.unwrap());
        let (st, _) = post(&c, &s, &[(ORIGIN, &origin), (COOKIE, &other)], &form).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert_eq!(rows(&battles), 0);
        // That spent it: one try per token.
        let p = page(&c, &s, &cookie).await;
        assert!(p.set_cookie.is_none(), "a known voter keeps the cookie");
        let form = format!("token={}&choice=b", p.token.unwrap());
        // Same origin by Referer alone is accepted (a browser that leaves Origin out).
        let (st, body) = post(
            &c,
            &s,
            &[(REFERER, &format!("{origin}/")), (COOKIE, &cookie)],
            &form,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let (st, _) = post(&c, &s, &[(ORIGIN, &origin), (COOKIE, &cookie)], &form).await;
        assert_eq!(st, StatusCode::CONFLICT, "single-use token");
        assert_eq!(rows(&battles), 1);
        // Who voted is a salted hash: neither the cookie nor the address is written.
        let votes = std::fs::read_to_string(record::votes_path(&battles)).unwrap();
        let cookie_value = cookie.split_once('=').unwrap().1;
        let all = votes.clone() + &std::fs::read_to_string(&battles).unwrap();
        assert!(
            !all.contains(cookie_value) && !all.contains("127.0.0.1"),
            "{all}"
        );
        let v: Vec<&str> = votes.lines().nth(1).unwrap().split(',').collect();
        assert_eq!(v[1].len(), 16, "{votes}");
    });
    drop(s);

    // A vote before the battle was on screen long enough does not count (and keeps its token).
    let s = serve(&answers, &battles, &["--min-read-s", "3600"], &[]);
    runtime().block_on(async {
        let c = client();
        let p = page(&c, &s, "").await;
        let cookie = pair(&p.set_cookie.unwrap());
        let form = format!("token={}&choice=a", p.token.unwrap());
        for _ in 0..2 {
            let (st, body) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &cookie)], &form).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("Too fast"), "{body}");
        }
    });
    assert_eq!(rows(&battles), 1);
}

#[test]
fn the_151st_vote_from_one_voter_is_refused_and_repeats_too() {
    let tmp = tempfile::tempdir().unwrap();
    // 160 prompts, one pair each: 160 distinct battles, more than the limit.
    let answers = answers(tmp.path(), 160, 2);
    let battles = tmp.path().join("battles.csv");
    // A long window so that the test does not depend on the machine's speed; the limit is
    // the default (150).
    let s = serve(
        &answers,
        &battles,
        &[
            "--min-read-s",
            "0",
            "--address-rate",
            "100000",
            "--rate-window-s",
            "3600",
        ],
        &[],
    );
    runtime().block_on(async {
        let c = client();
        let mut cookie = String::new();
        for i in 1..=151 {
            let p = page(&c, &s, &cookie).await;
            assert_eq!(p.status, StatusCode::OK);
            if let Some(set) = p.set_cookie {
                assert_eq!(i, 1);
                cookie = pair(&set);
            }
            let form = format!("token={}&choice=a", p.token.expect("a battle"));
            let (st, body) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &cookie)], &form).await;
            if i <= 150 {
                assert_eq!(st, StatusCode::OK, "vote {i}: {body}");
            } else {
                assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "vote {i}: {body}");
            }
        }
        // The limit is the voter's: another voter from the same address still votes.
        let p = page(&c, &s, "").await;
        let other = pair(&p.set_cookie.unwrap());
        let form = format!("token={}&choice=b", p.token.unwrap());
        let (st, _) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &other)], &form).await;
        assert_eq!(st, StatusCode::OK);
    });
    assert_eq!(rows(&battles), 151);
    drop(s);

    // Per address: fresh cookies do not help past --address-rate.
    let battles2 = tmp.path().join("b2.csv");
    let s = serve(
        &answers,
        &battles2,
        &[
            "--min-read-s",
            "0",
            "--address-rate",
            "3",
            "--rate-window-s",
            "3600",
        ],
        &[],
    );
    runtime().block_on(async {
        let c = client();
        for i in 1..=4 {
            let p = page(&c, &s, "").await;
            let cookie = pair(&p.set_cookie.unwrap());
            let form = format!("token={}&choice=a", p.token.unwrap());
            // A client-chosen X-Forwarded-For is ignored without --trust-proxy.
            let xff = format!("10.0.0.{i}");
            let h = [(ORIGIN, s.base.as_str()), (COOKIE, &cookie), (XFF, &xff)];
            let (st, _) = post(&c, &s, &h, &form).await;
            let want = if i <= 3 {
                StatusCode::OK
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(st, want, "vote {i}");
        }
    });
    assert_eq!(rows(&battles2), 3);
    drop(s);

    // One prompt, one pair: the same voter holding two pages of it gets one vote in.
    let one = self::answers(tmp.path(), 1, 2);
    let battles3 = tmp.path().join("b3.csv");
    let s = serve(&one, &battles3, &["--min-read-s", "0"], &[]);
    runtime().block_on(async {
        let c = client();
        let p1 = page(&c, &s, "").await;
        let cookie = pair(p1.set_cookie.as_ref().unwrap());
        let p2 = page(&c, &s, &cookie).await;
        for (p, want) in [(p1, StatusCode::OK), (p2, StatusCode::CONFLICT)] {
            let form = format!("token={}&choice=a", p.token.unwrap());
            let (st, body) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &cookie)], &form).await;
            assert_eq!(st, want, "{body}");
        }
        // And the page offers no battle it has already voted on.
        let p = page(&c, &s, &cookie).await;
        assert!(
            p.token.is_none() && p.body.contains("every battle"),
            "{}",
            p.body
        );
    });
    assert_eq!(rows(&battles3), 1);
}

#[test]
fn the_access_code_gates_votes_and_stays_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = answers(tmp.path(), 3, 2);
    let battles = tmp.path().join("battles.csv");
    let secret = "correct-horse-7c1e";
    // Unset variable: bad usage.
    let out = Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args([
            "arena",
            "serve",
            "--port",
            "0",
            "--vote-secret-env",
            "EB_NOT_SET_ANYWHERE",
        ])
        .arg("--answers")
        .arg(&answers)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let s = serve(
        &answers,
        &battles,
        &["--min-read-s", "0", "--vote-secret-env", "EB_VOTE_CODE"],
        &[("EB_VOTE_CODE", secret)],
    );
    runtime().block_on(async {
        let c = client();
        let p = page(&c, &s, "").await;
        assert!(
            p.token.is_none() && p.body.contains("access code"),
            "{}",
            p.body
        );
        let access = |code: &str| {
            c.post(format!("{}/access", s.base))
                .header(ORIGIN, s.base.as_str())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("code={code}"))
                .send()
        };
        assert_eq!(
            access("guess").await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        let r = access(secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let granted = pair(r.headers().get(SET_COOKIE).unwrap().to_str().unwrap());
        assert!(!granted.contains(secret));
        let p = page(&c, &s, &granted).await;
        let voter = pair(&p.set_cookie.unwrap());
        let form = format!("token={}&choice=tie", p.token.unwrap());
        let both = format!("{granted}; {voter}");
        // Without the access cookie the vote is refused; with it, counted.
        let (st, _) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &voter)], &form).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, body) = post(&c, &s, &[(ORIGIN, &s.base), (COOKIE, &both)], &form).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    });
    drop(s);
    let written = std::fs::read_to_string(&battles).unwrap()
        + &std::fs::read_to_string(record::votes_path(&battles)).unwrap();
    assert!(!written.contains(secret));
    assert_eq!(rows(&battles), 1);
}

// ---------------------------------------------------------------------------------------
// The scripted voter in the leaderboard disclosure.

const MODELS: [&str; 3] = ["alpha", "beta", "gamma"];

fn battle(id: String, a: &str, b: &str, winner: &str, prompt: usize) -> BattleRow {
    BattleRow {
        battle_id: id,
        model_a: a.into(),
        model_b: b.into(),
        winner: winner.into(),
        judge: "human".into(),
        prompt_id: format!("p{prompt}"),
        turn: 1,
        tstamp: 1.7e9 + prompt as f64,
        verdict: String::new(),
        ..Default::default()
    }
}

/// 30 honest voters × 12 votes (alpha > beta > gamma, sides balanced, ~20 s a battle) and one
/// scripted voter: 150 votes in under a second each, always the left answer, always gamma.
/// Returns (all battles, the honest ones alone, the scripted voter's id).
fn fixture(dir: &Path) -> (PathBuf, PathBuf, String) {
    let all = dir.join("battles.csv");
    let honest = dir.join("honest.csv");
    let mut w_all = battles::appender(&all).unwrap();
    let mut w_honest = battles::appender(&honest).unwrap();
    let mut votes = record::appender(&record::votes_path(&all)).unwrap();
    let mut n = 0usize;
    for v in 0..30 {
        let voter = format!("{:016x}", 0x1000 + v);
        for k in 0..12 {
            let (x, y) = match (v + k) % 3 {
                0 => (0, 1),
                1 => (0, 2),
                _ => (1, 2),
            };
            // The better model (lower index) wins two battles in three.
            let better_wins = (v * 12 + k) % 3 != 0;
            let (a, b) = if k % 2 == 0 { (x, y) } else { (y, x) };
            let a_wins = (a < b) == better_wins;
            let winner = if a_wins { "model_a" } else { "model_b" };
            let row = battle(format!("h{n}"), MODELS[a], MODELS[b], winner, n);
            w_all.append(&row).unwrap();
            w_honest.append(&row).unwrap();
            votes
                .append(&VoteRecord {
                    battle_id: row.battle_id.clone(),
                    voter: voter.clone(),
                    read_ms: 15_000 + (n as u64 * 37) % 10_000,
                })
                .unwrap();
            n += 1;
        }
    }
    let bot = "b0b0b0b0b0b0b0b0".to_string();
    for k in 0..150 {
        let row = battle(format!("s{k}"), "gamma", MODELS[k % 2], "model_a", n);
        w_all.append(&row).unwrap();
        votes
            .append(&VoteRecord {
                battle_id: row.battle_id.clone(),
                voter: bot.clone(),
                read_ms: 600,
            })
            .unwrap();
        n += 1;
    }
    (all, honest, bot)
}

fn rate(battles: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("edgebench"))
        .args([
            "arena",
            "rate",
            "--rounds",
            "20",
            "--quiet",
            "--min-votes",
            "1",
        ])
        .arg(battles)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn ratings(dir: &Path) -> Vec<(String, f64)> {
    let mut r = csv::Reader::from_path(dir.join("leaderboard.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (m, rating) = (col("model"), col("rating"));
    let mut v: Vec<(String, f64)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[m].to_string(), x[rating].parse().unwrap())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn a_scripted_voter_is_flagged_and_excluded() {
    let tmp = tempfile::tempdir().unwrap();
    let (all, honest, bot) = fixture(tmp.path());

    let raw = tmp.path().join("raw");
    let o = rate(&all, &raw, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(raw.join("disclosure.json")).unwrap())
            .unwrap();
    let a = &d["anomalies"];
    assert_eq!(a["voters"], 31, "{a}");
    assert_eq!(a["max_votes_per_voter"], 150);
    assert_eq!(a["p99_votes_per_voter"], 150);
    let flagged = a["flagged"].as_array().unwrap();
    assert_eq!(flagged.len(), 1, "only the script, no honest voter: {a}");
    assert_eq!(flagged[0]["voter"], bot.as_str());
    let why = flagged[0]["why"].to_string();
    assert!(why.contains("fast") && why.contains("left (A)"), "{why}");
    let md = std::fs::read_to_string(raw.join("leaderboard.md")).unwrap();
    assert!(md.contains("### Voters") && md.contains(&bot) && md.contains("Flagged voters: 1"));
    assert!(
        md.contains("--exclude-flagged"),
        "the raw table says how to leave them out"
    );
    let html = std::fs::read_to_string(raw.join("leaderboard.html")).unwrap();
    assert!(
        html.contains("id=\"voters\"") && html.contains(&bot),
        "the HTML discloses it too"
    );
    let raw_ratings = ratings(&raw);

    let excluded = tmp.path().join("excluded");
    let o = rate(&all, &excluded, &["--exclude-flagged"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = tmp.path().join("reference");
    let o = rate(&honest, &reference, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Leaving the script out rates exactly the honest battles.
    let ex = ratings(&excluded);
    let reference_ratings = ratings(&reference);
    assert_eq!(ex.len(), 3);
    for ((m, r), (m2, r2)) in ex.iter().zip(&reference_ratings) {
        assert_eq!(m, m2);
        assert!((r - r2).abs() < 1e-9, "{m}: {r} vs {r2}");
    }
    // The script had lifted gamma from last to first.
    let get = |v: &[(String, f64)], m: &str| v.iter().find(|x| x.0 == m).unwrap().1;
    assert!(get(&raw_ratings, "gamma") > get(&raw_ratings, "alpha"));
    assert!(get(&ex, "gamma") < get(&ex, "beta") && get(&ex, "beta") < get(&ex, "alpha"));
    // The disclosure says so, with the raw ratings beside.
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(excluded.join("disclosure.json")).unwrap())
            .unwrap();
    assert_eq!(d["anomalies"]["excluded_battles"], 150);
    let raw_beside: Vec<(String, f64)> =
        serde_json::from_value(d["anomalies"]["raw_ratings"].clone()).unwrap();
    assert!((get(&raw_beside, "gamma") - get(&raw_ratings, "gamma")).abs() < 1e-6);
    let md = std::fs::read_to_string(excluded.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("leave out the 150 battles of flagged voters"),
        "{md}"
    );

    // A plain three-column export rated beside the votes still gets the report; leaving
    // flagged voters out then needs battles in edgebench's format (bad usage otherwise).
    let plain = tmp.path().join("plain.csv");
    std::fs::write(&plain, "model_a,model_b,winner\nalpha,beta,model_a\n").unwrap();
    let mixed = |extra: &[&str]| {
        let mut args = vec![plain.to_str().unwrap()];
        args.extend_from_slice(extra);
        rate(&all, &tmp.path().join("mixed"), &args)
    };
    let o = mixed(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = std::fs::read_to_string(tmp.path().join("mixed/disclosure.json")).unwrap();
    assert!(d.contains(&bot), "{d}");
    assert_eq!(mixed(&["--exclude-flagged"]).status.code(), Some(2));
    // Without a votes file there is nothing to exclude by: bad usage.
    let o = rate(&honest, &tmp.path().join("x"), &["--exclude-flagged"]);
    assert_eq!(o.status.code(), Some(2));
}
