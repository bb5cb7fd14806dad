//! `ports`: what a module's I/O through a host port costs, beside the same
//! hand-off done directly on tokio.
//!
//! - `relive port_round_trip_us`: the release-built `port_user` cdylib sends
//!   a request to a no-op async port (`ctx.request`), the port's task
//!   answers on the host's port runtime, and the reply is handled by the
//!   module's `on_reply`, which sends the next request: one at a time,
//!   mean over `ROUNDS` (the module chains them, so no host thread is in
//!   the loop);
//! - `tokio oneshot_round_trip_us`: a tokio task sends a request over an
//!   mpsc channel to a spawned task that answers through a oneshot, and
//!   awaits the answer; one at a time, mean over `ROUNDS`.
//!
//! Median of `REPS` repetitions each. Run: `cargo run --release -p
//! relive-benches --bin ports`

use port_api::{Answer, Ask, PortMsg, PortReply};
use relive_benches::{figure, median};
use relive_runtime::{ActorRef, Host};
use std::time::{Duration, Instant};

const ROUNDS: u64 = 20_000;
const REPS: usize = 5;

fn relive_round_trip(user: &ActorRef<PortMsg, PortReply>) -> f64 {
    let start = Instant::now();
    let done = user
        .call_timeout(PortMsg::Chain { port: "noop".into(), n: ROUNDS }, Duration::from_secs(120));
    assert!(matches!(done, Ok(PortReply::Done(_))), "{done:?}");
    start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64
}

fn tokio_round_trip(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        type Req = (Ask, tokio::sync::oneshot::Sender<Answer>);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Req>();
        tokio::spawn(async move {
            while let Some((ask, answer)) = rx.recv().await {
                let _ = answer.send(Answer(ask.n));
            }
        });
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..ROUNDS {
                let (otx, orx) = tokio::sync::oneshot::channel();
                tx.send((Ask::answer(i, 0), otx)).expect("the server runs");
                let answer = orx.await.expect("answered");
                assert_eq!(answer.0, i);
            }
            start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64
        })
        .await
        .expect("the driver runs")
    })
}

fn main() {
    let lib = relive_test_support::build_library("port_user", true);
    let host = Host::new().expect("host");
    host.code_server().upgrade("port_user", &lib).expect("load port_user");
    host.port("noop", |ask: Ask| async move { Ok::<_, String>(Answer(ask.n)) }).expect("port");
    let user: ActorRef<PortMsg, PortReply> = host.spawn("port_user", &()).expect("spawn");
    // The same shape of runtime as the host's own for ports.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    relive_round_trip(&user);
    tokio_round_trip(&rt);
    let mut relive = Vec::new();
    let mut tokio = Vec::new();
    for _ in 0..REPS {
        relive.push(relive_round_trip(&user));
        tokio.push(tokio_round_trip(&rt));
    }
    figure("relive", "port_round_trip_us", median(&relive), "us");
    figure("tokio", "oneshot_round_trip_us", median(&tokio), "us");
}
