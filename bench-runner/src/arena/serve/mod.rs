//! `arena serve`: a small web page where a person votes between two anonymous answers.
//!
//! `GET /` picks a prompt and two models' answers at random (sides at random), issues a
//! one-time token for that battle and shows the prompt, "Answer A", "Answer B" and four
//! buttons (A is better, B is better, Tie, Both are bad) — plain HTML forms, no script.
//! `POST /vote` spends the token, appends the battle to `battles.csv` (and who voted, hashed,
//! to `battles.votes.csv`, see [`record`]) and only then reveals which model wrote which answer.
//!
//! Security (docs/arena.md, "Votes that cannot be stuffed"):
//! - every request must name this server in `Host` (loopback names and the bind address with
//!   the port, plus `--allowed-host`): a page reached through a rebound DNS name gets 421;
//! - a vote must come from one of these pages: `Origin` (else `Referer`) must be an allowed
//!   host, absent or foreign is 403; with `--vote-secret-env`, also the access cookie that
//!   only the shared code buys;
//! - a vote needs the one-time token issued with its battle (128 random bits from the OS),
//!   bound to the voter cookie it was issued to; a token is spent by its first vote, so a
//!   battle cannot be voted twice (409), and unknown or expired tokens are refused; at most
//!   10,000 open tokens, each for an hour;
//! - per voter (cookie) and per client address: at most N votes per window (429), none
//!   before the battle was on screen `--min-read-s` (403, token kept), and no second vote on
//!   the same prompt and pair (409; the page does not offer one);
//! - request bodies are limited to 2 KiB (413 beyond);
//! - model text and prompts are HTML-escaped by the template engine (auto-escaping), and a
//!   Content-Security-Policy without any script source backs that up;
//! - only the pages, the vote endpoint and the page's own stylesheet (embedded in the binary)
//!   are served: no route reads files, so no path can reach one;
//! - it listens on 127.0.0.1 unless `--host` says otherwise.

pub mod anomaly;
pub mod guard;
pub mod record;
mod vote;
pub mod voters;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Environment, context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::answers::{Answer, by_prompt, read_answers};
use super::battles;
use crate::error::{Error, Result};
use crate::results::CsvAppender;
use guard::Allowed;
use voters::{ACCESS_COOKIE, Ledger, Limits, VOTER_COOKIE};

pub const MAX_BODY: usize = 2048;
const MAX_OPEN_TOKENS: usize = 10_000;
const TOKEN_TTL: Duration = Duration::from_secs(3600);
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// Defaults of the per-voter limits (`arena serve --help`).
pub const DEFAULT_MIN_READ_S: f64 = 3.0;
pub const DEFAULT_RATE: usize = 150;
pub const DEFAULT_WINDOW_S: f64 = 60.0;

const VOTE_PAGE: &str = include_str!("../templates/vote.html");
const VOTED_PAGE: &str = include_str!("../templates/voted.html");
const MESSAGE_PAGE: &str = include_str!("../templates/message.html");
const ACCESS_PAGE: &str = include_str!("../templates/access.html");
const STYLE_CSS: &str = include_str!("../templates/vote.css");

