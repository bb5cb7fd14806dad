//! What gen_server / proc_lib behaviour modules need from the host, case by
//! case after erlang/otp's own suites: a module stops itself with a reason
//! (its call answered first), `terminate` runs on every stop but a kill and
//! within the kill timeout, `init` can decline to start, and module code
//! links, monitors and traps exits, and uses timers with references and an
//! idle timeout.

use counter_api::{CounterMsg, CounterReply};
use gen_server::{GsArgs, GsMsg, GsReply, InitMode, TermMode, Why};
use relive_runtime::{ActorRef, CallError, ExitReason, Host, SpawnError, SpawnOptions};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Gs = ActorRef<GsMsg, GsReply>;
type Counter = ActorRef<CounterMsg, CounterReply>;

fn host_with_kill_timeout(kill: Duration) -> Host {
    let host = Host::builder().workers(2).kill_timeout(kill).build().unwrap();
    host.code_server().upgrade("gen_server", fixtures().path("gen_server")).unwrap();
    host
}

fn host() -> Host {
    host_with_kill_timeout(Duration::from_secs(5))
}

fn spawn(host: &Host, args: GsArgs) -> Gs {
    host.spawn("gen_server", &args).unwrap()
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

fn value(reply: GsReply) -> u64 {
    match reply {
        GsReply::Value(v) => v,
        other => panic!("not a value: {other:?}"),
    }
}

/// Wait (at most 5 s) until `gs` has recorded `event`.
fn wait_for_event(gs: &Gs, event: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !events(gs).iter().any(|e| e == event) {
        assert!(Instant::now() < deadline, "never recorded {event:?}: {:?}", events(gs));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A server that traps exits, linked to `to`.
fn trapping_linked(host: &Host, to: &Gs) -> Gs {
    let watcher = spawn(host, GsArgs::plain());
    assert_eq!(value(watcher.call(GsMsg::TrapExit(true)).unwrap()), 0);
    assert_eq!(watcher.call(GsMsg::Link(to.id().get())).unwrap(), GsReply::Ok);
    watcher
}

const WAIT: Duration = Duration::from_secs(5);

// gen_server_SUITE: call — `{stop, stopped, ok, State}`: the caller gets its
// answer, terminate runs, the linked parent gets `{'EXIT', Pid, stopped}`.
#[test]
fn call() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    let parent = trapping_linked(&host, &server);
    let exited = server.monitor();
    let stop = GsMsg::Stop { why: Why::Custom("stopped".into()), reply: 7 };
    assert_eq!(server.call(stop).unwrap(), GsReply::Value(7), "the reply comes first");
    assert_eq!(exited.wait(WAIT), Some(ExitReason::Custom("stopped".into())));
    wait_for_event(&witness, "terminate stopped");
    wait_for_event(&parent, &format!("exit {} stopped", server.id().get()));
    // Mail after the stop is answered with the reason, never handled.
    assert!(matches!(server.call(GsMsg::Echo(1)), Err(CallError::NotDelivered(_))));
}

// gen_server_SUITE: cast — `{stop, Reason, State}` from a cast; terminate
// tells the witness, which proves it ran. (Whether `{shutdown, Info}` spares
// linked actors is the link rule's, `ExitReason::is_normal`, not tested here.)
#[test]
fn cast() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    let exited = server.monitor();
    server.cast(GsMsg::Stop { why: Why::ShutdownWith("bye".into()), reply: 0 }).unwrap();
    assert_eq!(exited.wait(WAIT), Some(ExitReason::ShutdownWith("bye".into())));
    wait_for_event(&witness, "terminate shutdown: bye");
}

// gen_server_SUITE: stop1 — `ok = gen_server:stop(Pid)` returns once the
// server has terminated (terminate ran, with `normal`).
#[test]
fn stop1() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    assert_eq!(host.terminate(&server.any(), ExitReason::Normal), Ok(true));
    assert!(server.is_exited());
    // terminate's report was sent before `terminate` returned, so it is
    // queued ahead of this call.
    assert_eq!(events(&witness), vec!["terminate normal".to_owned()]);
}

// gen_server_SUITE: stop3 — `ok = gen_server:stop(Pid, other_reason, infinity)`.
#[test]
fn stop3() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    let exited = server.monitor();
    assert_eq!(host.terminate(&server.any(), ExitReason::Custom("other_reason".into())), Ok(true));
    assert_eq!(exited.wait(WAIT), Some(ExitReason::Custom("other_reason".into())));
    assert_eq!(events(&witness), vec!["terminate other_reason".to_owned()]);
}

