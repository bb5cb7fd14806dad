//! What the observer's tests share: a host running a supervised tree of
//! real counter cdylibs, and a plain HTTP/1.1 client over a TcpStream (the
//! tests read the wire as a browser would, with no client library between).

#![allow(dead_code)]

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorRef, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::io::{BufRead, BufReader, Write};
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

/// `method path` with `headers`: the support crate's plain client.
#[allow(unused_imports)] // not every test binary makes plain requests
pub(crate) use relive_test_support::http::request as http;

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
