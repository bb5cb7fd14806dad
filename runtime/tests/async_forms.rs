//! The async forms (issue 20): `call_async` / `call_async_timeout` and the
//! code server's `*_async` operations, awaited on a tokio *current_thread*
//! runtime, where one blocked poll would stop every other task. A ticker
//! task proves the executor kept running.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorRef, CallError, Canary, Host, UpgradeMode, UpgradeOptions};
use relive_test_support::fixtures;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// A task that ticks every millisecond, and its tick count.
fn ticker() -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let ticks = Arc::new(AtomicU64::new(0));
    let t = Arc::clone(&ticks);
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            t.fetch_add(1, Ordering::Relaxed);
        }
    });
    (ticks, task)
}

fn host_on_v1() -> Host {
    let host = Host::new().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host
}

#[test]
fn an_awaited_upgrade_of_a_slow_code_change_leaves_the_executor_ticking() {
    let host = host_on_v1();
    let c: Counter = host.spawn("counter", &7u64).unwrap();
    c.call(CounterMsg::Add(3)).unwrap();
    let code = host.code_server();
    current_thread().block_on(async {
        let (ticks, task) = ticker();
        tokio::task::yield_now().await;
        let before = ticks.load(Ordering::Relaxed);
        let slow = UpgradeOptions::new().extra(300u64.to_le_bytes().to_vec());
        let started = Instant::now();
        let report = code
            .upgrade_with_async("counter", fixtures().path("slow_code_change"), slow)
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "code_change slept");
        assert_eq!(report.migrated, 1);
        let during = ticks.load(Ordering::Relaxed) - before;
        assert!(during >= 20, "the executor ticked only {during} times during a 300 ms upgrade");
        task.abort();
        // The state was kept, and the new version answers.
        let reply = c.call_async(CounterMsg::Get).await.unwrap();
        assert_eq!(reply, CounterReply { logic: 22, count: 10 });
    });
}

#[test]
fn an_awaited_call_to_a_busy_actor_times_out_without_blocking_the_executor() {
    let host = host_on_v1();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    c.cast(CounterMsg::Sleep(600)).unwrap();
    current_thread().block_on(async {
        let (ticks, task) = ticker();
        tokio::task::yield_now().await;
        let before = ticks.load(Ordering::Relaxed);
        let started = Instant::now();
        let r = c.call_async_timeout(CounterMsg::Get, Duration::from_millis(100)).await;
        let waited = started.elapsed();
        assert_eq!(r, Err(CallError::Timeout));
        assert!(waited >= Duration::from_millis(100), "timed out early, after {waited:?}");
        assert!(waited < Duration::from_millis(500), "the timeout was not kept: {waited:?}");
        let during = ticks.load(Ordering::Relaxed) - before;
        assert!(during >= 10, "the executor ticked only {during} times during the call");
        task.abort();
        // The late reply was dropped; the next call is answered as usual.
        let reply = c.call_async_timeout(CounterMsg::Get, Duration::from_secs(5)).await.unwrap();
        assert_eq!(reply.count, 0);
    });
}

#[test]
fn call_async_has_the_default_call_timeout_and_answers() {
    let host = host_on_v1();
    let c: Counter = host.spawn("counter", &5u64).unwrap();
    current_thread().block_on(async {
        assert_eq!(c.call_async(CounterMsg::Add(1)).await.unwrap().count, 6);
    });
    // The default is `call`'s: a handler busier than it times the call out.
    assert_eq!(relive_runtime::actor::DEFAULT_CALL_TIMEOUT, Duration::from_secs(5));
}

#[test]
fn an_awaited_call_to_an_exited_actor_hands_the_message_back() {
    let host = host_on_v1();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    host.handle().stop(&c, relive_runtime::ExitReason::Normal).unwrap();
    let r = current_thread().block_on(c.call_async(CounterMsg::Add(9)));
    match r {
        Err(CallError::NotDelivered(e)) => assert_eq!(e.into_inner(), CounterMsg::Add(9)),
        Err(CallError::Exited(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn promote_abort_and_rollback_are_awaitable() {
    let host = host_on_v1();
    let actors: Vec<Counter> = (0..4u64).map(|i| host.spawn("counter", &i).unwrap()).collect();
    let code = host.code_server();
    let gradual = || UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1)));
    current_thread().block_on(async {
        // Gradual, then abort: everyone back on v1.
        code.upgrade_with_async("counter", fixtures().path("counter_v2"), gradual()).await.unwrap();
        let aborted = code.abort_async("counter").await.unwrap();
        assert_eq!(aborted.migrated, 1, "the one canary went back");
        for a in &actors {
            assert_eq!(a.call_async(CounterMsg::Get).await.unwrap().logic, 1);
        }
        // Gradual, then promote: everyone on v2.
        code.upgrade_with_async("counter", fixtures().path("counter_v2"), gradual()).await.unwrap();
        let promoted = code.promote_async("counter").await.unwrap();
        assert_eq!(promoted.migrated, 3, "the three others followed the canary");
        for a in &actors {
            assert_eq!(a.call_async(CounterMsg::Get).await.unwrap().logic, 2);
        }
        // Rollback: back to v1, counts kept.
        let back = code.rollback_async("counter").await.unwrap();
        assert_eq!(back.migrated, 4);
        for (i, a) in actors.iter().enumerate() {
            let r = a.call_async(CounterMsg::Get).await.unwrap();
            assert_eq!(r, CounterReply { logic: 1, count: i as u64 });
        }
        // A refusal is the blocking form's typed error.
        assert!(code.promote_async("counter").await.is_err(), "no gradual upgrade to promote");
        assert!(code.upgrade_async("nonesuch", "/nonexistent.so").await.is_err());
    });
}

#[test]
fn an_awaited_call_to_a_mailbox_full_until_the_deadline_hands_the_message_back() {
    let host = host_on_v1();
    let opts = relive_runtime::SpawnOptions::new().capacity(1);
    let c: Counter = host.spawn_with("counter", &0u64, opts).unwrap();
    c.cast(CounterMsg::Sleep(600)).unwrap();
    // Wait until the sleep is running, then fill the one slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.mailbox_len() > 0 {
        assert!(Instant::now() < deadline, "the sleep never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    c.try_cast(CounterMsg::Add(1)).unwrap();
    current_thread().block_on(async {
        let (ticks, task) = ticker();
        tokio::task::yield_now().await;
        let before = ticks.load(Ordering::Relaxed);
        let started = Instant::now();
        let r = c.call_async_timeout(CounterMsg::Add(5), Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        match r {
            Err(CallError::NotDelivered(e)) => assert_eq!(e.into_inner(), CounterMsg::Add(5)),
            other => panic!("expected the message back, got {other:?}"),
        }
        assert!(ticks.load(Ordering::Relaxed) - before >= 10, "the executor was blocked");
        task.abort();
    });
    // Not delivered means not handled: only the queued add counted.
    assert_eq!(c.call(CounterMsg::Get).unwrap().count, 1);
}
