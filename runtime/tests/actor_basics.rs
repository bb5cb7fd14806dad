//! Actors of real module libraries: spawn, cast, call, order, exits, links,
//! monitors, names, typed errors, and `call_async` from tokio.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::actor::{CallError, SendError};
use relive_runtime::{ExitReason, Host, SpawnError, SpawnOptions};
use relive_test_support::fixtures;
use std::time::Duration;

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

/// A module panic's exit reason: its message, then where it happened.
fn panicked_with(reason: &ExitReason, text: &str) -> bool {
    matches!(reason, ExitReason::Panicked(m)
        if m.strip_prefix(text).is_some_and(|at| at.starts_with(" (at ") && at.ends_with(')')))
}

fn host_with_v1() -> Host {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host
}

#[test]
fn cast_then_call_sees_every_cast_in_order() {
    let host = host_with_v1();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    for i in 1..=10_000u64 {
        c.cast(CounterMsg::Add(i)).unwrap();
    }
    let reply = c.call(CounterMsg::Get).unwrap();
    assert_eq!(reply, CounterReply { logic: 1, count: 10_000 * 10_001 / 2 });
}

#[test]
fn many_senders_many_actors_nothing_lost() {
    let host = host_with_v1();
    let actors: Vec<Counter> = (0..16).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let actors = &actors;
            s.spawn(move || {
                for i in 0..20_000usize {
                    actors[(i + t) % actors.len()].cast(CounterMsg::Add(1)).unwrap();
                }
            });
        }
    });
    let total: u64 = actors.iter().map(|a| a.call(CounterMsg::Get).unwrap().count).sum();
    assert_eq!(total, 4 * 20_000);
}

#[test]
fn typed_mismatch_is_an_error_at_spawn() {
    let host = host_with_v1();
    let e = host.spawn::<u32, CounterReply, u64>("counter", &0).unwrap_err();
    assert!(matches!(e, SpawnError::Types(_)), "{e:?}");
    let e = host.spawn::<CounterMsg, CounterReply, u64>("nope", &0).unwrap_err();
    assert!(matches!(e, SpawnError::NotLoaded(_)), "{e:?}");
}

#[test]
fn a_panicking_handler_exits_only_that_actor_and_tells_its_monitors() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    let b: Counter = host.spawn("counter", &0u64).unwrap();
    let down = a.monitor();
    let e = a.call(CounterMsg::Panic("kaboom".into())).unwrap_err();
    assert!(matches!(&e, CallError::Exited(r) if panicked_with(r, "kaboom")), "{e:?}");
    let reason = down.wait(Duration::from_secs(5)).unwrap();
    assert!(panicked_with(&reason, "kaboom"), "{reason:?}");
    assert!(a.is_exited());
    // A cast to the dead actor hands the message back.
    assert_eq!(a.cast(CounterMsg::Add(1)), Err(SendError::Exited(CounterMsg::Add(1))));
    assert!(matches!(
        a.call(CounterMsg::Get),
        Err(CallError::NotDelivered(SendError::Exited(CounterMsg::Get)))
    ));
    assert_eq!(b.call(CounterMsg::Add(2)).unwrap().count, 2, "others keep serving");
}

#[test]
fn links_propagate_abnormal_exits_not_normal_ones() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    let b: Counter = host.spawn("counter", &0u64).unwrap();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    host.link(&a, &b);
    host.link(&b, &c);
    let (down_b, down_c) = (b.monitor(), c.monitor());
    let _ = a.call(CounterMsg::Panic("first".into()));
    let reason_b = down_b.wait(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(&reason_b, ExitReason::Linked { from, .. } if *from == a.id()),
        "{reason_b:?}"
    );
    let reason_c = down_c.wait(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(&reason_c, ExitReason::Linked { from, .. } if *from == b.id()),
        "{reason_c:?}"
    );

    let d: Counter = host.spawn("counter", &0u64).unwrap();
    let e: Counter = host.spawn("counter", &0u64).unwrap();
    host.link(&d, &e);
    host.stop(&d, ExitReason::Normal).unwrap();
    assert_eq!(d.monitor().wait(Duration::from_secs(5)), Some(ExitReason::Normal));
    assert_eq!(e.call(CounterMsg::Add(1)).unwrap().count, 1, "a normal exit does not propagate");
}

