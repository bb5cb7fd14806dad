//! Fleet rollouts between relive hosts through real `nats-server`
//! processes with JetStream on 127.0.0.1 (issue 18 §2, §3): canary first,
//! calls during a rollout, a crashing canary, a relive host and a NATS node
//! killed mid-rollout, a late host, one rollout at a time, an expired lock.
//! Without a nats-server each test prints a loud SKIP.

use counter_api::{CounterMsg, CounterReply};
use relive_cluster::fleet::{
    AbortReason, Build, Candidate, Desired, FleetError, Hosts, Lock, Phase, Step,
};
use relive_cluster::{
    Cluster, ClusterBuilder, Fleet, FleetAgent, FleetAgentOptions, FleetBuilder, RolloutError,
    RolloutPlan,
};
use relive_runtime::{EventKind, Host, SpawnOptions};
use relive_test_support::fixtures;
use relive_test_support::nats::{NatsServer, nats_server_or_skip};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

const BEAT: Duration = Duration::from_millis(100);
const DEADLINE: Duration = Duration::from_millis(600);
const CALL: Duration = Duration::from_secs(3);

/// A relive host with counter v1 and a counter registered as `counter`,
/// its cluster member and fleet agent on a runtime of its own (so the test
/// can kill it: no goodbye, no last report).
struct Node {
    name: String,
    host: Host,
    rt: Option<tokio::runtime::Runtime>,
    member: Option<Cluster>,
    agent: Option<FleetAgent>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(url: &str, name: &str, replicas: usize) -> Node {
        Self::start_with(url, name, replicas, |o| o).await
    }

    /// As [`start`](Self::start), its agent's options changed by `opts`.
    async fn start_with(
        url: &str,
        name: &str,
        replicas: usize,
        opts: impl FnOnce(FleetAgentOptions) -> FleetAgentOptions,
    ) -> Node {
        let host = Host::builder().workers(2).build().unwrap();
        host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
        let _c: relive_runtime::ActorRef<CounterMsg, CounterReply> =
            host.spawn_with("counter", &0u64, SpawnOptions::new().name("counter")).unwrap();
        Self::join(url, name, replicas, host, opts).await
    }

    async fn join(
        url: &str,
        name: &str,
        replicas: usize,
        host: Host,
        change: impl FnOnce(FleetAgentOptions) -> FleetAgentOptions,
    ) -> Node {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = fixtures().scratch();
        let opts = FleetAgentOptions::new(dir.path().join("fleet"))
            .report_interval(Duration::from_millis(50))
            .resync(Duration::from_secs(2))
            .replicas(replicas)
            .bucket_timeouts(Duration::from_secs(20), Duration::from_secs(3));
        let opts = change(opts);
        let (url, node, handle) = (url.to_owned(), name.to_owned(), host.handle());
        let (member, agent) = rt
            .spawn(async move {
                let member = ClusterBuilder::new(url, "test", node)
                    .heartbeat(BEAT, DEADLINE)
                    .call_timeout(CALL)
                    .join(&handle)
                    .await
                    .unwrap();
                member.register("counter").await.unwrap();
                let agent = member.fleet_agent(opts).await.unwrap();
                (member, agent)
            })
            .await
            .unwrap();
        Node {
            name: name.to_owned(),
            host,
            rt: Some(rt),
            member: Some(member),
            agent: Some(agent),
            _dir: dir,
        }
    }

    fn version(&self) -> String {
        self.host.code_server().current("counter").unwrap().version().to_string()
    }

    /// Kill it: its runtime stops at once, no goodbye is said.
    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        std::mem::forget(self.agent.take());
        std::mem::forget(self.member.take());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn nodes(url: &str, names: &[&str], replicas: usize) -> Vec<Node> {
    let mut out = Vec::new();
    for n in names {
        out.push(Node::start(url, n, replicas).await);
    }
    out
}

async fn coordinator(url: &str) -> Fleet {
    FleetBuilder::new(url, "test")
        .heartbeat(BEAT, DEADLINE)
        .connect_timeout(Duration::from_secs(20))
        .op_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap()
}

/// Wait (10 s at most) until `fleet` sees `hosts` alive with agents.
async fn see(fleet: &Fleet, hosts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = fleet.hosts().await.unwrap_or_default();
        if seen == hosts {
            return;
        }
        assert!(Instant::now() < deadline, "the fleet sees {seen:?}, not {hosts:?}");
        tokio::time::sleep(BEAT).await;
    }
}

