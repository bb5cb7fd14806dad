//! Remote actors between relive hosts through real `nats-server`
//! processes on 127.0.0.1 (issue 18 §1, §3): calls and casts, the type
//! check on the serving host, pools, a serving host killed, and a 3-node
//! NATS cluster. Without a nats-server each test prints a loud SKIP.

use counter_api::{CounterMsg, CounterReply};
use relive_cluster::{Cluster, ClusterBuilder, RemoteError, RemoteFailure};
use relive_codec::Fingerprint;
use relive_runtime::code_server::Part;
use relive_runtime::{ExitReason, Host, SpawnOptions};
use relive_test_support::fixtures;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::time::{Duration, Instant};

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

const BEAT: Duration = Duration::from_millis(100);
const DEADLINE: Duration = Duration::from_millis(600);
const CALL: Duration = Duration::from_secs(2);

/// A host running counter v1, one counter registered locally as `counter`
/// starting at `start`.
fn host(start: u64) -> (Host, Counter) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c = host.spawn_with("counter", &start, SpawnOptions::new().name("counter")).unwrap();
    (host, c)
}

async fn join(url: &str, node: &str, host: &Host) -> Cluster {
    ClusterBuilder::new(url, "test", node)
        .heartbeat(BEAT, DEADLINE)
        .call_timeout(CALL)
        .join(&host.handle())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_call_and_casts_reach_an_actor_on_another_host() {
    let Some(bin) = nats_server_or_skip("a_remote_call_and_casts_reach_an_actor_on_another_host")
    else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, local) = host(5);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    a.register("counter").await.unwrap();

    let remote = b.remote::<CounterMsg, CounterReply>("counter").await.unwrap();
    assert_eq!((remote.name(), remote.node()), ("counter", None));
    for _ in 0..3 {
        remote.cast_async(CounterMsg::Add(10)).await.unwrap();
    }
    // Casts and then a call from one sender arrive in order.
    let reply = remote.call_async(CounterMsg::Get).await.unwrap();
    assert_eq!(reply, CounterReply { logic: 1, count: 35 });
    assert_eq!(local.call(CounterMsg::Get).unwrap().count, 35, "the actor on host a");

    let pinned = b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap();
    assert_eq!(pinned.subject(), "relive.test.node.a.actor.counter");
    assert_eq!(pinned.call_async(CounterMsg::Add(1)).await.unwrap().count, 36);
    // The blocking forms, from a thread outside the runtime.
    let blocking = pinned.clone();
    let count = tokio::task::spawn_blocking(move || {
        blocking.cast(CounterMsg::Add(4)).unwrap();
        blocking.call(CounterMsg::Get).unwrap().count
    })
    .await
    .unwrap();
    assert_eq!(count, 40);

    // A handler failure comes back typed, with the remote exit reason.
    let e = remote.call_async(CounterMsg::Panic("remote boom".into())).await.unwrap_err();
    assert!(
        matches!(&e, RemoteError::Remote { node, failure: RemoteFailure::Exited(ExitReason::Panicked(m)), .. }
            if node == "a" && m.starts_with("remote boom")),
        "{e:?}"
    );
    // Now no actor is registered as `counter` on a (once its exit is
    // through: until then a call may still find the exiting actor).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !local.is_exited() {
        assert!(Instant::now() < deadline, "the panicked actor did not exit");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = remote.call_async(CounterMsg::Get).await.unwrap_err();
    assert!(matches!(&e, RemoteError::Remote { failure: RemoteFailure::NoProc, .. }), "{e:?}");
    // b hears a's heartbeats (one interval after b joined, at most).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b.nodes().contains(&"a".to_owned()) {
        assert!(Instant::now() < deadline, "{:?}", b.nodes());
        tokio::time::sleep(BEAT / 2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_that_are_not_the_actors_are_refused_with_a_typed_error() {
    let Some(bin) = nats_server_or_skip("types_that_are_not_the_actors_are_refused") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, local) = host(0);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    a.register("counter").await.unwrap();

    let e = b.remote::<u32, CounterReply>("counter").await.unwrap_err();
    let RemoteError::Types { node, source } = &e else { panic!("{e:?}") };
    assert_eq!(node, "a");
    assert_eq!(source.part, Part::Message);
    assert_eq!(source.expected, Fingerprint::of::<CounterMsg>());
    assert_eq!(source.found, Fingerprint::of::<u32>());
    assert!(source.target.contains("counter"), "{}", source.target);

    let e = b.remote::<CounterMsg, u64>("counter").await.unwrap_err();
    assert!(matches!(&e, RemoteError::Types { source, .. } if source.part == Part::Reply), "{e:?}");

    // A cast that says it is a `u32` is refused on the serving host, even
    // when its bytes would decode as a counter message (`Add(5)`): the
    // actor never sees them (a right-typed call after it finds 0).
    use relive_cluster::header;
    let headers = header::request(
        header::Kind::Cast,
        Fingerprint::of::<u32>(),
        Fingerprint::of::<CounterReply>(),
    );
    let mut add5 = Vec::new();
    relive_codec::encode_into(&CounterMsg::Add(5), &mut add5).unwrap();
    b.client()
        .publish_with_headers("relive.test.node.a.actor.counter", headers, add5.into())
        .await
        .unwrap();
    let good = b.remote::<CounterMsg, CounterReply>("counter").await.unwrap();
    assert_eq!(good.call_async(CounterMsg::Get).await.unwrap().count, 0);
    assert_eq!(local.handled(), 1, "only the good call reached the actor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_two_hosts_both_serve_one_name() {
    let Some(bin) = nats_server_or_skip("a_pool_of_two_hosts_both_serve_one_name") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, local_a) = host(0);
    let (host_b, local_b) = host(0);
    let (host_c, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    let c = join(&nats.url(), "c", &host_c).await;
    a.register("counter").await.unwrap();
    b.register("counter").await.unwrap();

    let pool = c.remote::<CounterMsg, CounterReply>("counter").await.unwrap();
    const N: u64 = 200;
    for _ in 0..N {
        pool.call_async(CounterMsg::Add(1)).await.unwrap();
    }
    let (na, nb) = (
        local_a.call(CounterMsg::Get).unwrap().count,
        local_b.call(CounterMsg::Get).unwrap().count,
    );
    assert_eq!(na + nb, N, "every call served once");
    assert!(na > 0 && nb > 0, "both members served: {na} and {nb}");

    // One member leaves: the pool goes on with the other.
    a.leave().await;
    for _ in 0..20 {
        assert_eq!(pool.call_async(CounterMsg::Get).await.unwrap().count, nb);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_serving_host_fails_calls_in_time_and_tells_monitors_noconnection() {
    let Some(bin) = nats_server_or_skip("killing_the_serving_host") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, _) = host(0);
    let (host_b, _) = host(0);
    // Host a's member runs on a runtime of its own, so it can be killed:
    // its tasks and its connection dropped, no goodbye sent.
    let rt_a =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (url, handle) = (nats.url(), host_a.handle());
    let a = rt_a
        .spawn(async move {
            let a = ClusterBuilder::new(url, "test", "a")
                .heartbeat(BEAT, DEADLINE)
                .join(&handle)
                .await
                .unwrap();
            a.register("counter").await.unwrap();
            a
        })
        .await
        .unwrap();
    let b = join(&nats.url(), "b", &host_b).await;
    let remote = b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap();
    let pool = b.remote::<CounterMsg, CounterReply>("counter").await.unwrap();
    assert_eq!(remote.call_async(CounterMsg::Add(2)).await.unwrap().count, 2);
    let down = remote.monitor().await.unwrap();
    let pool_down = pool.monitor().await.unwrap();

    let killed = Instant::now();
    rt_a.shutdown_background();
    std::mem::forget(a); // its runtime is gone: nothing left to run its drop

    let e = pool.call_async_timeout(CounterMsg::Get, CALL).await.unwrap_err();
    assert!(
        matches!(
            e,
            RemoteError::NoResponders { .. }
                | RemoteError::Timeout { .. }
                | RemoteError::HostGone { .. }
        ),
        "{e:?}"
    );
    assert!(killed.elapsed() < CALL + Duration::from_millis(500), "within the timeout");

    let reason = tokio::time::timeout(DEADLINE * 4, down).await.expect("DOWN within the deadline");
    assert_eq!(reason, ExitReason::NoConnection("a".into()));
    let reason = tokio::time::timeout(DEADLINE * 4, pool_down).await.expect("the pool's DOWN");
    assert_eq!(reason, ExitReason::NoConnection("a".into()));
    // Once gone, a pinned call fails at once, without waiting.
    let t = Instant::now();
    let e = remote.call_async(CounterMsg::Get).await.unwrap_err();
    assert!(matches!(&e, RemoteError::HostGone { node } if node == "a"), "{e:?}");
    assert!(t.elapsed() < Duration::from_millis(100));
    assert!(!b.nodes().contains(&"a".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_monitors_see_an_exit_a_goodbye_and_a_missing_actor() {
    let Some(bin) = nats_server_or_skip("remote_monitors_see_an_exit_a_goodbye") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, local) = host(0);
    let (host_b, _) = host(0);
    let a = join(&nats.url(), "a", &host_a).await;
    let b = join(&nats.url(), "b", &host_b).await;
    a.register("counter").await.unwrap();
    let remote = b.remote_on::<CounterMsg, CounterReply>("a", "counter").await.unwrap();
    let down = remote.monitor().await.unwrap();
    let _ = local.cast(CounterMsg::Panic("gone".into()));
    let reason = tokio::time::timeout(Duration::from_secs(5), down).await.unwrap();
    assert!(matches!(&reason, ExitReason::Panicked(m) if m.starts_with("gone")), "{reason:?}");
    // No actor there now: the monitor resolves at once with noproc.
    let down = remote.monitor().await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), down).await.unwrap(),
        ExitReason::NoProc
    );

    // A new counter under the name; its host leaves: noconnection at once,
    // not after the deadline.
    let _c: Counter =
        host_a.spawn_with("counter", &0u64, SpawnOptions::new().name("counter")).unwrap();
    let down = remote.monitor().await.unwrap();
    let t = Instant::now();
    a.leave().await;
    let reason = tokio::time::timeout(DEADLINE * 4, down).await.unwrap();
    assert_eq!(reason, ExitReason::NoConnection("a".into()));
    assert!(t.elapsed() < DEADLINE, "the goodbye, not the deadline: {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_name_in_use_and_an_unreachable_server_are_join_errors() {
    let Some(bin) = nats_server_or_skip("a_node_name_in_use") else {
        return;
    };
    let nats = NatsServer::start(&bin);
    let (host_a, _) = host(0);
    let _a = join(&nats.url(), "a", &host_a).await;
    let e = ClusterBuilder::new(nats.url(), "test", "a")
        .connect_timeout(Duration::from_millis(500))
        .join(&host_a.handle())
        .await
        .unwrap_err();
    assert!(matches!(e, relive_cluster::JoinError::NodeTaken { .. }), "{e:?}");
    let e =
        ClusterBuilder::new(nats.url(), "test", "a.b").join(&host_a.handle()).await.unwrap_err();
    assert!(matches!(e, relive_cluster::JoinError::Name(_)), "{e:?}");
    let port = relive_test_support::nats::free_port();
    let t = Instant::now();
    let e = ClusterBuilder::new(format!("nats://127.0.0.1:{port}"), "test", "z")
        .connect_timeout(Duration::from_millis(500))
        .join(&host_a.handle())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            relive_cluster::JoinError::Connect { .. }
                | relive_cluster::JoinError::ConnectTimeout { .. }
        ),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

/// Retry `f` until it is `Ok` or 10 s pass (routes between NATS servers
/// carry a new subscription's interest a moment after it is made).
async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RemoteError>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("still failing after 10 s: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_the_three_nodes_of_a_nats_cluster_reach_each_other() {
    let Some(bin) = nats_server_or_skip("hosts_on_the_three_nodes_of_a_nats_cluster") else {
        return;
    };
    let servers = NatsServer::cluster(&bin, 3);
    let (host_a, local_a) = host(100);
    let (host_b, local_b) = host(200);
    let (host_c, _) = host(0);
    let a = join(&servers[0].url(), "a", &host_a).await;
    let b = join(&servers[1].url(), "b", &host_b).await;
    let c = join(&servers[2].url(), "c", &host_c).await;
    a.register("counter").await.unwrap();
    b.register("counter").await.unwrap();

    let on_a = eventually(|| c.remote_on::<CounterMsg, CounterReply>("a", "counter")).await;
    let on_b = eventually(|| c.remote_on::<CounterMsg, CounterReply>("b", "counter")).await;
    assert_eq!(on_a.call_async(CounterMsg::Add(1)).await.unwrap().count, 101);
    assert_eq!(on_b.call_async(CounterMsg::Add(1)).await.unwrap().count, 201);
    let pool = c.remote::<CounterMsg, CounterReply>("counter").await.unwrap();
    for _ in 0..100 {
        pool.call_async(CounterMsg::Add(1)).await.unwrap();
    }
    let served =
        local_a.call(CounterMsg::Get).unwrap().count + local_b.call(CounterMsg::Get).unwrap().count;
    assert_eq!(served, 302 + 100);
    // Heartbeats cross the routes: c hears a and b.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.nodes() != ["a", "b", "c"] {
        assert!(Instant::now() < deadline, "{:?}", c.nodes());
        tokio::time::sleep(BEAT).await;
    }
    // Kill a's NATS server: a's client fails over to another server of
    // the NATS cluster (it learnt their addresses from the one it joined),
    // and its actor is reachable again from c, through the routes.
    let mut servers = servers;
    servers[0].kill();
    let count = eventually(|| on_a.call_async(CounterMsg::Get)).await;
    assert_eq!(count.count, local_a.call(CounterMsg::Get).unwrap().count);
    assert_eq!(
        on_b.call_async(CounterMsg::Get).await.unwrap().count,
        local_b.call(CounterMsg::Get).unwrap().count
    );
}
