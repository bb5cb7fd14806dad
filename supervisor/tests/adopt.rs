//! Supervisors adopt (issue 20): a running actor put under a supervisor
//! keeps its state; from then on it is a child like any other. On real
//! counter libraries.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorRef, ExitReason, Host};
use relive_supervisor::{
    AdoptError, Child, ChildSpec, ChildStart, ChildState, Flags, Restart, Strategy, Supervisor,
};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

fn host() -> Host {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn counter_child(id: &str, start: u64) -> Child {
    Child::new(ChildSpec::worker(id, &["counter"]), ChildStart::module("counter", &start))
}

/// A running counter at `count`, unsupervised.
fn running_counter(host: &Host, count: u64) -> Counter {
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    c.call(CounterMsg::Add(count)).unwrap();
    c
}

#[test]
fn an_adopted_actor_keeps_its_state_and_is_listed() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 41);
    sup.adopt(&c.any(), counter_child("acct", 0)).unwrap();
    // Not restarted: same actor, same count.
    assert_eq!(c.call(CounterMsg::Add(1)).unwrap().count, 42);
    let children = sup.which_children().unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].id.as_deref(), Some("acct"));
    assert_eq!(children[0].state, ChildState::Running(c.id()));
    assert_eq!(sup.child("acct").map(|a| a.id()), Some(c.id()));
    assert_eq!(sup.count_children().unwrap().active, 1);
    // The host's view of the tree shows it too.
    let trees = host.handle().tree_views();
    assert!(trees.iter().any(|t| t.children.iter().any(|ch| ch.actor == Some(c.id()))));
}

#[test]
fn a_crash_after_adoption_restarts_it_from_the_spec() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 10);
    sup.adopt(&c.any(), counter_child("acct", 100)).unwrap();
    c.cast(CounterMsg::Panic("crash after adoption".into())).unwrap();
    // Restarted in place (same reference), from the spec's args.
    eventually("the restart", || c.call(CounterMsg::Get).is_ok_and(|r| r.count == 100));
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::Running(c.id()));
    assert!(!sup.actor().is_exited(), "one crash is within the intensity");
}

#[test]
fn a_temporary_adopted_child_is_not_restarted() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 3);
    let spec = ChildSpec::worker("tmp", &["counter"]).restart(Restart::Temporary);
    sup.adopt(&c.any(), Child::new(spec, ChildStart::module("counter", &0u64))).unwrap();
    c.cast(CounterMsg::Panic("gone for good".into())).unwrap();
    eventually("the child gone", || sup.which_children().unwrap().is_empty());
    assert!(c.is_exited());
}

#[test]
fn terminate_child_stops_an_adopted_child_and_restart_child_starts_it_from_the_spec() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 7);
    sup.adopt(&c.any(), counter_child("acct", 5)).unwrap();
    sup.terminate_child("acct").unwrap();
    assert!(c.is_exited());
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::NotRunning);
    sup.restart_child("acct").unwrap();
    assert_eq!(c.call(CounterMsg::Get).unwrap().count, 5, "restarted in place from the spec");
}

#[test]
fn an_adopted_child_is_stopped_with_its_supervisor() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 1);
    sup.adopt(&c.any(), counter_child("acct", 0)).unwrap();
    host.handle().stop_any(sup.actor(), ExitReason::Shutdown).unwrap();
    eventually("the child stopped", || c.is_exited());
}

#[test]
fn adopt_refuses_with_typed_reasons_and_changes_nothing() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let other = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c = running_counter(&host, 9);
    sup.adopt(&c.any(), counter_child("acct", 0)).unwrap();

    // A supervisor: itself, or another one (an ancestor adopted as a
    // descendant would deadlock both trees' shutdowns).
    let e = sup.adopt(sup.actor(), counter_child("me", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::IsSupervisor(id) if id == sup.actor().id()), "{e}");
    let e = sup.adopt(other.actor(), counter_child("other", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::IsSupervisor(id) if id == other.actor().id()), "{e}");
    // Already a child here.
    let e = sup.adopt(&c.any(), counter_child("again", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::AlreadyChild { ref id, .. } if id == "acct"), "{e}");
    // A child of another supervisor.
    let e = other.adopt(&c.any(), counter_child("acct", 0)).unwrap_err();
    assert!(
        matches!(e, AdoptError::Supervised { supervisor, .. } if supervisor == sup.actor().id()),
        "{e}"
    );
    // The id is taken.
    let d = running_counter(&host, 2);
    let e = sup.adopt(&d.any(), counter_child("acct", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::IdTaken(ref id) if id == "acct"), "{e}");
    // Another module in the start.
    let wrong = Child::new(ChildSpec::worker("w", &["other"]), ChildStart::module("other", &0u64));
    let e = sup.adopt(&d.any(), wrong).unwrap_err();
    assert!(matches!(e, AdoptError::OtherModule { ref actual, .. } if actual == "counter"), "{e}");
    // An invalid spec.
    let e = sup.adopt(&d.any(), counter_child("", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::Spec(_)), "{e}");
    // An exited actor.
    host.handle().stop(&d, ExitReason::Normal).unwrap();
    eventually("d exited", || d.is_exited());
    let e = sup.adopt(&d.any(), counter_child("d", 0)).unwrap_err();
    assert!(matches!(e, AdoptError::NotAlive(id) if id == d.id()), "{e}");
    // A simple_one_for_one supervisor.
    let simple = Supervisor::start(
        &host.handle(),
        Flags { strategy: Strategy::SimpleOneForOne, ..Flags::default() },
        vec![counter_child("template", 0)],
    )
    .unwrap();
    let f = running_counter(&host, 2);
    assert!(matches!(
        simple.adopt(&f.any(), counter_child("f", 0)),
        Err(AdoptError::SimpleOneForOne)
    ));
    // An exited supervisor.
    host.handle().stop_any(other.actor(), ExitReason::Shutdown).unwrap();
    eventually("other exited", || other.actor().is_exited());
    assert!(matches!(
        other.adopt(&f.any(), counter_child("f", 0)),
        Err(AdoptError::SupervisorExited)
    ));
    // Nothing changed: one child, still its count, f still unsupervised.
    assert_eq!(sup.which_children().unwrap().len(), 1);
    assert_eq!(c.call(CounterMsg::Get).unwrap().count, 9);
    assert_eq!(f.call(CounterMsg::Get).unwrap().count, 2);
}

