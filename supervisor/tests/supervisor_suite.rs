//! Cases of OTP's supervisor_SUITE (stdlib), one test each, on real module
//! actors and host-native children: failed restarts and escalation, the
//! `restarting` state, temporary children, the dynamic API's errors, init
//! `ignore`, flag validation, shutdown timeouts and order, and scale.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{
    ActorRef, AnyActor, ExitReason, Host, HostHandle, NativeActor, NativeContext, SpawnError,
};
use relive_supervisor::{
    Child, ChildError, ChildSpec, ChildStart, ChildState, Counts, Flags, FlagsError, Restart,
    Shutdown, StartError, Strategy, Supervisor,
};
use relive_test_support::fixtures;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;
type Log = Arc<Mutex<Vec<String>>>;

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

fn counts(specs: usize, active: usize, supervisors: usize, workers: usize) -> Counts {
    Counts { specs, active, supervisors, workers }
}

/// A native child that logs its starts and stops; a message `n > 0` keeps
/// its handler busy for `n` ms.
struct Logger {
    name: String,
    log: Log,
}

impl NativeActor for Logger {
    type Msg = u64;
    type Reply = ();
    fn handle(&mut self, ms: u64, _: &mut NativeContext<'_>) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    fn on_stop(&mut self, reason: &ExitReason, _: &HostHandle) {
        self.log.lock().unwrap().push(format!("stop {} {reason}", self.name));
    }
}

/// How a child's starts go: `fail_after` successful starts, then the
/// attempts before `fail_until` fail while `failing` is set (OTP's
/// supervisor_1 `start_child(error)`).
#[derive(Clone)]
struct Starts {
    attempts: Arc<AtomicU32>,
    fail_after: u32,
    fail_until: u32,
    failing: Arc<AtomicBool>,
}

impl Starts {
    fn failing_after(n: u32) -> Self {
        Starts {
            attempts: Arc::new(AtomicU32::new(0)),
            fail_after: n,
            fail_until: u32::MAX,
            failing: Arc::new(AtomicBool::new(true)),
        }
    }
    /// Only the start after the first one fails.
    fn second_fails() -> Self {
        Starts { fail_until: 2, ..Starts::failing_after(1) }
    }
    fn ok() -> Self {
        Starts::failing_after(u32::MAX)
    }
    fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }
}

/// A native child `name` logging to `log`, starting as `starts` says.
fn logged(name: &str, log: &Log, starts: &Starts) -> ChildStart {
    let (name, log, starts) = (name.to_owned(), log.clone(), starts.clone());
    ChildStart::native(move |h| {
        let n = starts.attempts.fetch_add(1, Ordering::SeqCst);
        if (starts.fail_after..starts.fail_until).contains(&n)
            && starts.failing.load(Ordering::SeqCst)
        {
            log.lock().unwrap().push(format!("fail {name}"));
            return Err(SpawnError::NotLoaded(format!("{name} fails to start")));
        }
        let a =
            h.spawn_native(Logger { name: name.clone(), log: log.clone() }, Default::default())?;
        log.lock().unwrap().push(format!("start {name}"));
        Ok(a.any())
    })
}

fn child(id: &str, log: &Log, starts: &Starts) -> Child {
    Child::new(ChildSpec::worker(id, &[]), logged(id, log, starts))
}

fn counter_child(id: &str, restart: Restart) -> Child {
    Child::new(
        ChildSpec::worker(id, &["counter"]).restart(restart),
        ChildStart::module("counter", &0u64),
    )
}

fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn log_is(log: &Log, expected: &[&str]) {
    eventually(&format!("log {expected:?}"), || log.lock().unwrap().len() >= expected.len());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(*log.lock().unwrap(), expected);
}

fn kill(host: &Host, sup: &Supervisor, id: &str) {
    let a = sup.child(id).expect("running");
    host.terminate(&a, ExitReason::Killed).unwrap();
}

fn typed(a: &AnyActor) -> Counter {
    a.typed().expect("types")
}

// supervisor_SUITE one_for_one_escalation: a child whose restarts all fail
// uses up the intensity (each attempt counts) and the supervisor escalates,
// taking its other children with it.
#[test]
fn one_for_one_escalation() {
    let host = host();
    let log = new_log();
    let bad = Starts::failing_after(1);
    let flags = Flags::default().intensity(4, Duration::from_secs(10));
    let children = vec![child("c1", &log, &bad), child("c2", &log, &Starts::ok())];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    let down = sup.actor().monitor();
    let c2 = sup.child("c2").unwrap();
    kill(&host, &sup, "c1");
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert_eq!(bad.attempts(), 5, "the first start and four failed restarts");
    assert!(c2.is_exited());
}

