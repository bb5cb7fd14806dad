//! The observer's access token: random, required on every request for
//! data or action, as `?token=`, an `X-Relive-Token` header, an
//! `Authorization: Bearer` header or (for reads only) the cookie the page
//! is given when it is opened with its token.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use std::borrow::Cow;

/// The cookie the page is given.
pub(crate) const COOKIE_NAME: &str = "relive_observer_token";
/// The header a script (and the page's own POSTs) send.
pub(crate) const HEADER_NAME: &str = "x-relive-token";

/// A fresh token: 128 random bits as hex.
///
/// # Errors
/// The system has no randomness to give.
pub(crate) fn fresh() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Compare without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The token a request offers in `?token=`, percent-decoded (a token of
/// the operator's choosing may hold `+`, `/`, `%`…, which a link encodes).
pub(crate) fn from_query(query: Option<&str>) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(query?.as_bytes()).find_map(|(k, v)| (k == "token").then_some(v))
}

/// Whether a request carries `token`; `cookie_ok`: whether the cookie counts
/// (not for actions: a cookie is sent by any page that links here).
pub(crate) fn offered(
    token: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    cookie_ok: bool,
) -> bool {
    let header = headers.get(HEADER_NAME).and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = cookie_ok
        .then(|| {
            headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
                v.split(';').find_map(|kv| kv.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
            })
        })
        .flatten();
    let query = from_query(query);
    [query.as_deref(), header, bearer, cookie].into_iter().flatten().any(|t| same(t, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_compared_whole() {
        let (a, b) = (fresh().unwrap(), fresh().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[..31]));
        assert!(!same(&a, &b));
    }

    #[test]
    fn a_cookie_counts_for_reads_only() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, format!("a=b; {COOKIE_NAME}=secret").parse().unwrap());
        assert!(offered("secret", None, &h, true));
        assert!(!offered("secret", None, &h, false));
        assert!(offered("secret", Some("x=1&token=secret"), &HeaderMap::new(), false));
        assert!(!offered("secret", Some("token=secre"), &HeaderMap::new(), false));
    }

    #[test]
    fn a_query_token_is_percent_decoded() {
        let none = HeaderMap::new();
        assert!(offered("a+b/c=d%e f", Some("token=a%2Bb%2Fc%3Dd%25e+f"), &none, false));
        assert!(!offered("a+b", Some("token=a+b"), &none, false), "`+` in a query is a space");
        assert!(offered("plain", Some("x=%zz&token=plain"), &none, false));
    }
}