#[test]
fn stop_overtakes_queued_mail_and_answers_it() {
    let host = host_with_v1();
    let a: Counter = host.spawn_with("counter", &0u64, SpawnOptions::new().capacity(0)).unwrap();
    host.stop(&a, ExitReason::Shutdown).unwrap();
    assert_eq!(a.monitor().wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert!(matches!(a.call(CounterMsg::Get), Err(CallError::NotDelivered(_))));
}

#[test]
fn names_register_and_unregister() {
    let host = host_with_v1();
    let a: Counter = host.spawn_with("counter", &7u64, SpawnOptions::new().name("seven")).unwrap();
    let found: Counter = host.whereis("seven").expect("types").unwrap();
    assert_eq!(found.call(CounterMsg::Get).unwrap().count, 7);
    let e = host
        .spawn_with::<CounterMsg, CounterReply, u64>(
            "counter",
            &0,
            SpawnOptions::new().name("seven"),
        )
        .unwrap_err();
    assert!(matches!(e, SpawnError::NameTaken(_)));
    host.stop(&a, ExitReason::Normal).unwrap();
    a.monitor().wait(Duration::from_secs(5)).unwrap();
    assert!(host.whereis::<CounterMsg, CounterReply>("seven").expect("types").is_none());
}

#[test]
fn try_cast_hands_the_message_back_when_full() {
    let host = host_with_v1();
    let a: Counter = host.spawn_with("counter", &0u64, SpawnOptions::new().capacity(4)).unwrap();
    // Keep the actor busy by holding its body is not possible from outside,
    // so fill faster than it drains: at least one try_cast must come back.
    let mut refused = 0;
    let mut accepted = 0u64;
    for _ in 0..100_000 {
        match a.try_cast(CounterMsg::Add(1)) {
            Ok(()) => accepted += 1,
            Err(SendError::Full(CounterMsg::Add(1))) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(refused > 0, "a 4-slot mailbox refused nothing");
    assert_eq!(a.call(CounterMsg::Get).unwrap().count, accepted, "every accepted cast handled");
}

#[test]
fn call_async_from_tokio() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let total = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..500 {
                    a.cast_async(CounterMsg::Add(1)).await.unwrap();
                }
                a.call_async(CounterMsg::Get).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        a.call_async(CounterMsg::Get).await.unwrap().count
    });
    assert_eq!(total, 8 * 500);
}

#[test]
fn a_late_reply_never_reaches_a_later_call() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    a.cast(CounterMsg::Add(1)).unwrap();
    // The sleep makes this call time out; its reply (count 1) comes later.
    let e = a.call_timeout(CounterMsg::Sleep(300), Duration::from_millis(50)).unwrap_err();
    assert_eq!(e, CallError::Timeout);
    // The next call gets its own reply, never the stale one.
    assert_eq!(a.call(CounterMsg::Add(10)).unwrap(), CounterReply { logic: 1, count: 11 });
}

#[test]
fn without_inline_calls_a_call_returns_at_its_deadline_from_a_slow_handler() {
    let host = Host::builder().workers(2).inline_calls(false).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    let start = std::time::Instant::now();
    let e = a.call_timeout(CounterMsg::Sleep(400), Duration::from_millis(50)).unwrap_err();
    assert_eq!(e, CallError::Timeout);
    assert!(start.elapsed() < Duration::from_millis(350), "returned after {:?}", start.elapsed());
    assert_eq!(a.call(CounterMsg::Add(1)).unwrap(), CounterReply { logic: 1, count: 1 });
}