/// c1 and c2 under `strategy`; c2's restarts all fail; c1 is killed.
fn group_escalation(strategy: Strategy) {
    let host = host();
    let log = new_log();
    let bad = Starts::failing_after(1);
    let flags = Flags::new(strategy).intensity(2, Duration::from_secs(10));
    let children = vec![child("c1", &log, &Starts::ok()), child("c2", &log, &bad)];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    let down = sup.actor().monitor();
    kill(&host, &sup, "c1");
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert_eq!(bad.attempts(), 3, "the first start and two failed restarts");
    let started = log.lock().unwrap().iter().filter(|l| l.starts_with("start")).count();
    let stopped = log.lock().unwrap().iter().filter(|l| l.starts_with("stop")).count();
    assert_eq!(started, stopped, "nothing left running: {:?}", log.lock().unwrap());
}

// supervisor_SUITE one_for_all_escalation.
#[test]
fn one_for_all_escalation() {
    group_escalation(Strategy::OneForAll);
}

// supervisor_SUITE rest_for_one_escalation.
#[test]
fn rest_for_one_escalation() {
    group_escalation(Strategy::RestForOne);
}

// supervisor_SUITE one_for_all_other_child_fails_restart: a sibling that
// fails to start in a group restart makes the supervisor stop the group and
// start it again.
#[test]
fn one_for_all_other_child_fails_restart() {
    let host = host();
    let log = new_log();
    let once = Starts::second_fails();
    let flags = Flags::new(Strategy::OneForAll).intensity(10, Duration::from_secs(10));
    let children = vec![child("c1", &log, &Starts::ok()), child("c2", &log, &once)];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    kill(&host, &sup, "c1");
    log_is(
        &log,
        &[
            "start c1",
            "start c2",
            "stop c1 killed",
            "stop c2 shutdown",
            "start c1",
            "fail c2",
            "stop c1 shutdown",
            "start c1",
            "start c2",
        ],
    );
    assert_eq!(sup.count_children().unwrap(), counts(2, 2, 0, 2));
}

// supervisor_SUITE rest_for_one_other_child_fails_restart: only the child
// that failed to start and those after it are retried; the one before it is
// not started again.
#[test]
fn rest_for_one_other_child_fails_restart() {
    let host = host();
    let log = new_log();
    let once = Starts::second_fails();
    let flags = Flags::new(Strategy::RestForOne).intensity(10, Duration::from_secs(10));
    let children = vec![child("c1", &log, &Starts::ok()), child("c2", &log, &once)];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    kill(&host, &sup, "c1");
    log_is(
        &log,
        &[
            "start c1",
            "start c2",
            "stop c1 killed",
            "stop c2 shutdown",
            "start c1",
            "fail c2",
            "start c2",
        ],
    );
    assert_eq!(sup.count_children().unwrap(), counts(2, 2, 0, 2));
}

// supervisor_SUITE hanging_restart_loop: a supervisor retrying a restart
// that keeps failing still serves calls, shows the child `restarting`, and
// can be stopped.
#[test]
fn hanging_restart_loop() {
    let host = host();
    let log = new_log();
    let bad = Starts::failing_after(1);
    let flags = Flags::default().intensity(u32::MAX, Duration::from_secs(1)).probation(None);
    let sup = Supervisor::start(&host, flags, vec![child("c1", &log, &bad)]).unwrap();
    kill(&host, &sup, "c1");
    eventually("retrying", || bad.attempts() > 3);
    let e = sup.start_child(child("c1", &log, &bad)).unwrap_err();
    assert!(matches!(&e, StartError::AlreadyPresent(id) if id == "c1"), "{e:?}");
    assert!(matches!(sup.restart_child("c1"), Err(ChildError::Restarting(_))));
    assert!(matches!(sup.delete_child("c1"), Err(ChildError::Restarting(_))));
    let which = sup.which_children().unwrap();
    assert_eq!(which.len(), 1);
    assert_eq!(which[0].state, ChildState::Restarting);
    assert_eq!(sup.count_children().unwrap(), counts(1, 0, 0, 1));
    // terminate_child leaves it plainly terminated: the retries stop.
    sup.terminate_child("c1").unwrap();
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::NotRunning);
    let attempts = bad.attempts();
    std::thread::sleep(Duration::from_millis(100));
    assert!(bad.attempts() <= attempts + 1, "no more retries after terminate_child");
    // Restarting again: it is stopped in the middle of its retries.
    kill_and_stop_while_retrying(&host, &log, &bad);
    sup.stop().unwrap();
}

