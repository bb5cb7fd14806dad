//! Live upgrade of actors running real module libraries: atomic, gradual,
//! rollback, purge, aborts — and no message lost or reordered.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::host::{Canary, UpgradeError, UpgradeMode, UpgradeOptions};
use relive_runtime::{ActorRef, Host};
use relive_test_support::fixtures;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

fn host_with_v1(actors: usize) -> (Host, Vec<Counter>) {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let counters = (0..actors).map(|i| host.spawn("counter", &(i as u64 * 100)).unwrap()).collect();
    (host, counters)
}

fn get(c: &Counter) -> CounterReply {
    c.call(CounterMsg::Get).unwrap()
}

#[test]
fn atomic_upgrade_migrates_every_actor_with_its_state() {
    let (host, counters) = host_with_v1(50);
    for c in &counters {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    let report = host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.migrated, 50);
    assert!(report.failed.is_empty());
    assert!(report.longest_pause <= report.duration);
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 2, count: i as u64 * 100 + 1 });
    }
    assert_eq!(host.code_server().old("counter").unwrap().instances(), 0);
}

// issue 19: the migration threads count the new instances a chunk at a
// time (`Ticket`); once the upgrade returns, each version's count is exact.
#[test]
fn an_upgrade_of_many_actors_counts_each_new_instance_once() {
    let n = 64 * 20 + 37;
    let (host, counters) = host_with_v1(n);
    let report = host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.migrated, n);
    assert_eq!(host.code_server().current("counter").unwrap().instances(), n);
    assert_eq!(host.code_server().old("counter").unwrap().instances(), 0);
    drop(counters);
}

#[test]
fn panicking_code_change_aborts_and_restores_every_actor() {
    let (host, counters) = host_with_v1(20);
    for c in &counters {
        c.cast(CounterMsg::Add(5)).unwrap();
    }
    let e = host
        .code_server()
        .upgrade("counter", fixtures().path("panics_in_code_change"))
        .unwrap_err();
    let UpgradeError::MigrationFailed { failed } = &e else { panic!("{e:?}") };
    assert_eq!(failed.len(), 20, "every actor's code_change panicked");
    assert_eq!(failed[0].actor, counters[0].id(), "the report names the actor");
    assert!(failed[0].error.to_string().contains("code_change exploded"), "{}", failed[0].error);
    // Every actor back on v1 with its exact state; the new version is gone.
    let current = host.code_server().current("counter").unwrap();
    assert_eq!(current.version().to_string(), "1.0.0");
    assert!(host.code_server().old("counter").is_none());
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 1, count: i as u64 * 100 + 5 });
    }
    let refused =
        host.code_server().history(Some("counter")).last().unwrap().refused.clone().unwrap();
    assert!(refused.contains("failed to migrate"), "{refused}");
}

#[test]
fn an_actor_stuck_in_a_long_handler_times_the_upgrade_out_cleanly() {
    let (host, counters) = host_with_v1(3);
    counters[1].cast(CounterMsg::Sleep(1500)).unwrap();
    counters[1].cast(CounterMsg::Add(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let opts = UpgradeOptions::new().suspend_timeout(Duration::from_millis(200));
    let e = host
        .code_server()
        .upgrade_with("counter", fixtures().path("counter_v2"), opts)
        .unwrap_err();
    assert!(
        matches!(&e, UpgradeError::SuspendTimeout { actor, .. } if *actor == counters[1].id()),
        "{e:?}"
    );
    assert!(host.code_server().old("counter").is_none(), "nothing committed");
    assert_eq!(get(&counters[1]), CounterReply { logic: 1, count: 101 }, "queued mail handled");
    assert_eq!(get(&counters[0]).logic, 1);
}

#[test]
fn an_incompatible_message_schema_is_refused_before_anything_changes() {
    let (host, counters) = host_with_v1(2);
    let e =
        host.code_server().upgrade("counter", fixtures().path("incompatible_schema")).unwrap_err();
    assert!(matches!(e, UpgradeError::Refused(_)), "{e:?}");
    assert_eq!(get(&counters[0]).logic, 1);
}

#[test]
fn gradual_canary_then_promote() {
    let (host, counters) = host_with_v1(20);
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Percent(10)));
    let report =
        host.code_server().upgrade_with("counter", fixtures().path("counter_v2"), opts).unwrap();
    assert_eq!((report.migrated, report.remaining), (2, 18));
    let canaries = host.code_server().canaries("counter").unwrap();
    // Both versions answer during the canary phase.
    let logics: Vec<u32> = counters.iter().map(|c| get(c).logic).collect();
    assert_eq!(logics.iter().filter(|l| **l == 2).count(), 2);
    assert_eq!(logics.iter().filter(|l| **l == 1).count(), 18);
    for c in &counters {
        assert_eq!(get(c).logic == 2, canaries.contains(&c.id()));
    }
    let promoted = host.code_server().promote("counter").unwrap();
    assert_eq!(promoted.migrated, 18);
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 2, count: i as u64 * 100 });
    }
}