#[test]
fn an_adopted_named_actor_keeps_its_name_across_a_restart() {
    let host = host();
    let sup = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let c: Counter = host
        .spawn_with("counter", &5u64, relive_runtime::host::SpawnOptions::new().name("acct-42"))
        .unwrap();
    sup.adopt(&c.any(), counter_child("acct", 0)).unwrap();
    c.cast(CounterMsg::Panic("crash after adoption".into())).unwrap();
    eventually("the restart", || c.call(CounterMsg::Get).is_ok_and(|r| r.count == 0));
    assert_eq!(host.whereis_any("acct-42").map(|a| a.id()), Some(c.id()), "the name went");
}

/// Two supervisors adopt one actor while the first one's tree is busy (a
/// child's terminate takes 400 ms inside `terminate_child`): the second
/// adoption's check of the other trees must not be taken before the first
/// one's is done. Both succeeded, in about one run of four, before
/// adoptions were serialized: each had read the other's tree before either
/// added the actor. Three rounds.
#[test]
fn two_supervisors_adopting_one_actor_at_once_never_both_succeed() {
    for round in 0..3 {
        adopt_race(round);
    }
}

fn adopt_race(round: u64) {
    use gen_server::{GsArgs, GsMsg, GsReply, TermMode};
    let host = host();
    host.code_server().upgrade("gen_server", fixtures().path("gen_server")).unwrap();
    let witness: ActorRef<GsMsg, GsReply> = host
        .spawn_with(
            "gen_server",
            &GsArgs::plain(),
            relive_runtime::SpawnOptions::new().name("witness"),
        )
        .unwrap();
    let terminating = || match witness.call(GsMsg::Events).unwrap() {
        GsReply::Events(e) => e.iter().any(|e| e == "terminate shutdown"),
        other => panic!("not events: {other:?}"),
    };
    // `b` first: the host lists trees in the order they started.
    let b = Supervisor::start(&host.handle(), Flags::default(), vec![]).unwrap();
    let slow = GsArgs { term: TermMode::Sleep(400), ..GsArgs::reporting_to("witness") };
    let spec = ChildSpec::worker("slow", &["gen_server"])
        .shutdown(relive_supervisor::Shutdown::Timeout(Duration::from_secs(5)));
    let a = Supervisor::start(
        &host.handle(),
        Flags::default(),
        vec![Child::new(spec, ChildStart::module("gen_server", &slow))],
    )
    .unwrap();
    let c = running_counter(&host, round);
    let (ra, rb) = std::thread::scope(|s| {
        let stop = s.spawn(|| a.terminate_child("slow"));
        eventually("the slow terminate began", terminating);
        let ta = s.spawn(|| a.adopt(&c.any(), counter_child("acct", 0)));
        std::thread::sleep(Duration::from_millis(100));
        let tb = s.spawn(|| b.adopt(&c.any(), counter_child("acct", 0)));
        stop.join().unwrap().unwrap();
        (ta.join().unwrap(), tb.join().unwrap())
    });
    match (&ra, &rb) {
        (Ok(()), Err(AdoptError::Supervised { actor, supervisor }))
        | (Err(AdoptError::Supervised { actor, supervisor }), Ok(())) => {
            assert_eq!(*actor, c.id());
            let winner = if ra.is_ok() { a.actor().id() } else { b.actor().id() };
            assert_eq!(*supervisor, winner);
        }
        _ => panic!("round {round}: exactly one adoption succeeds, got {ra:?} and {rb:?}"),
    }
}
