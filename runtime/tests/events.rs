//! issue 15: the host's event stream with real libraries — every action of
//! the code server and the upgrade protocols as a typed event, in order;
//! the same subscription read blocking and as an async stream; a slow
//! subscriber told what it missed, never slowing the host.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::{Action, EventKind};
use relive_runtime::{ActorRef, Events, Host, Lagged};
use relive_test_support::fixtures;
use std::time::Duration;

type Counter = ActorRef<CounterMsg, CounterReply>;

/// Every event that comes within `quiet` of the previous one.
fn drain(events: &mut Events, quiet: Duration) -> Vec<EventKind> {
    let mut seen = Vec::new();
    while let Some(item) = events.recv_timeout(quiet) {
        seen.push(item.expect("no lag").kind);
    }
    seen
}

/// The next event that matches `want`, within 10 s.
fn wait_for(events: &mut Events, want: impl Fn(&EventKind) -> bool) -> EventKind {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(Ok(e)) = events.recv_timeout(Duration::from_millis(50))
            && want(&e.kind)
        {
            return e.kind;
        }
    }
    panic!("no such event");
}

#[test]
fn every_code_server_action_is_an_event_in_the_order_it_happened() {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    let mut events = host.events();

    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let a: Counter = host.spawn("counter", &1u64).unwrap();
    let b: Counter = host.spawn("counter", &2u64).unwrap();
    let up = code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    let refused = code.upgrade("counter", fixtures().path("incompatible_schema")).unwrap_err();
    code.rollback("counter").unwrap();
    code.purge("counter").unwrap();
    code.mark_bad("counter", up.modules[0].hash).unwrap();

    let seen = drain(&mut events, Duration::from_millis(200));
    let v = |s: &str| semver::Version::parse(s).unwrap();
    let mut it = seen.iter();
    assert!(
        matches!(it.next(), Some(EventKind::Loaded { module, version, .. })
        if module == "counter" && *version == v("1.0.0")),
        "{seen:?}"
    );
    assert!(
        matches!(it.next(), Some(EventKind::Upgraded { module, from, to, hash })
        if module == "counter" && *from == v("1.0.0") && *to == v("2.0.0")
            && *hash == up.modules[0].hash),
        "{seen:?}"
    );
    let Some(EventKind::Migrated { module, to, actors }) = it.next() else { panic!("{seen:?}") };
    assert_eq!((module.as_str(), to.to_string()), ("counter", "2.0.0".into()));
    let mut ids = actors.clone();
    ids.sort();
    assert_eq!(ids, [a.id().get(), b.id().get()]);
    assert!(
        matches!(it.next(), Some(EventKind::Refused { module, action: Action::Upgrade, reason, .. })
        if module == "counter" && *reason == refused.to_string()),
        "{seen:?}"
    );
    assert!(
        matches!(it.next(), Some(EventKind::RolledBack { from, to, .. })
        if *from == v("2.0.0") && *to == v("1.0.0")),
        "{seen:?}"
    );
    assert!(
        matches!(it.next(), Some(EventKind::Purged { version, instances: 0, .. })
        if *version == v("2.0.0")),
        "{seen:?}"
    );
    // The purged version's library goes (or stays resident, saying why)
    // on the unloader thread, around the bad mark.
    let rest: Vec<EventKind> = it.cloned().collect();
    assert!(
        rest.iter()
            .any(|k| matches!(k, EventKind::MarkedBad { hash, .. } if *hash == up.modules[0].hash)),
        "{seen:?}"
    );
    let is_unload =
        |k: &EventKind| matches!(k, EventKind::Unloaded { .. } | EventKind::Resident { .. });
    let unload = match rest.iter().find(|k| is_unload(k)) {
        Some(k) => k.clone(),
        None => wait_for(&mut events, is_unload),
    };
    assert!(
        matches!(&unload, EventKind::Unloaded { module, version } | EventKind::Resident { module, version, .. }
            if module == "counter" && version == "2.0.0"),
        "{unload:?}"
    );
}

#[test]
fn the_same_subscription_is_an_async_stream() {
    let host = Host::builder().workers(2).build().unwrap();
    let mut events = host.events();
    let handle = host.handle();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let got = rt.block_on(async move {
        // Pending first: the load happens while the task awaits.
        let loader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle.code_server().load("counter", fixtures().path("counter_v1")).unwrap();
        });
        let first = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
        loader.join().unwrap();
        first
    });
    let kind = got.expect("in time").expect("not ended").expect("no lag").kind;
    assert!(
        matches!(kind, EventKind::Loaded { ref module, .. } if module == "counter"),
        "{kind:?}"
    );
}