fn kill_and_stop_while_retrying(host: &Host, log: &Log, bad: &Starts) {
    let flags = Flags::default().intensity(u32::MAX, Duration::from_secs(1)).probation(None);
    let fresh = Starts::failing_after(1);
    let sup = Supervisor::start(host, flags, vec![child("c1", log, &fresh)]).unwrap();
    let down = sup.actor().monitor();
    kill(host, &sup, "c1");
    eventually("retrying", || fresh.attempts() > 3);
    let _ = bad;
    sup.stop().unwrap();
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert!(matches!(sup.which_children(), Err(ChildError::SupervisorExited)));
}

// supervisor_SUITE count_restarting_children: children being restarted
// count as specs and workers, not as active; once their starts recover
// they are active again.
#[test]
fn count_restarting_children() {
    let host = host();
    let log = new_log();
    let bad = Starts::failing_after(2);
    let flags = Flags::default().intensity(u32::MAX, Duration::from_secs(1)).probation(None);
    let children =
        vec![child("c1", &log, &bad), child("c2", &log, &bad), child("c3", &log, &Starts::ok())];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    assert_eq!(sup.count_children().unwrap(), counts(3, 3, 0, 3));
    kill(&host, &sup, "c1");
    kill(&host, &sup, "c2");
    eventually("both restarting", || {
        sup.which_children().unwrap().iter().filter(|c| c.state == ChildState::Restarting).count()
            == 2
    });
    assert_eq!(sup.count_children().unwrap(), counts(3, 1, 0, 3));
    bad.failing.store(false, Ordering::SeqCst);
    eventually("recovered", || sup.count_children().unwrap() == counts(3, 3, 0, 3));
}

// supervisor_SUITE temporary_normal: a temporary child that exits normally
// is not restarted and its spec goes.
#[test]
fn temporary_normal() {
    let host = host();
    let sup =
        Supervisor::start(&host, Flags::default(), vec![counter_child("t", Restart::Temporary)])
            .unwrap();
    let t = typed(&sup.child("t").unwrap());
    host.stop(&t, ExitReason::Normal).unwrap();
    eventually("spec gone", || sup.count_children().unwrap() == counts(0, 0, 0, 0));
    assert!(sup.which_children().unwrap().is_empty());
}

// supervisor_SUITE temporary_abnormal.
#[test]
fn temporary_abnormal() {
    let host = host();
    let sup =
        Supervisor::start(&host, Flags::default(), vec![counter_child("t", Restart::Temporary)])
            .unwrap();
    let t = typed(&sup.child("t").unwrap());
    let _ = t.call(CounterMsg::Panic("abnormal".into()));
    eventually("spec gone", || sup.count_children().unwrap() == counts(0, 0, 0, 0));
}

// supervisor_SUITE do_not_save_child_specs_for_temporary_children:
// terminate_child of a temporary child drops its spec; starting it again is
// no duplicate.
#[test]
fn do_not_save_child_specs_for_temporary_children() {
    let host = host();
    let sup = Supervisor::start(&host, Flags::default(), vec![]).unwrap();
    sup.start_child(counter_child("t", Restart::Temporary)).unwrap().unwrap();
    sup.terminate_child("t").unwrap();
    assert_eq!(sup.count_children().unwrap(), counts(0, 0, 0, 0));
    sup.start_child(counter_child("t", Restart::Temporary)).unwrap().unwrap();
    // Permanent and transient specs are kept.
    for (id, restart) in [("p", Restart::Permanent), ("r", Restart::Transient)] {
        sup.start_child(counter_child(id, restart)).unwrap().unwrap();
        sup.terminate_child(id).unwrap();
        let e = sup.start_child(counter_child(id, restart)).unwrap_err();
        assert!(matches!(&e, StartError::AlreadyPresent(i) if i == id), "{e:?}");
        sup.restart_child(id).unwrap().unwrap();
    }
}

