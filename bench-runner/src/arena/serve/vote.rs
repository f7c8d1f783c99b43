//! `POST /vote` and `POST /access`: the checks a vote must pass, in the order docs/arena.md
//! lists them, and what is written once it has.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::record::VoteRecord;
use super::voters::{self, ACCESS_COOKIE, Refusal, VOTER_COOKIE};
use super::{Battleground, Issued, TOKEN_TTL, guard, has_access, message, render, voter_id};
use crate::arena::battles::{self, BattleRow, Winner};
use crate::arena::style;

#[derive(Deserialize)]
pub(super) struct Vote {
    token: String,
    choice: String,
}

fn peer(ext: &Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// What a vote must get past before it is counted; the vote, the token and its issue time.
// Stays whole: one check after another in the order the docs list them, each with its answer.
fn admit(
    st: &Battleground,
    headers: &HeaderMap,
    ext: &Extensions,
    v: &Vote,
) -> std::result::Result<(Issued, String), Box<Response>> {
    let refuse = |status, title: &str, text: &str| Err(Box::new(message(st, status, title, text)));
    if !st.allowed.origin_ok(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Vote refused",
            "Votes are taken only from this site's own pages (Origin or Referer is missing or foreign).",
        );
    }
    if !has_access(st, headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Access code needed",
            "This vote page takes votes only after its access code was entered.",
        );
    }
    let cookie = voters::cookie(headers, VOTER_COOKIE).unwrap_or_default();
    let addr = guard::client_addr(headers, peer(ext), st.trust_proxy);
    let mut books = st.books.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = books
        .open
        .get(&v.token)
        .filter(|i| i.at.elapsed() < TOKEN_TTL)
        .map(|i| (i.voter.clone(), i.at.elapsed()));
    let Some((owner, shown_for)) = fresh else {
        books.open.remove(&v.token);
        drop(books);
        return refuse(
            StatusCode::CONFLICT,
            "Vote refused",
            "This battle was already voted on, or its token is unknown or expired. Each battle takes one vote.",
        );
    };
    if !voters::same(owner.as_bytes(), cookie.as_bytes()) {
        books.open.remove(&v.token);
        drop(books);
        return refuse(
            StatusCode::FORBIDDEN,
            "Vote refused",
            "This battle was shown to another voter (the voter cookie does not match).",
        );
    }
    if shown_for < st.min_read {
        drop(books);
        return refuse(
            StatusCode::FORBIDDEN,
            "Too fast",
            &format!(
                "Please read both answers first: a vote counts after {:.0} seconds on the battle. Press your choice again.",
                st.min_read.as_secs_f64()
            ),
        );
    }
    let issued = &books.open[&v.token];
    let key = voters::battle_key(issued.prompt, &issued.a.model, &issued.b.model);
    let id = voter_id(st, &cookie);
    let limits = st.limits;
    match books.ledger.admit(&limits, &id, &addr, key, Instant::now()) {
        Ok(()) => {}
        Err(Refusal::Duplicate) => {
            books.open.remove(&v.token);
            drop(books);
            return refuse(
                StatusCode::CONFLICT,
                "Vote refused",
                "You already voted on these two models for this prompt; each voter judges a pair once per prompt.",
            );
        }
        Err(why) => {
            drop(books);
            let who = if why == Refusal::VoterRate {
                "voter"
            } else {
                "address"
            };
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many votes",
                &format!(
                    "At most {} votes per {} seconds per {who}. Please wait a little.",
                    if why == Refusal::VoterRate {
                        limits.per_voter
                    } else {
                        limits.per_address
                    },
                    limits.window.as_secs_f64()
                ),
            );
        }
    }
    let issued = books
        .open
        .remove(&v.token)
        .expect("looked up under this lock");
    Ok((issued, id))
}

pub(super) async fn vote(
    State(st): State<Arc<Battleground>>,
    headers: HeaderMap,
    ext: Extensions,
    Form(v): Form<Vote>,
) -> Response {
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
    let (issued, voter) = match admit(&st, &headers, &ext, &v) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let (sa, sb) = (
        style::features(&issued.a.text, issued.a.tokens),
        style::features(&issued.b.text, issued.b.tokens),
    );
    let battle_id = format!("vote-{}", v.token);
    let who = VoteRecord {
        battle_id: battle_id.clone(),
        voter,
        read_ms: issued.at.elapsed().as_millis() as u64,
    };
    let row = BattleRow {
        battle_id,
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
    let written = {
        let mut log = st.log.lock().unwrap_or_else(|e| e.into_inner());
        log.0.append(&who).and_then(|()| log.1.append(&row))
    };
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
    render(
        &st,
        StatusCode::OK,
        "voted.html",
        context! { model_a => issued.a.model.clone(), model_b => issued.b.model.clone(), chose => chose },
    )
}

#[derive(Deserialize)]
pub(super) struct Access {
    code: String,
}

/// The access code, once, buys the access cookie (SHA-256 of the code, never the code).
pub(super) async fn access(
    State(st): State<Arc<Battleground>>,
    headers: HeaderMap,
    ext: Extensions,
    Form(f): Form<Access>,
) -> Response {
    let Some(want) = &st.access else {
        return message(&st, StatusCode::NOT_FOUND, "Not found", "Nothing here.");
    };
    if !st.allowed.origin_ok(&headers) {
        return message(
            &st,
            StatusCode::FORBIDDEN,
            "Refused",
            "The access code is taken only from this site's own page.",
        );
    }
    let got = voters::salted_hash(b"edgebench-access:", &f.code, 64);
    if !voters::same(got.as_bytes(), want.as_bytes()) {
        let addr = guard::client_addr(&headers, peer(&ext), st.trust_proxy);
        let counted = {
            let mut books = st.books.lock().unwrap_or_else(|e| e.into_inner());
            books
                .ledger
                .access_attempt(&st.limits, &addr, Instant::now())
        };
        let status = if counted {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        return message(
            &st,
            status,
            "Wrong access code",
            "That is not the access code.",
        );
    }
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/"));
    r.headers_mut().insert(
        header::SET_COOKIE,
        voters::set_cookie(ACCESS_COOKIE, want, st.trust_proxy),
    );
    r
}
