//! issue 15: what supervisors put on the host's event stream — a crash, the
//! restart, an escalation, a crash-loop rollback — seen by a subscriber,
//! with real module libraries; and probation following the stream for an
//! upgrade made before the supervisor started.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::EventKind;
use relive_runtime::{ActorRef, Event, Events, ExitReason, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

/// Events until `stop` matches one (at most 10 s), the matching one included.
fn until(events: &mut Events, stop: impl Fn(&EventKind) -> bool) -> Vec<EventKind> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match events.recv_timeout(Duration::from_millis(50)) {
            Some(Ok(Event { kind, .. })) => {
                let done = stop(&kind);
                seen.push(kind);
                if done {
                    return seen;
                }
            }
            Some(Err(lagged)) => panic!("{lagged}"),
            None => {}
        }
    }
    panic!("the event did not come; saw {seen:?}")
}

fn one_counter(host: &Host, flags: Flags) -> (Supervisor, Counter) {
    let child =
        Child::new(ChildSpec::worker("a", &["counter"]), ChildStart::module("counter", &5u64));
    let sup = Supervisor::start(host, flags, vec![child]).unwrap();
    let a = sup.child("a").unwrap().typed().unwrap();
    (sup, a)
}

#[test]
fn a_crash_and_its_restart_are_events_naming_the_supervisor_child_and_actor() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let (sup, a) = one_counter(&host, Flags::default());
    let mut events = host.events();
    host.stop(&a, ExitReason::Custom("boom".into())).unwrap();
    let seen = until(&mut events, |k| matches!(k, EventKind::Restarted { .. }));
    let me = sup.actor().id().get();
    assert!(
        seen.iter().any(|k| matches!(k, EventKind::Crashed { supervisor, child, actor, reason }
            if *supervisor == me && child == "a" && *actor == a.id().get() && reason.contains("boom"))),
        "{seen:?}"
    );
    assert!(matches!(seen.last(), Some(EventKind::Restarted { supervisor, child, .. })
        if *supervisor == me && child == "a"));
}

#[test]
fn giving_up_is_an_escalated_event() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    // OTP's default intensity: one restart in 5 s; the second crash gives up.
    let (sup, a) = one_counter(&host, Flags::default());
    let mut events = host.events();
    host.stop(&a, ExitReason::Custom("one".into())).unwrap();
    until(&mut events, |k| matches!(k, EventKind::Restarted { .. }));
    host.stop(&a, ExitReason::Custom("two".into())).unwrap();
    let seen = until(&mut events, |k| matches!(k, EventKind::Escalated { .. }));
    let Some(EventKind::Escalated { supervisor, child, reason }) = seen.last() else {
        unreachable!()
    };
    assert_eq!((*supervisor, child.as_str()), (sup.actor().id().get(), "a"));
    assert!(!reason.is_empty());
}

#[test]
fn a_crash_loop_rollback_is_seen_as_crashes_then_rolled_back_and_marked_bad() {
    let host = Host::builder().workers(2).build().unwrap();
    // The upgrade comes *before* the supervisor subscribes: probation judges
    // it from the slots, then follows the stream.
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host.code_server().load("counter", fixtures().path("counter_v3_crashy")).unwrap();
    let (_sup, a) = one_counter(&host, Flags::default());
    let mut events = host.events();
    for _ in 0..3 {
        let _ = a.call(CounterMsg::Add(7));
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.call(CounterMsg::Get).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let seen = until(&mut events, |k| matches!(k, EventKind::MarkedBad { .. }));
    let crashes = seen.iter().filter(|k| matches!(k, EventKind::Crashed { .. })).count();
    assert_eq!(crashes, 3, "{seen:?}");
    assert!(
        seen.iter().any(|k| matches!(k, EventKind::RolledBack { module, from, to }
            if module == "counter" && from.to_string() == "3.0.0" && to.to_string() == "1.0.0")),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|k| matches!(k, EventKind::Escalated { .. })), "no escalation");
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
}