// supervisor_SUITE child_adm: the dynamic API's answers, and every call on
// a supervisor that has exited answers noproc and changes nothing.
#[test]
fn child_adm() {
    let host = host();
    let sup =
        Supervisor::start(&host, Flags::default(), vec![counter_child("c1", Restart::Permanent)])
            .unwrap();
    let c1 = sup.child("c1").unwrap();
    let e = sup.start_child(counter_child("c1", Restart::Permanent)).unwrap_err();
    assert!(
        matches!(e, StartError::AlreadyStarted { ref id, actor } if id == "c1" && actor == c1.id()),
        "{e:?}"
    );
    assert!(matches!(sup.delete_child("c1"), Err(ChildError::Running(_))));
    assert!(matches!(sup.restart_child("c1"), Err(ChildError::Running(_))));
    sup.terminate_child("c1").unwrap();
    sup.terminate_child("c1").unwrap();
    assert_eq!(sup.count_children().unwrap(), counts(1, 0, 0, 1));
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::NotRunning);
    assert!(matches!(sup.terminate_child("nope"), Err(ChildError::NotFound(_))));
    assert!(matches!(sup.restart_child("nope"), Err(ChildError::NotFound(_))));
    assert!(matches!(sup.delete_child("nope"), Err(ChildError::NotFound(_))));
    // get_childspec (OTP 18+): by id, and not for an unknown one.
    assert_eq!(sup.get_childspec("c1").unwrap().id, "c1");
    assert!(matches!(sup.get_childspec("nope"), Err(ChildError::NotFound(_))));
    sup.restart_child("c1").unwrap().unwrap();
    sup.stop().unwrap();
    eventually("exited", || sup.actor().is_exited());
    let actors = host.actor_count();
    assert!(matches!(sup.terminate_child("c1"), Err(ChildError::SupervisorExited)));
    assert!(matches!(sup.delete_child("c1"), Err(ChildError::SupervisorExited)));
    assert!(matches!(sup.restart_child("c1"), Err(ChildError::SupervisorExited)));
    assert!(matches!(sup.which_children(), Err(ChildError::SupervisorExited)));
    assert!(matches!(sup.count_children(), Err(ChildError::SupervisorExited)));
    assert!(matches!(sup.get_childspec("c1"), Err(ChildError::SupervisorExited)));
    let e = sup.start_child(counter_child("c2", Restart::Permanent)).unwrap_err();
    assert!(matches!(e, StartError::SupervisorExited), "{e:?}");
    assert!(matches!(sup.stop(), Err(ChildError::SupervisorExited)));
    assert_eq!(host.actor_count(), actors, "nothing was started");
}

// supervisor_SUITE child_adm_simple: simple_one_for_one children are
// addressed by actor and removed when terminated.
#[test]
fn child_adm_simple() {
    let host = host();
    let sup = simple(&host, counter_child("c", Restart::Permanent));
    assert_eq!(sup.count_children().unwrap(), counts(1, 0, 0, 0));
    let a = sup.start_simple_child(&4u64).unwrap().unwrap();
    assert_eq!(typed(&a).call(CounterMsg::Get).unwrap().count, 4);
    assert_eq!(sup.count_children().unwrap(), counts(1, 1, 0, 1));
    let which = sup.which_children().unwrap();
    assert_eq!((which[0].id.clone(), which[0].actor()), (None, Some(a.id())));
    assert!(matches!(sup.terminate_child("c"), Err(ChildError::SimpleOneForOne)));
    assert!(matches!(sup.restart_child("c"), Err(ChildError::SimpleOneForOne)));
    assert!(matches!(sup.delete_child("c"), Err(ChildError::SimpleOneForOne)));
    assert!(matches!(sup.get_childspec("c"), Err(ChildError::SimpleOneForOne)));
    assert_eq!(sup.get_childspec_actor(a.id()).unwrap().id, "c", "the template's spec");
    let e = sup.start_child(counter_child("d", Restart::Permanent)).unwrap_err();
    assert!(matches!(e, StartError::SimpleOneForOne), "{e:?}");
    sup.terminate_child_actor(a.id()).unwrap();
    assert!(a.is_exited());
    assert_eq!(sup.count_children().unwrap(), counts(1, 0, 0, 0));
    assert!(sup.which_children().unwrap().is_empty());
    assert!(matches!(sup.terminate_child_actor(a.id()), Err(ChildError::NotFound(_))));
    let outsider: Counter = host.spawn("counter", &0u64).unwrap();
    assert!(matches!(sup.terminate_child_actor(outsider.id()), Err(ChildError::NotFound(_))));
}

fn simple(host: &Host, template: Child) -> Supervisor {
    Supervisor::start(host, Flags::new(Strategy::SimpleOneForOne), vec![template]).unwrap()
}

