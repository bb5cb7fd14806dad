//! A module reaches other actors through the host's services: send by id
//! and by name, send_after, spawn, self id; wrong types are refused.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorId, ActorRef, Host, SpawnOptions};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

use relay::RelayMsg;

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
    let (host, relay, _counter) = host();
    std::thread::scope(|s| {
        let held = s.spawn(|| relay.call(RelayMsg::Hold));
        // Crash only once the relay took `Hold` (a fixed sleep lost the race
        // on a loaded machine: `Crash` first, and `Hold` found it exited).
        let deadline = Instant::now() + Duration::from_secs(10);
        while host.sys().statistics(&relay.any()).unwrap().messages_in == 0 {
            assert!(Instant::now() < deadline, "the relay never took Hold");
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = relay.call(RelayMsg::Crash);
        let e = held.join().unwrap().unwrap_err();
        assert!(
            matches!(&e, relive_runtime::actor::CallError::Exited(
                relive_runtime::ExitReason::Panicked(m)) if m.starts_with("relay crashed (at ")),
            "{e:?}"
        );
    });
}

/// Issue 12 item 9: a handler sending two messages to itself per message
/// grew its mailbox without bound. Sends from handlers may now overdraw the
/// bound only by the allowance (as many again by default), and are refused
/// beyond it; nothing accepted is lost, and the host stays responsive.
#[test]
fn a_self_flooding_handler_is_refused_past_twice_its_bound() {
    const SENDS: u64 = 300_000;
    let (_host, relay, counter) = host();
    let limit = 2 * relay.mailbox_capacity();
    relay.cast(RelayMsg::StartFlood { sends: SENDS }).unwrap();
    let start = Instant::now();
    let (mut max_len, mut calls, mut slowest) = (0, 0u64, Duration::ZERO);
    let mut last_handled = 0;
    loop {
        for _ in 0..100 {
            max_len = max_len.max(relay.mailbox_len());
        }
        // Another actor answers while the flood runs.
        let asked = Instant::now();
        counter.call_timeout(CounterMsg::Add(1), Duration::from_secs(2)).expect("counter answers");
        slowest = slowest.max(asked.elapsed());
        calls += 1;
        let handled = relay.handled();
        if relay.mailbox_len() == 0 && handled == last_handled && handled > 1 {
            break; // the flood has spent its sends and drained
        }
        last_handled = handled;
        assert!(start.elapsed() < Duration::from_secs(60), "the flood never ended");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(max_len <= limit, "mailbox reached {max_len}, past 2 × capacity ({limit})");
    assert!(max_len > limit / 2, "the flood never used the overdraft ({max_len})");
    assert!(slowest < Duration::from_secs(1), "a call to another actor took {slowest:?}");
    assert_eq!(counter.call(CounterMsg::Get).unwrap().count, calls);

    let refused = relay.call(RelayMsg::FloodRefused).unwrap().unwrap();
    assert!(refused > 0, "the module saw no MailboxFull");
    assert_eq!(relay.mailbox_refusals(), refused, "the host counts what the module saw");
    // Every accepted send was handled: StartFlood, the accepted Floods and
    // FloodRefused itself.
    assert_eq!(relay.handled(), 1 + (SENDS - refused) + 1);
}

/// A module's send to another actor past its allowance is refused now, and
/// so is a `send_after` asked for then; timers that fire while there is no
/// room wait for some and are all delivered, never past the allowance.
#[test]
fn sends_and_timers_to_a_full_actor_are_refused_or_wait_never_lost() {
    let (host, relay, _) = host();
    let busy: Counter = host.spawn_with("counter", &0u64, SpawnOptions::new().capacity(2)).unwrap();
    let limit = 2 * busy.mailbox_capacity();
    let to = busy.id().get();
    busy.cast(CounterMsg::Sleep(1500)).unwrap();
    let start = Instant::now();
    while busy.mailbox_len() > 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "the sleep never started");
        std::thread::yield_now();
    }
    for _ in 0..10 {
        assert_eq!(relay.call(RelayMsg::Later { to, n: 1, ms: 300 }).unwrap(), Ok(0));
    }
    while busy.mailbox_len() < limit {
        assert!(start.elapsed() < Duration::from_secs(1), "the timers never fired");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Six fired timers wait in the timer thread, not in the mailbox.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(busy.mailbox_len(), limit);
    let full = Err("the target's mailbox is full".to_owned());
    assert_eq!(relay.call(RelayMsg::Forward { to, n: 100 }).unwrap(), full);
    assert_eq!(relay.call(RelayMsg::Later { to, n: 100, ms: 0 }).unwrap(), full);
    assert_eq!(busy.mailbox_refusals(), 2, "the two refusals the module saw, no timer retry");
    assert!(start.elapsed() < Duration::from_millis(1500), "checked while the actor slept");
    // Once it wakes, every timer is delivered.
    while busy.call(CounterMsg::Get).unwrap().count < 10 {
        assert!(start.elapsed() < Duration::from_secs(10), "a waiting timer was lost");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(busy.call(CounterMsg::Get).unwrap().count, 10);
}
