//! A panic in a module library is reported by the host, once, with its
//! location: the library's own panic hook writes nothing to stderr and
//! captures no backtrace. A module linked into the host keeps the host's
//! hook.
//!
//! Whether the module wrote to stderr can only be seen from outside, so the
//! test re-executes this test binary (`child_panics_modules`, a no-op when
//! run normally) and reads what the child wrote to fd 2.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{Instance, ModuleCallError, ModuleTable};
use relive_test_support::fixtures;
use std::process::Command;

const CHILD: &str = "RELIVE_TEST_QUIET_PANICS_CHILD";

/// The same shape of state as counter v1, linked into this test.
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub struct Counter {
    count: u64,
}

impl relive_sdk::Module for Counter {
    const NAME: &'static str = "counter";
    type Args = u64;
    type Msg = CounterMsg;
    type Reply = CounterReply;

    fn init(count: u64, _: &mut relive_sdk::Context<'_>) -> Result<Self, relive_sdk::ModuleError> {
        Ok(Counter { count })
    }

    fn handle(&mut self, msg: CounterMsg, _: &mut relive_sdk::Context<'_>) -> CounterReply {
        counter_api::v1_handle(&mut self.count, msg, 1000)
    }
}

fn panic_in(code: &ModuleTable, text: &str) -> String {
    let mut inst = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
    match inst.call::<CounterMsg, CounterReply>(&CounterMsg::Panic(text.into())) {
        Err(ModuleCallError::Panicked { message, .. }) => message,
        other => panic!("expected a panic, got {other:?}"),
    }
}

/// Not a test of its own: with `RELIVE_TEST_QUIET_PANICS_CHILD` set, panic
/// in a module library, then in a module linked into the host, then in the
/// host itself, printing each status text to stdout (run by
/// `a_module_library_panic_writes_nothing_to_stderr`).
#[test]
fn child_panics_modules() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let dylib = ModuleTable::new().unwrap();
    dylib.load("counter", fixtures().path("counter_v1")).unwrap();
    println!("dylib: {}", panic_in(&dylib, "library boom"));

    let linked = ModuleTable::new().unwrap();
    linked.load("counter", relive_sdk::declaration!(Counter, version = "0.9.0")).unwrap();
    println!("static: {}", panic_in(&linked, "linked boom"));

    let host = std::panic::catch_unwind(|| panic!("host boom")).unwrap_err();
    println!("host: {}", host.downcast_ref::<&str>().unwrap());
}

#[test]
fn a_module_library_panic_writes_nothing_to_stderr() {
    // Build the fixtures here, so the child only loads them.
    let _ = fixtures();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_panics_modules", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        // The setting under which a default hook would capture and print a
        // backtrace of the module's panic.
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("library boom"), "the library wrote to stderr:\n{stderr}");
    assert!(stdout.contains("dylib: library boom (at "), "{stdout}");
    // The host's hook is untouched, for the host and for a linked module:
    // both panics are printed by it (which also shows stderr was captured).
    assert!(stdout.contains("static: linked boom\n"), "{stdout}");
    assert!(stderr.contains("linked boom"), "the host's hook did not run:\n{stderr}");
    assert!(stderr.contains("host boom"), "the host's hook did not run:\n{stderr}");
}

// issue 20: module panics are log events
const HOST_CHILD: &str = "RELIVE_TEST_PANIC_EVENT_CHILD";

/// Not a test of its own: with `RELIVE_TEST_PANIC_EVENT_CHILD` set, run a
/// host that logs with `tracing_subscriber::fmt` to stderr, whose actor (a
/// module library) panics in a handler (run by
/// `a_handler_panic_is_one_structured_event_of_the_host`).
#[test]
fn child_host_whose_actor_panics() {
    if std::env::var_os(HOST_CHILD).is_none() {
        return;
    }
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).init();
    let host = relive_runtime::Host::new().unwrap();
    host.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let c: relive_runtime::ActorRef<CounterMsg, CounterReply> =
        host.spawn("counter", &0u64).unwrap();
    let gone = c.monitor();
    c.cast(CounterMsg::Panic("handler boom".into())).unwrap();
    let reason = gone.wait(std::time::Duration::from_secs(10)).expect("the actor exited");
    println!("exit: {reason} of {}", c.id());
}

