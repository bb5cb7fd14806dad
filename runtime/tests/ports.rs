//! Ports (issue 15): a module does I/O through the host's named async
//! services. Every case on the real `port_user` cdylibs: the round trip, a
//! call answered after its port did, each failure a typed result to the
//! module (timeout, error, panic, unknown port, another type), a reply that
//! crosses an upgrade, and many requests from many actors at once.

use port_api::{Answer, Ask, Mode, Outcome, PortMsg, PortReply, Record};
use relive_runtime::{ActorRef, Host, RegisterPortError, UpgradeMode, UpgradeOptions};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type User = ActorRef<PortMsg, PortReply>;

const WAIT: Duration = Duration::from_secs(10);

/// The test port: sleeps `delay_ms` on its runtime, then does what `mode` says.
async fn echo(ask: Ask) -> Result<Answer, String> {
    if ask.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(ask.delay_ms)).await;
    }
    match ask.mode {
        Mode::Answer => Ok(Answer(ask.n + 1)),
        Mode::Fail(m) => Err(m),
        Mode::Panic(m) => panic!("{m}"),
    }
}

fn host_with(builder: relive_runtime::HostBuilder) -> Host {
    let host = builder.workers(2).build().unwrap();
    host.code_server().upgrade("port_user", fixtures().path("port_user")).unwrap();
    host.port("echo", echo).unwrap();
    host
}

fn host() -> Host {
    host_with(Host::builder())
}

fn user(host: &Host) -> User {
    host.spawn("port_user", &()).unwrap()
}

fn ask(port: &str, ask: Ask, timeout_ms: Option<u64>) -> PortMsg {
    PortMsg::Ask { port: port.into(), ask, timeout_ms }
}

fn sent(reply: PortReply) -> u64 {
    match reply {
        PortReply::Sent(id) => id,
        other => panic!("not sent: {other:?}"),
    }
}

fn replies(u: &User) -> Vec<Record> {
    match u.call(PortMsg::Replies).unwrap() {
        PortReply::Replies(r) => r,
        other => panic!("not replies: {other:?}"),
    }
}

fn count(u: &User) -> u64 {
    match u.call(PortMsg::Count).unwrap() {
        PortReply::Count(n) => n,
        other => panic!("not a count: {other:?}"),
    }
}

