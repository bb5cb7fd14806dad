//! supervisor_SUITE cases whose children are gen_server-like modules (the
//! `gen_server` fixture): init `ignore`, `transient` after a module stops
//! itself, and `terminate` at the supervisor's shutdown, bounded by the
//! child's shutdown timeout.

use gen_server::{GsArgs, GsMsg, GsReply, InitMode, TermMode, Why};
use relive_runtime::{ActorRef, AnyActor, ExitReason, Host, SpawnOptions};
use relive_supervisor::{
    Child, ChildSpec, ChildStart, ChildState, Counts, Flags, Restart, Shutdown, Supervisor,
};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Gs = ActorRef<GsMsg, GsReply>;

fn host() -> Host {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("gen_server", fixtures().path("gen_server")).unwrap();
    host
}

/// The actor every `terminate` reports to, registered as `witness`.
fn witness(host: &Host) -> Gs {
    host.spawn_with("gen_server", &GsArgs::plain(), SpawnOptions::new().name("witness")).unwrap()
}

fn events(gs: &Gs) -> Vec<String> {
    match gs.call(GsMsg::Events).unwrap() {
        GsReply::Events(e) => e,
        other => panic!("not events: {other:?}"),
    }
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn server(id: &str, restart: Restart, args: &GsArgs) -> Child {
    Child::new(
        ChildSpec::worker(id, &["gen_server"]).restart(restart),
        ChildStart::module("gen_server", args),
    )
}

fn typed(a: &AnyActor) -> Gs {
    a.typed().expect("a gen_server")
}

fn flags() -> Flags {
    Flags::default().intensity(10, Duration::from_secs(5))
}

// supervisor_SUITE: sup_start_ignore_child — a module child whose init
// returns ignore is `{ok, undefined}`: its spec is kept, not running.
#[test]
fn sup_start_ignore_child() {
    let host = host();
    let sup = Supervisor::start(&host, flags(), vec![]).unwrap();
    let ignore = GsArgs { init: InitMode::Ignore, ..GsArgs::plain() };
    assert!(sup.start_child(server("child1", Restart::Permanent, &ignore)).unwrap().is_none());
    assert!(
        sup.start_child(server("child2", Restart::Permanent, &GsArgs::plain())).unwrap().is_some()
    );
    let children = sup.which_children().unwrap();
    let state =
        |id: &str| children.iter().find(|c| c.id.as_deref() == Some(id)).map(|c| c.state).unwrap();
    assert_eq!(state("child1"), ChildState::NotRunning);
    assert!(matches!(state("child2"), ChildState::Running(_)));
    assert_eq!(
        sup.count_children().unwrap(),
        Counts { specs: 2, active: 1, supervisors: 0, workers: 2 }
    );
}

// supervisor_SUITE: sup_start_ignore_temporary_child — a temporary child
// that returns ignore is not kept.
#[test]
fn sup_start_ignore_temporary_child() {
    let host = host();
    let sup = Supervisor::start(&host, flags(), vec![]).unwrap();
    let ignore = GsArgs { init: InitMode::Ignore, ..GsArgs::plain() };
    assert!(sup.start_child(server("child1", Restart::Temporary, &ignore)).unwrap().is_none());
    assert_eq!(sup.count_children().unwrap(), Counts::default());
}

/// Have the child stop itself with `why` and wait for its exit.
fn stop_itself(child: &Gs, why: Why) {
    let down = child.monitor();
    assert_eq!(child.call(GsMsg::Stop { why, reply: 7 }).unwrap(), GsReply::Value(7));
    down.wait(Duration::from_secs(5)).expect("it exited");
}

// supervisor_SUITE: transient_normal, transient_shutdown, transient_abnormal
// — with the module ending itself (`{stop, Reason, Reply, State}`): a clean
// reason leaves a transient child down, its own reason restarts it.
#[test]
fn transient_normal() {
    for (why, restarted) in [
        (Why::Normal, false),
        (Why::Shutdown, false),
        (Why::ShutdownWith("some_info".into()), false),
        (Why::Custom("died".into()), true),
    ] {
        let host = host();
        let sup = Supervisor::start(
            &host,
            flags(),
            vec![server("child1", Restart::Transient, &GsArgs::plain())],
        )
        .unwrap();
        let child = typed(&sup.child("child1").unwrap());
        stop_itself(&child, why.clone());
        if restarted {
            eventually("restarted", || sup.child("child1").is_some());
            assert_eq!(child.call(GsMsg::Echo(3)).unwrap(), GsReply::Value(3), "{why:?}");
        } else {
            std::thread::sleep(Duration::from_millis(100));
            assert!(sup.child("child1").is_none(), "{why:?} restarted a transient child");
            assert_eq!(sup.count_children().unwrap().active, 0);
        }
    }
}

// supervisor_SUITE: permanent_normal — a permanent child that ends itself
// normally is restarted.
#[test]
fn permanent_normal() {
    let host = host();
    let sup = Supervisor::start(
        &host,
        flags(),
        vec![server("child1", Restart::Permanent, &GsArgs::plain())],
    )
    .unwrap();
    let child = typed(&sup.child("child1").unwrap());
    stop_itself(&child, Why::Normal);
    eventually("restarted", || sup.child("child1").is_some());
    assert_eq!(child.call(GsMsg::Echo(4)).unwrap(), GsReply::Value(4));
}

// gen_server: terminate/2 runs with `shutdown` when the supervisor shuts
// down (supervisor_SUITE sup_stop_timeout's children trap exits for it).
#[test]
fn terminate_runs_at_the_supervisors_shutdown() {
    let host = host();
    let witness = witness(&host);
    let sup = Supervisor::start(
        &host,
        flags(),
        vec![server("child1", Restart::Permanent, &GsArgs::reporting_to("witness"))],
    )
    .unwrap();
    sup.stop().unwrap();
    eventually("terminate reported", || events(&witness).iter().any(|e| e == "terminate shutdown"));
}

// supervisor_SUITE: sup_stop_timeout — a child whose terminate overruns its
// shutdown timeout is killed, and the supervisor's stop returns within it.
#[test]
fn sup_stop_timeout_with_a_slow_terminate() {
    let host = host();
    let witness = witness(&host);
    let slow = GsArgs { term: TermMode::Sleep(5_000), ..GsArgs::reporting_to("witness") };
    let spec = ChildSpec::worker("child1", &["gen_server"])
        .shutdown(Shutdown::Timeout(Duration::from_millis(300)));
    let sup = Supervisor::start(
        &host,
        flags(),
        vec![Child::new(spec, ChildStart::module("gen_server", &slow))],
    )
    .unwrap();
    let child = sup.child("child1").unwrap();
    let down = child.monitor();
    let start = Instant::now();
    sup.stop().unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "the stop waited {took:?} for a 5 s terminate");
    assert_eq!(down.wait(Duration::from_secs(1)), Some(ExitReason::Killed));
    eventually("terminate began", || events(&witness).iter().any(|e| e == "terminate shutdown"));
}

