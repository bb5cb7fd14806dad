//! What the service's HTTP tests share: the support crate's bare HTTP/1.1 client.

use std::net::SocketAddr;

/// One HTTP/1.1 request on a fresh connection: (status, body).
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let answer = relive_test_support::http::request(addr, method, path, &[]);
    (answer.status, answer.body)
}

/// `body` as JSON (`Null` when it is not JSON).
pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}
