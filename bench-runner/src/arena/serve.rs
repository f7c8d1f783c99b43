//! `arena serve`: a small web page where a person votes between two anonymous answers.
//!
//! `GET /` picks a prompt and two models' answers at random (sides at random), issues a
//! one-time token for that battle and shows the prompt, "Answer A", "Answer B" and four
//! buttons (A is better, B is better, Tie, Both are bad) — plain HTML forms, no script.
//! `POST /vote` spends the token, appends the battle to `battles.csv` and only then reveals
//! which model wrote which answer.
//!
//! Security:
//! - a vote needs the one-time token issued with its battle (128 random bits from the OS);
//!   a token is spent by its first vote, so a battle cannot be voted twice (409), and
//!   unknown or expired tokens are refused; at most 10,000 open tokens, each for an hour;
//! - request bodies are limited to 2 KiB (413 beyond);
//! - model text and prompts are HTML-escaped by the template engine (auto-escaping), and a
//!   Content-Security-Policy without any script source backs that up;
//! - only the page, the vote endpoint and the page's own stylesheet (embedded in the binary)
//!   are served: no route reads files, so no path can reach one;
//! - it listens on 127.0.0.1 unless `--host` says otherwise.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::answers::{Answer, by_prompt, read_answers};
use super::battles::{self, BattleRow, Winner};
use super::style;
use crate::error::{Error, Result};
use crate::results::CsvAppender;

pub const MAX_BODY: usize = 2048;
const MAX_OPEN_TOKENS: usize = 10_000;
const TOKEN_TTL: Duration = Duration::from_secs(3600);
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const VOTE_PAGE: &str = include_str!("templates/vote.html");
const VOTED_PAGE: &str = include_str!("templates/voted.html");
const MESSAGE_PAGE: &str = include_str!("templates/message.html");
const STYLE_CSS: &str = include_str!("templates/vote.css");

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub answers: PathBuf,
    pub battles: PathBuf,
    pub host: String,
    pub port: u16,
    /// Seeds the battle picker (tokens always come from the OS).
    pub seed: Option<u64>,
    /// The `judge` column of the votes.
    pub voter: String,
}

struct Issued {
    prompt: usize,
    a: Answer,
    b: Answer,
    at: Instant,
}

struct Battleground {
    /// (prompt id, prompt text, answers of at least two models)
    prompts: Vec<(String, String, Vec<Answer>)>,
    open: Mutex<(HashMap<String, Issued>, VecDeque<String>)>,
    log: Mutex<CsvAppender>,
    rng: Mutex<ChaCha8Rng>,
    env: Environment<'static>,
    voter: String,
}

fn os_random_bytes() -> [u8; 16] {
    use std::io::Read;
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        // No OS source: a ChaCha stream keyed by time and process id (never on Linux).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        ChaCha8Rng::seed_from_u64(t ^ u64::from(std::process::id()) << 32).fill(&mut b);
    }
    b
}

fn new_token() -> String {
    hex::encode(os_random_bytes())
}

fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn message(st: &Battleground, status: StatusCode, title: &str, text: &str) -> Response {
    let html = st
        .env
        .get_template("message.html")
        .and_then(|t| t.render(context! { title => title, text => text }))
        .unwrap_or_else(|_| "error".into());
    page(status, html)
}

async fn index(State(st): State<Arc<Battleground>>) -> Response {
    let (p, a, b) = {
        let mut rng = st.rng.lock().unwrap_or_else(|e| e.into_inner());
        let p = rng.random_range(0..st.prompts.len());
        let n = st.prompts[p].2.len();
        let a = rng.random_range(0..n);
        let mut b = rng.random_range(0..n - 1);
        if b >= a {
            b += 1;
        }
        (p, a, b)
    };
    let (id, text, answers) = &st.prompts[p];
    let token = new_token();
    {
        let mut open = st.open.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *open;
        while map.len() >= MAX_OPEN_TOKENS {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => break,
            }
        }
        map.insert(
            token.clone(),
            Issued {
                prompt: p,
                a: answers[a].clone(),
                b: answers[b].clone(),
                at: Instant::now(),
            },
        );
        order.push_back(token.clone());
    }
    let html = st.env.get_template("vote.html").and_then(|t| {
        t.render(context! { prompt_id => id, prompt => text, answer_a => answers[a].text.clone(), answer_b => answers[b].text.clone(), token => token })
    });
    match html {
        Ok(h) => page(StatusCode::OK, h),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}").replace('<', "&lt;"),
        ),
    }
}

#[derive(Deserialize)]
struct Vote {
    token: String,
    choice: String,
}

