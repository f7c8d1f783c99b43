//! Who may talk to the vote page: the `Host` header must name this server (a DNS-rebinding
//! defence), a vote must come from one of its own pages (`Origin`, else `Referer`), and the
//! client address that the per-address limit counts.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

/// The authorities (`name` or `name:port`, lower case) a request may name in `Host`, and
/// whose origins may post votes.
#[derive(Debug, Clone)]
pub struct Allowed {
    authorities: Vec<String>,
}

impl Allowed {
    /// The loopback names and the bind address with the listening port (bare too when the
    /// port is 80, which browsers leave out), plus every `--allowed-host` as given.
    pub fn new(bind: IpAddr, port: u16, extra: &[String]) -> Self {
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "[::1]".to_string(),
        ];
        let bind = match bind {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        if !bind.starts_with("0.0.0.0") && bind != "[::]" {
            names.push(bind);
        }
        let mut authorities: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
        if port == 80 {
            authorities.extend(names);
        }
        authorities.extend(extra.iter().map(|h| h.trim().to_ascii_lowercase()));
        authorities.sort();
        authorities.dedup();
        Allowed { authorities }
    }

    pub fn host_ok(&self, headers: &HeaderMap) -> bool {
        // HTTP/1.1 requires exactly one Host; two are a smuggling attempt.
        let mut hosts = headers.get_all(header::HOST).iter();
        match (hosts.next(), hosts.next()) {
            (Some(h), None) => h
                .to_str()
                .is_ok_and(|h| self.authority_ok(&h.to_ascii_lowercase())),
            _ => false,
        }
    }

    fn authority_ok(&self, authority: &str) -> bool {
        self.authorities.iter().any(|a| a == authority)
    }

    /// A vote's origin: `Origin` when sent, else the scheme and authority of `Referer`.
    /// Neither (a script or a non-browser client) is refused: every browser sends `Origin`
    /// on a form POST, and the pages' `Referrer-Policy: same-origin` keeps it from being
    /// `null`. Both must be `http(s)://` one of the allowed authorities.
    pub fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let single = |name| {
            let mut v = headers.get_all(name).iter();
            match (v.next(), v.next()) {
                (Some(x), None) => Some(x.to_str().ok()),
                (None, None) => None,
                _ => Some(None),
            }
        };
        let origin = match single(header::ORIGIN) {
            Some(o) => o.map(str::to_string),
            None => match single(header::REFERER) {
                Some(r) => r.and_then(|r| {
                    let (scheme, rest) = r.split_once("://")?;
                    let authority = rest.split(['/', '?', '#']).next()?;
                    Some(format!("{scheme}://{authority}"))
                }),
                None => None,
            },
        };
        let Some(origin) = origin.map(|o| o.to_ascii_lowercase()) else {
            return false;
        };
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        authority.is_some_and(|a| !a.contains(['/', '@']) && self.authority_ok(a))
    }
}

/// The address the per-address limit counts: the peer, or with `--trust-proxy` the last
/// `X-Forwarded-For` entry (the one the proxy itself appended; earlier entries come from the
/// client and prove nothing). No peer known (an embedder's listener): one shared bucket.
pub fn client_addr(headers: &HeaderMap, peer: Option<SocketAddr>, trust_proxy: bool) -> String {
    if trust_proxy {
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|a| a.trim().parse::<IpAddr>().ok());
        if let Some(ip) = last {
            return ip.to_string();
        }
    }
    peer.map_or_else(|| "unknown".into(), |p| p.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts_and_origins() {
        let a = Allowed::new(
            IpAddr::from([127, 0, 0, 1]),
            8080,
            &["Votes.Example.org".into()],
        );
        assert!(a.host_ok(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(a.host_ok(&headers(&[("host", "LOCALHOST:8080")])));
        assert!(a.host_ok(&headers(&[("host", "votes.example.org")])));
        assert!(!a.host_ok(&headers(&[("host", "evil.example")])));
        assert!(!a.host_ok(&headers(&[("host", "127.0.0.1:8081")])));
        assert!(!a.host_ok(&headers(&[("host", "127.0.0.1")])));
        assert!(!a.host_ok(&headers(&[])));
        assert!(!a.host_ok(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("host", "evil.example")
        ])));

        assert!(a.origin_ok(&headers(&[("origin", "http://127.0.0.1:8080")])));
        assert!(a.origin_ok(&headers(&[("origin", "https://votes.example.org")])));
        assert!(!a.origin_ok(&headers(&[("origin", "null")])));
        assert!(!a.origin_ok(&headers(&[("origin", "http://evil.example")])));
        assert!(!a.origin_ok(&headers(&[(
            "origin",
            "http://127.0.0.1:8080@evil.example"
        )])));
        assert!(a.origin_ok(&headers(&[("referer", "http://127.0.0.1:8080/?x=1")])));
        assert!(!a.origin_ok(&headers(&[(
            "referer",
            "http://evil.example/127.0.0.1:8080"
        )])));
        // A foreign Origin is not rescued by a matching Referer.
        assert!(!a.origin_ok(&headers(&[
            ("origin", "http://evil.example"),
            ("referer", "http://127.0.0.1:8080/")
        ])));
        assert!(!a.origin_ok(&headers(&[])));
    }

    #[test]
    fn forwarded_for_only_behind_a_trusted_proxy() {
        let peer = Some(SocketAddr::from(([10, 0, 0, 1], 5000)));
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8")]);
        assert_eq!(client_addr(&h, peer, false), "10.0.0.1");
        assert_eq!(client_addr(&h, peer, true), "5.6.7.8");
        assert_eq!(client_addr(&headers(&[]), peer, true), "10.0.0.1");
    }
}
