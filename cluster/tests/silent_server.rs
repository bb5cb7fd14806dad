//! A NATS server that accepts but stops answering never hangs a member:
//! every round trip of joining and registering is bounded by the call
//! timeout, and a join as a whole by the join timeout, and fails with a
//! typed error (async-nats queues subscriptions
//! and publishes without waiting for the server, and its `flush` only
//! reaches the socket, so before these bounds a join against such a server
//! "succeeded" and `register` returned `Ok` unheard).

use relive_cluster::{ClusterBuilder, JoinError, JoinStep, RegisterError};
use relive_runtime::Host;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const CALL: Duration = Duration::from_millis(500);

/// A server that speaks the NATS handshake (INFO, then PONG to the client's
/// first PING) and then reads everything and answers nothing.
async fn mute_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let info = format!(
                    "INFO {{\"server_id\":\"mute\",\"server_name\":\"mute\",\"version\":\"2.10.0\",\
                     \"go\":\"go1\",\"host\":\"127.0.0.1\",\"port\":{port},\"headers\":true,\
                     \"max_payload\":1048576,\"proto\":1}}\r\n"
                );
                write.write_all(info.as_bytes()).await.unwrap();
                let mut read = BufReader::new(read);
                let mut line = String::new();
                while read.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    if line.starts_with("PING") {
                        let _ = write.write_all(b"PONG\r\n").await;
                        break;
                    }
                    line.clear();
                }
                let mut sink = [0u8; 4096];
                while read.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                drop(write);
            });
        }
    });
    format!("nats://127.0.0.1:{port}")
}

/// A TCP proxy to `upstream` that, once frozen, swallows every byte both
/// ways and keeps the connections open.
async fn freezing_proxy(upstream: String) -> (String, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let frozen = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&frozen);
    let upstream = upstream.trim_start_matches("nats://").to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pipe(cr, sw, Arc::clone(&f)));
            tokio::spawn(pipe(sr, cw, Arc::clone(&f)));
        }
    });
    (format!("nats://127.0.0.1:{port}"), frozen)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        // ORDERING: a test switch; a chunk either side of it is fine.
        if !frozen.load(Ordering::Relaxed) && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_server_that_never_answers_fails_typed_within_the_call_timeout() {
    let url = mute_server().await;
    let host = Host::builder().workers(1).build().unwrap();
    let t = Instant::now();
    let joined =
        ClusterBuilder::new(url, "mute", "a").call_timeout(CALL).join(&host.handle()).await;
    let e = joined.expect_err("no server heard the claim: the join must fail");
    assert!(
        matches!(e, JoinError::Timeout { step: JoinStep::Claim, timeout } if timeout == CALL),
        "{e:?}"
    );
    assert!(t.elapsed() < CALL * 4, "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_on_a_connection_gone_silent_fails_typed_within_the_call_timeout() {
    let Some(bin) = nats_server_or_skip("registering_on_a_connection_gone_silent") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (url, frozen) = freezing_proxy(nats.url()).await;
    let host = Host::builder().workers(1).build().unwrap();
    let member = ClusterBuilder::new(url, "frozen", "a")
        .call_timeout(CALL)
        .join(&host.handle())
        .await
        .unwrap();
    // ORDERING: the test's switch.
    frozen.store(true, Ordering::Relaxed);
    let t = Instant::now();
    let e = member.register("counter").await.expect_err("the server never confirmed it");
    assert!(
        matches!(&e, RegisterError::Timeout { subject, timeout }
            if *timeout == CALL && subject == "relive.frozen.actor.counter"),
        "{e:?}"
    );
    assert!(t.elapsed() < CALL * 4, "{:?}", t.elapsed());
    assert!(member.served().is_empty(), "{:?}", member.served());
    // Leaving a silent connection ends too.
    tokio::time::timeout(CALL * 8, member.leave()).await.expect("leave is bounded");
}

/// Joining has one overall deadline (`join_timeout`), whatever the step's
/// own timeouts: a listener that accepts TCP and never says a word (the
/// kernel accepts for it) ends the join at that deadline, naming the
/// connect step — before it, the connect timeout (5 s by default) ran out
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_a_listener_that_never_speaks_ends_at_the_join_deadline() {
    const JOIN: Duration = Duration::from_millis(700);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("nats://{}", listener.local_addr().unwrap());
    let host = Host::builder().workers(1).build().unwrap();
    let t = Instant::now();
    let e = ClusterBuilder::new(url, "silent", "a")
        .join_timeout(JOIN)
        .join(&host.handle())
        .await
        .expect_err("nothing answered");
    assert!(
        matches!(e, JoinError::Timeout { step: JoinStep::Connect, timeout } if timeout == JOIN),
        "{e:?}"
    );
    assert!(t.elapsed() < JOIN * 3, "{:?}", t.elapsed());
    drop(listener);
}

/// The deadline covers the claim too: a server that completes the
/// handshake and then answers nothing, with the call timeout's default
/// (5 s) — and a claim window longer than the deadline on a real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_cannot_complete_ends_at_the_join_deadline() {
    const JOIN: Duration = Duration::from_millis(700);
    let host = Host::builder().workers(1).build().unwrap();
    let t = Instant::now();
    let e = ClusterBuilder::new(mute_server().await, "mute", "a")
        .join_timeout(JOIN)
        .join(&host.handle())
        .await
        .expect_err("no server heard the claim");
    assert!(
        matches!(e, JoinError::Timeout { step: JoinStep::Claim, timeout } if timeout == JOIN),
        "{e:?}"
    );
    assert!(t.elapsed() < JOIN * 3, "{:?}", t.elapsed());

    let Some(bin) = nats_server_or_skip("a_claim_that_cannot_complete") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let t = Instant::now();
    let e = ClusterBuilder::new(nats.url(), "slow", "a")
        .claim_window(JOIN * 4)
        .join_timeout(JOIN)
        .join(&host.handle())
        .await
        .expect_err("the window outlasts the deadline");
    assert!(
        matches!(e, JoinError::Timeout { step: JoinStep::Claim, timeout } if timeout == JOIN),
        "{e:?}"
    );
    assert!(t.elapsed() < JOIN * 3, "{:?}", t.elapsed());
    // Nothing of it stayed: the name is free for a join within the bounds.
    let member = ClusterBuilder::new(nats.url(), "slow", "a").join(&host.handle()).await.unwrap();
    member.leave().await;
}