// supervisor_SUITE: sup_stop_timeout — a child whose terminate outlasts
// its shutdown time is killed; the stop does not wait longer.
#[test]
fn sup_stop_timeout() {
    let host = host_with_kill_timeout(Duration::from_millis(300));
    let witness = witness(&host);
    let slow = GsArgs { term: TermMode::Sleep(3_000), ..GsArgs::reporting_to("witness") };
    let server = spawn(&host, slow);
    let start = Instant::now();
    assert_eq!(
        host.terminate(&server.any(), ExitReason::Shutdown),
        Ok(false),
        "killed past the timeout"
    );
    assert!(start.elapsed() < Duration::from_secs(2), "waited {:?}", start.elapsed());
    assert!(server.is_exited());
    wait_for_event(&witness, "terminate shutdown");
}

// gen_server_SUITE: terminate_crash_format — a crash in terminate becomes
// the exit reason (`{'EXIT', Pid, {crash, terminate}}`).
#[test]
fn terminate_crash_format() {
    let host = host();
    let _witness = witness(&host);
    let args = GsArgs { term: TermMode::Panic, ..GsArgs::reporting_to("witness") };
    let server = spawn(&host, args);
    let exited = server.monitor();
    let stop = GsMsg::Stop { why: Why::Normal, reply: 1 };
    assert_eq!(server.call(stop).unwrap(), GsReply::Value(1));
    match exited.wait(WAIT) {
        Some(ExitReason::Panicked(m)) => assert!(m.contains("crash in terminate"), "{m}"),
        other => panic!("exit reason {other:?}"),
    }
}

// gen_server_SUITE: crash — a crash in a callback runs terminate with the
// crash as the reason; the caller hears of the exit.
#[test]
fn crash() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    match server.call(GsMsg::Crash) {
        Err(CallError::Exited(ExitReason::Panicked(m))) => assert!(m.contains("crash in handle")),
        other => panic!("{other:?}"),
    }
    let deadline = Instant::now() + WAIT;
    while !events(&witness).iter().any(|e| e.starts_with("terminate panicked: crash in handle")) {
        assert!(Instant::now() < deadline, "terminate did not run: {:?}", events(&witness));
        std::thread::sleep(Duration::from_millis(5));
    }
}