/// Wait (`within`) until `f` holds.
async fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn plan(bake: Duration) -> RolloutPlan {
    RolloutPlan {
        canary_hosts: 1,
        bake,
        max_error_rate: 0.1,
        step_timeout: Duration::from_secs(10),
        poll: Duration::from_millis(25),
        lease: Duration::from_secs(5),
    }
}

fn lib(name: &str) -> &'static Path {
    fixtures().path(name)
}

/// When `host` last upgraded `counter`, from its event stream.
fn upgraded_at(events: &mut relive_runtime::Events) -> Option<SystemTime> {
    let mut at = None;
    while let Some(e) = events.try_recv() {
        if let Ok(e) = e
            && matches!(&e.kind, EventKind::Upgraded { module, .. } if module == "counter")
        {
            at = Some(e.at);
        }
    }
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_promotes_v2_on_every_host_canary_first_and_status_shows_it() {
    let Some(bin) = nats_server_or_skip("a_rollout_promotes_v2_on_every_host") else { return };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a", "b", "c"], 1).await;
    let mut events: Vec<_> = nodes.iter().map(|n| n.host.handle().events()).collect();
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a", "b", "c"]).await;

    let bake = Duration::from_millis(300);
    let report = fleet.upgrade("counter", lib("counter_v2"), plan(bake)).await.unwrap();
    assert_eq!(report.canaries, ["a"]);
    assert_eq!(report.hosts, ["a", "b", "c"]);
    assert_eq!(report.build.version, "2.0.0");
    assert!(!report.unchanged);
    for n in &nodes {
        assert_eq!(n.version(), "2.0.0", "{}", n.name);
    }
    // The canary upgraded first, and the others a bake later at least.
    let at: Vec<SystemTime> = events.iter_mut().map(|e| upgraded_at(e).unwrap()).collect();
    for (i, other) in at.iter().enumerate().skip(1) {
        let after = other.duration_since(at[0]).unwrap_or_default();
        assert!(after >= bake, "host {i} upgraded {after:?} after the canary");
    }
    let counter = nodes[1].host.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
    assert_eq!(counter.call(CounterMsg::Get).unwrap().logic, 2);

    let status = fleet.status().await.unwrap();
    let promoted = status.desired["counter"].promoted.as_ref().unwrap();
    assert_eq!(promoted.hash, report.build.hash);
    assert!(status.desired["counter"].candidate.is_none());
    assert_eq!(status.rollouts["counter"].phase, Phase::Promoted);
    assert_eq!(status.rollouts["counter"].canaries, ["a"]);
    assert!(status.lock.is_none(), "the lock is released");
    let hosts: Vec<_> = status.hosts.iter().map(|h| h.report.node.as_str()).collect();
    assert_eq!(hosts, ["a", "b", "c"]);
    for h in &status.hosts {
        assert!(h.alive);
        let m = &h.report.modules["counter"];
        assert_eq!((m.version.as_str(), m.step), ("2.0.0", Step::Running));
        assert_eq!(m.hash, report.build.hash);
    }

    // The same build again changes nothing.
    let again = fleet.upgrade("counter", lib("counter_v2"), plan(bake)).await.unwrap();
    assert!(again.unchanged);
    // A library of another module is refused before anything is written.
    let e = fleet.upgrade("pricing", lib("counter_v2"), plan(bake)).await.unwrap_err();
    assert!(matches!(e, RolloutError::WrongModule { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_during_a_rollout_lose_nothing_and_each_reply_is_from_a_whole_version() {
    let Some(bin) = nats_server_or_skip("remote_calls_during_a_rollout_lose_nothing") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a", "b", "c"], 1).await;
    let caller_host = Host::builder().workers(1).build().unwrap();
    let caller = ClusterBuilder::new(nats.url(), "test", "caller")
        .heartbeat(BEAT, DEADLINE)
        .call_timeout(CALL)
        .join(&caller_host.handle())
        .await
        .unwrap();
    let fleet = caller.fleet().await.unwrap();
    see(&fleet, &["a", "b", "c"]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for n in ["a", "b", "c"] {
        let remote = caller.remote_on::<CounterMsg, CounterReply>(n, "counter").await.unwrap();
        let stop = Arc::clone(&stop);
        callers.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let reply = remote.call_async(CounterMsg::Add(1)).await;
                replies.push(reply.map_err(|e| format!("{e:?}")));
            }
            replies
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report =
        fleet.upgrade("counter", lib("counter_v2"), plan(Duration::from_millis(300))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    report.unwrap();

    for (n, c) in nodes.iter().zip(callers) {
        let replies = c.await.unwrap();
        let mut last = (1, 0);
        for (i, r) in replies.iter().enumerate() {
            let r = r.as_ref().unwrap_or_else(|e| panic!("call {i} to {} failed: {e}", n.name));
            // Each reply is whole: v1's or v2's logic, the count one more.
            assert!(r.logic == 1 || r.logic == 2, "{r:?}");
            assert!(r.logic >= last.0, "{}: v{} after v{}", n.name, r.logic, last.0);
            assert_eq!(r.count, last.1 + 1, "{}: call {i} lost or repeated", n.name);
            last = (r.logic, r.count);
        }
        assert_eq!(last.0, 2, "{} ends on v2", n.name);
        assert!(replies.len() > 10, "{}: only {} calls", n.name, replies.len());
        let local = n.host.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
        assert_eq!(local.call(CounterMsg::Get).unwrap().count, replies.len() as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_canary_trips_the_error_rate_abort_and_every_host_ends_on_the_old_version() {
    let Some(bin) = nats_server_or_skip("a_crashing_canary_trips_the_error_rate_abort") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a", "b", "c"], 1).await;
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a", "b", "c"]).await;

    let canary = nodes[0].host.handle();
    let traffic = tokio::spawn(async move {
        // Once the canary runs v3, a message v3 cannot handle: it crashes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while canary.code_server().current("counter").unwrap().version().major != 3 {
            assert!(Instant::now() < deadline, "the canary never ran v3");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let counter = canary.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
        counter.call_async(CounterMsg::Add(7)).await.unwrap_err()
    });
    let started = Instant::now();
    let bake = Duration::from_secs(3);
    let e = fleet.upgrade("counter", lib("counter_v3_crashy"), plan(bake)).await.unwrap_err();
    let crash = traffic.await.unwrap();
    assert!(format!("{crash:?}").contains("v3 bug"), "{crash:?}");
    let RolloutError::Aborted { reason, rolled_back, unconfirmed, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(
        matches!(reason, AbortReason::ErrorRate { crashes: 1, hosts, .. } if hosts == &["a"]),
        "{reason:?}"
    );
    assert!(started.elapsed() < bake, "aborted before the bake ended: {:?}", started.elapsed());
    assert_eq!(rolled_back, &["a", "b", "c"]);
    assert!(unconfirmed.is_empty());
    for n in &nodes {
        assert_eq!(n.version(), "1.0.0", "{}", n.name);
    }
    let status = fleet.status().await.unwrap();
    assert_eq!(status.rollouts["counter"].phase, Phase::Aborted);
    assert!(status.rollouts["counter"].reason.as_deref().unwrap().contains("error rate"));
    assert!(status.desired["counter"].candidate.is_none());
    assert!(status.desired["counter"].promoted.is_none());
    assert!(status.lock.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_relive_host_mid_rollout_aborts_and_every_live_host_goes_back() {
    let Some(bin) = nats_server_or_skip("killing_a_relive_host_mid_rollout") else { return };
    let nats = NatsServer::start_jetstream(&bin);
    let mut nodes = nodes(&nats.url(), &["a", "b", "c"], 1).await;
    let fleet = Arc::new(coordinator(&nats.url()).await);
    see(&fleet, &["a", "b", "c"]).await;

    let f = Arc::clone(&fleet);
    let rollout = tokio::spawn(async move {
        f.upgrade("counter", lib("counter_v2"), plan(Duration::from_secs(5))).await
    });
    // During the bake (the canary runs v2), kill host c.
    let canary = nodes[0].host.handle();
    until("the canary runs v2", Duration::from_secs(10), || {
        canary.code_server().current("counter").unwrap().version().major == 2
    })
    .await;
    let killed = Instant::now();
    nodes[2].kill();
    let e = rollout.await.unwrap().unwrap_err();
    let RolloutError::Aborted { reason, rolled_back, unconfirmed, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(matches!(reason, AbortReason::HostGone { node } if node == "c"), "{reason:?}");
    assert!(killed.elapsed() < Duration::from_secs(3), "{:?}", killed.elapsed());
    assert_eq!(rolled_back, &["a", "b"]);
    assert_eq!(unconfirmed, &["c"]);
    assert_eq!(nodes[0].version(), "1.0.0");
    assert_eq!(nodes[1].version(), "1.0.0");

    // c starts again (v1, as its own start loads): nothing is promoted, it
    // stays on v1; the next rollout covers it.
    let again = Node::start(&nats.url(), "c", 1).await;
    see(&fleet, &["a", "b", "c"]).await;
    let report =
        fleet.upgrade("counter", lib("counter_v2"), plan(Duration::from_millis(200))).await;
    assert_eq!(report.unwrap().hosts, ["a", "b", "c"]);
    assert_eq!(again.version(), "2.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_nats_node_mid_rollout_still_ends_as_the_result_says() {
    let Some(bin) = nats_server_or_skip("killing_a_nats_node_mid_rollout") else { return };
    let mut servers = NatsServer::cluster_jetstream(&bin, 3);
    let mut nodes = Vec::new();
    for (i, n) in ["a", "b", "c"].iter().enumerate() {
        nodes.push(Node::start(&servers[i].url(), n, 3).await);
    }
    let fleet = Arc::new(coordinator(&servers[1].url()).await);
    see(&fleet, &["a", "b", "c"]).await;

    let mut plan = plan(Duration::from_secs(1));
    plan.step_timeout = Duration::from_secs(20);
    let f = Arc::clone(&fleet);
    let rollout = tokio::spawn(async move { f.upgrade("counter", lib("counter_v2"), plan).await });
    let canary = nodes[0].host.handle();
    until("the canary runs v2", Duration::from_secs(20), || {
        canary.code_server().current("counter").unwrap().version().major == 2
    })
    .await;
    // Kill the NATS server host c is connected to, during the bake.
    servers[2].kill();
    let result = rollout.await.unwrap();
    // Whichever way it ended, every host ends on the version the result
    // says — promoted: v2 everywhere; aborted: v1 everywhere.
    let expected = match &result {
        Ok(r) => {
            assert_eq!(r.hosts, ["a", "b", "c"]);
            "2.0.0"
        }
        Err(RolloutError::Aborted { .. }) => "1.0.0",
        Err(e) => panic!("neither promoted nor aborted: {e:?}"),
    };
    eprintln!(
        "killing a NATS node mid-rollout: {}",
        if result.is_ok() { "promoted" } else { "aborted" }
    );
    for n in &nodes {
        let host = n.host.handle();
        until(&format!("{} runs {expected}", n.name), Duration::from_secs(20), || {
            host.code_server().current("counter").unwrap().version().to_string() == expected
        })
        .await;
    }
    // A read may time out while JetStream moves its leaders off the dead
    // node: ask again, 20 s at most.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match fleet.status().await {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < deadline, "no status within 20 s: {e:?}"),
        }
    };
    assert!(status.desired["counter"].candidate.is_none());
    assert_eq!(
        status.desired["counter"].promoted.as_ref().map(|b| b.version.as_str()),
        result.is_ok().then_some("2.0.0")
    );
    nodes.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_host_applies_the_promoted_version_and_a_second_rollout_is_refused() {
    let Some(bin) = nats_server_or_skip("a_late_host_applies_the_promoted_version") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a", "b"], 1).await;
    let fleet = Arc::new(coordinator(&nats.url()).await);
    let other = coordinator(&nats.url()).await;
    see(&fleet, &["a", "b"]).await;

    let f = Arc::clone(&fleet);
    // A short lease: the other sees it renewed well before the first ends.
    let mut first_plan = plan(Duration::from_millis(800));
    first_plan.lease = Duration::from_millis(600);
    let first =
        tokio::spawn(async move { f.upgrade("counter", lib("counter_v2"), first_plan).await });
    let deadline = Instant::now() + Duration::from_secs(10);
    let lock = loop {
        if let Some(lock) = other.status().await.unwrap().lock {
            break lock;
        }
        assert!(Instant::now() < deadline, "the first rollout never took the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let e = other.upgrade("counter", lib("counter_v1_hotfix"), plan(Duration::ZERO)).await;
    let e = e.unwrap_err();
    assert!(
        matches!(&e, RolloutError::Busy { lock: held } if held.rollout == lock.rollout),
        "{e:?}"
    );
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.hosts, ["a", "b"]);

    // A host that joins late applies the promoted build at start; its
    // counter, spawned on v1, migrates.
    let late = Node::start(&nats.url(), "d", 1).await;
    let d = late.host.handle();
    until("the late host runs v2", Duration::from_secs(10), || {
        d.code_server().current("counter").unwrap().version().major == 2
    })
    .await;
    let counter = d.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
    assert_eq!(counter.call(CounterMsg::Get).unwrap().logic, 2);
    see(&fleet, &["a", "b", "d"]).await;

    // A lock left by a coordinator that died expires after its lease: the
    // next rollout, having watched it that long unchanged, takes it over.
    // (Back to v1: every host has it in its old slot, so each rolls back.)
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("relive-test-fleet").await.unwrap();
    let dead = r#"{"rollout":"dead","module":"counter","owner":"gone","lease_ms":200}"#;
    kv.create("lock", dead.into()).await.unwrap();
    let back = other.upgrade("counter", lib("counter_v1"), plan(Duration::ZERO)).await.unwrap();
    assert_eq!(back.hosts, ["a", "b", "d"]);
    for n in nodes.iter().chain([&late]) {
        assert_eq!(n.version(), "1.0.0", "{}", n.name);
    }
    assert!(other.status().await.unwrap().lock.is_none());
}

/// A server where the user `coord` may not write the desired versions (the
/// hosts, connecting without credentials, may).
const NO_DESIRED_WRITES: &str = r#"
authorization {
  users = [
    { user: agent, password: agent }
    { user: coord, password: coord,
      permissions: { publish: { deny: ["$KV.relive-test-fleet.desired.>"] } } }
  ]
}
no_auth_user: agent
"#;

/// A coordinator that connects as `user` (password: the same) to a server
/// started with one of the configurations here.
async fn coordinator_as(url: &str, user: &str, op_timeout: Duration) -> Fleet {
    FleetBuilder::new(url, "test")
        .options(async_nats::ConnectOptions::with_user_and_password(user.into(), user.into()))
        .heartbeat(BEAT, DEADLINE)
        .connect_timeout(Duration::from_secs(20))
        .op_timeout(op_timeout)
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_whose_withdrawal_cannot_be_written_is_incomplete_and_keeps_the_lock() {
    let Some(bin) = nats_server_or_skip("an_abort_whose_withdrawal_cannot_be_written") else {
        return;
    };
    let nats = NatsServer::start_jetstream_with(&bin, NO_DESIRED_WRITES);
    let nodes = nodes(&nats.url(), &["a", "b"], 1).await;
    let other = coordinator(&nats.url()).await;
    let fleet = coordinator_as(&nats.url(), "coord", Duration::from_millis(500)).await;
    see(&fleet, &["a", "b"]).await;

    // Its candidate cannot be written, nor then its withdrawal: for all it
    // knows, the candidate may have landed.
    let mut quick = plan(Duration::ZERO);
    quick.step_timeout = Duration::from_secs(2);
    quick.lease = Duration::from_secs(1);
    let e = fleet.upgrade("counter", lib("counter_v2"), quick.clone()).await.unwrap_err();
    let RolloutError::AbortIncomplete { rollout, reason, .. } = &e else { panic!("{e:?}") };
    assert!(matches!(reason, AbortReason::Fleet(_)), "{reason:?}");
    let source = std::error::Error::source(&e).expect("the cause is the source");
    assert!(relive_cluster::fleet::chain(source).contains("desired.counter"), "{source}");
    // The lock is left to expire: no rollout starts on an unknown state.
    let status = other.status().await.unwrap();
    assert_eq!(status.lock.as_ref().map(|l| l.rollout.as_str()), Some(rollout.as_str()));
    for n in &nodes {
        assert_eq!(n.version(), "1.0.0", "{}", n.name);
    }
    // The next rollout starts only once the lock stood unrenewed for its
    // lease, and replaces the candidate.
    let next = Instant::now();
    let report = other.upgrade("counter", lib("counter_v2"), plan(Duration::ZERO)).await.unwrap();
    assert!(next.elapsed() >= quick.lease, "taken after {:?}", next.elapsed());
    assert_eq!(report.hosts, ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_that_times_out_then_succeeds_is_rolled_back_after_the_abort() {
    let Some(bin) = nats_server_or_skip("an_upgrade_that_times_out_then_succeeds") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let node =
        Node::start_with(&nats.url(), "a", 1, |o| o.upgrade_timeout(Duration::from_millis(500)))
            .await;
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a"]).await;
    let host = node.host.handle();
    let mut events = host.events();

    // The counter is busy for 2 s: the upgrade waits for it to suspend,
    // outlives the agent's bound (the host reports it failed, the rollout
    // aborts), then succeeds.
    let counter = host.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
    counter.cast(CounterMsg::Sleep(2000)).unwrap();
    until("the counter is in its handler", Duration::from_secs(5), || counter.mailbox_len() == 0)
        .await;
    let e = fleet.upgrade("counter", lib("counter_v2"), plan(Duration::ZERO)).await.unwrap_err();
    let RolloutError::Aborted { reason, rolled_back, .. } = &e else { panic!("{e:?}") };
    assert!(
        matches!(reason, AbortReason::HostFailed { node, error }
            if node == "a" && error.contains("did not return within")),
        "{reason:?}"
    );
    // The rollout ended only once the late success was undone: a upgraded
    // to v2 after all, then rolled back, and runs v1.
    assert_eq!(node.version(), "1.0.0");
    let mut seen = Vec::new();
    while let Some(Ok(e)) = events.try_recv() {
        match &e.kind {
            EventKind::Upgraded { module, .. } if module == "counter" => seen.push("upgraded"),
            EventKind::RolledBack { module, .. } if module == "counter" => seen.push("back"),
            _ => {}
        }
    }
    assert_eq!(seen, ["upgraded", "back"]);
    assert_eq!(rolled_back, &["a"]);
    let status = fleet.status().await.unwrap();
    let m = &status.hosts[0].report.modules["counter"];
    assert_eq!((m.version.as_str(), m.step), ("1.0.0", Step::Running));
}

/// A server where the user `coord` may not upload modules: its upload
/// hangs until the step timeout.
const NO_UPLOADS: &str = r#"
authorization {
  users = [
    { user: agent, password: agent }
    { user: coord, password: coord,
      permissions: { publish: { deny: ["$O.relive-test-modules.>"] } } }
  ]
}
no_auth_user: agent
"#;

/// The revision of `lock`, once it holds a lock (10 s at most).
async fn lock_revision(kv: &async_nats::jetstream::kv::Store) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = kv.entry("lock").await.unwrap()
            && e.operation == async_nats::jetstream::kv::Operation::Put
        {
            return e.revision;
        }
        assert!(Instant::now() < deadline, "no lock within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_is_renewed_while_the_upload_runs_and_a_lost_renewal_stops_the_rollout() {
    let Some(bin) = nats_server_or_skip("the_lock_is_renewed_while_the_upload_runs") else {
        return;
    };
    let nats = NatsServer::start_jetstream_with(&bin, NO_UPLOADS);
    let _nodes = nodes(&nats.url(), &["a"], 1).await;
    let fleet = Arc::new(coordinator_as(&nats.url(), "coord", Duration::from_secs(1)).await);
    see(&fleet, &["a"]).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("relive-test-fleet").await.unwrap();
    let mut slow = plan(Duration::ZERO);
    slow.lease = Duration::from_millis(900);
    // Below the client's own wait for an acknowledgement (5 s).
    slow.step_timeout = Duration::from_secs(3);

    // The upload hangs for the step timeout: the lock is renewed meanwhile
    // (a third of the lease), not left to look expired.
    let (f, p) = (Arc::clone(&fleet), slow.clone());
    let rollout = tokio::spawn(async move { f.upgrade("counter", lib("counter_v2"), p).await });
    let taken = lock_revision(&kv).await;
    let deadline = Instant::now() + slow.lease * 2;
    while kv.entry("lock").await.unwrap().map(|e| e.revision) == Some(taken) {
        assert!(Instant::now() < deadline, "the lock was not renewed during the upload");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!rollout.is_finished(), "still uploading");
    let e = rollout.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, RolloutError::Fleet(FleetError::Timeout { op: "object put", .. })),
        "{e:?}"
    );
    assert!(fleet.status().await.unwrap().lock.is_none(), "released");

    // Another coordinator's lock replaces it mid-upload: the next renewal
    // finds it, and the rollout stops at once.
    let started = Instant::now();
    let (f, p) = (Arc::clone(&fleet), slow.clone());
    let rollout = tokio::spawn(async move { f.upgrade("counter", lib("counter_v2"), p).await });
    lock_revision(&kv).await;
    let theirs = r#"{"rollout":"theirs","module":"counter","owner":"another","lease_ms":60000}"#;
    kv.put("lock", theirs.into()).await.unwrap();
    let e = rollout.await.unwrap().unwrap_err();
    assert!(matches!(&e, RolloutError::LockLost { .. }), "{e:?}");
    assert!(started.elapsed() < slow.step_timeout, "{:?}", started.elapsed());
    let lock = fleet.status().await.unwrap().lock.unwrap();
    assert_eq!(lock.rollout, "theirs", "the other's lock is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lock_is_never_taken_and_a_dead_coordinators_is_taken_after_its_lease() {
    let Some(bin) = nats_server_or_skip("a_renewed_lock_is_never_taken") else { return };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a"], 1).await;
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a"]).await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let kv = js.get_key_value("relive-test-fleet").await.unwrap();

    // Another coordinator holds the lock and renews it every 100 ms: for
    // far longer than its lease since it was first written, it is never
    // taken (only its revision's changes count, never its age).
    let lease = Duration::from_millis(600);
    let live = r#"{"rollout":"live","module":"counter","owner":"alive","lease_ms":600}"#;
    let mut revision = kv.create("lock", live.into()).await.unwrap();
    let renewing = {
        let kv = kv.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                revision = kv.update("lock", live.into(), revision).await.unwrap();
            }
        })
    };
    let held_since = Instant::now();
    while held_since.elapsed() < lease * 3 {
        let e = fleet.upgrade("counter", lib("counter_v2"), plan(Duration::ZERO)).await;
        assert!(matches!(&e, Err(RolloutError::Busy { lock }) if lock.rollout == "live"), "{e:?}");
    }

    // It dies: no more renewals. Its lock is taken once it has stood
    // unchanged for its lease, not before.
    renewing.abort();
    let _ = renewing.await;
    let died = Instant::now();
    let report = fleet.upgrade("counter", lib("counter_v2"), plan(Duration::ZERO)).await.unwrap();
    assert!(died.elapsed() >= lease, "taken {:?} after its last renewal", died.elapsed());
    assert_eq!(report.hosts, ["a"]);
    assert_eq!(nodes[0].version(), "2.0.0");
    assert!(fleet.status().await.unwrap().lock.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_time_out_on_the_canary_count_as_errors_and_abort_the_rollout() {
    let Some(bin) = nats_server_or_skip("calls_that_time_out_on_the_canary") else { return };
    let nats = NatsServer::start_jetstream(&bin);
    let nodes = nodes(&nats.url(), &["a", "b"], 1).await;
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a", "b"]).await;

    // Once the canary runs v2, a call its caller gives up on: handled, no
    // crash, but a failed call.
    let canary = nodes[0].host.handle();
    let traffic = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while canary.code_server().current("counter").unwrap().version().major != 2 {
            assert!(Instant::now() < deadline, "the canary never ran v2");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let counter = canary.whereis::<CounterMsg, CounterReply>("counter").unwrap().unwrap();
        let slow = counter.call_async_timeout(CounterMsg::Sleep(300), Duration::from_millis(20));
        slow.await.unwrap_err()
    });
    let bake = Duration::from_secs(4);
    let started = Instant::now();
    let e = fleet.upgrade("counter", lib("counter_v2"), plan(bake)).await.unwrap_err();
    let timed_out = traffic.await.unwrap();
    assert!(format!("{timed_out:?}").contains("Timeout"), "{timed_out:?}");
    let RolloutError::Aborted { reason, rolled_back, .. } = &e else { panic!("{e:?}") };
    assert!(
        matches!(reason, AbortReason::ErrorRate { crashes: 0, failed_calls: 1, .. }),
        "{reason:?}"
    );
    assert!(started.elapsed() < bake, "aborted before the bake ended: {:?}", started.elapsed());
    assert_eq!(rolled_back, &["a", "b"]);
    for n in &nodes {
        assert_eq!(n.version(), "1.0.0", "{}", n.name);
    }
}

// A coordinator that takes over a gone one's lock withdraws every
// candidate still out, whatever its module: one rollout at a time, so any
// candidate is the gone rollouts'. (Before, only the lock's own module's
// was withdrawn; a lock whose module differs from a stale candidate's —
// one taken over, then released when that withdrawal failed — left it out
// for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_withdraws_every_stale_candidate_whatever_its_module() {
    let Some(bin) = nats_server_or_skip("a_takeover_withdraws_every_stale_candidate") else {
        return;
    };
    let nats = NatsServer::start_jetstream(&bin);
    let _nodes = nodes(&nats.url(), &["a"], 1).await;
    let fleet = coordinator(&nats.url()).await;
    see(&fleet, &["a"]).await;

    // What gone coordinators left: a lock for "billing", unrenewed, and a
    // candidate of "pricing" nobody withdrew.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let kv = async_nats::jetstream::new(client).get_key_value("relive-test-fleet").await.unwrap();
    let lock = Lock {
        rollout: "gone".into(),
        module: "billing".into(),
        owner: "a coordinator that died".into(),
        lease_ms: 500,
    };
    kv.put("lock", serde_json::to_vec(&lock).unwrap().into()).await.unwrap();
    let build = Build {
        module: "pricing".into(),
        version: "9.9.9".into(),
        hash: "00".repeat(32),
        object: "pricing-stale".into(),
        signed: false,
    };
    let stale = Desired {
        promoted: None,
        candidate: Some(Candidate { rollout: "older".into(), build, hosts: Hosts::All }),
    };
    kv.put("desired.pricing", serde_json::to_vec(&stale).unwrap().into()).await.unwrap();

    fleet.upgrade("counter", lib("counter_v2"), plan(Duration::ZERO)).await.unwrap();
    let left = kv.get("desired.pricing").await.unwrap().expect("desired.pricing");
    let left: Desired = serde_json::from_slice(&left).unwrap();
    assert_eq!(left.candidate, None, "the stale candidate was withdrawn");
}