#[test]
fn an_inline_call_that_overruns_its_timeout_is_a_timeout_and_its_reply_is_dropped() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    // The actor is idle: this call's turn runs on this thread (inline calls
    // are on by default) and the handler outlasts the timeout.
    let e = a.call_timeout(CounterMsg::Sleep(100), Duration::from_millis(10)).unwrap_err();
    assert_eq!(e, CallError::Timeout);
    assert_eq!(a.call(CounterMsg::Add(2)).unwrap(), CounterReply { logic: 1, count: 2 });
}

#[test]
fn inline_calls_from_many_threads_beside_casts_keep_every_message_once() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    a.call(CounterMsg::Add(1)).unwrap();
                    a.cast(CounterMsg::Add(1)).unwrap();
                }
            });
        }
    });
    assert_eq!(a.call(CounterMsg::Get).unwrap().count, 4 * 5_000 * 2);
}

mod native {
    use super::*;
    use relive_runtime::{ActorId, NativeActor, NativeContext};
    use std::sync::{Arc, Mutex};

    /// A host-native actor: keeps a log of exits it traps.
    struct Watcher {
        exits: Arc<Mutex<Vec<(ActorId, ExitReason)>>>,
    }

    impl NativeActor for Watcher {
        type Msg = String;
        type Reply = u64;

        fn handle(&mut self, msg: String, _: &mut NativeContext<'_>) -> u64 {
            if msg == "boom" {
                panic!("native boom");
            }
            self.exits.lock().unwrap().len() as u64
        }

        fn trap_exit(&self) -> bool {
            true
        }

        fn on_exit(&mut self, from: ActorId, reason: &ExitReason, _: &mut NativeContext<'_>) {
            self.exits.lock().unwrap().push((from, reason.clone()));
        }
    }

    #[test]
    fn a_native_actor_uses_the_same_api_and_traps_exits() {
        let host = host_with_v1();
        let exits = Arc::new(Mutex::new(Vec::new()));
        let w = host.spawn_native(Watcher { exits: exits.clone() }, SpawnOptions::new()).unwrap();
        let c: Counter = host.spawn("counter", &0u64).unwrap();
        host.link(&w, &c);
        let _ = c.call(CounterMsg::Panic("child died".into()));
        // The watcher traps the exit instead of dying.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while exits.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let exits = exits.lock().unwrap().clone();
        assert!(
            matches!(exits.as_slice(), [(id, r)] if *id == c.id() && panicked_with(r, "child died")),
            "{exits:?}"
        );
        assert_eq!(w.call("count".to_owned()).unwrap(), 1);
        // A panic in a native handler is caught like a module's.
        assert_eq!(
            w.call("boom".to_owned()).unwrap_err(),
            CallError::Exited(ExitReason::Panicked("native boom".into()))
        );
    }

    /// A native actor that casts `n` `Add(1)`s to one of its targets from
    /// its handler, by `cast`, `try_cast` or `cast_async` (polled once: a
    /// worker does not wait), and answers (accepted, refused as `Full`).
    struct Blaster {
        targets: Vec<Counter>,
    }

    impl NativeActor for Blaster {
        type Msg = (u32, String, u32);
        type Reply = (u64, u64);