/// A native actor whose handler keeps its worker busy for `ms`.
struct Busy;

impl relive_runtime::NativeActor for Busy {
    type Msg = u64;
    type Reply = ();
    fn handle(&mut self, ms: u64, _: &mut relive_runtime::NativeContext<'_>) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

// supervisor_SUITE one_for_all, with the other worker busy: the supervisor
// waiting for a sibling's terminate hands its worker's place to a fresh
// one, so that terminate runs at once instead of when a worker frees up
// (or, every worker waiting so, never before the shutdown timeout).
#[test]
fn a_group_restart_does_not_wait_for_a_free_worker() {
    let host = host();
    let witness = witness(&host);
    let flags =
        Flags::new(relive_supervisor::Strategy::OneForAll).intensity(10, Duration::from_secs(5));
    let sup = Supervisor::start(
        &host,
        flags,
        vec![
            server("c1", Restart::Permanent, &GsArgs::plain()),
            server("c2", Restart::Permanent, &GsArgs::reporting_to("witness")),
        ],
    )
    .unwrap();
    let c1 = typed(&sup.child("c1").unwrap());
    let busy = host.spawn_native(Busy, SpawnOptions::new()).unwrap();
    busy.cast(3_000).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    assert!(c1.call(GsMsg::Crash).is_err());
    eventually("c2's terminate", || events(&witness).iter().any(|e| e == "terminate shutdown"));
    let took = start.elapsed();
    assert!(took < Duration::from_millis(1_500), "terminate waited {took:?} for a free worker");
    eventually("the group restarted", || sup.count_children().unwrap().active == 2);
}
