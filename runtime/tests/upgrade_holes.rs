//! The holes found from outside in upgrades and stops (issue 12): spawns that
//! raced an atomic upgrade, loads that left actors behind, untyped references
//! given the wrong types, migrations and handlers that never end.

use counter_api::{CounterMsg, CounterReply};
use postcard_schema::Schema;
use relive_runtime::{
    ActorRef, CallError, ExitReason, Host, MigrateError, UpgradeError, UpgradeOptions,
};
use relive_test_support::fixtures;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

use relay::RelayMsg;

fn host_on(module: &str) -> Host {
    let host = Host::new().unwrap();
    host.code_server().upgrade("counter", fixtures().path(module)).unwrap();
    host
}

/// Instances still running the module's `old` version.
fn left_on_old(host: &Host) -> usize {
    host.code_server().which("counter").unwrap().old.map_or(0, |o| o.instances)
}

// 1. Atomic upgrade vs concurrent spawns.

#[test]
fn spawns_racing_atomic_upgrades_all_end_on_the_current_version() {
    let host = host_on("counter_v1");
    host.code_server().load("relay", fixtures().path("relay")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut spawners = Vec::new();
    for t in 0..4u64 {
        let (h, stop) = (host.handle(), Arc::clone(&stop));
        spawners.push(std::thread::spawn(move || {
            // Spawn without pause, keeping the last few alive.
            let mut live = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                let c: Counter = h.spawn("counter", &t).unwrap();
                let _ = c.cast(CounterMsg::Add(1));
                live.push_back(c);
                if live.len() > 8 {
                    let _ = h.stop(&live.pop_front().unwrap(), ExitReason::Normal);
                }
            }
        }));
    }
    // Spawns from inside a handler (`ctx.spawn`) too.
    let relay: ActorRef<RelayMsg, Result<u64, String>> = host.spawn("relay", &()).unwrap();
    {
        let (relay, stop) = (relay.clone(), Arc::clone(&stop));
        spawners.push(std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                let _ = relay.cast(RelayMsg::SpawnCounter { start: 7 });
                n += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        }));
    }
    let builds = ["counter_v1_hotfix", "counter_v1"];
    let force = UpgradeOptions::new().force(true);
    for i in 0..200 {
        let path = fixtures().path(builds[i % 2]);
        host.code_server()
            .upgrade_with("counter", path, force.clone())
            .unwrap_or_else(|e| panic!("upgrade {i}: {e}"));
        assert_eq!(
            left_on_old(&host),
            0,
            "after upgrade {i}, an actor was left on the old version"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for s in spawners {
        s.join().unwrap();
    }
    assert_eq!(left_on_old(&host), 0);
}

// 2. Loading without migrating.

#[test]
fn an_upgrade_to_the_build_already_current_migrates_the_actors_left_on_old() {
    let host = host_on("counter_v1");
    let code = host.code_server();
    let actors: Vec<Counter> = (0..5u64).map(|i| host.spawn("counter", &i).unwrap()).collect();
    code.load("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(left_on_old(&host), 5, "a load touches no actor");
    let report = code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.migrated, 5);
    assert_eq!(left_on_old(&host), 0);
    for (i, a) in actors.iter().enumerate() {
        assert_eq!(a.call(CounterMsg::Get).unwrap(), CounterReply { logic: 2, count: i as u64 });
    }
    // The next upgrade is not refused as not purged.
    code.upgrade("counter", fixtures().path("slow_code_change")).unwrap();
}

#[test]
fn migrate_moves_the_actors_left_on_old_and_loads_nothing() {
    let host = host_on("counter_v1");
    let code = host.code_server();
    let a: Counter = host.spawn("counter", &3u64).unwrap();
    code.load("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(a.call(CounterMsg::Get).unwrap().logic, 1);
    let report = code.migrate("counter").unwrap();
    assert!(report.modules.is_empty(), "nothing loaded");
    assert_eq!(report.migrated, 1);
    assert_eq!(a.call(CounterMsg::Get).unwrap(), CounterReply { logic: 2, count: 3 });
    assert_eq!(code.migrate("counter").unwrap().migrated, 0, "nothing left to move");
}

// 3. Type confusion.

/// Another interface whose first variant encodes exactly as `CounterMsg::Add`.
#[derive(Debug, Serialize, Deserialize, Schema)]
enum Admin {
    Credit(u64),
}

#[test]
fn an_untyped_reference_refuses_types_that_are_not_the_actors() {
    let host = host_on("counter_v1");
    let c: Counter = host
        .spawn_with("counter", &0u64, relive_runtime::SpawnOptions::new().name("acct"))
        .unwrap();
    let any = c.any();
    assert!(any.typed::<Admin, CounterReply>().is_err(), "Credit would be handled as Add");
    assert!(host.whereis::<Admin, CounterReply>("acct").is_err());
    assert!(host.actor_ref::<CounterMsg, u32>(c.id()).is_err(), "the reply type is checked too");
    let ok = any.typed::<CounterMsg, CounterReply>().unwrap();
    assert_eq!(ok.call(CounterMsg::Get).unwrap().count, 0, "nothing was credited");
}

// 4. Migrations that take too long.

fn extra_ms(ms: u64) -> Vec<u8> {
    ms.to_le_bytes().to_vec()
}

#[test]
fn a_code_change_past_the_migration_deadline_aborts_and_restores_every_actor() {
    let host = host_on("counter_v1");
    let code = host.code_server();
    let actors: Vec<Counter> =
        (0..3u64).map(|i| host.spawn("counter", &(10 + i)).unwrap()).collect();
    for (ms, what) in [(10_000, "slow"), (3_600_000, "never returning")] {
        let opts =
            UpgradeOptions::new().extra(extra_ms(ms)).migrate_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let e =
            code.upgrade_with("counter", fixtures().path("slow_code_change"), opts).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{what}: bounded by the deadline");
        match e {
            UpgradeError::MigrationFailed { failed } => {
                assert_eq!(failed.len(), 3, "{what}");
                assert!(failed.iter().all(|f| matches!(f.error, MigrateError::Deadline(_))));
            }
            other => panic!("{what}: {other}"),
        }
        for (i, a) in actors.iter().enumerate() {
            let r = a.call(CounterMsg::Get).unwrap();
            assert_eq!(r, CounterReply { logic: 1, count: 10 + i as u64 }, "{what}: restored");
        }
        assert_eq!(code.current("counter").unwrap().version().to_string(), "1.0.0");
    }
    // Nothing is stuck: a good upgrade goes through.
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(actors[0].call(CounterMsg::Get).unwrap().logic, 2);
}

// 5. Handlers that never return.

fn stuck_host() -> Host {
    let host = Host::builder()
        .workers(2)
        .inline_calls(false)
        .kill_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host
}

/// Wait until `a`'s handler is running (its mailbox emptied into a turn).
fn until_busy(a: &Counter) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.mailbox_len() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn a_kill_overrun_by_a_handler_is_bounded_and_the_worker_is_replaced() {
    let host = stuck_host();
    let stuck: Counter = host.spawn("counter", &0u64).unwrap();
    let watched = stuck.monitor();
    stuck.cast(CounterMsg::Sleep(3_600_000)).unwrap();
    until_busy(&stuck);
    let queued = {
        let s = stuck.clone();
        std::thread::spawn(move || s.call_timeout(CounterMsg::Get, Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(
        host.terminate(&stuck.any(), ExitReason::Killed),
        Ok(false),
        "killed with its handler running"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(stuck.is_exited());
    assert_eq!(watched.wait(Duration::from_secs(1)), Some(ExitReason::Killed));
    assert_eq!(queued.join().unwrap().unwrap_err(), CallError::Exited(ExitReason::Killed));
    assert!(
        host.actor_ref::<CounterMsg, CounterReply>(stuck.id()).unwrap().is_none(),
        "left the registry"
    );
    // N runnable workers: two actors busy for a while still leave nobody waiting.
    assert_eq!(host.workers(), 2);
    let others: Vec<Counter> = (0..4u64).map(|i| host.spawn("counter", &i).unwrap()).collect();
    for (i, o) in others.iter().enumerate() {
        assert_eq!(o.call(CounterMsg::Add(1)).unwrap().count, i as u64 + 1);
    }
    // Purge and shutdown are bounded by it too.
    let on_old: Counter = host.spawn("counter", &0u64).unwrap();
    on_old.cast(CounterMsg::Sleep(3_600_000)).unwrap();
    until_busy(&on_old);
    host.code_server().load("counter", fixtures().path("counter_v2")).unwrap();
    let started = Instant::now();
    let report = host.code_server().purge("counter").unwrap();
    assert_eq!(report.killed, 4 + 1, "every actor on v1, the stuck one included");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let last: Counter = host.spawn("counter", &0u64).unwrap();
    last.cast(CounterMsg::Sleep(3_600_000)).unwrap();
    until_busy(&last);
    let started = Instant::now();
    drop(host);
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown: {:?}", started.elapsed());
}

#[test]
fn a_rollback_does_not_wait_for_a_busy_actor_it_moves_back_at_its_next_boundary() {
    let host = stuck_host();
    let code = host.code_server();
    let actors: Vec<Counter> = (0..3u64).map(|i| host.spawn("counter", &i).unwrap()).collect();
    code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    actors[0].cast(CounterMsg::Sleep(1_500)).unwrap();
    until_busy(&actors[0]);
    let started = Instant::now();
    let report = code.rollback("counter").unwrap();
    assert!(started.elapsed() < Duration::from_millis(800), "{:?}", started.elapsed());
    assert_eq!((report.migrated, report.deferred), (2, 1));
    assert_eq!(actors[1].call(CounterMsg::Get).unwrap().logic, 1);
    // Once its handler returns, the busy one moves back before its next message.
    let r = actors[0].call_timeout(CounterMsg::Get, Duration::from_secs(5)).unwrap();
    assert_eq!(r, CounterReply { logic: 1, count: 0 });
    assert_eq!(left_on_old(&host), 0);
}