// gen_server_SUITE: start — `ignore = gen_server:start(..., ignore, [])`,
// `{error, stopped} = gen_server:start(..., stop, [])`.
#[test]
fn start() {
    let host = host();
    let ignore = GsArgs { init: InitMode::Ignore, ..GsArgs::plain() };
    let spawned: Result<Gs, _> = host.spawn("gen_server", &ignore);
    assert!(matches!(spawned, Err(SpawnError::Ignored)), "{spawned:?}");
    let stop = GsArgs { init: InitMode::Fail("stopped".into()), ..GsArgs::plain() };
    let spawned: Result<Gs, _> = host.spawn("gen_server", &stop);
    match spawned {
        Err(SpawnError::Init(e)) => assert!(e.to_string().contains("stopped"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(host.actors_of("gen_server"), 0);
}

// gen_server_SUITE: otp_7669 — after `ignore` from a named start, the name
// is free by the time the caller has its answer.
#[test]
fn otp_7669() {
    let host = host();
    let ignore = GsArgs { init: InitMode::Ignore, ..GsArgs::plain() };
    let named = SpawnOptions::new().name("my_test_name");
    let spawned: Result<Gs, _> = host.spawn_with("gen_server", &ignore, named.clone());
    assert!(matches!(spawned, Err(SpawnError::Ignored)), "{spawned:?}");
    assert!(host.whereis::<GsMsg, GsReply>("my_test_name").unwrap().is_none());
    let again: Gs = host.spawn_with("gen_server", &GsArgs::plain(), named).unwrap();
    assert_eq!(again.call(GsMsg::Echo(2)).unwrap(), GsReply::Value(2));
}

// monitor_SUITE: mon_1 — a monitor's DOWN carries the reference, the actor
// and its reason; monitoring a dead actor gives `noproc` at once.
#[test]
fn mon_1() {
    let host = host();
    let watcher = spawn(&host, GsArgs::plain());
    let target = spawn(&host, GsArgs::plain());
    let id = target.id().get();
    let r1 = value(watcher.call(GsMsg::Monitor(id)).unwrap());
    host.stop(&target, ExitReason::Normal).expect("it was running");
    wait_for_event(&watcher, &format!("down {r1} {id} normal"));
    let r2 = value(watcher.call(GsMsg::Monitor(id)).unwrap());
    assert_ne!(r1, r2);
    wait_for_event(&watcher, &format!("down {r2} {id} noproc"));
}

// monitor_SUITE: named_down — a monitor by name; its DOWN comes after the
// name is free; an unregistered name gives `noproc`.
#[test]
fn named_down() {
    let host = host();
    let watcher = spawn(&host, GsArgs::plain());
    let jeeves: Gs = host
        .spawn_with("gen_server", &GsArgs::plain(), SpawnOptions::new().name("jeeves"))
        .unwrap();
    let id = jeeves.id().get();
    let r = value(watcher.call(GsMsg::MonitorNamed("jeeves".into())).unwrap());
    host.stop(&jeeves, ExitReason::Normal).expect("it was running");
    wait_for_event(&watcher, &format!("down {r} {id} normal"));
    let again: Result<Gs, _> =
        host.spawn_with("gen_server", &GsArgs::plain(), SpawnOptions::new().name("jeeves"));
    assert!(again.is_ok(), "the name is free after the DOWN: {again:?}");
    let r = value(watcher.call(GsMsg::MonitorNamed("nobody".into())).unwrap());
    wait_for_event(&watcher, &format!("down {r} 0 noproc"));
}

// monitor_SUITE: demonitor_flush — `demonitor(R, [flush])` removes a DOWN
// already queued; nothing arrives after it.
#[test]
fn demonitor_flush() {
    let host = host();
    let witness = witness(&host);
    let watcher = spawn(&host, GsArgs::reporting_to("witness"));
    let target = spawn(&host, GsArgs::plain());
    let id = target.id().get();
    let mref = value(watcher.call(GsMsg::Monitor(id)).unwrap());
    watcher.cast(GsMsg::DemonitorAfter { mref, ms: 500 }).unwrap();
    // The watcher is in its handler: the DOWN queues behind it.
    wait_for_event(&witness, "demonitoring soon");
    assert_eq!(host.terminate(&target.any(), ExitReason::Custom("gone".into())), Ok(true));
    assert_eq!(watcher.call(GsMsg::Echo(0)).unwrap(), GsReply::Value(0));
    assert_eq!(events(&watcher), Vec::<String>::new(), "the queued DOWN was flushed");
}

// process_SUITE: t_exit_1 — a trapping linked process gets
// `{'EXIT', Pid, Reason}`; a non-trapping one dies of it (and, a module,
// runs terminate).
#[test]
fn t_exit_1() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::plain());
    let trapping = trapping_linked(&host, &server);
    let plain = spawn(&host, GsArgs::reporting_to("witness"));
    assert_eq!(plain.call(GsMsg::Link(server.id().get())).unwrap(), GsReply::Ok);
    let plain_exit = plain.monitor();
    let sid = server.id().get();
    host.stop(&server, ExitReason::Custom("garbage".into())).expect("it was running");
    wait_for_event(&trapping, &format!("exit {sid} garbage"));
    match plain_exit.wait(WAIT) {
        Some(ExitReason::Linked { from, reason }) => {
            assert_eq!(from, server.id());
            assert_eq!(*reason, ExitReason::Custom("garbage".into()));
        }
        other => panic!("{other:?}"),
    }
    // Its terminate sees the bare reason, as an OTP process would exit.
    wait_for_event(&witness, "terminate garbage");
    // Trapping again off: the previous setting is answered.
    assert_eq!(value(trapping.call(GsMsg::TrapExit(false)).unwrap()), 1);
}

// process_SUITE: t_exit_2_other_normal — a `normal` exit of a linked actor
// does not take a non-trapping one down; a trapping one is told.
#[test]
fn t_exit_2_other_normal() {
    let host = host();
    let server = spawn(&host, GsArgs::plain());
    let trapping = trapping_linked(&host, &server);
    let plain = spawn(&host, GsArgs::plain());
    assert_eq!(plain.call(GsMsg::Link(server.id().get())).unwrap(), GsReply::Ok);
    let stop = GsMsg::Stop { why: Why::Normal, reply: 0 };
    assert_eq!(server.call(stop).unwrap(), GsReply::Value(0));
    wait_for_event(&trapping, &format!("exit {} normal", server.id().get()));
    assert_eq!(plain.call(GsMsg::Echo(5)).unwrap(), GsReply::Value(5));
}

// process_SUITE: t_exit_1 (link to a process that is gone) — linking to a
// dead actor delivers `noproc` to a trapping linker; unlink stops delivery.
#[test]
fn link_noproc_and_unlink() {
    let host = host();
    let gone = spawn(&host, GsArgs::plain());
    let gid = gone.id().get();
    assert_eq!(host.terminate(&gone.any(), ExitReason::Normal), Ok(true));
    let trapping = spawn(&host, GsArgs::plain());
    assert_eq!(value(trapping.call(GsMsg::TrapExit(true)).unwrap()), 0);
    assert_eq!(trapping.call(GsMsg::Link(gid)).unwrap(), GsReply::Ok);
    wait_for_event(&trapping, &format!("exit {gid} noproc"));
    let other = spawn(&host, GsArgs::plain());
    assert_eq!(trapping.call(GsMsg::Link(other.id().get())).unwrap(), GsReply::Ok);
    assert_eq!(trapping.call(GsMsg::Unlink(other.id().get())).unwrap(), GsReply::Ok);
    host.stop(&other, ExitReason::Custom("unseen".into())).expect("it was running");
    assert!(other.monitor().wait(WAIT).is_some());
    // A call after the exit: an EXIT would have been applied before it.
    assert_eq!(trapping.call(GsMsg::Echo(0)).unwrap(), GsReply::Value(0));
    assert_eq!(events(&trapping), vec![format!("exit {gid} noproc")]);
}

// Compatibility: a module that implements none of the new callbacks
// (counter_v1) stops, is stopped and dies of links as before.
#[test]
fn a_module_without_the_new_callbacks_behaves_as_before() {
    let host = host();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let counter: Counter = host.spawn("counter", &0u64).unwrap();
    let server = spawn(&host, GsArgs::plain());
    assert_eq!(server.call(GsMsg::Link(counter.id().get())).unwrap(), GsReply::Ok);
    let exited = counter.monitor();
    assert!(matches!(server.call(GsMsg::Crash), Err(CallError::Exited(_))));
    match exited.wait(WAIT) {
        Some(ExitReason::Linked { from, .. }) => assert_eq!(from, server.id()),
        other => panic!("{other:?}"),
    }
    let counter: Counter = host.spawn("counter", &0u64).unwrap();
    assert_eq!(counter.call(CounterMsg::Add(2)).unwrap().count, 2);
    assert_eq!(host.terminate(&counter.any(), ExitReason::Shutdown), Ok(true));
    assert!(counter.is_exited());
}

fn left(reply: GsReply) -> Option<u64> {
    match reply {
        GsReply::Left(l) => l,
        other => panic!("not a timer answer: {other:?}"),
    }
}

fn send_after(from: &Gs, to: &Gs, ms: u64, text: &str) -> u64 {
    value(from.call(GsMsg::SendAfter { to: to.id().get(), ms, text: text.into() }).unwrap())
}

// timer_bif_SUITE: cancel_timer_1 — cancelling an armed timer answers the
// time left and nothing is delivered; a second cancel, a fired timer and an
// unknown reference answer `false`.
#[test]
fn cancel_timer_1() {
    let host = host();
    let owner = spawn(&host, GsArgs::plain());
    let target = spawn(&host, GsArgs::plain());
    let t = send_after(&owner, &target, 1_000, "plopp");
    let l = left(owner.call(GsMsg::CancelTimer(t)).unwrap()).expect("armed");
    assert!(l > 600 && l <= 1_000, "{l} ms left");
    assert_eq!(left(owner.call(GsMsg::CancelTimer(t)).unwrap()), None);
    assert_eq!(left(owner.call(GsMsg::CancelTimer(987_654_321)).unwrap()), None);
    assert_eq!(left(owner.call(GsMsg::ReadTimer(987_654_321)).unwrap()), None);
    // A fired timer is no longer armed.
    let fired = send_after(&owner, &target, 10, "fired");
    wait_for_event(&target, "fired");
    assert_eq!(left(owner.call(GsMsg::ReadTimer(fired)).unwrap()), None);
    assert_eq!(left(owner.call(GsMsg::CancelTimer(fired)).unwrap()), None);
    // The cancelled one never arrives: a later timer does, alone.
    let after = send_after(&owner, &target, 1_100, "after");
    assert!(after > fired);
    wait_for_event(&target, "after");
    assert_eq!(events(&target), vec!["fired".to_owned(), "after".to_owned()]);
}

// timer_bif_SUITE: read_timer — reading does not disarm; cancel then
// answers no more than the read; after the cancel, read answers `false`.
#[test]
fn read_timer() {
    let host = host();
    let owner = spawn(&host, GsArgs::plain());
    let t = send_after(&owner, &owner, 2_000, "later");
    let l1 = left(owner.call(GsMsg::ReadTimer(t)).unwrap()).expect("armed");
    let l2 = left(owner.call(GsMsg::CancelTimer(t)).unwrap()).expect("still armed");
    assert!(l2 <= l1 && l1 <= 2_000, "read {l1}, cancel {l2}");
    assert_eq!(left(owner.call(GsMsg::ReadTimer(t)).unwrap()), None);
}

// timer_bif_SUITE: registered_process — a timer to a name resolves it when
// it fires, not when it is set.
#[test]
fn registered_process() {
    let host = host();
    let owner = spawn(&host, GsArgs::plain());
    let set = GsMsg::SendAfterNamed { name: "later".into(), ms: 300, text: "ref1".into() };
    let t = value(owner.call(set).unwrap());
    assert!(host.whereis::<GsMsg, GsReply>("later").unwrap().is_none());
    let late: Gs =
        host.spawn_with("gen_server", &GsArgs::plain(), SpawnOptions::new().name("later")).unwrap();
    wait_for_event(&late, "ref1");
    assert_eq!(left(owner.call(GsMsg::ReadTimer(t)).unwrap()), None);
}

// timer_bif_SUITE: cleanup — timers die with the actor they are for.
#[test]
fn cleanup() {
    let host = host();
    let owner = spawn(&host, GsArgs::plain());
    let target = spawn(&host, GsArgs::plain());
    let t = send_after(&owner, &target, 5_000, "never");
    assert!(left(owner.call(GsMsg::ReadTimer(t)).unwrap()).is_some());
    assert_eq!(host.terminate(&target.any(), ExitReason::Normal), Ok(true));
    assert_eq!(left(owner.call(GsMsg::ReadTimer(t)).unwrap()), None);
}

// gen_server_SUITE: call_within — `{reply, ok, call_within, T}`: a message
// within T keeps the state (and cancels the timeout); with none for T,
// `handle_info(timeout)` runs and resets it.
#[test]
fn call_within() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    assert_eq!(server.call(GsMsg::CallWithin(300)).unwrap(), GsReply::Ok);
    assert_eq!(value(server.call(GsMsg::NextCall).unwrap()), 1, "still call_within");
    // NextCall set no timeout: the first one is cancelled for good.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(value(server.call(GsMsg::NextCall).unwrap()), 1, "the timeout was cancelled");
    assert!(events(&server).is_empty());
    assert_eq!(server.call(GsMsg::CallWithin(100)).unwrap(), GsReply::Ok);
    // Asking the server would be a message, which cancels the timeout.
    wait_for_event(&witness, "timeout");
    assert_eq!(value(server.call(GsMsg::NextCall).unwrap()), 0, "the timeout fired");
    assert_eq!(events(&server), vec!["timeout".to_owned()], "once");
}