async fn vote(State(st): State<Arc<Battleground>>, Form(v): Form<Vote>) -> Response {
    let winner = match v.choice.as_str() {
        "a" => Winner::A,
        "b" => Winner::B,
        "tie" => Winner::Tie,
        "bothbad" => Winner::BothBad,
        _ => {
            return message(
                &st,
                StatusCode::BAD_REQUEST,
                "Unknown choice",
                "The vote must be A, B, tie or both bad.",
            );
        }
    };
    let issued = {
        let mut open = st.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0.remove(&v.token)
    };
    let Some(issued) = issued.filter(|i| i.at.elapsed() < TOKEN_TTL) else {
        return message(
            &st,
            StatusCode::CONFLICT,
            "Vote refused",
            "This battle was already voted on, or its token is unknown or expired. Each battle takes one vote.",
        );
    };
    let (sa, sb) = (
        style::features(&issued.a.text, issued.a.tokens),
        style::features(&issued.b.text, issued.b.tokens),
    );
    let row = BattleRow {
        battle_id: format!("vote-{}", v.token),
        model_a: issued.a.model.clone(),
        model_b: issued.b.model.clone(),
        winner: winner.as_str().into(),
        judge: st.voter.clone(),
        prompt_id: st.prompts[issued.prompt].0.clone(),
        turn: 1,
        tstamp: battles::now_tstamp(),
        tokens_a: Some(sa.tokens as u64),
        tokens_b: Some(sb.tokens as u64),
        headers_a: Some(sa.headers as u64),
        headers_b: Some(sb.headers as u64),
        lists_a: Some(sa.lists as u64),
        lists_b: Some(sb.lists as u64),
        bold_a: Some(sa.bold as u64),
        bold_b: Some(sb.bold as u64),
        verdict: v.choice.clone(),
    };
    let written = st
        .log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&row);
    if let Err(e) = written {
        return message(
            &st,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Vote not saved",
            &e.to_string(),
        );
    }
    let chose = match winner {
        Winner::A => "A is better",
        Winner::B => "B is better",
        Winner::Tie => "a tie",
        Winner::BothBad => "both are bad",
    };
    let html = st.env.get_template("voted.html").and_then(|t| t.render(context! { model_a => issued.a.model.clone(), model_b => issued.b.model.clone(), chose => chose }));
    match html {
        Ok(h) => page(StatusCode::OK, h),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}").replace('<', "&lt;"),
        ),
    }
}

async fn css() -> Response {
    let mut r = STYLE_CSS.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn not_found(State(st): State<Arc<Battleground>>) -> Response {
    message(&st, StatusCode::NOT_FOUND, "Not found", "Nothing here.")
}

/// The router (public so that tests and embedders can serve it on their own listener).
pub fn router(opts: &ServeOptions) -> Result<Router> {
    let answers = read_answers(&opts.answers)?;
    let prompts: Vec<(String, String, Vec<Answer>)> = by_prompt(&answers)
        .into_iter()
        .filter(|(_, (_, m))| m.len() >= 2)
        .map(|(id, (text, m))| (id, text, m.into_values().collect()))
        .collect();
    if prompts.is_empty() {
        return Err(Error::file(
            &opts.answers,
            "no prompt has answers from two models yet (run `edgebench arena run` first)",
        ));
    }
    let mut env = Environment::new();
    for (name, src) in [
        ("vote.html", VOTE_PAGE),
        ("voted.html", VOTED_PAGE),
        ("message.html", MESSAGE_PAGE),
    ] {
        env.add_template(name, src).map_err(|e| Error::Template {
            name: name.into(),
            source: e,
        })?;
    }
    let seed = opts
        .seed
        .unwrap_or_else(|| u64::from_le_bytes(os_random_bytes()[..8].try_into().unwrap_or([0; 8])));
    let st = Arc::new(Battleground {
        prompts,
        open: Mutex::new((HashMap::new(), VecDeque::new())),
        log: Mutex::new(battles::appender(&opts.battles)?),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        env,
        voter: opts.voter.clone(),
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/vote", post(vote))
        .route("/assets/style.css", get(css))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(st))
}

/// Serves until Ctrl-C. Prints `listening on http://ADDR/` once bound.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    let app = router(&opts)?;
    let ip: std::net::IpAddr = opts
        .host
        .parse()
        .map_err(|_| Error::Usage(format!("--host `{}` is not an IP address", opts.host)))?;
    let listen = |source| Error::Listen {
        addr: format!("{}:{}", opts.host, opts.port),
        source,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, opts.port))
        .await
        .map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    println!("listening on http://{addr}/");
    if !ip.is_loopback() {
        eprintln!("warning: the vote page is reachable from other machines on {ip}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|source| Error::Serve { source })
}
