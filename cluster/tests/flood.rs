//! A flood of remote casts between two live hosts loses nothing and keeps
//! its order (issue 18, decision 0030): the serving host is held up (a
//! handler that sleeps, a mailbox of 16) while the sender casts far more
//! than the serving client's subscription buffer holds (4,096 messages
//! here, `subscription_capacity`; async-nats' default is 65,536, which the
//! release-built cluster bench overflowed). Before flow control, the casts
//! past the buffer were dropped by the client (a slow consumer) without a
//! word.

use counter_api::{CounterMsg, CounterReply};
use relive_cluster::{Cluster, ClusterBuilder};
use relive_runtime::{Host, SpawnOptions};
use relive_test_support::fixtures;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::time::Duration;

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

/// The serving host's subscription buffer: above the sender's window (1,024
/// casts), far below the flood.
const BUFFER: usize = 4_096;
const FLOOD: u64 = 30_000;

fn host(capacity: usize) -> (Host, Counter) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let options = SpawnOptions::new().name("counter").capacity(capacity);
    let c = host.spawn_with("counter", &0u64, options).unwrap();
    (host, c)
}

async fn join(url: &str, node: &str, host: &Host) -> Cluster {
    ClusterBuilder::new(url, "flood", node)
        .options(async_nats::ConnectOptions::new().subscription_capacity(BUFFER))
        .heartbeat(Duration::from_millis(200), Duration::from_secs(5))
        .call_timeout(Duration::from_secs(60))
        .join(&host.handle())
        .await
        .unwrap()
}

async fn flood(pinned: bool) {
    let Some(bin) = nats_server_or_skip("a_flood_of_remote_casts") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, local) = host(16);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    a.register("counter").await.unwrap();
    let remote = if pinned {
        b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap()
    } else {
        b.remote::<CounterMsg, CounterReply>("counter").await.unwrap()
    };
    // The actor sleeps 3 s on the first message; its mailbox fills at 16
    // and the serving host's delivery waits for room meanwhile.
    remote.cast_async(CounterMsg::Sleep(3_000)).await.unwrap();
    for _ in 0..FLOOD {
        remote.cast_async(CounterMsg::Add(1)).await.unwrap();
    }
    let reply = remote.call_async(CounterMsg::Get).await.unwrap();
    assert_eq!(reply.count, FLOOD, "every cast handled, before the call that followed them");
    assert_eq!(local.call(CounterMsg::Get).unwrap().count, FLOOD);
    let stats = a.stats();
    assert_eq!(stats.casts_missing, 0, "{stats:?}");
    assert_eq!(stats.slow_consumer_drops, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_remote_casts_to_a_pool_of_one_loses_nothing() {
    flood(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_remote_casts_to_a_pinned_host_loses_nothing() {
    flood(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_in_a_senders_sequence_is_counted_not_silent() {
    let Some(bin) = nats_server_or_skip("a_gap_in_a_senders_sequence") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, _) = host(0);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    a.register("counter").await.unwrap();
    // Casts of one sender as a relive host writes them, with 3 and 4 left
    // out (as a dropped stretch would be), then a step back to 2.
    use relive_cluster::header;
    let mut add = Vec::new();
    relive_codec::encode_into(&CounterMsg::Add(1), &mut add).unwrap();
    for seq in [1u64, 2, 5, 2] {
        let mut h = header::request(
            header::Kind::Cast,
            relive_codec::Fingerprint::of::<CounterMsg>(),
            relive_codec::Fingerprint::of::<CounterReply>(),
        );
        h.insert(header::SENDER, "a-test-sender");
        h.insert(header::SEQ, seq.to_string().as_str());
        b.client()
            .publish_with_headers("relive.flood.node.a.actor.counter", h, add.clone().into())
            .await
            .unwrap();
    }
    let remote = b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap();
    assert_eq!(remote.call_async(CounterMsg::Get).await.unwrap().count, 4);
    let stats = a.stats();
    assert_eq!((stats.casts_missing, stats.casts_out_of_order), (2, 1), "{stats:?}");
    assert_eq!(stats.casts_delivered, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_takes_nothing_for_the_timeout_fails_the_cast_with_cast_window() {
    let Some(bin) = nats_server_or_skip("a_host_that_takes_nothing") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, _) = host(16);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let timeout = Duration::from_millis(500);
    let b = ClusterBuilder::new(nats.url(), "flood", "b")
        .heartbeat(Duration::from_millis(200), Duration::from_secs(5))
        .call_timeout(timeout)
        .join(&host_b.handle())
        .await
        .unwrap();
    a.register("counter").await.unwrap();
    let remote = b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap();
    remote.cast_async(CounterMsg::Sleep(3_000)).await.unwrap();
    let started = std::time::Instant::now();
    let mut refused = None;
    for i in 0..5_000u64 {
        let t = std::time::Instant::now();
        if let Err(e) = remote.cast_async(CounterMsg::Add(1)).await {
            refused = Some((i, e, t.elapsed()));
            break;
        }
    }
    let (i, e, waited) = refused.expect("a cast refused while the host takes nothing");
    assert!(
        matches!(&e, relive_cluster::RemoteError::CastWindow { name, window: 1024, .. } if name == "counter"),
        "{e:?}"
    );
    assert!(i >= 1024 - 128, "only once a window was out: cast {i}");
    assert!(waited >= timeout && waited < timeout * 4, "waited {waited:?}");
    assert!(started.elapsed() < Duration::from_millis(2_900), "before the actor woke");
    // The actor wakes: a fresh window, the casts go again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    remote.cast_async(CounterMsg::Add(1)).await.unwrap();
}