// supervisor_SUITE child_specs (bad_start_spec): a simple_one_for_one
// supervisor takes exactly one spec, and starts no child at init.
#[test]
fn child_specs() {
    let host = host();
    for n in [0, 2] {
        let specs = (0..n).map(|i| counter_child(&format!("c{i}"), Restart::Permanent)).collect();
        let e = Supervisor::start(&host, Flags::new(Strategy::SimpleOneForOne), specs).unwrap_err();
        assert!(matches!(e, StartError::BadStartSpec(k) if k == n), "{e:?}");
    }
    let sup = simple(&host, counter_child("c", Restart::Permanent));
    assert_eq!(sup.count_children().unwrap(), counts(1, 0, 0, 0));
    assert_eq!(host.actor_count(), 1, "only the supervisor");
    let other = Supervisor::start(&host, Flags::default(), vec![]).unwrap();
    assert!(matches!(other.start_simple_child(&0u64), Err(StartError::NotSimpleOneForOne)));
}

fn ignoring() -> ChildStart {
    ChildStart::native(|_| Err(SpawnError::Ignored))
}

// supervisor_SUITE sup_start_ignore_child (and _temporary_child): a start
// that returns ignore is no failure; the spec is kept, not running (a
// temporary one is not kept).
#[test]
fn sup_start_ignore_child() {
    let host = host();
    let children = vec![
        Child::new(ChildSpec::worker("i", &[]), ignoring()),
        Child::new(ChildSpec::worker("it", &[]).restart(Restart::Temporary), ignoring()),
        counter_child("c", Restart::Permanent),
    ];
    let sup = Supervisor::start(&host, Flags::default(), children).unwrap();
    assert_eq!(sup.count_children().unwrap(), counts(2, 1, 0, 2));
    assert!(
        sup.start_child(Child::new(ChildSpec::worker("j", &[]), ignoring())).unwrap().is_none()
    );
    let t = Child::new(ChildSpec::worker("jt", &[]).restart(Restart::Temporary), ignoring());
    assert!(sup.start_child(t).unwrap().is_none());
    let which: Vec<(Option<String>, ChildState)> =
        sup.which_children().unwrap().into_iter().map(|c| (c.id, c.state)).collect();
    assert_eq!(which[0], (Some("i".to_owned()), ChildState::NotRunning));
    assert_eq!(which[2], (Some("j".to_owned()), ChildState::NotRunning));
    assert_eq!(which.len(), 3);
    assert!(sup.restart_child("i").unwrap().is_none(), "restart_child of an ignoring child");
    // simple_one_for_one: an ignored child is not added.
    let simple = simple(&host, Child::new(ChildSpec::worker("s", &[]), ignoring()));
    assert!(simple.start_simple_child(&()).unwrap().is_none());
    assert_eq!(simple.count_children().unwrap(), counts(1, 0, 0, 0));
}

// supervisor_SUITE sup_start_ignore_child, the restart half: a restart that
// returns ignore leaves the child not running and is no failure.
#[test]
fn a_restart_that_returns_ignore_leaves_the_child_not_running() {
    let host = host();
    let log = new_log();
    let starts = Arc::new(AtomicU32::new(0));
    let (l, s) = (log.clone(), starts.clone());
    let start = ChildStart::native(move |h| {
        if s.fetch_add(1, Ordering::SeqCst) > 0 {
            return Err(SpawnError::Ignored);
        }
        Ok(h.spawn_native(Logger { name: "c".into(), log: l.clone() }, Default::default())?.any())
    });
    let sup = Supervisor::start(
        &host,
        Flags::default(),
        vec![Child::new(ChildSpec::worker("c", &[]), start)],
    )
    .unwrap();
    kill(&host, &sup, "c");
    eventually("restart tried", || starts.load(Ordering::SeqCst) == 2);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(starts.load(Ordering::SeqCst), 2, "ignore is not retried");
    assert!(!sup.actor().is_exited());
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::NotRunning);
}

// supervisor_SUITE sup_flags: a zero period is refused (invalid_period);
// an intensity of 0 is valid.
#[test]
fn sup_flags() {
    let host = host();
    let zero = Flags::default().intensity(1, Duration::ZERO);
    let e =
        Supervisor::start(&host, zero, vec![counter_child("c", Restart::Permanent)]).unwrap_err();
    assert!(matches!(e, StartError::Flags(FlagsError::InvalidPeriod(_))), "{e:?}");
    assert_eq!(host.actor_count(), 0, "nothing started");
    let none = Flags::default().intensity(0, Duration::from_secs(1));
    let sup = Supervisor::start(&host, none, vec![counter_child("c", Restart::Permanent)]).unwrap();
    let down = sup.actor().monitor();
    let _ = typed(&sup.child("c").unwrap()).call(CounterMsg::Panic("first".into()));
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown), "gives up at once");
}

