//! What the observer's tests share: a host running a supervised tree of
//! real counter cdylibs, and a plain HTTP/1.1 client over a TcpStream (the
//! tests read the wire as a browser would, with no client library between).

#![allow(dead_code)]

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorRef, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub(crate) type Counter = ActorRef<CounterMsg, CounterReply>;

/// Wait for `cond`, at most `secs` seconds.
pub(crate) fn eventually(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A host with counter v1 under a one-for-one supervisor: children a, b, c.
pub(crate) fn counter_tree() -> (Host, Supervisor, Vec<Counter>) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let children = [("a", 10u64), ("b", 20), ("c", 30)]
        .map(|(id, start)| {
            Child::new(ChildSpec::worker(id, &["counter"]), ChildStart::module("counter", &start))
        })
        .to_vec();
    let sup = Supervisor::start(&host, Flags::default(), children).unwrap();
    let refs = ["a", "b", "c"].map(|id| sup.child(id).unwrap().typed().expect("types")).to_vec();
    (host, sup, refs)
}

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `method path` with `headers`, `Connection: close`, body read to the end.
pub(crate) fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Answer { status: status.unwrap_or(0), headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An open SSE stream: each `data:` line of a `snapshot` event, parsed.
pub(crate) struct Sse {
    reader: BufReader<TcpStream>,
}

impl Sse {
    pub(crate) fn open(addr: SocketAddr, path: &str) -> (u16, Option<Sse>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let code: u16 = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h.trim().is_empty() {
                break;
            }
        }
        (code, (code == 200).then_some(Sse { reader }))
    }

    /// The next snapshot pushed (chunk framing lines are skipped).
    pub(crate) fn next_snapshot(&mut self) -> serde_json::Value {
        let mut event = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("the stream went quiet");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end();
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:")
                && event == "snapshot"
            {
                return serde_json::from_str(d.trim()).expect("a JSON snapshot");
            }
        }
    }
}
