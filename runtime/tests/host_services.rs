//! A module reaches other actors through the host's services: send by id
//! and by name, send_after, spawn, self id; wrong types are refused.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorId, ActorRef, Host, SpawnOptions};
use relive_test_support::fixtures;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The relay fixture's message type, mirrored (same fields and variants).
#[derive(Debug, Serialize, Deserialize, postcard_schema::Schema)]
enum RelayMsg {
    Forward { to: u64, n: u64 },
    ForwardNamed { name: String, n: u64 },
    Later { to: u64, n: u64, ms: u64 },
    SpawnCounter { start: u64 },
    WrongType { to: u64 },
    WhoAmI,
    Hold,
    Release { value: u64 },
    Crash,
}

type Relay = ActorRef<RelayMsg, Result<u64, String>>;
type Counter = ActorRef<CounterMsg, CounterReply>;

fn host() -> (Host, Relay, Counter) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host.code_server().upgrade("relay", fixtures().path("relay")).unwrap();
    let relay: Relay = host.spawn("relay", &()).unwrap();
    let counter: Counter =
        host.spawn_with("counter", &0u64, SpawnOptions::new().name("c0")).unwrap();
    (host, relay, counter)
}

#[test]
fn a_module_sends_by_id_and_by_name() {
    let (_host, relay, counter) = host();
    let to = counter.id().get();
    assert_eq!(relay.call(RelayMsg::Forward { to, n: 5 }).unwrap(), Ok(0));
    assert_eq!(relay.call(RelayMsg::ForwardNamed { name: "c0".into(), n: 2 }).unwrap(), Ok(0));
    // The relay's sends happened before its replies, so they are queued
    // before this call.
    assert_eq!(counter.call(CounterMsg::Get).unwrap().count, 7);
    let e = relay.call(RelayMsg::ForwardNamed { name: "nobody".into(), n: 1 }).unwrap();
    assert_eq!(e, Err("no such actor".into()));
    let e = relay.call(RelayMsg::Forward { to: 999_999, n: 1 }).unwrap();
    assert_eq!(e, Err("no such actor".into()));
}

#[test]
fn a_module_cannot_send_the_wrong_type() {
    let (_host, relay, counter) = host();
    let e = relay.call(RelayMsg::WrongType { to: counter.id().get() }).unwrap();
    assert_eq!(e, Err("the message type is not the target's".into()));
    assert_eq!(counter.call(CounterMsg::Get).unwrap().count, 0);
}

#[test]
fn a_module_knows_its_id_and_spawns() {
    let (host, relay, _counter) = host();
    assert_eq!(relay.call(RelayMsg::WhoAmI).unwrap(), Ok(relay.id().get()));
    let id = relay.call(RelayMsg::SpawnCounter { start: 40 }).unwrap().unwrap();
    let spawned: Counter = host.actor_ref(ActorId::from_raw(id)).expect("types").unwrap();
    assert_eq!(spawned.call(CounterMsg::Add(2)).unwrap(), CounterReply { logic: 1, count: 42 });
}

#[test]
fn send_after_delivers_later() {
    let (_host, relay, counter) = host();
    let to = counter.id().get();
    let start = Instant::now();
    assert_eq!(relay.call(RelayMsg::Later { to, n: 3, ms: 100 }).unwrap(), Ok(0));
    assert_eq!(counter.call(CounterMsg::Get).unwrap().count, 0, "not yet");
    while counter.call(CounterMsg::Get).unwrap().count == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "send_after never delivered");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(counter.call(CounterMsg::Get).unwrap().count, 3);
}

#[test]
fn a_module_defers_a_reply_and_answers_it_later() {
    let (_host, relay, _counter) = host();
    std::thread::scope(|s| {
        let held = s.spawn(|| relay.call(RelayMsg::Hold));
        // The relay keeps serving while the held caller waits.
        while relay.call(RelayMsg::Release { value: 9 }).unwrap() == Err("nothing held".into()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(held.join().unwrap().unwrap(), Ok(9), "the deferred answer, not handle's value");
    });
}

#[test]
fn a_held_caller_hears_when_the_actor_exits() {
    let (_host, relay, _counter) = host();
    std::thread::scope(|s| {
        let held = s.spawn(|| relay.call(RelayMsg::Hold));
        std::thread::sleep(Duration::from_millis(50));
        let _ = relay.call(RelayMsg::Crash);
        let e = held.join().unwrap().unwrap_err();
        assert!(
            matches!(&e, relive_runtime::actor::CallError::Exited(
                relive_runtime::ExitReason::Panicked(m)) if m.starts_with("relay crashed (at ")),
            "{e:?}"
        );
    });
}