        fn handle(&mut self, msg: Self::Msg, _: &mut NativeContext<'_>) -> (u64, u64) {
            use std::task::{Context, Poll, Waker};
            let (target, how, n) = msg;
            let target = &self.targets[target as usize];
            let (mut ok, mut full) = (0, 0);
            for _ in 0..n {
                let sent = match how.as_str() {
                    "cast" => target.cast(CounterMsg::Add(1)),
                    "try_cast" => target.try_cast(CounterMsg::Add(1)),
                    _ => {
                        let mut f = std::pin::pin!(target.cast_async(CounterMsg::Add(1)));
                        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                            Poll::Ready(r) => r,
                            Poll::Pending => panic!("cast_async waited on a worker"),
                        }
                    }
                };
                match sent {
                    Ok(()) => ok += 1,
                    Err(SendError::Full(CounterMsg::Add(1))) => full += 1,
                    Err(e) => panic!("{e:?}"),
                }
            }
            (ok, full)
        }
    }

    /// Keep `c` in a long handler, its mailbox empty.
    fn put_to_sleep(c: &Counter) {
        c.cast(CounterMsg::Sleep(1500)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while c.mailbox_len() > 0 {
            assert!(std::time::Instant::now() < deadline, "the sleep never started");
            std::thread::yield_now();
        }
    }

    #[test]
    fn sends_from_a_handler_overdraw_only_by_the_allowance_then_come_back_full() {
        // A worker for each sleeper and one for the blaster.
        let host = Host::builder().workers(3).build().unwrap();
        host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
        let a: Counter =
            host.spawn_with("counter", &0u64, SpawnOptions::new().capacity(4)).unwrap();
        let b: Counter = host
            .spawn_with("counter", &0u64, SpawnOptions::new().capacity(4).overdraft(1))
            .unwrap();
        let blaster = host
            .spawn_native(Blaster { targets: vec![a.clone(), b.clone()] }, SpawnOptions::new())
            .unwrap();
        put_to_sleep(&a);
        put_to_sleep(&b);
        let started = std::time::Instant::now();
        // The default allowance: as many again as the capacity.
        assert_eq!(blaster.call((0, "cast".into(), 6)).unwrap(), (6, 0));
        assert_eq!(blaster.call((0, "try_cast".into(), 3)).unwrap(), (2, 1));
        assert_eq!(blaster.call((0, "cast_async".into(), 1)).unwrap(), (0, 1));
        assert_eq!(blaster.call((1, "cast".into(), 7)).unwrap(), (5, 2));
        assert!(started.elapsed() < Duration::from_millis(1500), "blasted while they slept");
        assert_eq!((a.mailbox_len(), a.mailbox_overdrafts(), a.mailbox_refusals()), (8, 4, 2));
        assert_eq!((b.mailbox_len(), b.mailbox_overdrafts(), b.mailbox_refusals()), (5, 1, 2));
        // Everything accepted is handled once they wake.
        assert_eq!(a.call(CounterMsg::Get).unwrap().count, 8);
        assert_eq!(b.call(CounterMsg::Get).unwrap().count, 5);
    }

    /// A native actor whose `on_exit` panics (as a buggy supervisor's might).
    struct PanicsOnExit;

    impl NativeActor for PanicsOnExit {
        type Msg = ();
        type Reply = ();

        fn handle(&mut self, (): (), _: &mut NativeContext<'_>) {}

        fn trap_exit(&self) -> bool {
            true
        }

        fn on_exit(&mut self, _: ActorId, _: &ExitReason, _: &mut NativeContext<'_>) {
            panic!("on_exit exploded");
        }
    }

    #[test]
    fn a_panicking_on_exit_exits_that_actor_and_the_worker_keeps_running() {
        // One worker and no inline calls: a worker lost to the panic would
        // leave nothing to answer the calls below.
        let host = Host::builder().workers(1).inline_calls(false).build().unwrap();
        host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
        let sup = host.spawn_native(PanicsOnExit, SpawnOptions::new()).unwrap();
        let watched = sup.monitor();
        let c: Counter = host.spawn("counter", &0u64).unwrap();
        host.link(&sup, &c);
        let _ = c.call(CounterMsg::Panic("child died".into()));
        assert_eq!(
            watched.wait(Duration::from_secs(5)),
            Some(ExitReason::Panicked("on_exit exploded".into())),
            "the native actor exits `panicked`, and its monitors hear of it"
        );
        let other: Counter = host.spawn("counter", &7u64).unwrap();
        assert_eq!(other.call(CounterMsg::Add(1)).unwrap().count, 8, "the worker survived");
        assert_eq!(host.workers(), 1);
    }
}