#[test]
fn gradual_canary_then_abort() {
    let (host, counters) = host_with_v1(10);
    counters[0].cast(CounterMsg::Add(7)).unwrap();
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(3)));
    host.code_server().upgrade_with("counter", fixtures().path("counter_v2"), opts).unwrap();
    counters[0].cast(CounterMsg::Add(1)).unwrap();
    assert_eq!(get(&counters[0]), CounterReply { logic: 2, count: 8 });
    let report = host.code_server().abort("counter").unwrap();
    assert_eq!(report.migrated, 3, "the canaries went back through downgrade");
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
    assert!(host.code_server().old("counter").is_none(), "the new version was unloaded");
    assert_eq!(get(&counters[0]), CounterReply { logic: 1, count: 8 }, "state kept both ways");
    assert!(host.code_server().promote("counter").is_err(), "nothing left to promote");
}

/// A version whose state v1 cannot read and which has no `downgrade`:
/// rolling back from it can only restore the upgrade snapshot.
mod no_downgrade {
    use counter_api::{CounterMsg, CounterReply, CounterV1};
    use relive_sdk::{Context, Fingerprint, Module, ModuleError, OldState};
    use serde::{Deserialize, Serialize};

    /// A count and a tag v1 knows nothing of.
    #[derive(Debug, Serialize, Deserialize, postcard_schema::Schema)]
    pub(crate) struct Counter {
        count: u64,
        tag: u32,
    }

    impl Module for Counter {
        const NAME: &'static str = "counter";
        type Args = u64;
        type Msg = CounterMsg;
        type Reply = CounterReply;
        const READS: &'static [Fingerprint] = &[Fingerprint::of::<CounterV1>()];

        fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Counter { count: start, tag: 0 })
        }

        fn handle(&mut self, msg: CounterMsg, _: &mut Context<'_>) -> CounterReply {
            counter_api::v1_handle(&mut self.count, msg, 25)
        }

        fn code_change(old: OldState<'_>, _: &[u8]) -> Result<Self, ModuleError> {
            let v1: CounterV1 = old.decode()?;
            Ok(Counter { count: v1.count, tag: 1 })
        }
    }
}

#[test]
fn rollback_through_downgrade_through_an_equal_schema_and_through_the_snapshot() {
    let (host, counters) = host_with_v1(4);
    counters[0].cast(CounterMsg::Add(1)).unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    counters[0].cast(CounterMsg::Add(1)).unwrap();
    let back = host.code_server().rollback("counter").unwrap();
    assert_eq!((back.migrated, back.restored_from_snapshot), (4, 0));
    assert_eq!(get(&counters[0]), CounterReply { logic: 1, count: 2 }, "downgrade kept all");
    host.code_server().purge("counter").unwrap();

    // The v1 hotfix build has no downgrade, but v1 reads its state (the same
    // schema): the rollback migrates and keeps everything.
    let forced = UpgradeOptions::new().force(true);
    host.code_server()
        .upgrade_with("counter", fixtures().path("counter_v1_hotfix"), forced)
        .unwrap();
    counters[0].cast(CounterMsg::Add(10)).unwrap();
    assert_eq!(get(&counters[0]), CounterReply { logic: 101, count: 12 });
    let back = host.code_server().rollback("counter").unwrap();
    assert_eq!((back.migrated, back.restored_from_snapshot), (4, 0));
    assert_eq!(get(&counters[0]), CounterReply { logic: 1, count: 12 });
    host.code_server().purge("counter").unwrap();

    // A version v1 cannot read, without downgrade: the snapshot taken at
    // upgrade time brings the actors back, losing what came after.
    let decl = relive_sdk::declaration!(no_downgrade::Counter, version = "2.5.0");
    host.code_server().upgrade("counter", decl).unwrap();
    counters[0].cast(CounterMsg::Add(100)).unwrap();
    assert_eq!(get(&counters[0]), CounterReply { logic: 25, count: 112 });
    let back = host.code_server().rollback("counter").unwrap();
    assert_eq!((back.migrated, back.restored_from_snapshot), (0, 4));
    assert_eq!(get(&counters[0]), CounterReply { logic: 1, count: 12 });
}

