//! issue 16: metrics — real counter actors (the `counter_v1` and
//! `counter_v2` cdylibs) cast to, called, crashed, upgraded and rolled
//! back; the exact counters checked by value in `HostHandle::metrics_text`,
//! the sampled ones by their bounds, and the whole text by a real parser
//! (`promtool check metrics`, Debian's `prometheus` package).

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::Host;
use relive_runtime::code_server::SAMPLE_EVERY;
use relive_test_support::fixtures;
use std::io::Write;
use std::process::{Command, Stdio};

type Counter = relive_runtime::ActorRef<CounterMsg, CounterReply>;

/// The value of the sample `series` (name and labels, exactly as printed),
/// or `None` when the text has no such line.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample `{series}` in:\n{text}"))
}

const V1: &str = r#"{module="counter",version="1.0.0"}"#;
const V2: &str = r#"{module="counter",version="2.0.0"}"#;

/// Check `text` with `promtool check metrics`; `false` (after a loud
/// message) only when promtool is not installed.
fn promtool_accepts(text: &str) -> bool {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "\n!!!!! SKIPPED: promtool is not installed (Debian: apt-get install prometheus);\n\
                 !!!!! the Prometheus text was NOT checked by a real parser\n"
            );
            return false;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the text ({}):\n{}{}\n--- text:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    true
}