// gen_server_SUITE: call, the `{stop, R, Reply, S}` form — relive sends the
// reply before terminate runs (decision 0010), also when the caller's own
// thread ran the call inline: the caller does not wait for the cleanup.
#[test]
fn call_reply_does_not_wait_for_terminate() {
    let host = host();
    let witness = witness(&host);
    let slow = GsArgs { term: TermMode::Sleep(1_500), ..GsArgs::reporting_to("witness") };
    let server = spawn(&host, slow);
    let exited = server.monitor();
    let start = Instant::now();
    let stop = GsMsg::Stop { why: Why::Normal, reply: 4 };
    assert_eq!(server.call(stop).unwrap(), GsReply::Value(4));
    assert!(start.elapsed() < Duration::from_millis(1_000), "waited {:?}", start.elapsed());
    assert_eq!(exited.wait(WAIT), Some(ExitReason::Normal));
    assert!(start.elapsed() >= Duration::from_millis(1_500), "terminate ran before the exit");
    wait_for_event(&witness, "terminate normal");
}

// gen_server_SUITE: info — `handle_info(timeout, S)` returning
// `{noreply, S, T}` waits again: an idle timeout set from `on_timeout`
// fires with no message in between.
#[test]
fn timeout_set_again_from_on_timeout() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    assert_eq!(server.call(GsMsg::Repeat { ms: 50, times: 3 }).unwrap(), GsReply::Ok);
    let deadline = Instant::now() + WAIT;
    while events(&witness).iter().filter(|e| *e == "timeout").count() < 3 {
        assert!(Instant::now() < deadline, "{:?}", events(&witness));
        std::thread::sleep(Duration::from_millis(5));
    }
}

