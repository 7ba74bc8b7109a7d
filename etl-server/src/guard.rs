//! Who may change what: the layer in front of every route.
//!
//! - Reading (`GET`, `HEAD`) is open to whoever reaches the server (bound to
//!   loopback by default).
//! - Every other method needs `Authorization: Bearer <token>`, the server's
//!   token ([`Auth::Token`]), unless the server was started with no token,
//!   which it allows only on a loopback address ([`Auth::Open`]).
//! - A mutation a browser sends from another site is refused whatever its
//!   token: its `Origin` must be the server's own (`http://` and the host
//!   the request names; `https://` too for a host of [`Hosts`], behind a
//!   proxy that ends TLS), and `Sec-Fetch-Site`, when sent, `same-origin` or
//!   `none`. (A cross-site form cannot set `Authorization` or a JSON content
//!   type either.)
//! - Every request, reading too, must name a host the server answers to
//!   ([`Hosts`]): an address (`127.0.0.1:8080`, `[::1]:8080`), `localhost`,
//!   or a name it was given. A page on another site whose name was made to
//!   resolve to this machine (DNS rebinding) names its own host, and is
//!   refused (421) before it can read or change anything.
//! - A token is `Authorization: Bearer <token>`, exactly: no other scheme,
//!   no bare token, nothing around it.
//! - A request whose path or query holds a NUL character (`%00`) is refused
//!   (400) before any store sees it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::routes::error::ApiError;

/// How callers prove they may change things.
#[derive(Clone)]
pub enum Auth {
    /// Mutations need this bearer token.
    Token(String),
    /// No token: only on a loopback address, when asked for explicitly.
    Open,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(…)"),
            Auth::Open => f.write_str("Auth::Open"),
        }
    }
}

/// The fewest characters a server token may have.
pub const MIN_TOKEN: usize = 16;

/// Why `token` cannot be a token: fewer than [`MIN_TOKEN`] characters, or a
/// character a header cannot carry as sent (a space, a control character,
/// anything not visible ASCII). A token of 16 spaces would be accepted at
/// start-up and then matched by no request.
pub(crate) fn token_problem(token: &str) -> Option<String> {
    let count = token.chars().count();
    if count < MIN_TOKEN {
        return Some(format!(
            "has {count} characters; give one of at least {MIN_TOKEN}"
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(
            "holds a space, a control character or a character that is not ASCII; a token \
             is visible ASCII only, as an Authorization header carries it"
                .into(),
        );
    }
    None
}

/// The hosts a server answers to, besides addresses and `localhost`: the
/// names it is reached by (`etl.example.com`), given with
/// [`Server::allow_hosts`](crate::Server::allow_hosts). Compared without
/// case, a port or a final dot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hosts(pub(crate) Vec<String>);

impl Hosts {
    /// A name as compared: lower case, no port, no final dot.
    pub(crate) fn normal(host: &str) -> String {
        let name = match host.strip_prefix('[') {
            // An IPv6 literal, with its brackets.
            Some(rest) => return format!("[{}]", rest.split(']').next().unwrap_or("")),
            None => host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    host
                }
            }),
        };
        name.trim_end_matches('.').to_ascii_lowercase()
    }

    /// Whether `host` (a `Host` header's value) is one the server answers to.
    fn allows(&self, host: &str) -> bool {
        let name = Hosts::normal(host);
        name.starts_with('[')
            || name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || self.listed(&name)
    }

    /// Whether a normal `name` was given.
    fn listed(&self, name: &str) -> bool {
        self.0.iter().any(|h| Hosts::normal(h) == name)
    }
}

/// The host a request names: `Host`, or the URI's authority (HTTP/2).
fn host_of(request: &Request) -> Option<String> {
    match request.headers().get(header::HOST) {
        Some(value) => value.to_str().ok().map(str::to_owned),
        None => request.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

/// The layer before every route: the host the request names, and no NUL
/// in its path or query; see the [module docs](self).
pub(crate) async fn host_and_uri(
    State(hosts): State<Arc<Hosts>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(host) = host_of(&request) else {
        return ApiError::bad_request("the request names no host (Host)").into_response();
    };
    if !hosts.allows(&host) {
        let shown: String = host.chars().take(100).collect();
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this server answers to its addresses, localhost and the names it was given \
                 (--allow-host, ETL_ALLOWED_HOSTS), not to {shown:?}"
            ),
        )
        .into_response();
    }
    let uri = request.uri();
    if uri.path().contains("%00") || uri.query().is_some_and(|q| q.contains("%00")) {
        return ApiError::bad_request(
            "the path or query holds a NUL character (%00), which no name or value may hold",
        )
        .into_response();
    }
    next.run(request).await
}

/// The token an `Authorization` header carries: `Ok(None)` when there is no
/// header, an error when it is not exactly `Bearer <token>` (the scheme in
/// any case, one space, the token as sent).
pub(crate) fn bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let refused = "send `Authorization: Bearer <token>`: the word Bearer, one space, the token";
    let value = value.to_str().map_err(|_| refused)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer")
                && !token.is_empty()
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(token))
        }
        _ => Err(refused),
    }
}