// issue 19: an upgrade of many actors reads the clock once per group of
// actors and keeps the snapshots as bytes under one tag per version.
#[test]
fn an_upgrade_of_many_actors_keeps_each_snapshot_and_a_true_pause() {
    // More actors than one group of clock readings (256) and than one
    // migration chunk (64), so groups, chunks and both threads all play.
    let n = 700;
    let (host, counters) = host_with_v1(n);
    for c in &counters {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    // A cast still queued when the upgrade suspends the actor is handled
    // after it, on the new version, and so is not in the snapshot: wait
    // until each actor has handled its cast (a call from the same sender
    // comes after it) so the snapshots below are known.
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 1, count: i as u64 * 100 + 1 });
    }
    let decl = relive_sdk::declaration!(no_downgrade::Counter, version = "2.5.0");
    let report = host.code_server().upgrade("counter", decl).unwrap();
    assert_eq!(report.migrated, n);
    assert!(report.longest_pause > Duration::ZERO);
    assert!(report.longest_pause <= report.duration);
    for (i, c) in counters.iter().enumerate() {
        c.cast(CounterMsg::Add(1000)).unwrap();
        assert_eq!(get(c), CounterReply { logic: 25, count: i as u64 * 100 + 1001 });
    }
    // Back through the snapshots: each actor gets its own state as it was
    // at the upgrade (what it did after is lost, as documented).
    let back = host.code_server().rollback("counter").unwrap();
    assert_eq!((back.migrated, back.restored_from_snapshot), (0, n));
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 1, count: i as u64 * 100 + 1 });
    }
}

// issue 19: the failed migration of many actors (several chunks, both
// migration threads) still restores every one.
#[test]
fn a_failed_migration_of_many_actors_restores_every_one() {
    let n = 700;
    let (host, counters) = host_with_v1(n);
    for c in &counters {
        c.cast(CounterMsg::Add(5)).unwrap();
    }
    let e = host
        .code_server()
        .upgrade("counter", fixtures().path("panics_in_code_change"))
        .unwrap_err();
    let UpgradeError::MigrationFailed { failed } = &e else { panic!("{e:?}") };
    assert_eq!(failed.len(), n, "every actor's code_change panicked");
    assert!(failed.windows(2).all(|w| w[0].actor < w[1].actor), "in id order");
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 1, count: i as u64 * 100 + 5 });
    }
    assert_eq!(host.code_server().current("counter").unwrap().instances(), n);
}

#[test]
fn purge_stops_actors_still_on_old() {
    let (host, counters) = host_with_v1(3);
    let opts = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Count(1)));
    host.code_server().upgrade_with("counter", fixtures().path("counter_v2"), opts).unwrap();
    let downs: Vec<_> = counters.iter().map(|c| c.monitor()).collect();
    host.code_server().purge("counter").unwrap();
    assert!(host.code_server().old("counter").is_none());
    assert!(!counters[0].is_exited(), "the canary runs current");
    for d in downs.into_iter().skip(1) {
        assert_eq!(d.wait(Duration::from_secs(5)), Some(relive_runtime::ExitReason::Killed));
    }
}