// supervisor_SUITE order_of_children: children start in order, a
// rest_for_one restart stops the later ones in reverse and restarts them in
// order, and the supervisor stops them in reverse start order.
#[test]
fn order_of_children() {
    let host = host();
    let log = new_log();
    let ids = ["c1", "c2", "c3", "c4", "c5"];
    let children = ids.iter().map(|id| child(id, &log, &Starts::ok())).collect();
    let flags = Flags::new(Strategy::RestForOne).intensity(10, Duration::from_secs(10));
    let sup = Supervisor::start(&host, flags, children).unwrap();
    kill(&host, &sup, "c3");
    eventually("restarted", || sup.count_children().unwrap().active == 5);
    sup.stop().unwrap();
    log_is(
        &log,
        &[
            "start c1",
            "start c2",
            "start c3",
            "start c4",
            "start c5",
            "stop c3 killed",
            "stop c5 shutdown",
            "stop c4 shutdown",
            "start c3",
            "start c4",
            "start c5",
            "stop c5 shutdown",
            "stop c4 shutdown",
            "stop c3 shutdown",
            "stop c2 shutdown",
            "stop c1 shutdown",
        ],
    );
}

// supervisor_SUITE sup_stop_timeout: a child that does not stop within its
// shutdown timeout is killed, and the stop returns within the timeout.
#[test]
fn sup_stop_timeout() {
    let host = host();
    let log = new_log();
    let stuck = Child::new(
        ChildSpec::worker("stuck", &[]).shutdown(Shutdown::Timeout(Duration::from_millis(300))),
        logged("stuck", &log, &Starts::ok()),
    );
    let sup =
        Supervisor::start(&host, Flags::default(), vec![child("c1", &log, &Starts::ok()), stuck])
            .unwrap();
    let c1 = sup.child("c1").unwrap().monitor();
    let s = sup.child("stuck").unwrap();
    let down = s.monitor();
    s.typed::<u64, ()>().unwrap().cast(3_000).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    sup.stop().unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_millis(2_000), "stopped within the timeout: {took:?}");
    assert!(took >= Duration::from_millis(250), "the stuck child was waited for: {took:?}");
    assert_eq!(down.wait(Duration::from_secs(1)), Some(ExitReason::Killed));
    assert_eq!(c1.wait(Duration::from_secs(1)), Some(ExitReason::Shutdown));
}

// supervisor_SUITE sup_stop_brutal_kill.
#[test]
fn sup_stop_brutal_kill() {
    let host = host();
    let log = new_log();
    let brutal = Child::new(
        ChildSpec::worker("b", &[]).shutdown(Shutdown::BrutalKill),
        logged("b", &log, &Starts::ok()),
    );
    let sup =
        Supervisor::start(&host, Flags::default(), vec![child("c1", &log, &Starts::ok()), brutal])
            .unwrap();
    let b = sup.child("b").unwrap().monitor();
    let c1 = sup.child("c1").unwrap().monitor();
    sup.stop().unwrap();
    assert_eq!(b.wait(Duration::from_secs(1)), Some(ExitReason::Killed));
    assert_eq!(c1.wait(Duration::from_secs(1)), Some(ExitReason::Shutdown));
}

// supervisor_SUITE sup_stop_infinity: a child with shutdown infinity is
// waited for and stops with shutdown.
#[test]
fn sup_stop_infinity() {
    let host = host();
    let log = new_log();
    let slow = Child::new(
        ChildSpec::worker("slow", &[]).shutdown(Shutdown::Infinity),
        logged("slow", &log, &Starts::ok()),
    );
    let sup = Supervisor::start(&host, Flags::default(), vec![slow]).unwrap();
    let s = sup.child("slow").unwrap();
    let down = s.monitor();
    s.typed::<u64, ()>().unwrap().cast(300).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    sup.stop().unwrap();
    assert_eq!(down.wait(Duration::from_secs(1)), Some(ExitReason::Shutdown));
}