// Debug by hand below: the access code must never reach a log.
#[derive(Clone)]
pub struct ServeOptions {
    pub answers: PathBuf,
    pub battles: PathBuf,
    pub host: String,
    pub port: u16,
    /// Seeds the battle picker (tokens always come from the OS).
    pub seed: Option<u64>,
    /// The `judge` column of the votes.
    pub voter: String,
    /// Host names (`name` or `name:port`) accepted besides the loopback names and `host`.
    pub allowed_hosts: Vec<String>,
    /// A vote counts only after its battle was on screen this long.
    pub min_read: Duration,
    pub limits: Limits,
    /// The shared access code (the CLI reads it from the environment variable it is named by).
    pub vote_secret: Option<String>,
    /// Behind a reverse proxy: take the client address from `X-Forwarded-For`, mark cookies
    /// Secure.
    pub trust_proxy: bool,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("answers", &self.answers)
            .field("battles", &self.battles)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("min_read", &self.min_read)
            .field("limits", &self.limits)
            .field(
                "vote_secret",
                &self.vote_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("trust_proxy", &self.trust_proxy)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    pub fn new(answers: PathBuf, battles: PathBuf) -> Self {
        ServeOptions {
            answers,
            battles,
            host: "127.0.0.1".into(),
            port: 8080,
            seed: None,
            voter: "human".into(),
            allowed_hosts: Vec::new(),
            min_read: Duration::from_secs_f64(DEFAULT_MIN_READ_S),
            limits: Limits {
                per_voter: DEFAULT_RATE,
                per_address: DEFAULT_RATE,
                window: Duration::from_secs_f64(DEFAULT_WINDOW_S),
            },
            vote_secret: None,
            trust_proxy: false,
        }
    }
}

struct Issued {
    prompt: usize,
    a: Answer,
    b: Answer,
    at: Instant,
    /// The voter cookie the page went to; only it may spend the token.
    voter: String,
}

/// Open tokens and the votes counted, under one lock so that a check and its count are one
/// step (two racing votes cannot both pass a limit).
#[derive(Default)]
struct Books {
    open: HashMap<String, Issued>,
    order: VecDeque<String>,
    ledger: Ledger,
}

struct Battleground {
    /// (prompt id, prompt text, answers of at least two models)
    prompts: Vec<(String, String, Vec<Answer>)>,
    books: Mutex<Books>,
    /// (votes file, battles file): written in that order, so a battle never lacks its voter.
    log: Mutex<(CsvAppender, CsvAppender)>,
    rng: Mutex<ChaCha8Rng>,
    env: Environment<'static>,
    voter: String,
    allowed: Allowed,
    min_read: Duration,
    limits: Limits,
    /// SHA-256 of the access code: the access cookie's value.
    access: Option<String>,
    trust_proxy: bool,
    /// Salts the voter ids written to the votes file (new each start).
    salt: [u8; 16],
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
    // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on form
    // POSTs, and the origin check needs the real one.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn render(st: &Battleground, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match st.env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(h) => page(status, h),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("template error: {e}").replace('<', "&lt;"),
        ),
    }
}

fn message(st: &Battleground, status: StatusCode, title: &str, text: &str) -> Response {
    render(
        st,
        status,
        "message.html",
        context! { title => title, text => text },
    )
}

/// Every route: the Host must name this server (421 otherwise: a DNS-rebinding defence).
async fn host_guard(
    State(st): State<Arc<Battleground>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    if !st.allowed.host_ok(req.headers()) {
        return message(
            &st,
            StatusCode::MISDIRECTED_REQUEST,
            "Unknown host",
            "This server answers only to its own host names.",
        );
    }
    next.run(req).await
}

fn has_access(st: &Battleground, headers: &HeaderMap) -> bool {
    st.access.as_ref().is_none_or(|want| {
        voters::cookie(headers, ACCESS_COOKIE)
            .is_some_and(|got| voters::same(got.as_bytes(), want.as_bytes()))
    })
}

/// A battle this voter has not voted on: a random one, else the first unvoted one from a
/// random starting prompt; None when the voter has voted on every one.
fn pick(st: &Battleground, ledger: &Ledger, voter_id: &str) -> Option<(usize, usize, usize)> {
    let mut rng = st.rng.lock().unwrap_or_else(|e| e.into_inner());
    let n_prompts = st.prompts.len();
    let start = rng.random_range(0..n_prompts);
    for p in (start..n_prompts).chain(0..start) {
        let answers = &st.prompts[p].2;
        let n = answers.len();
        let a = rng.random_range(0..n);
        let mut b = rng.random_range(0..n - 1);
        if b >= a {
            b += 1;
        }
        let voted = |a: usize, b: usize| {
            ledger.has_voted(
                voter_id,
                &voters::battle_key(p, &answers[a].model, &answers[b].model),
            )
        };
        if !voted(a, b) {
            return Some((p, a, b));
        }
        for x in 0..n {
            for y in x + 1..n {
                if !voted(x, y) {
                    return Some(if rng.random_bool(0.5) {
                        (p, x, y)
                    } else {
                        (p, y, x)
                    });
                }
            }
        }
    }
    None
}

fn voter_id(st: &Battleground, cookie: &str) -> String {
    voters::salted_hash(&st.salt, cookie, 16)
}