/// The test the issue names: 1,000 upgrades, alternating v1 and v2, under
/// continuous traffic from several threads; every message counted and the
/// order per sender checked.
#[test]
fn no_message_lost_or_reordered_per_sender_across_1000_upgrades() {
    const UPGRADES: usize = 1000;
    const SENDERS: usize = 4;
    let (host, counters) = host_with_v1(SENDERS * 2);
    for c in &counters {
        c.call(CounterMsg::Add(0)).unwrap();
    }
    let start_counts: Vec<u64> = counters.iter().map(|c| get(c).count).collect();
    let stop = AtomicBool::new(false);
    let v2 = fixtures().path("counter_v2");
    std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                let (counters, stop, start_counts) = (&counters, &stop, &start_counts);
                s.spawn(move || {
                    // Each sender owns two actors: it alone changes their counts,
                    // so every reply must be exactly one more than the last.
                    let mine = [2 * t, 2 * t + 1];
                    let mut expect = [start_counts[mine[0]], start_counts[mine[1]]];
                    let mut sent = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for (k, &a) in mine.iter().enumerate() {
                            for _ in 0..3 {
                                counters[a].cast(CounterMsg::Add(1)).unwrap();
                            }
                            let r = counters[a].call(CounterMsg::Add(1)).unwrap();
                            expect[k] += 4;
                            sent += 4;
                            assert_eq!(r.count, expect[k], "lost, duplicated or reordered mail");
                        }
                    }
                    sent
                })
            })
            .collect();
        // A failed assertion below must stop the senders too: the scope
        // waits for them before it passes the panic on.
        let stopping = StopOnDrop(&stop);
        for i in 0..UPGRADES {
            if i % 2 == 0 {
                let r = host.code_server().upgrade("counter", v2).unwrap();
                assert_eq!(r.migrated, SENDERS * 2);
            } else {
                let r = host.code_server().rollback("counter").unwrap();
                // An actor still in a handler after the rollback's short wait
                // moves at its next boundary (documented); until it has, v2
                // is still running and loading it again would be refused as
                // not purged — as OTP's would.
                assert_eq!(r.migrated + r.deferred, SENDERS * 2);
                if r.deferred > 0 {
                    wait_until_old_is_idle(&host, "counter");
                }
            }
        }
        drop(stopping);
        let sent: u64 = senders.into_iter().map(|h| h.join().unwrap()).sum();
        let now: u64 = counters.iter().map(|c| get(c).count).sum();
        let before: u64 = start_counts.iter().sum();
        assert_eq!(now - before, sent, "every message counted");
        println!("{UPGRADES} upgrades under traffic: {sent} messages, none lost");
    });
    assert_eq!(host.dead_letters(), 0);
}

/// Sets its flag when dropped, panicking or not.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Wait (at most 10 s) until no actor runs `module`'s old version.
fn wait_until_old_is_idle(host: &Host, module: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.code_server().old(module).is_some_and(|v| v.instances() > 0) {
        assert!(Instant::now() < deadline, "a deferred move never happened");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn many_actors_migrate_in_parallel_and_abort_cleanly() {
    // Enough actors for the migration to run on every core.
    let (host, counters) = host_with_v1(1000);
    let e = host
        .code_server()
        .upgrade("counter", fixtures().path("panics_in_code_change"))
        .unwrap_err();
    let UpgradeError::MigrationFailed { failed } = &e else { panic!("{e:?}") };
    assert_eq!(failed.len(), 1000);
    for (i, c) in counters.iter().enumerate().step_by(97) {
        assert_eq!(get(c), CounterReply { logic: 1, count: i as u64 * 100 }, "restored exactly");
    }
    let report = host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.migrated, 1000);
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 2, count: i as u64 * 100 });
    }
}

/// Found by the chaos soak: v3 keeps v2's state shape, so v2 → v3 is a
/// schema-equal migration, but v3's `downgrade` only writes v1's state. The
/// rollback v3 → v2 used to fall back to the upgrade snapshot and lose every
/// message handled since; the older version can read the state as it is.
#[test]
fn soak_rollback_between_equal_state_schemas_keeps_every_message() {
    let (host, counters) = host_with_v1(3);
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    host.code_server().purge("counter").unwrap();
    for c in &counters {
        c.call(CounterMsg::Add(1)).unwrap();
    }
    host.code_server().upgrade("counter", fixtures().path("counter_v3_crashy")).unwrap();
    for c in &counters {
        c.call(CounterMsg::Add(2)).unwrap(); // handled by v3, after the snapshot
    }
    let back = host.code_server().rollback("counter").unwrap();
    assert_eq!((back.migrated, back.restored_from_snapshot), (3, 0));
    for (i, c) in counters.iter().enumerate() {
        assert_eq!(get(c), CounterReply { logic: 2, count: i as u64 * 100 + 3 });
    }
}