// supervisor_SUITE simple_one_for_one_shutdown: all children are asked to
// stop at once and waited for under one timer.
#[test]
fn simple_one_for_one_shutdown() {
    let host = Host::builder().workers(4).build().unwrap();
    let log = new_log();
    let shutdown = Duration::from_millis(400);
    let spec = ChildSpec::worker("c", &[]).shutdown(Shutdown::Timeout(shutdown));
    // The template takes each child's name as its extra argument.
    let l = log.clone();
    let template = ChildStart::template(move |h, extra| {
        let name: String = relive_runtime::codec::decode(extra).expect("a name");
        Ok(h.spawn_native(Logger { name, log: l.clone() }, Default::default())?.any())
    });
    let sup = simple(&host, Child::new(spec, template));
    let mut downs = Vec::new();
    for (i, busy) in [100u64, 100, 3_000, 3_000].into_iter().enumerate() {
        let c = sup.start_simple_child(&format!("c{i}")).unwrap().unwrap();
        downs.push(c.monitor());
        c.typed::<u64, ()>().unwrap().cast(busy).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    sup.stop().unwrap();
    let took = t.elapsed();
    // One timer for all: about one shutdown time, not one per child.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < shutdown * 3, "{took:?}");
    let reasons: Vec<_> =
        downs.into_iter().map(|d| d.wait(Duration::from_secs(1)).unwrap()).collect();
    assert_eq!(
        reasons,
        [ExitReason::Shutdown, ExitReason::Shutdown, ExitReason::Killed, ExitReason::Killed]
    );
}

/// Start and then terminate `n` children by id; the two durations.
fn start_stop(host: &Host, n: usize) -> (Duration, Duration) {
    let sup = Supervisor::start(host, Flags::default(), vec![]).unwrap();
    let log = new_log();
    let ok = Starts::ok();
    let t = Instant::now();
    for i in 0..n {
        sup.start_child(Child::new(ChildSpec::worker(format!("c{i}"), &[]), quiet(&log, &ok)))
            .unwrap();
    }
    let started = t.elapsed();
    let t = Instant::now();
    for i in 0..n {
        sup.terminate_child(&format!("c{i}")).unwrap();
    }
    let stopped = t.elapsed();
    sup.stop().unwrap();
    (started, stopped)
}

/// A native child that logs nothing.
fn quiet(_: &Log, _: &Starts) -> ChildStart {
    ChildStart::native(|h| Ok(h.spawn_native(Quiet, Default::default())?.any()))
}

struct Quiet;

impl NativeActor for Quiet {
    type Msg = ();
    type Reply = ();
    fn handle(&mut self, (): (), _: &mut NativeContext<'_>) {}
}

// supervisor_SUITE scale_start_stop_many_children: starting and
// terminating children by id scales linearly (at most 10x per 10x more,
// as OTP's limit); 10 k against 100 k children.
#[test]
fn scale_start_stop_many_children() {
    let host = host();
    let (n1, n2) = (10_000, 100_000);
    let (start1, stop1) = start_stop(&host, n1);
    let (start2, stop2) = start_stop(&host, n2);
    let limit = (n2 / n1) as u32 * 10;
    assert!(start2 < start1 * limit, "bad start scale: {start1:?} for {n1}, {start2:?} for {n2}");
    assert!(stop2 < stop1 * limit, "bad stop scale: {stop1:?} for {n1}, {stop2:?} for {n2}");
}

fn whereis(host: &Host, name: &str) -> Option<AnyActor> {
    host.whereis_any(name).filter(|a| !a.is_exited())
}

// supervisor_SUITE simple_global_supervisor, with local names: a named
// nested supervisor and a named worker under one_for_all keep their names
// through every kind of restart, and free them when the tree stops.
#[test]
fn simple_global_supervisor() {
    let host = host();
    let inner = Child::new(
        ChildSpec::supervisor("sup2"),
        ChildStart::native(|h| {
            let sup = Supervisor::start_named(h, "sup2", Flags::default(), vec![])
                .map_err(|e| SpawnError::NotLoaded(e.to_string()))?;
            Ok(sup.actor().clone())
        }),
    );
    let server = Child::new(
        ChildSpec::worker("server", &["counter"]),
        ChildStart::module_named("counter", &5u64, "server"),
    );
    let flags = Flags::new(Strategy::OneForAll).intensity(10, Duration::from_secs(10));
    let top = Supervisor::start(&host, flags, vec![inner, server]).unwrap();
    let serves = || {
        whereis(&host, "server")
            .is_some_and(|s| typed(&s).call(CounterMsg::Get).is_ok_and(|r| r.count == 5))
    };
    assert!(serves());
    // The worker is killed: both restart, the names are registered again.
    let sup2 = whereis(&host, "sup2").unwrap();
    host.terminate(&whereis(&host, "server").unwrap(), ExitReason::Killed).unwrap();
    eventually("restarted", || {
        whereis(&host, "sup2").is_some_and(|s| s.id() != sup2.id()) && serves()
    });
    // The worker exits normally (it is permanent).
    let sup2 = whereis(&host, "sup2").unwrap();
    host.stop(&typed(&whereis(&host, "server").unwrap()), ExitReason::Normal).unwrap();
    eventually("restarted", || {
        whereis(&host, "sup2").is_some_and(|s| s.id() != sup2.id()) && serves()
    });
    // The middle supervisor is killed.
    let sup2 = whereis(&host, "sup2").unwrap();
    host.terminate(&sup2, ExitReason::Killed).unwrap();
    eventually("restarted", || {
        whereis(&host, "sup2").is_some_and(|s| s.id() != sup2.id()) && serves()
    });
    // terminate_child, then restart_child.
    top.terminate_child("sup2").unwrap();
    assert!(whereis(&host, "sup2").is_none(), "freed when it exits");
    top.restart_child("sup2").unwrap().unwrap();
    assert!(whereis(&host, "sup2").is_some());
    top.stop().unwrap();
    assert!(whereis(&host, "sup2").is_none() && whereis(&host, "server").is_none());
}

// supervisor_SUITE already_started_outside_supervisor: a child whose name
// is another actor's does not start: already_started, with that actor.
#[test]
fn already_started_outside_supervisor() {
    let host = host();
    let outsider: Counter =
        host.spawn_with("counter", &0u64, relive_runtime::SpawnOptions::new().name("x")).unwrap();
    let sup = Supervisor::start(&host, Flags::default(), vec![]).unwrap();
    let named = Child::new(
        ChildSpec::worker("c", &["counter"]),
        ChildStart::module_named("counter", &0u64, "x"),
    );
    let e = sup.start_child(named).unwrap_err();
    assert!(
        matches!(e, StartError::AlreadyStarted { actor, .. } if actor == outsider.id()),
        "{e:?}"
    );
    assert_eq!(sup.count_children().unwrap(), counts(0, 0, 0, 0));
}

// supervisor_SUITE transient_shutdown, through a link: a transient child
// that dies of a linked actor's shutdown is not restarted; a permanent one
// is.
#[test]
fn a_transient_child_killed_by_a_linked_shutdown_is_not_restarted() {
    let host = host();
    let flags = Flags::default().intensity(10, Duration::from_secs(10));
    let children =
        vec![counter_child("t", Restart::Transient), counter_child("p", Restart::Permanent)];
    let sup = Supervisor::start(&host, flags, children).unwrap();
    let t = typed(&sup.child("t").unwrap());
    let p = typed(&sup.child("p").unwrap());
    p.call(CounterMsg::Add(3)).unwrap();
    let other: Counter = host.spawn("counter", &0u64).unwrap();
    host.link(&other, &t);
    host.link(&other, &p);
    let (t_down, p_down) = (t.monitor(), p.monitor());
    host.stop(&other, ExitReason::Shutdown).unwrap();
    let linked = |r: Option<ExitReason>| matches!(r, Some(ExitReason::Linked { reason, .. }) if *reason == ExitReason::Shutdown);
    assert!(linked(t_down.wait(Duration::from_secs(5))));
    assert!(linked(p_down.wait(Duration::from_secs(5))));
    eventually("p restarted", || p.call(CounterMsg::Get).is_ok_and(|r| r.count == 0));
    std::thread::sleep(Duration::from_millis(50));
    assert!(t.is_exited(), "the transient child is not restarted");
    assert_eq!(sup.count_children().unwrap(), counts(2, 1, 0, 2));
}

// supervisor.erl's shutdown/2 (unlink, then flush the child's 'EXIT'): a
// child whose crash signal is still queued at the supervisor when
// terminate_child unlinks it is terminated, not restarted.
#[test]
fn an_exit_queued_when_terminate_child_unlinks_is_no_crash() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let sup = Supervisor::start(
        &host,
        Flags::default().intensity(10, Duration::from_secs(5)),
        vec![counter_child("c1", Restart::Permanent)],
    )
    .unwrap();
    let c1 = sup.child("c1").unwrap();
    // The one worker is busy: the supervisor cannot take up c1's exit yet.
    let log = new_log();
    let busy = host.spawn_native(Logger { name: "busy".into(), log }, Default::default()).unwrap();
    busy.cast(400).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // c1 is killed (on this thread: a kill runs no terminate) and its exit
    // signal waits in the supervisor's queue; then it is terminated.
    host.terminate(&c1, ExitReason::Killed).unwrap();
    sup.terminate_child("c1").unwrap();
    // Once the worker is free, nothing restarts it.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(sup.which_children().unwrap()[0].state, ChildState::NotRunning);
    assert!(c1.is_exited(), "not restarted in place");
}