async fn index(State(st): State<Arc<Battleground>>, headers: HeaderMap) -> Response {
    if !has_access(&st, &headers) {
        return render(&st, StatusCode::OK, "access.html", context! {});
    }
    let known = voters::cookie(&headers, VOTER_COOKIE).filter(|c| voters::well_formed(c));
    let cookie = known.clone().unwrap_or_else(new_token);
    let id = voter_id(&st, &cookie);
    let token = new_token();
    let picked = {
        let mut books = st.books.lock().unwrap_or_else(|e| e.into_inner());
        let Some((p, a, b)) = pick(&st, &books.ledger, &id) else {
            drop(books);
            return message(
                &st,
                StatusCode::OK,
                "All done",
                "You have voted on every battle there is. Thank you.",
            );
        };
        while books.open.len() >= MAX_OPEN_TOKENS {
            match books.order.pop_front() {
                Some(old) => {
                    books.open.remove(&old);
                }
                None => break,
            }
        }
        let answers = &st.prompts[p].2;
        books.open.insert(
            token.clone(),
            Issued {
                prompt: p,
                a: answers[a].clone(),
                b: answers[b].clone(),
                at: Instant::now(),
                voter: cookie.clone(),
            },
        );
        books.order.push_back(token.clone());
        (p, a, b)
    };
    let (p, a, b) = picked;
    let (pid, text, answers) = &st.prompts[p];
    let mut r = render(
        &st,
        StatusCode::OK,
        "vote.html",
        context! { prompt_id => pid, prompt => text, answer_a => answers[a].text.clone(), answer_b => answers[b].text.clone(), token => token },
    );
    if known.is_none() {
        r.headers_mut().insert(
            header::SET_COOKIE,
            voters::set_cookie(VOTER_COOKIE, &cookie, st.trust_proxy),
        );
    }
    r
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

/// The router for a server bound at `bound` (public so that tests and embedders can serve it
/// on their own listener; serve it with connect info for the per-address limit).
pub fn router(opts: &ServeOptions, bound: SocketAddr) -> Result<Router> {
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
        ("access.html", ACCESS_PAGE),
    ] {
        env.add_template(name, src).map_err(|e| Error::Template {
            name: name.into(),
            source: e,
        })?;
    }
    let seed = opts
        .seed
        .unwrap_or_else(|| u64::from_le_bytes(os_random_bytes()[..8].try_into().unwrap_or([0; 8])));
    if opts.vote_secret.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(Error::Usage("the vote secret is empty".into()));
    }
    let votes = record::votes_path(&opts.battles);
    let st = Arc::new(Battleground {
        prompts,
        books: Mutex::new(Books::default()),
        // The votes file first: it may then hold a voter whose battle is missing (harmless),
        // never the other way round.
        log: Mutex::new((record::appender(&votes)?, battles::appender(&opts.battles)?)),
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        env,
        voter: opts.voter.clone(),
        allowed: Allowed::new(bound.ip(), bound.port(), &opts.allowed_hosts),
        min_read: opts.min_read,
        limits: opts.limits,
        access: opts
            .vote_secret
            .as_ref()
            .map(|s| voters::salted_hash(b"edgebench-access:", s, 64)),
        trust_proxy: opts.trust_proxy,
        salt: os_random_bytes(),
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/vote", post(vote::vote))
        .route("/access", post(vote::access))
        .route("/assets/style.css", get(css))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(st.clone(), host_guard))
        .with_state(st))
}

/// Serves until Ctrl-C. Prints `listening on http://ADDR/` once bound.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    let ip: IpAddr = opts
        .host
        .parse()
        .map_err(|_| Error::Usage(format!("--host `{}` is not an IP address", opts.host)))?;
    if opts.limits.per_voter == 0 || opts.limits.per_address == 0 || opts.limits.window.is_zero() {
        return Err(Error::Usage(
            "the vote limits and their window must be above 0".into(),
        ));
    }
    let listen = |source| Error::Listen {
        addr: format!("{}:{}", opts.host, opts.port),
        source,
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, opts.port))
        .await
        .map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let app = router(&opts, addr)?;
    println!("listening on http://{addr}/");
    if !ip.is_loopback() {
        eprintln!("warning: the vote page is reachable from other machines on {ip}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|source| Error::Serve { source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_code_is_not_in_debug_output() {
        let mut o = ServeOptions::new("a.jsonl".into(), "b.csv".into());
        o.vote_secret = Some("hunter2-code".into());
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