#[test]
fn a_slow_subscriber_is_told_how_many_it_missed_and_never_slows_the_host() {
    let host = Host::builder().workers(2).event_capacity(2).build().unwrap();
    let code = host.code_server();
    let mut slow = host.events();
    let mut seqs = Vec::new();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    code.rollback("counter").unwrap();
    code.purge("counter").unwrap();
    // Four events (loaded, upgraded, rolled back, purged; no actor migrated)
    // and maybe an unload: the reader kept two.
    std::thread::sleep(Duration::from_millis(100));
    let Some(Err(Lagged(missed))) = slow.try_recv() else { panic!("not lagged") };
    assert!(missed >= 2, "{missed}");
    while let Some(Ok(e)) = slow.try_recv() {
        seqs.push(e.seq);
    }
    assert_eq!(seqs.len(), 2, "the two kept");
    assert_eq!(seqs[1], seqs[0] + 1);
    // Then it is in step again.
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert!(matches!(
        wait_for(&mut slow, |_| true),
        EventKind::Upgraded { .. } | EventKind::Unloaded { .. } | EventKind::Resident { .. }
    ));
}

#[test]
fn only_supervisor_kinds_may_be_emitted_from_outside_and_the_stream_ends_with_the_host() {
    let host = Host::new().unwrap();
    let mut events = host.events();
    let fake = EventKind::Loaded {
        module: "x".into(),
        version: semver::Version::new(1, 0, 0),
        hash: relive_runtime::code_server::BuildHash([0; 32]),
    };
    assert!(host.emit_supervisor_event(fake).is_err());
    let crash =
        EventKind::Crashed { supervisor: 1, child: "c".into(), actor: 2, reason: "r".into() };
    host.emit_supervisor_event(crash.clone()).unwrap();
    // Bounded: a stream that never ends fails here instead of hanging CI.
    let wait = std::time::Duration::from_secs(10);
    assert_eq!(events.recv_timeout(wait).unwrap().unwrap().kind, crash);
    drop(host);
    assert!(events.recv_timeout(wait).is_none(), "the stream ends with its host");
    assert!(events.is_closed(), "it ended, not timed out");
}

// issue 16: observer
#[test]
fn a_late_subscriber_replays_what_is_kept_and_the_admin_long_poll_sees_each_event_once() {
    use relive_runtime::admin::protocol::{Command, Output, Response};
    let host = Host::builder().workers(2).event_capacity(3).build().unwrap();
    let code = host.code_server();
    let mut watch = host.events();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    code.rollback("counter").unwrap();
    code.purge("counter").unwrap();
    wait_for(&mut watch, |k| matches!(k, EventKind::Unloaded { .. }));
    // Five events so far (v2's unload the last), three kept: replaying
    // from 1 says two were let go.
    let mut late = host.handle().events_from(1);
    assert_eq!(late.try_recv(), Some(Err(Lagged(2))));
    let kept: Vec<u64> = std::iter::from_fn(|| late.try_recv()).map(|e| e.unwrap().seq).collect();
    assert_eq!(kept, [3, 4, 5]);
    // From the future: after the last one, like `events()`.
    assert!(host.handle().events_from(1000).try_recv().is_none());

    let ask = |after, wait_ms| match host.handle().answer_admin(Command::Events { after, wait_ms })
    {
        Response::Done(Output::Events { events, next, missed }) => (events, next, missed),
        other => panic!("{other:?}"),
    };
    let (events, next, missed) = ask(0, None);
    assert_eq!(missed, 2);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["rolled_back", "purged", "unloaded"]);
    let rolled = (events[0].from.as_deref(), events[0].to.as_deref());
    assert_eq!(rolled, (Some("2.0.0"), Some("1.0.0")));
    assert_eq!(next, 6);
    // Nothing new: an empty answer within the wait, same `next`.
    let started = std::time::Instant::now();
    let (events, again, _) = ask(next, Some(100));
    assert!(events.is_empty() && again == next, "{events:?}");
    assert!(started.elapsed() >= Duration::from_millis(90), "{:?}", started.elapsed());
    // An event during the wait ends it.
    let waiter = {
        let handle = host.handle();
        std::thread::spawn(move || {
            handle.answer_admin(Command::Events { after: 6, wait_ms: Some(5000) })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    let Response::Done(Output::Events { events, next, .. }) = waiter.join().unwrap() else {
        panic!()
    };
    assert_eq!(events[0].seq, 6);
    assert_eq!(events[0].kind, "upgraded");
    assert!(next > 6);
    // An `after` beyond the last event (a client that watched an earlier
    // host on the same socket): the answer's `next` is the end, so the
    // next event is not skipped. It was `after` once, and the event below
    // was never seen.
    let (events, far, _) = ask(1000, None);
    assert!(events.is_empty(), "{events:?}");
    code.rollback("counter").unwrap();
    let (events, _, _) = ask(far, Some(5000));
    assert_eq!(events.first().map(|e| e.kind.as_str()), Some("rolled_back"), "from {far}");
    // An older client's request without the fields: all that is kept.
    let old: Command = serde_json::from_str(r#"{"Events":{}}"#).unwrap();
    assert_eq!(old, Command::Events { after: 0, wait_ms: None });
}
