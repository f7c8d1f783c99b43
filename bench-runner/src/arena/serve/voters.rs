//! Per-voter and per-address limits: who a voter is (a random id in an HttpOnly,
//! SameSite=Strict cookie, written to `*.votes.csv` only as a salted hash), how many votes a
//! voter and an address may cast per window, and which battles a voter already voted on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

pub const VOTER_COOKIE: &str = "eb_voter";
pub const ACCESS_COOKIE: &str = "eb_access";
/// Voters and addresses remembered at most; beyond it the least recently active are forgotten
/// (their rate windows restart, their duplicate record is lost).
const MAX_TRACKED: usize = 100_000;

/// The value of cookie `name`, if sent once.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string());
    match (found.next(), found.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

/// A voter id this server could have issued: 32 lower-case hex digits.
pub fn well_formed(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `Set-Cookie` for a page-only, script-invisible, same-site cookie (Secure behind a TLS proxy).
pub fn set_cookie(name: &str, value: &str, secure: bool) -> HeaderValue {
    let s = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// Hex SHA-256 of `salt ‖ value`, cut to `len` digits.
pub fn salted_hash(salt: &[u8], value: &str, len: usize) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(value.as_bytes());
    let mut s = hex::encode(h.finalize());
    s.truncate(len);
    s
}

/// Compares without stopping at the first difference (secrets, access cookies).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_voter: usize,
    pub per_address: usize,
    pub window: Duration,
}

/// A battle as the duplicate check sees it: prompt index and the pair, sides forgotten.
pub type BattleKey = (usize, String, String);

pub fn battle_key(prompt: usize, a: &str, b: &str) -> BattleKey {
    if a <= b {
        (prompt, a.into(), b.into())
    } else {
        (prompt, b.into(), a.into())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    VoterRate,
    AddressRate,
    Duplicate,
}

#[derive(Default)]
struct Voter {
    recent: VecDeque<Instant>,
    voted: HashSet<BattleKey>,
    last: Option<Instant>,
}

/// Votes counted so far, per voter (hashed id) and per address.
#[derive(Default)]
pub struct Ledger {
    voters: HashMap<String, Voter>,
    addresses: HashMap<String, (VecDeque<Instant>, Instant)>,
}

fn in_window(q: &mut VecDeque<Instant>, window: Duration, now: Instant) -> usize {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
    q.len()
}

impl Ledger {
    pub fn has_voted(&self, voter: &str, key: &BattleKey) -> bool {
        self.voters
            .get(voter)
            .is_some_and(|v| v.voted.contains(key))
    }

    /// Counts the vote if no limit refuses it. The duplicate check comes first, so a repeat
    /// never uses up the voter's quota.
    pub fn admit(
        &mut self,
        limits: &Limits,
        voter: &str,
        addr: &str,
        key: BattleKey,
        now: Instant,
    ) -> Result<(), Refusal> {
        self.forget_oldest(now);
        let v = self.voters.entry(voter.to_string()).or_default();
        if v.voted.contains(&key) {
            return Err(Refusal::Duplicate);
        }
        if in_window(&mut v.recent, limits.window, now) >= limits.per_voter {
            return Err(Refusal::VoterRate);
        }
        let a = self
            .addresses
            .entry(addr.to_string())
            .or_insert_with(|| (VecDeque::new(), now));
        if in_window(&mut a.0, limits.window, now) >= limits.per_address {
            return Err(Refusal::AddressRate);
        }
        a.0.push_back(now);
        a.1 = now;
        v.recent.push_back(now);
        v.voted.insert(key);
        v.last = Some(now);
        Ok(())
    }

    /// Counts a failed access-code attempt against the address (the same window and limit as
    /// votes, so a code cannot be guessed faster than votes can be cast).
    pub fn access_attempt(&mut self, limits: &Limits, addr: &str, now: Instant) -> bool {
        self.forget_oldest(now);
        let a = self
            .addresses
            .entry(addr.to_string())
            .or_insert_with(|| (VecDeque::new(), now));
        if in_window(&mut a.0, limits.window, now) >= limits.per_address {
            return false;
        }
        a.0.push_back(now);
        a.1 = now;
        true
    }

    fn forget_oldest(&mut self, now: Instant) {
        if self.voters.len() >= MAX_TRACKED {
            let cut = self
                .voters
                .values()
                .filter_map(|v| v.last)
                .min()
                .unwrap_or(now);
            self.voters.retain(|_, v| v.last.is_some_and(|t| t > cut));
        }
        if self.addresses.len() >= MAX_TRACKED {
            let cut = self.addresses.values().map(|a| a.1).min().unwrap_or(now);
            self.addresses.retain(|_, a| a.1 > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_voter_per_address_and_repeats() {
        let limits = Limits {
            per_voter: 3,
            per_address: 4,
            window: Duration::from_secs(60),
        };
        let mut l = Ledger::default();
        let t0 = Instant::now();
        let k = |p| battle_key(p, "x", "y");
        for p in 0..3 {
            assert_eq!(l.admit(&limits, "v1", "a", k(p), t0), Ok(()));
        }
        assert_eq!(
            l.admit(&limits, "v1", "a", k(0), t0),
            Err(Refusal::Duplicate)
        );
        assert_eq!(
            l.admit(&limits, "v1", "a", k(3), t0),
            Err(Refusal::VoterRate)
        );
        assert_eq!(l.admit(&limits, "v2", "a", k(0), t0), Ok(()));
        assert_eq!(
            l.admit(&limits, "v2", "a", k(1), t0),
            Err(Refusal::AddressRate)
        );
        assert_eq!(l.admit(&limits, "v2", "b", k(1), t0), Ok(()));
        // The window slides: a minute later v1 may vote again, still not twice on one battle.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(l.admit(&limits, "v1", "c", k(3), t1), Ok(()));
        assert_eq!(
            l.admit(&limits, "v1", "c", battle_key(0, "y", "x"), t1),
            Err(Refusal::Duplicate)
        );
        assert!(l.has_voted("v1", &k(3)) && !l.has_voted("v2", &k(3)));
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; eb_voter=abc; b=2"),
        );
        assert_eq!(cookie(&h, VOTER_COOKIE).as_deref(), Some("abc"));
        h.append(header::COOKIE, HeaderValue::from_static("eb_voter=def"));
        assert_eq!(
            cookie(&h, VOTER_COOKIE),
            None,
            "two values: neither is trusted"
        );
        assert!(
            well_formed(&"0a".repeat(16)) && !well_formed("0A") && !well_formed(&"g".repeat(32))
        );
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
