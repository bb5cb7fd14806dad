//! Exit signals through links (erts process_SUITE): only `normal` is not
//! propagated; `shutdown` and `{shutdown, Info}` kill a linked actor that
//! does not trap exits. And a stop of an actor that has exited says so.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ExitReason, Host, NoProc};
use relive_test_support::fixtures;
use std::time::Duration;

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

fn host_with_v1() -> Host {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    host
}

/// `d` linked to `e` (neither traps exits); `d` is stopped with `reason`.
/// What `e` exited with, if it did.
fn linked_exit(reason: ExitReason) -> Option<ExitReason> {
    let host = host_with_v1();
    let d: Counter = host.spawn("counter", &0u64).unwrap();
    let e: Counter = host.spawn("counter", &0u64).unwrap();
    host.link(&d, &e);
    host.stop(&d, reason.clone()).unwrap();
    assert_eq!(d.monitor().wait(Duration::from_secs(5)), Some(reason));
    e.monitor().wait(Duration::from_millis(500))
}

// erts process_SUITE t_exit_2_other: a non-normal exit signal kills a
// non-trapping process, `shutdown` included.
#[test]
fn t_exit_2_other() {
    for reason in [ExitReason::Shutdown, ExitReason::ShutdownWith("moving".into())] {
        let got = linked_exit(reason.clone());
        assert!(
            matches!(&got, Some(ExitReason::Linked { reason: r, .. }) if **r == reason),
            "{reason:?} propagates: {got:?}"
        );
    }
}

// erts process_SUITE t_exit_2_other_normal: `normal` does not kill.
#[test]
fn t_exit_2_other_normal() {
    assert_eq!(linked_exit(ExitReason::Normal), None, "normal does not propagate");
}

// gen_server_SUITE stop: stopping a process that is gone says noproc.
#[test]
fn stop_of_an_exited_actor_is_noproc() {
    let host = host_with_v1();
    let a: Counter = host.spawn("counter", &0u64).unwrap();
    host.stop(&a, ExitReason::Normal).unwrap();
    a.monitor().wait(Duration::from_secs(5)).unwrap();
    assert_eq!(host.stop(&a, ExitReason::Normal), Err(NoProc(a.id())));
    assert_eq!(host.terminate(&a.any(), ExitReason::Killed), Err(NoProc(a.id())));
    let within = host.terminate_within(&a.any(), ExitReason::Shutdown, Duration::from_millis(10));
    assert_eq!(within, Err(NoProc(a.id())));
}

// erts process_SUITE spawn_link: a child spawned linked cannot exit before
// the link exists — its exit reaches the parent with its own reason, never
// as a late link's `noproc`.
#[test]
fn spawn_link() {
    let host = host_with_v1();
    let parent: Counter = host.spawn("counter", &0u64).unwrap();
    let opts = relive_runtime::SpawnOptions::new().link(&parent.any());
    let child = host.spawn_encoded("counter", &encode(&5u64), schema(), opts).unwrap();
    let custom = ExitReason::Custom("died".into());
    host.stop_any(&child, custom.clone()).unwrap();
    match parent.monitor().wait(Duration::from_secs(5)) {
        Some(ExitReason::Linked { from, reason }) => {
            assert_eq!((from, *reason), (child.id(), custom), "the child's own reason");
        }
        other => panic!("the parent did not die of the link: {other:?}"),
    }
}

fn encode(v: &u64) -> Vec<u8> {
    let mut out = Vec::new();
    relive_runtime::codec::encode_into(v, &mut out).unwrap();
    out
}

fn schema() -> relive_runtime::codec::Fingerprint {
    relive_runtime::codec::Fingerprint::of::<u64>()
}