#[test]
fn a_handler_panic_is_one_structured_event_of_the_host() {
    let _ = fixtures();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_host_whose_actor_panics", "--nocapture", "--test-threads=1"])
        .env(HOST_CHILD, "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("exit: panicked: handler boom"), "{stdout}");
    let actor = stdout.split(" of ").nth(1).unwrap().lines().next().unwrap().trim();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("handler boom")).collect();
    assert_eq!(lines.len(), 1, "the panic is reported exactly once:\n{stderr}");
    let event = lines[0];
    for field in [
        "ERROR",
        "relive::panic",
        "handler boom",
        "module=\"counter\"",
        "version=\"1.0.0\"",
        &format!("actor={actor}"),
        "location=\"",
        "counter_api",
    ] {
        assert!(event.contains(field), "{field:?} missing from the event: {event}");
    }
    assert!(!event.contains("(at "), "the location is a field, not in the message: {event}");
    assert!(!stderr.contains("panicked at"), "std's panic output on stderr:\n{stderr}");
    assert!(!stderr.contains("stack backtrace"), "a backtrace on stderr:\n{stderr}");
}

const LATE_CHILD: &str = "RELIVE_TEST_LATE_PANIC_CHILD";

/// A module (linked into the host) whose handler stays 400 ms, then panics.
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub struct Late;

impl relive_sdk::Module for Late {
    const NAME: &'static str = "late";
    type Args = ();
    type Msg = String;
    type Reply = ();

    fn init((): (), _: &mut relive_sdk::Context<'_>) -> Result<Self, relive_sdk::ModuleError> {
        Ok(Late)
    }

    fn handle(&mut self, text: String, _: &mut relive_sdk::Context<'_>) {
        std::thread::sleep(std::time::Duration::from_millis(400));
        panic!("{text}");
    }
}

/// Not a test of its own: with `RELIVE_TEST_LATE_PANIC_CHILD` set, kill an
/// actor within 50 ms while its handler runs, and let the handler panic
/// after the kill (run by `a_handler_panic_after_its_kill_is_still_one_event`).
#[test]
fn child_host_whose_killed_actor_panics_late() {
    if std::env::var_os(LATE_CHILD).is_none() {
        return;
    }
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).init();
    let host = relive_runtime::Host::new().unwrap();
    host.code_server().upgrade("late", relive_sdk::declaration!(Late, version = "0.1.0")).unwrap();
    let a: relive_runtime::ActorRef<String, ()> = host.spawn("late", &()).unwrap();
    a.cast("late boom".to_owned()).unwrap();
    // In its handler (400 ms), then killed 50 ms into the shutdown.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let gone = a.monitor();
    host.handle()
        .terminate_within(
            &a.any(),
            relive_runtime::ExitReason::Shutdown,
            std::time::Duration::from_millis(50),
        )
        .unwrap();
    let reason = gone.wait(std::time::Duration::from_secs(1)).expect("it left at the deadline");
    println!("exit: {reason} of {}", a.id());
    // The handler panics ~250 ms after the kill.
    std::thread::sleep(std::time::Duration::from_millis(600));
}

// issue 20: module panics are log events
#[test]
fn a_handler_panic_after_its_kill_is_still_one_event() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_host_whose_killed_actor_panics_late",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LATE_CHILD, "1")
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("exit: killed of "),
        "the actor was not killed at its deadline:\n{stdout}"
    );
    let actor = stdout.split(" of ").nth(1).unwrap().lines().next().unwrap().trim();
    let events: Vec<&str> = stderr.lines().filter(|l| l.contains("relive::panic")).collect();
    assert_eq!(events.len(), 1, "the late panic is reported once:\n{stderr}");
    for field in ["ERROR", "late boom", "module=\"late\"", &format!("actor={actor}")] {
        assert!(events[0].contains(field), "{field:?} missing from the event: {}", events[0]);
    }
}