pub(crate) struct Guard {
    /// The tokens that pass; none: every caller passes (an open server).
    pub(crate) tokens: Vec<String>,
    /// Whether the server runs with no token at all.
    pub(crate) open: bool,
    /// The names the server is reached by, for `Origin`.
    pub(crate) hosts: Arc<Hosts>,
}

impl Guard {
    pub(crate) fn of(auth: &Auth, hosts: Arc<Hosts>) -> Guard {
        match auth {
            Auth::Token(token) => Guard {
                tokens: vec![token.clone()],
                open: false,
                hosts,
            },
            Auth::Open => Guard {
                tokens: Vec::new(),
                open: true,
                hosts,
            },
        }
    }
}

/// Equal in time that does not depend on where the two first differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a mutation comes from another site: what it is, if so. The
/// `Origin` must be `http://` and the host the request names (its scheme
/// too: `ftp://` or `chrome-extension://` with the same host is another
/// origin), or `https://` for a name of `hosts` (a proxy ending TLS).
fn cross_site(headers: &HeaderMap, hosts: &Hosts) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!("a {site} request"));
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(scheme, rest)| {
            let rest = rest.trim_end_matches('/');
            let scheme_fits = match scheme {
                "http" => true,
                "https" => hosts.listed(&Hosts::normal(rest)),
                _ => false,
            };
            scheme_fits && host.is_some_and(|h| rest.eq_ignore_ascii_case(h))
        });
    if same {
        return None;
    }
    Some(format!(
        "a request from origin {:?}",
        String::from_utf8_lossy(origin.as_bytes())
    ))
}

pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if let Some(what) = cross_site(request.headers(), &guard.hosts) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{what} may not change anything here: send it from the server's own page or without a browser"),
        )
        .into_response();
    }
    if !(guard.open && guard.tokens.is_empty()) {
        let refusal = match bearer(request.headers()) {
            Err(refused) => Some(refused),
            Ok(None) => Some("this needs the server's token: send `Authorization: Bearer <token>`"),
            Ok(Some(given))
                if !guard
                    .tokens
                    .iter()
                    .any(|t| same(given.as_bytes(), t.as_bytes())) =>
            {
                Some("the token sent is not the server's")
            }
            Ok(Some(_)) => None,
        };
        if let Some(message) = refusal {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return response;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdef", b"abcdef"));
        assert!(!same(b"abcdef", b"abcdeg"));
        assert!(!same(b"abc", b"abcdef"));
    }

    #[test]
    fn only_the_servers_own_origin_may_mutate() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            map
        };
        let hosts = Hosts(vec!["etl.example.com".into()]);
        let cross_site = |h: &HeaderMap| cross_site(h, &hosts);
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:8080")])), None);
        assert_eq!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ])),
            None
        );
        for origin in [
            "http://evil.test",
            "null",
            "https://127.0.0.1:8080",
            "ftp://127.0.0.1:8080",
            "chrome-extension://127.0.0.1:8080",
            "http://127.0.0.1:8080.evil.test",
        ] {
            assert!(
                cross_site(&headers(&[("host", "127.0.0.1:8080"), ("origin", origin)])).is_some(),
                "{origin}"
            );
        }
        // Behind a proxy that ends TLS, a listed name's https origin is its own.
        assert_eq!(
            cross_site(&headers(&[
                ("host", "etl.example.com"),
                ("origin", "https://etl.example.com")
            ])),
            None
        );
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert_eq!(
            cross_site(&headers(&[("sec-fetch-site", "same-origin")])),
            None
        );
    }

    #[test]
    fn hosts_are_addresses_localhost_and_the_names_given() {
        let hosts = Hosts(vec!["ETL.example.com.".into(), "other.test:8443".into()]);
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "10.1.2.3:80",
            "[::1]:8080",
            "[::1]",
            "localhost:8080",
            "LOCALHOST",
            "etl.example.com",
            "etl.example.com.:443",
            "Other.Test",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.test",
            "evil.test:8080",
            "127.0.0.1.nip.io",
            "localhost.evil.test",
            "etl.example.com.evil.test",
            "",
            "1.2.3.4.5",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
    }

    #[test]
    fn a_token_is_bearer_and_the_token_exactly() {
        let auth = |value: &'static str| {
            let mut map = HeaderMap::new();
            map.insert(header::AUTHORIZATION, value.parse().unwrap());
            map
        };
        assert_eq!(bearer(&HeaderMap::new()), Ok(None));
        assert_eq!(bearer(&auth("Bearer abc")), Ok(Some("abc")));
        assert_eq!(bearer(&auth("bearer abc")), Ok(Some("abc")));
        for bad in [
            "abc",
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer  abc",
            "Bearer abc ",
            "Bearerabc",
            "Token abc",
        ] {
            assert!(bearer(&auth(bad)).is_err(), "{bad:?}");
        }
        assert!(token_problem(&" ".repeat(16)).is_some());
        assert!(token_problem("short").is_some());
        assert!(token_problem("a-token-with-\u{e9}-in-it").is_some());
        assert_eq!(token_problem("a-good-token-of-24-chars"), None);
    }
}
