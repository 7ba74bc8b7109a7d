//! Who may change what: the layer in front of every route.
//!
//! - Reading (`GET`, `HEAD`) is open to whoever reaches the server (bound to
//!   loopback by default).
//! - Every other method needs `Authorization: Bearer <token>`, the server's
//!   token ([`Auth::Token`]), unless the server was started with no token,
//!   which it allows only on a loopback address ([`Auth::Open`]).
//! - A mutation a browser sends from another site is refused whatever its
//!   token: its `Origin` must be the server's own, and `Sec-Fetch-Site`, when
//!   sent, `same-origin` or `none`. (A cross-site form cannot set
//!   `Authorization` or a JSON content type either.)

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

pub(crate) struct Guard {
    /// The tokens that pass; none: every caller passes (an open server).
    pub(crate) tokens: Vec<String>,
    /// Whether the server runs with no token at all.
    pub(crate) open: bool,
}

impl Guard {
    pub(crate) fn of(auth: &Auth) -> Guard {
        match auth {
            Auth::Token(token) => Guard {
                tokens: vec![token.clone()],
                open: false,
            },
            Auth::Open => Guard {
                tokens: Vec::new(),
                open: true,
            },
        }
    }
}

/// Equal in time that does not depend on where the two first differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!("a {site} request"));
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(format!(
            "a request from origin {:?}",
            String::from_utf8_lossy(origin.as_bytes())
        )),
    }
}

pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if let Some(what) = cross_site(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{what} may not change anything here: send it from the server's own page or without a browser"),
        )
        .into_response();
    }
    if !(guard.open && guard.tokens.is_empty()) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
        let refusal = match given {
            None => Some("this needs the server's token: send `Authorization: Bearer <token>`"),
            Some(given)
                if !guard
                    .tokens
                    .iter()
                    .any(|t| same(given.as_bytes(), t.as_bytes())) =>
            {
                Some("the token sent is not the server's")
            }
            Some(_) => None,
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
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:8080")])), None);
        assert_eq!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ])),
            None
        );
        assert!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.test")
            ]))
            .is_some()
        );
        assert!(cross_site(&headers(&[("host", "127.0.0.1:8080"), ("origin", "null")])).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert_eq!(
            cross_site(&headers(&[("sec-fetch-site", "same-origin")])),
            None
        );
    }
}
