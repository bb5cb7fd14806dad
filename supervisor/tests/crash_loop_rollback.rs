//! Crash-loop rollback end to end with real cdylibs: v1 → v3 (crashes on
//! some messages) → the supervisor rolls back to v1 with state kept, and v3
//! is refused afterwards unless forced.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::LoadError;
use relive_runtime::host::UpgradeError;
use relive_runtime::{ActorRef, ExitReason, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn tree(host: &Host) -> (Supervisor, Vec<Counter>) {
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let children = [("a", 10u64), ("b", 20), ("c", 30)]
        .map(|(id, start)| {
            Child::new(ChildSpec::worker(id, &["counter"]), ChildStart::module("counter", &start))
        })
        .to_vec();
    // OTP's default intensity (1 restart in 5 s) and the default probation.
    let sup = Supervisor::start(host, Flags::default(), children).unwrap();
    let refs = ["a", "b", "c"].map(|id| sup.child(id).unwrap().typed().expect("types")).to_vec();
    (sup, refs)
}

#[test]
fn crash_loop_after_an_upgrade_rolls_back_with_state_kept() {
    let host = Host::builder().workers(2).build().unwrap();
    let (sup, refs) = tree(&host);
    for r in &refs {
        r.call(CounterMsg::Add(1)).unwrap();
    }
    let up = host.code_server().upgrade("counter", fixtures().path("counter_v3_crashy")).unwrap();
    assert_eq!(up.migrated, 3);
    let v3_hash = up.modules[0].hash;
    assert_eq!(refs[1].call(CounterMsg::Get).unwrap(), CounterReply { logic: 3, count: 21 });

    // v3 crashes on Add(7): three crashes of `a` within the probation window.
    // The first two are restarts (not escalation, though the intensity is 1
    // in 5 s); the third rolls the module back.
    for k in 0..3 {
        let _ = refs[0].call(CounterMsg::Add(7));
        eventually(&format!("a back after crash {k}"), || refs[0].call(CounterMsg::Get).is_ok());
    }
    assert!(!sup.actor().is_exited(), "the tree did not go down");
    let reports = sup.rollbacks();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        (reports[0].rollback.from.to_string(), reports[0].rollback.to.to_string()),
        ("3.0.0".into(), "1.0.0".into())
    );
    assert_eq!(reports[0].crashes, 3);
    assert_eq!(reports[0].rollback.migrated, 2, "b and c went back through downgrade");

    // Everyone runs v1 again; b and c kept their state, a restarted fresh.
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
    assert_eq!(refs[0].call(CounterMsg::Get).unwrap(), CounterReply { logic: 1, count: 10 });
    assert_eq!(refs[1].call(CounterMsg::Get).unwrap(), CounterReply { logic: 1, count: 21 });
    assert_eq!(refs[2].call(CounterMsg::Get).unwrap(), CounterReply { logic: 1, count: 31 });
    assert!(refs[0].call(CounterMsg::Add(7)).is_ok(), "v1 has no such bug");

    // The crash-looping build is refused from now on, unless forced.
    assert!(host.code_server().is_bad(&v3_hash));
    let e =
        host.code_server().upgrade("counter", fixtures().path("counter_v3_crashy")).unwrap_err();
    assert!(matches!(e, UpgradeError::Refused(LoadError::BadBuild { .. })), "{e:?}");
    let forced = relive_runtime::host::UpgradeOptions::new().force(true);
    host.code_server()
        .upgrade_with("counter", fixtures().path("counter_v3_crashy"), forced)
        .unwrap();
}

#[test]
fn a_build_rolled_back_by_a_crash_loop_stays_refused_after_a_host_restart() {
    let scratch = relive_test_support::scratch_dir();
    let state = scratch.path().join("state");
    let start = || Host::builder().workers(2).state_dir(&state).build().unwrap();
    let v3 = fixtures().path("counter_v3_crashy");
    let v3_hash = {
        let host = start();
        let (sup, refs) = tree(&host);
        let v3_hash = host.code_server().upgrade("counter", v3).unwrap().modules[0].hash;
        for k in 0..3 {
            let _ = refs[0].call(CounterMsg::Add(7));
            eventually(&format!("a back after crash {k}"), || {
                refs[0].call(CounterMsg::Get).is_ok()
            });
        }
        assert_eq!(sup.rollbacks().len(), 1);
        v3_hash
    };

    // A new host on the same state dir: v3 is still refused.
    let host = start();
    let (_sup, _refs) = tree(&host);
    assert!(host.code_server().is_bad(&v3_hash));
    let e = host.code_server().upgrade("counter", v3).unwrap_err();
    assert!(matches!(e, UpgradeError::Refused(LoadError::BadBuild { .. })), "{e:?}");
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
}

#[test]
fn a_crash_loop_with_no_recent_upgrade_escalates_exactly_as_otp() {
    let host = Host::builder().workers(2).build().unwrap();
    let (sup, refs) = tree(&host);
    let down = sup.actor().monitor();
    let _ = refs[0].call(CounterMsg::Panic("one".into()));
    eventually("a back", || refs[0].call(CounterMsg::Get).is_ok());
    let _ = refs[0].call(CounterMsg::Panic("two".into()));
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert!(sup.rollbacks().is_empty());
    eventually("children stopped", || refs.iter().all(|r| r.is_exited()));
}

#[test]
fn the_version_rolled_back_to_is_not_on_probation() {
    let host = Host::builder().workers(2).build().unwrap();
    let (sup, refs) = tree(&host);
    host.code_server().upgrade("counter", fixtures().path("counter_v2")).unwrap();
    host.code_server().rollback("counter").unwrap();
    // v1 is current again with v2 as old; crashes now are ordinary crashes:
    // with OTP's intensity the second one escalates, and nothing rolls back
    // to v2.
    let down = sup.actor().monitor();
    let _ = refs[0].call(CounterMsg::Panic("one".into()));
    eventually("a back", || refs[0].call(CounterMsg::Get).is_ok());
    let _ = refs[0].call(CounterMsg::Panic("two".into()));
    assert_eq!(down.wait(Duration::from_secs(5)), Some(ExitReason::Shutdown));
    assert!(sup.rollbacks().is_empty());
    assert_eq!(host.code_server().current("counter").unwrap().version().to_string(), "1.0.0");
}

/// A new build whose `init` fails: children that crash cannot restart on it;
/// each failed restart counts as a crash on probation, and the build is
/// rolled back instead of the tree going down (the restart retries of
/// supervisor_SUITE's hanging_restart_loop, with relive's probation).
#[test]
fn a_build_whose_init_fails_after_an_upgrade_is_rolled_back() {
    let host = Host::builder().workers(2).build().unwrap();
    let (sup, refs) = tree(&host);
    refs[1].call(CounterMsg::Add(1)).unwrap();
    host.code_server().upgrade("counter", fixtures().path("panics_in_init")).unwrap();
    assert_eq!(refs[1].call(CounterMsg::Get).unwrap(), CounterReply { logic: 3, count: 21 });
    let _ = refs[0].call(CounterMsg::Panic("one crash".into()));
    eventually("a back on v1", || {
        refs[0].call(CounterMsg::Get).is_ok_and(|r| r == CounterReply { logic: 1, count: 10 })
    });
    assert!(!sup.actor().is_exited(), "the tree did not go down");
    let reports = sup.rollbacks();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].rollback.from.to_string(), "3.0.0");
    assert_eq!(refs[1].call(CounterMsg::Get).unwrap(), CounterReply { logic: 1, count: 21 });
}