// supervisor_SUITE: sup_stop_timeout, for a whole host — `Host::shutdown`
// runs every module's terminate, all at once, and waits for them at most
// the kill timeout.
#[test]
fn sup_stop_timeout_on_host_shutdown() {
    let slow = |ms| GsArgs { term: TermMode::Sleep(ms), ..GsArgs::plain() };
    let host = host();
    let servers: Vec<Gs> = (0..2).map(|_| spawn(&host, slow(400))).collect();
    let start = Instant::now();
    host.shutdown();
    assert!(start.elapsed() >= Duration::from_millis(400), "terminate ran: {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    assert!(servers.iter().all(ActorRef::is_exited));
    let host = host_with_kill_timeout(Duration::from_millis(300));
    let stuck = spawn(&host, slow(5_000));
    let start = Instant::now();
    host.shutdown();
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    assert!(stuck.is_exited());
}

// supervisor_SUITE sup_stop_timeout, with every worker busy: a stop whose
// `terminate` no worker could start in time kills the actor there and then
// (its state freed), and it restarts in place at once.
#[test]
fn a_stop_no_worker_could_take_up_kills_and_frees_the_actor() {
    let host = host();
    let target = spawn(&host, GsArgs::plain());
    let busy: Vec<Gs> = (0..host.workers()).map(|_| spawn(&host, GsArgs::plain())).collect();
    for b in &busy {
        b.cast(GsMsg::DemonitorAfter { mref: 0, ms: 1_500 }).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let exited = target.monitor();
    let stopped =
        host.terminate_within(&target.any(), ExitReason::Shutdown, Duration::from_millis(200));
    assert_eq!(stopped, Ok(true), "it exited at a boundary, killed");
    assert_eq!(exited.wait(WAIT), Some(ExitReason::Killed));
    let mut args = Vec::new();
    relive_runtime::codec::encode_into(&GsArgs::plain(), &mut args).unwrap();
    host.respawn(&target.any(), &args, relive_runtime::codec::Fingerprint::of::<GsArgs>())
        .expect("restarts in place: nothing holds its old state");
    assert_eq!(target.call(GsMsg::Echo(9)).unwrap(), GsReply::Value(9));
}

// sys_SUITE suspend, for what OTP delivers as plain messages: a suspended
// gen_server leaves a trapped 'EXIT' and a 'DOWN' queued; it sees both
// once resumed.
#[test]
fn suspend_holds_trapped_exits_and_downs() {
    let host = host();
    let other = spawn(&host, GsArgs::plain());
    let server = trapping_linked(&host, &other);
    let mref = value(server.call(GsMsg::Monitor(other.id().get())).unwrap());
    host.sys().suspend(&server.any()).unwrap();
    host.stop(&other, ExitReason::Custom("gone".into())).expect("it was running");
    other.monitor().wait(WAIT).expect("it exited");
    std::thread::sleep(Duration::from_millis(100));
    let state = host.sys().get_state(&server.any()).unwrap();
    assert_eq!(state["events"], serde_json::json!([]), "nothing seen while suspended");
    host.sys().resume(&server.any()).unwrap();
    let id = other.id().get();
    wait_for_event(&server, &format!("down {mref} {id} gone"));
    let mut seen = events(&server);
    seen.sort();
    assert_eq!(seen, [format!("down {mref} {id} gone"), format!("exit {id} gone")]);
}

// process_SUITE t_exit_2_other, seen from the module: a gen_server taken
// down by a linked `shutdown` runs terminate with `shutdown`, the bare
// reason, as in OTP (the host's `Linked` wrapper stays on the host's side).
#[test]
fn terminate_sees_the_bare_reason_of_a_linked_exit() {
    let host = host();
    let witness = witness(&host);
    let server = spawn(&host, GsArgs::reporting_to("witness"));
    let other = spawn(&host, GsArgs::plain());
    host.link(&server, &other);
    host.stop(&other, ExitReason::Shutdown).expect("it was running");
    match server.monitor().wait(WAIT) {
        Some(ExitReason::Linked { reason, .. }) => assert_eq!(*reason, ExitReason::Shutdown),
        other => panic!("not a linked exit: {other:?}"),
    }
    wait_for_event(&witness, "terminate shutdown");
}
