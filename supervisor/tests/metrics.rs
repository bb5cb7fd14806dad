//! issue 16: metrics of a supervised crash loop — real `counter_v1` and
//! `counter_v3_crashy` cdylibs under a real supervisor: the crashes of the
//! crashy version, the supervisor's restarts by module, and the crash-loop
//! rollback, as `HostHandle::metrics_text` reports them.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ActorRef, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use relive_test_support::fixtures;
use std::time::{Duration, Instant};

type Counter = ActorRef<CounterMsg, CounterReply>;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample `{series}` in:\n{text}"))
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_crash_loop_rollback_shows_in_crashes_restarts_and_rollbacks() {
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let children = [("a", 10u64), ("b", 20)]
        .map(|(id, start)| {
            Child::new(ChildSpec::worker(id, &["counter"]), ChildStart::module("counter", &start))
        })
        .to_vec();
    let sup = Supervisor::start(&host, Flags::default(), children).unwrap();
    let a: Counter = sup.child("a").unwrap().typed().expect("types");
    host.code_server().upgrade("counter", fixtures().path("counter_v3_crashy")).unwrap();
    // v3 crashes on Add(7): the first two crashes are restarts, the third
    // rolls the module back (and the child is restarted once more, on v1).
    for k in 0..3 {
        let _ = a.call(CounterMsg::Add(7));
        eventually(&format!("a back after crash {k}"), || a.call(CounterMsg::Get).is_ok());
    }
    assert_eq!(sup.rollbacks().len(), 1);
    let restarts: u32 = host.tree_views()[0].children.iter().map(|c| c.restarts).sum();
    let text = host.metrics_text();
    let v3 = r#"{module="counter",version="3.0.0"}"#;
    assert_eq!(value(&text, &format!("relive_crashes_total{v3}")), 3.0);
    assert_eq!(value(&text, r#"relive_crashes_total{module="counter",version="1.0.0"}"#), 0.0);
    assert_eq!(value(&text, r#"relive_restarts_total{module="counter"}"#), f64::from(restarts));
    assert_eq!(
        value(&text, r#"relive_rollbacks_total{module="counter",outcome="rolled_back"}"#),
        1.0
    );
    assert_eq!(value(&text, r#"relive_upgrades_total{module="counter",outcome="committed"}"#), 2.0);
    // b went back through downgrade: two actors moved by the upgrade, one
    // by the rollback.
    assert_eq!(value(&text, r#"relive_upgrade_migrated_actors_total{module="counter"}"#), 3.0);
    sup.stop().unwrap();
}