/// Wait (at most `WAIT`) for the reply to request `id`.
fn reply_to(u: &User, id: u64) -> Record {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(r) = replies(u).into_iter().find(|r| r.id == id) {
            return r;
        }
        assert!(Instant::now() < deadline, "no reply to request {id}: {:?}", replies(u));
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_request_round_trips_to_the_port_and_back_to_on_reply() {
    let host = host();
    let u = user(&host);
    let id = sent(u.call(ask("echo", Ask::answer(41, 0), None)).unwrap());
    let r = reply_to(&u, id);
    assert_eq!(r.outcome, Outcome::Answered(42));
    assert_eq!(r.version, "1.0.0");
    assert_eq!(replies(&u).len(), 1, "exactly one reply per request");
    assert_eq!(host.port_requests_in_flight(), 0);
}

#[test]
fn a_call_deferred_on_a_request_is_answered_after_the_port_answers() {
    let host = host();
    let u = user(&host);
    let start = Instant::now();
    let msg = PortMsg::AskAndWait { port: "echo".into(), ask: Ask::answer(6, 100) };
    match u.call_timeout(msg, WAIT).unwrap() {
        PortReply::Done(r) => assert_eq!(r.outcome, Outcome::Answered(7)),
        other => panic!("not done: {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(100), "answered before the port did");
}

#[test]
fn a_request_never_blocks_its_handler() {
    let host = host();
    let u = user(&host);
    let start = Instant::now();
    let id = sent(u.call(ask("echo", Ask::answer(1, 500), None)).unwrap());
    assert!(start.elapsed() < Duration::from_millis(400), "the handler waited for the port");
    // The actor keeps serving while the port works.
    assert_eq!(count(&u), 0);
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(2));
}

#[test]
fn a_port_that_does_not_answer_in_time_is_a_timeout_to_the_module() {
    let host = host();
    let u = user(&host);
    let id = sent(u.call(ask("echo", Ask::answer(1, 5_000), Some(50))).unwrap());
    let start = Instant::now();
    assert_eq!(reply_to(&u, id).outcome, Outcome::Timeout);
    assert!(start.elapsed() < Duration::from_secs(2), "the timeout was not kept");
    // Cancelled, not left running: nothing is in flight.
    assert_eq!(host.port_requests_in_flight(), 0);
}

#[test]
fn a_port_that_returns_an_error_is_failed_to_the_module() {
    let host = host();
    let u = user(&host);
    let failing = Ask { n: 0, delay_ms: 0, mode: Mode::Fail("db down".into()) };
    let id = sent(u.call(ask("echo", failing, None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Failed("db down".into()));
}

#[test]
fn a_port_that_panics_is_a_typed_error_to_the_module() {
    let host = host();
    let u = user(&host);
    let panicking = Ask { n: 0, delay_ms: 0, mode: Mode::Panic("port bug".into()) };
    let id = sent(u.call(ask("echo", panicking, None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Panicked("port bug".into()));
    // The host, the port and the actor keep running.
    let id = sent(u.call(ask("echo", Ask::answer(2, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(3));
}

#[test]
fn a_request_to_an_unknown_port_is_refused_at_once() {
    let host = host();
    let u = user(&host);
    match u.call(ask("nope", Ask::answer(0, 0), None)).unwrap() {
        PortReply::Refused(why) => assert!(why.contains("no port named \"nope\""), "{why}"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(replies(&u).is_empty(), "a refused request gets no reply");
}

#[test]
fn a_request_naming_another_response_type_is_a_schema_mismatch() {
    let host = host();
    let u = user(&host);
    match u.call(PortMsg::AskWrongType { port: "echo".into() }).unwrap() {
        PortReply::Refused(why) => assert!(why.contains("type"), "{why}"),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn a_response_decoded_as_another_type_is_a_schema_mismatch() {
    let host = host();
    let u = user(&host);
    let msg = PortMsg::AskDecodeWrong { port: "echo".into(), ask: Ask::answer(1, 0) };
    let id = sent(u.call(msg).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::SchemaMismatch);
}

#[test]
fn a_reply_in_flight_crosses_an_upgrade_and_is_handled_by_v2() {
    let host = host();
    let u = user(&host);
    let caller = u.clone();
    let waiting = std::thread::spawn(move || {
        let msg = PortMsg::AskAndWait { port: "echo".into(), ask: Ask::answer(9, 700) };
        caller.call_timeout(msg, WAIT)
    });
    // Let the request leave.
    let deadline = Instant::now() + WAIT;
    while host.port_requests_in_flight() == 0 {
        assert!(Instant::now() < deadline, "the request never left");
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let opts = UpgradeOptions::new().mode(UpgradeMode::Atomic);
    let report = host
        .code_server()
        .upgrade_with("port_user", fixtures().path("port_user_v2"), opts)
        .unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_millis(500), "the upgrade waited for the request: {took:?}");
    assert_eq!(host.port_requests_in_flight(), 1, "the request is still out: {report:?}");
    match waiting.join().unwrap().unwrap() {
        PortReply::Done(r) => {
            assert_eq!(r.outcome, Outcome::Answered(10));
            assert_eq!(r.version, "2.0.0", "the reply is handled by the version running then");
        }
        other => panic!("not done: {other:?}"),
    }
}

#[test]
fn many_concurrent_requests_from_many_actors_lose_nothing() {
    const ACTORS: u64 = 16;
    const EACH: u64 = 250;
    let host = host();
    let users: Vec<User> = (0..ACTORS).map(|_| user(&host)).collect();
    let senders: Vec<_> = users
        .iter()
        .cloned()
        .map(|u| {
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let delay = i % 3;
                    u.cast(ask("echo", Ask::answer(i, delay), None)).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let deadline = Instant::now() + WAIT;
    for u in &users {
        while count(u) < EACH {
            assert!(Instant::now() < deadline, "lost replies: {} of {EACH}", count(u));
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut answers: Vec<u64> = replies(u)
            .into_iter()
            .map(|r| match r.outcome {
                Outcome::Answered(n) => n,
                other => panic!("not answered: {other:?}"),
            })
            .collect();
        answers.sort_unstable();
        assert_eq!(answers, (1..=EACH).collect::<Vec<_>>(), "each request answered once");
    }
    assert_eq!(host.port_requests_in_flight(), 0);
    assert_eq!(host.dead_letters(), 0);
}

#[test]
fn a_reply_to_an_actor_that_exited_is_a_dead_letter() {
    let host = host();
    let u = user(&host);
    let before = host.dead_letters();
    sent(u.call(ask("echo", Ask::answer(1, 200), None)).unwrap());
    let exited = u.monitor();
    host.stop(&u, relive_runtime::ExitReason::Shutdown).unwrap();
    assert!(exited.wait(WAIT).is_some());
    let deadline = Instant::now() + WAIT;
    while host.dead_letters() == before {
        assert!(Instant::now() < deadline, "the reply was not counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(host.dead_letters(), before + 1);
    assert_eq!(host.port_requests_in_flight(), 0);
}

#[test]
fn a_reply_to_a_suspended_actor_waits_until_it_resumes() {
    let host = host();
    let u = user(&host);
    let id = sent(u.call(ask("echo", Ask::answer(4, 50), None)).unwrap());
    host.sys().suspend(&u.any()).unwrap();
    // The port answers meanwhile.
    let deadline = Instant::now() + WAIT;
    while host.port_requests_in_flight() > 0 {
        assert!(Instant::now() < deadline, "the port never answered");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(50));
    let state = host.sys().get_state(&u.any()).unwrap();
    assert_eq!(state["records"].as_array().map(Vec::len), Some(0), "handled while suspended");
    host.sys().resume(&u.any()).unwrap();
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(5));
}

#[test]
fn a_port_name_is_registered_once_and_a_removed_port_is_unknown() {
    let host = host();
    let again = host.port("echo", echo);
    assert!(matches!(again, Err(RegisterPortError::Exists(ref n)) if n == "echo"), "{again:?}");
    let u = user(&host);
    let slow = sent(u.call(ask("echo", Ask::answer(1, 100), None)).unwrap());
    assert!(host.remove_port("echo"));
    assert!(!host.remove_port("echo"));
    assert!(matches!(u.call(ask("echo", Ask::answer(0, 0), None)).unwrap(), PortReply::Refused(_)));
    // The request already sent runs to its end.
    assert_eq!(reply_to(&u, slow).outcome, Outcome::Answered(2));
    // And the name can be taken again.
    host.port("echo", echo).unwrap();
    let id = sent(u.call(ask("echo", Ask::answer(7, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(8));
}

#[test]
fn a_port_runs_on_the_runtime_the_caller_passes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("callers-runtime")
        .enable_all()
        .build()
        .unwrap();
    let host = host();
    host.port_on(rt.handle().clone(), "where", |ask: Ask| async move {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        if name == "callers-runtime" { Ok(Answer(ask.n)) } else { Err(format!("ran on {name}")) }
    })
    .unwrap();
    let u = user(&host);
    let id = sent(u.call(ask("where", Ask::answer(3, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(3));
    // The host's own runtime has named threads.
    host.port("own", |ask: Ask| async move {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        if name == "relive-port" { Ok(Answer(ask.n)) } else { Err(format!("ran on {name}")) }
    })
    .unwrap();
    let id = sent(u.call(ask("own", Ask::answer(4, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(4));
}

#[test]
fn a_request_beyond_the_hosts_bound_in_flight_is_refused() {
    let host = host_with(Host::builder().max_port_requests(1));
    let u = user(&host);
    let first = sent(u.call(ask("echo", Ask::answer(1, 200), None)).unwrap());
    match u.call(ask("echo", Ask::answer(2, 0), None)).unwrap() {
        PortReply::Refused(why) => assert!(why.contains("too many"), "{why}"),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(reply_to(&u, first).outcome, Outcome::Answered(2));
    // The place is given back with the reply.
    let id = sent(u.call(ask("echo", Ask::answer(5, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(6));
}

#[test]
fn a_port_on_a_runtime_that_shuts_down_is_cancelled_to_the_module() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let host = host();
    host.port_on(rt.handle().clone(), "dying", echo).unwrap();
    let u = user(&host);
    let id = sent(u.call(ask("dying", Ask::answer(1, 5_000), None)).unwrap());
    rt.shutdown_background();
    match reply_to(&u, id).outcome {
        Outcome::Cancelled(why) => assert!(why.contains("shut down"), "{why}"),
        other => panic!("not cancelled: {other:?}"),
    }
}

#[test]
fn a_reply_meant_for_a_crashed_incarnation_never_reaches_its_restart() {
    let host = host();
    let u = user(&host);
    let before = host.dead_letters();
    // A slow request, then the actor exits and is started again in place
    // (same id, as a supervisor restarts it) before the port answers.
    sent(u.call(ask("echo", Ask::answer(1, 300), None)).unwrap());
    let exited = u.monitor();
    host.stop(&u, relive_runtime::ExitReason::Shutdown).unwrap();
    assert!(exited.wait(WAIT).is_some());
    // `()` encodes to no bytes.
    host.respawn(&u.any(), &[], relive_runtime::codec::Fingerprint::of::<()>()).unwrap();
    let deadline = Instant::now() + WAIT;
    while host.port_requests_in_flight() > 0 {
        assert!(Instant::now() < deadline, "the port never answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(replies(&u).is_empty(), "the restarted actor saw its predecessor's reply");
    assert_eq!(host.dead_letters(), before + 1, "the reply is a dead letter");
    // Its own requests are answered as usual.
    let id = sent(u.call(ask("echo", Ask::answer(7, 0), None)).unwrap());
    assert_eq!(reply_to(&u, id).outcome, Outcome::Answered(8));
}