// issue 18 §2: a fleet's judge counts failed calls beside crashes
#[test]
fn a_call_its_caller_gave_up_on_is_a_failed_call_and_a_crash_is_not() {
    use std::time::{Duration, Instant};
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    let failed = || code.current("counter").unwrap().metrics().counts().failed_calls;
    // Awaited (a blocking call may run an idle actor's turn inline on the
    // caller's thread, and then returns the reply's late arrival as its
    // timeout: that one is not seen as failed).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let call = c.call_async_timeout(CounterMsg::Sleep(200), Duration::from_millis(10));
    let e = rt.block_on(call).unwrap_err();
    assert!(format!("{e:?}").contains("Timeout"), "{e:?}");
    // Its handler returns later, and its reply finds nobody.
    let deadline = Instant::now() + Duration::from_secs(5);
    while failed() == 0 {
        assert!(Instant::now() < deadline, "the timed-out call was not counted");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A call whose handler panics is a crash, not also a failed call.
    let crashy: Counter = host.spawn("counter", &0u64).unwrap();
    assert!(crashy.call(CounterMsg::Panic("metrics test crash".into())).is_err());
    while !crashy.is_exited() {
        assert!(Instant::now() < deadline, "the crashed actor did not exit");
        std::thread::yield_now();
    }
    assert_eq!(c.call(CounterMsg::Get).unwrap().count, 0);
    let text = host.metrics_text();
    assert_eq!(value(&text, &format!("relive_failed_calls_total{V1}")), 1.0);
    assert_eq!(value(&text, &format!("relive_crashes_total{V1}")), 1.0);
    assert_eq!(failed(), 1);
}

#[test]
fn casts_calls_a_crash_an_upgrade_and_a_rollback_are_counted_exactly() {
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    for _ in 0..1000 {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    for _ in 0..10 {
        c.call(CounterMsg::Get).unwrap();
    }
    // A crash: the panicking call is handled (and counted), then the actor
    // exits with the panic; the crash is counted before it is marked
    // exited (the caller's error reply may come a moment earlier).
    let crashy: Counter = host.spawn("counter", &0u64).unwrap();
    assert!(crashy.call(CounterMsg::Panic("metrics test crash".into())).is_err());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !crashy.is_exited() {
        assert!(std::time::Instant::now() < deadline, "the crashed actor did not exit");
        std::thread::yield_now();
    }
    let text = host.metrics_text();
    assert_eq!(value(&text, &format!("relive_casts_total{V1}")), 1000.0);
    assert_eq!(value(&text, &format!("relive_calls_total{V1}")), 11.0);
    assert_eq!(value(&text, &format!("relive_messages_handled_total{V1}")), 1011.0);
    assert_eq!(value(&text, &format!("relive_crashes_total{V1}")), 1.0);
    assert_eq!(value(&text, &format!("relive_version_actors{V1}")), 1.0);
    assert_eq!(value(&text, &format!("relive_mailbox_depth{V1}")), 0.0);
    assert!(value(&text, &format!("relive_mailbox_depth_max{V1}")) >= 1.0);
    // Sampled: the first push to each mailbox is timed, then at most one
    // in `SAMPLE_EVERY` pushes.
    let timed = value(&text, &format!("relive_handle_seconds_count{V1}"));
    assert!((2.0..=(1011.0 / SAMPLE_EVERY as f64 + 2.0)).contains(&timed), "{timed} handler times");
    assert_eq!(value(&text, &format!("relive_mailbox_wait_seconds_count{V1}")), timed);
    assert_eq!(
        value(&text, r#"relive_handle_seconds_bucket{module="counter",version="1.0.0",le="+Inf"}"#),
        timed
    );
    // The first load is an upgrade that moved nobody.
    assert_eq!(value(&text, r#"relive_upgrades_total{module="counter",outcome="committed"}"#), 1.0);

    let report = code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.migrated, 1);
    for _ in 0..5 {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    assert_eq!(c.call(CounterMsg::Get).unwrap(), CounterReply { logic: 2, count: 1005 });
    let rolled = code.rollback("counter").unwrap();
    assert_eq!(rolled.migrated + rolled.restored_from_snapshot, 1);
    // A module that is not loaded has nothing to roll back: refused.
    assert!(code.rollback("nosuch").is_err());
    // A refused upgrade (not a library).
    let scratch = fixtures().scratch();
    let junk = scratch.path().join("junk.so");
    std::fs::write(&junk, b"not a library").unwrap();
    assert!(code.upgrade("counter", &junk).is_err());

    let text = host.metrics_text();
    assert_eq!(value(&text, &format!("relive_casts_total{V2}")), 5.0);
    assert_eq!(value(&text, &format!("relive_calls_total{V2}")), 1.0);
    // v1's counts stay (the same version object is current again).
    assert_eq!(value(&text, &format!("relive_casts_total{V1}")), 1000.0);
    assert_eq!(value(&text, &format!("relive_version_actors{V1}")), 1.0);
    assert_eq!(value(&text, &format!("relive_version_actors{V2}")), 0.0);
    assert_eq!(value(&text, r#"relive_upgrades_total{module="counter",outcome="committed"}"#), 2.0);
    assert_eq!(value(&text, r#"relive_upgrades_total{module="counter",outcome="refused"}"#), 1.0);
    assert_eq!(
        value(&text, r#"relive_rollbacks_total{module="counter",outcome="rolled_back"}"#),
        1.0
    );
    assert_eq!(value(&text, r#"relive_rollbacks_total{module="nosuch",outcome="refused"}"#), 1.0);
    assert_eq!(
        sample(&text, r#"relive_rollbacks_total{module="counter",outcome="refused"}"#),
        None
    );
    assert_eq!(
        value(&text, r#"relive_upgrade_migrated_actors_total{module="counter"}"#),
        2.0 - rolled.restored_from_snapshot as f64
    );
    assert_eq!(
        value(&text, r#"relive_rollback_restored_actors_total{module="counter"}"#),
        rolled.restored_from_snapshot as f64
    );
    // Two upgrades (the first load and v2) and one rollback were timed.
    assert_eq!(
        value(
            &text,
            r#"relive_upgrade_duration_seconds_count{module="counter",operation="upgrade"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"relive_upgrade_duration_seconds_count{module="counter",operation="rollback"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"relive_upgrade_longest_pause_seconds_count{module="counter",operation="upgrade"}"#
        ),
        2.0
    );
    assert_eq!(value(&text, "relive_dead_letters_total"), host.dead_letters() as f64);
    assert_eq!(value(&text, "relive_metrics_enabled"), 1.0);
    promtool_accepts(&text);
}

#[test]
fn a_mailbox_deeper_than_a_turn_is_seen_in_the_gauges() {
    let host = Host::builder().workers(1).build().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let sleeper: Counter = host.spawn("counter", &0u64).unwrap();
    // The only worker sleeps in a handler while more casts queue up than
    // one in `SAMPLE_EVERY`.
    let queued = SAMPLE_EVERY + 36;
    sleeper.cast(CounterMsg::Sleep(300)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    for _ in 0..queued {
        sleeper.cast(CounterMsg::Add(1)).unwrap();
    }
    let text = host.metrics_text();
    assert_eq!(value(&text, &format!("relive_mailbox_depth{V1}")), queued as f64);
    sleeper.call(CounterMsg::Get).unwrap();
    let text = host.metrics_text();
    assert_eq!(value(&text, &format!("relive_mailbox_depth{V1}")), 0.0);
    assert!(value(&text, &format!("relive_mailbox_depth_max{V1}")) >= queued as f64);
    // The push numbered `SAMPLE_EVERY`, an `Add` queued behind the sleep,
    // was timed: it waited most of the 300 ms sleep, well over the 16 ms
    // bucket.
    let le = |b: &str| {
        value(
            &text,
            &format!(
                "relive_mailbox_wait_seconds_bucket{{module=\"counter\",version=\"1.0.0\",le=\"{b}\"}}"
            ),
        )
    };
    assert!(le("+Inf") > le("0.016"), "no sampled message waited over 16 ms:\n{text}");
}

#[test]
fn with_metrics_off_the_actors_count_nothing() {
    let host = Host::builder().workers(2).metrics(false).build().unwrap();
    assert!(!host.metrics_enabled());
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    for _ in 0..100 {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    assert_eq!(c.call(CounterMsg::Get).unwrap().count, 100);
    let text = host.metrics_text();
    assert_eq!(value(&text, "relive_metrics_enabled"), 0.0);
    assert_eq!(value(&text, &format!("relive_casts_total{V1}")), 0.0);
    assert_eq!(value(&text, &format!("relive_handle_seconds_count{V1}")), 0.0);
    // What costs nothing per message is kept: the upgrade, the actor.
    assert_eq!(value(&text, r#"relive_upgrades_total{module="counter",outcome="committed"}"#), 1.0);
    assert_eq!(value(&text, &format!("relive_version_actors{V1}")), 1.0);
    promtool_accepts(&text);
}

// Port requests by outcome, on the real `port_user` cdylib.
mod ports {
    use super::{sample, value};
    use port_api::{Answer, Ask, Mode, PortMsg, PortReply};
    use relive_runtime::{ActorRef, Host};
    use relive_test_support::fixtures;
    use std::time::{Duration, Instant};

    async fn echo(ask: Ask) -> Result<Answer, String> {
        tokio::time::sleep(Duration::from_millis(ask.delay_ms)).await;
        match ask.mode {
            Mode::Answer => Ok(Answer(ask.n + 1)),
            Mode::Fail(m) => Err(m),
            Mode::Panic(m) => panic!("{m}"),
        }
    }

    #[test]
    fn port_requests_are_counted_by_port_and_outcome() {
        let host = Host::builder().workers(2).build().unwrap();
        host.code_server().upgrade("port_user", fixtures().path("port_user")).unwrap();
        host.port("echo", echo).unwrap();
        let u: ActorRef<PortMsg, PortReply> = host.spawn("port_user", &()).unwrap();
        let wait = |ask: Ask| {
            let r = u.call_timeout(
                PortMsg::AskAndWait { port: "echo".into(), ask },
                Duration::from_secs(10),
            );
            assert!(matches!(r, Ok(PortReply::Done(_))), "{r:?}");
        };
        wait(Ask::answer(1, 0));
        wait(Ask::answer(2, 0));
        wait(Ask { n: 3, delay_ms: 0, mode: Mode::Fail("no".into()) });
        wait(Ask { n: 4, delay_ms: 0, mode: Mode::Panic("port panic".into()) });
        // Cut by its 20 ms timeout.
        let r = u.call(PortMsg::Ask {
            port: "echo".into(),
            ask: Ask::answer(5, 5_000),
            timeout_ms: Some(20),
        });
        assert!(matches!(r, Ok(PortReply::Sent(_))), "{r:?}");
        let r = u.call(PortMsg::AskWrongType { port: "echo".into() });
        assert!(matches!(r, Ok(PortReply::Refused(_))), "{r:?}");
        let r = u.call(PortMsg::Ask {
            port: "nosuch".into(),
            ask: Ask::answer(6, 0),
            timeout_ms: None,
        });
        assert!(matches!(r, Ok(PortReply::Refused(_))), "{r:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let timeout = r#"relive_port_requests_total{port="echo",outcome="timeout"}"#;
        while sample(&host.metrics_text(), timeout) != Some(1.0) {
            assert!(Instant::now() < deadline, "the timeout was not counted");
            std::thread::sleep(Duration::from_millis(5));
        }
        let text = host.metrics_text();
        for (outcome, n) in [
            ("ok", 2.0),
            ("failed", 1.0),
            ("panicked", 1.0),
            ("timeout", 1.0),
            ("cancelled", 0.0),
            ("schema_mismatch", 1.0),
            ("too_many_requests", 0.0),
        ] {
            let series =
                format!(r#"relive_port_requests_total{{port="echo",outcome="{outcome}"}}"#);
            assert_eq!(value(&text, &series), n, "{outcome}");
        }
        assert_eq!(value(&text, r#"relive_port_requests_total{port="",outcome="no_port"}"#), 1.0);
        super::promtool_accepts(&text);
    }
}
