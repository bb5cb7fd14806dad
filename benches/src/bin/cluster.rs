//! `cluster` (issue 18): remote actors over a real `nats-server` on
//! loopback, beside raw async-nats on the same server, in the same run.
//!
//! - `relive remote_call_round_trips_per_s`: host b calls `Get` on the
//!   release-built `counter_v1` actor host a serves, one call at a time
//!   (request/reply with relive's headers, the type check on a, the actor's
//!   turn, the reply);
//! - `nats request_reply_round_trips_per_s`: a raw async-nats request and a
//!   responder that echoes it, between the same two kinds of connection:
//!   the limit of the transport;
//! - `relive remote_cast_msgs_per_s`: b casts `Add(1)` `CASTS` times, then
//!   one call; timed until the call's reply, which shows every cast
//!   handled (casts and a call from one sender arrive in order; the casts
//!   go through the sender's credit window, decision 0030);
//! - `nats publish_msgs_per_s`: raw publishes of a payload of the same
//!   size, timed until a subscriber on a connection of its own (with room
//!   for the whole flood, so core NATS drops none) has them all.
//!
//! Median of `REPS` repetitions each, then the two ratios relive / NATS
//! (`relive remote_call_vs_nats_request_ratio`,
//! `relive remote_cast_vs_nats_publish_ratio`). Without a nats-server it prints a
//! SKIP line and exits 0. Run: `cargo run --release -p relive-benches --bin
//! cluster`

use counter_api::{CounterMsg, CounterReply};
use futures_util::StreamExt;
use relive_benches::{figure, median};
use relive_cluster::ClusterBuilder;
use relive_runtime::{Host, SpawnOptions};
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::time::{Duration, Instant};

const CALLS: u64 = 5_000;
const CASTS: u64 = 100_000;
const REPS: usize = 3;

fn main() {
    let Some(bin) = nats_server_or_skip("benches cluster") else { return };
    let nats = NatsServer::start(&bin);
    let lib = relive_test_support::build_library("counter_v1", true);
    let host_a = Host::new().expect("host a");
    host_a.code_server().upgrade("counter", &lib).expect("load counter v1");
    let _counter: relive_runtime::ActorRef<CounterMsg, CounterReply> = host_a
        .spawn_with("counter", &0u64, SpawnOptions::new().name("counter").capacity(0))
        .expect("spawn");
    let host_b = Host::new().expect("host b");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (ha, hb) = (host_a.handle(), host_b.handle());
        let builder = |node: &str| {
            ClusterBuilder::new(nats.url(), "bench", node).call_timeout(Duration::from_secs(30))
        };
        let a = builder("a").join(&ha).await.expect("a joins");
        let b = builder("b").join(&hb).await.expect("b joins");
        a.register("counter").await.expect("register");
        let remote = b.remote::<CounterMsg, CounterReply>("counter").await.expect("remote");

        // The raw side: a responder on a's connection, requests from b's.
        let mut echo = a.client().subscribe("bench.echo").await.expect("subscribe");
        let responder = a.client().clone();
        tokio::spawn(async move {
            while let Some(m) = echo.next().await {
                if let Some(reply) = m.reply {
                    let _ = responder.publish(reply, m.payload).await;
                }
            }
        });
        // The raw publishes' subscriber: its own connection, with room for
        // a whole flood.
        let sink_client = async_nats::ConnectOptions::new()
            .subscription_capacity(CASTS as usize + 1024)
            .connect(nats.url())
            .await
            .expect("the raw subscriber connects");
        let mut get = Vec::new();
        relive_codec::encode_into(&CounterMsg::Get, &mut get).expect("encode");
        let mut add = Vec::new();
        relive_codec::encode_into(&CounterMsg::Add(1), &mut add).expect("encode");

        let (mut calls, mut requests, mut casts, mut publishes) = (vec![], vec![], vec![], vec![]);
        let mut expected = 0u64;
        for _ in 0..REPS {
            let t = Instant::now();
            for _ in 0..CALLS {
                remote.call_async(CounterMsg::Get).await.expect("call");
            }
            calls.push(CALLS as f64 / t.elapsed().as_secs_f64());

            let t = Instant::now();
            for _ in 0..CALLS {
                b.client().request("bench.echo", get.clone().into()).await.expect("request");
            }
            requests.push(CALLS as f64 / t.elapsed().as_secs_f64());

            let t = Instant::now();
            for _ in 0..CASTS {
                remote.cast_async(CounterMsg::Add(1)).await.expect("cast");
            }
            expected += CASTS;
            let reply = remote.call_async(CounterMsg::Get).await.expect("call after casts");
            casts.push(CASTS as f64 / t.elapsed().as_secs_f64());
            let stats = a.stats();
            assert_eq!(
                reply.count, expected,
                "every cast handled before the call (host a counted {stats:?})"
            );

            // The subscriber holds the whole flood: with the client's default
            // buffer (64 k messages) core NATS drops what a lagging
            // subscriber has no room for, and waiting for every message
            // would never end (one run in three hung so).
            let mut sink = sink_client.subscribe("bench.sink").await.expect("subscribe");
            sink_client.flush().await.expect("flush");
            let counted = tokio::spawn(async move {
                for _ in 0..CASTS {
                    sink.next().await.expect("a message");
                }
            });
            let t = Instant::now();
            for _ in 0..CASTS {
                b.client().publish("bench.sink", add.clone().into()).await.expect("publish");
            }
            b.client().flush().await.expect("flush");
            tokio::time::timeout(Duration::from_secs(60), counted)
                .await
                .expect("every publish received within 60 s (a slow consumer dropped some?)")
                .expect("the subscriber");
            publishes.push(CASTS as f64 / t.elapsed().as_secs_f64());
        }
        figure("relive", "remote_call_round_trips_per_s", median(&calls), "/s");
        figure("nats", "request_reply_round_trips_per_s", median(&requests), "/s");
        figure("relive", "remote_cast_msgs_per_s", median(&casts), "/s");
        figure("nats", "publish_msgs_per_s", median(&publishes), "/s");
        let ratio = |a: &[f64], b: &[f64]| median(a) / median(b);
        figure("relive", "remote_call_vs_nats_request_ratio", ratio(&calls, &requests), "x");
        figure("relive", "remote_cast_vs_nats_publish_ratio", ratio(&casts, &publishes), "x");
        b.leave().await;
        a.leave().await;
    });
}
