//! issue 15: a module's lifecycle hooks on real libraries — `on_load` sees
//! the load and may veto it; `on_free` runs once per version, on the
//! unloader thread, never while a call into that version is in flight.
//!
//! The fixtures (`lifecycle_v1`, `lifecycle_v2`, `veto_on_load`) report
//! through a log file whose path a message gives them (each loaded version
//! has its own statics), and answer `Seen` with what their `on_load` saw.

use relive_runtime::code_server::{Action, EventKind};
use relive_runtime::host::UpgradeError;
use relive_runtime::{ActorRef, ExitReason, Host, LoadError, ModuleCallError};
use relive_test_support::fixtures;
use std::path::Path;
use std::time::{Duration, Instant};

/// The fixtures' message type (a copy: a fingerprint covers names and
/// shapes, not the crate).
#[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
pub enum LifecycleMsg {
    /// Log to this file.
    LogTo(String),
    /// Sleep in the handler.
    Sleep(u64),
    /// What `on_load` saw.
    Seen,
}

type Lifecycle = ActorRef<LifecycleMsg, String>;

fn host() -> Host {
    Host::builder().workers(2).build().unwrap()
}

fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Wait (at most 10 s) until the log has a line starting with `prefix`.
fn wait_for_line(path: &Path, prefix: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = log_lines(path);
        if lines.iter().any(|l| l.starts_with(prefix)) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn on_load_sees_a_first_load_then_an_upgrade_from_the_running_version() {
    let host = host();
    let code = host.code_server();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
    let a: Lifecycle = host.spawn("lifecycle", &()).unwrap();
    assert_eq!(a.call(LifecycleMsg::Seen).unwrap(), "1.0.0 - first");
    code.upgrade("lifecycle", fixtures().path("lifecycle_v2")).unwrap();
    assert_eq!(a.call(LifecycleMsg::Seen).unwrap(), "2.0.0 1.0.0 upgrade");
}

#[test]
fn an_on_load_veto_refuses_the_upgrade_with_the_modules_reason_and_the_old_version_keeps_serving() {
    let host = host();
    let code = host.code_server();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
    let a: Lifecycle = host.spawn("lifecycle", &()).unwrap();
    let mut events = host.events();

    let e = code.upgrade("lifecycle", fixtures().path("veto_on_load")).unwrap_err();
    let UpgradeError::Refused(LoadError::Vetoed { module, version, source, .. }) = &e else {
        panic!("not a veto: {e:?}")
    };
    assert_eq!((module.as_str(), version.as_str()), ("lifecycle", "3.0.0"));
    let ModuleCallError::Failed { function, message, .. } = &**source else {
        panic!("not the module's reason: {source:?}")
    };
    assert_eq!(*function, "on_load");
    assert_eq!(message, "not over 1.0.0: drain it first");
    assert!(e.to_string().contains("not over 1.0.0: drain it first"), "{e}");

    // Nothing changed: v1 is current, alone, and serves.
    assert_eq!(code.current("lifecycle").unwrap().version().to_string(), "1.0.0");
    assert!(code.old("lifecycle").is_none());
    assert_eq!(a.call(LifecycleMsg::Seen).unwrap(), "1.0.0 - first");
    let last = code.history(Some("lifecycle")).pop().unwrap();
    assert_eq!(last.action, Action::Upgrade);
    assert!(last.refused.unwrap().contains("vetoed"));
    let refused = events.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert!(
        matches!(&refused.kind, EventKind::Refused { module, reason, .. }
            if module == "lifecycle" && reason.contains("drain it first")),
        "{refused:?}"
    );
}

#[test]
fn a_panic_in_on_load_refuses_the_load() {
    let host = host();
    let code = host.code_server();
    let e = code.load("lifecycle", fixtures().path("veto_on_load")).unwrap_err();
    let LoadError::Vetoed { source, .. } = &e else { panic!("not a veto: {e:?}") };
    let ModuleCallError::Panicked { message, .. } = &**source else {
        panic!("not a panicking veto: {e:?}")
    };
    assert!(message.contains("on_load of a first load panics"), "{message}");
    assert!(code.current("lifecycle").is_none(), "nothing loaded");
    // The host is fine: a good build loads next.
    code.load("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
}

#[test]
fn on_free_runs_once_per_version_on_the_unloader_thread() {
    let scratch = fixtures().scratch();
    let log = scratch.path().join("log");
    let host = host();
    let code = host.code_server();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
    let a: Lifecycle = host.spawn("lifecycle", &()).unwrap();
    a.call(LifecycleMsg::LogTo(log.display().to_string())).unwrap();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v2")).unwrap();
    // The actor runs v2 now: tell v2's copy of the statics too.
    a.call(LifecycleMsg::LogTo(log.display().to_string())).unwrap();
    assert!(log_lines(&log).is_empty(), "nothing freed while both versions are loaded");

    code.purge("lifecycle").unwrap();
    let lines = wait_for_line(&log, "free 1.0.0");
    assert_eq!(lines, ["free 1.0.0 relive-unloader"], "v1 freed once, on the unloader thread");

    host.stop(&a, ExitReason::Shutdown).unwrap();
    // The last holders of the host (an actor reference holds it too).
    drop((a, host));
    let lines = wait_for_line(&log, "free 2.0.0");
    assert_eq!(lines, ["free 1.0.0 relive-unloader", "free 2.0.0 relive-unloader"]);
    // And never again.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(log_lines(&log).len(), 2);
}

#[test]
fn on_free_never_runs_while_a_call_into_the_version_is_in_flight() {
    let scratch = fixtures().scratch();
    let log = scratch.path().join("log");
    let host = host();
    let code = host.code_server();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
    let a: Lifecycle = host.spawn("lifecycle", &()).unwrap();
    a.call(LifecycleMsg::LogTo(log.display().to_string())).unwrap();
    // v2 becomes current; the actor stays on v1 (a load migrates nobody).
    code.load("lifecycle", fixtures().path("lifecycle_v2")).unwrap();
    a.cast(LifecycleMsg::Sleep(300)).unwrap();
    wait_for_line(&log, "call-start");
    // Purge v1 while its handler runs: the actor is killed at its boundary,
    // and only then can the version go.
    let report = code.purge("lifecycle").unwrap();
    assert_eq!(report.killed, 1);
    let lines = wait_for_line(&log, "free 1.0.0");
    assert_eq!(lines, ["call-start 1.0.0", "call-end 1.0.0", "free 1.0.0 relive-unloader"]);
}

/// A module linked into the test (so its hooks share the test's globals):
/// `on_load` vetoes when asked to, `on_free` counts and records its thread.
pub(crate) mod linked {
    use relive_sdk::{Context, LoadInfo, Module, ModuleError};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    pub(crate) static VETO: AtomicBool = AtomicBool::new(false);
    pub(crate) static FREED: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static FREED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) struct Linked;

    impl Module for Linked {
        const NAME: &'static str = "linked";
        type Args = ();
        type Msg = ();
        type Reply = ();
        fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Linked)
        }
        fn handle(&mut self, (): (), _: &mut Context<'_>) {}
        fn on_load(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
            if VETO.load(Ordering::SeqCst) { Err(ModuleError::new("vetoed")) } else { Ok(()) }
        }
        fn on_free() {
            FREED.fetch_add(1, Ordering::SeqCst);
            let name = std::thread::current().name().unwrap_or("?").to_owned();
            FREED_ON.lock().unwrap().push(name);
        }
    }
}

#[test]
fn a_vetoed_version_never_runs_on_free_and_an_accepted_one_runs_it_once_off_the_workers() {
    use linked::{FREED, FREED_ON, Linked, VETO};
    use std::sync::atomic::Ordering;
    let host = host();
    let code = host.code_server();
    VETO.store(true, Ordering::SeqCst);
    let v1 = relive_sdk::declaration!(Linked, version = "1.0.0");
    assert!(matches!(code.load("linked", v1), Err(LoadError::Vetoed { .. })));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(FREED.load(Ordering::SeqCst), 0, "a vetoed version never lived");

    VETO.store(false, Ordering::SeqCst);
    code.load("linked", v1).unwrap();
    let a: ActorRef<(), ()> = host.spawn("linked", &()).unwrap();
    a.call(()).unwrap();
    code.load("linked", relive_sdk::declaration!(Linked, version = "2.0.0")).unwrap();
    assert_eq!(FREED.load(Ordering::SeqCst), 0, "v1 still runs an actor");
    code.purge("linked").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while FREED.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(FREED.load(Ordering::SeqCst), 1, "v1 freed once");
    assert_eq!(*FREED_ON.lock().unwrap(), ["relive-unloader"]);
}

/// Two modules linked into the test for one `upgrade_all` unit: `keeper`
/// accepts its load, `vetoer` (which calls it, so it loads second) refuses.
pub(crate) mod unit {
    use relive_sdk::{Context, Dependency, LoadInfo, Module, ModuleError, dep};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) static KEEPER_LOADED: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static KEEPER_FREED: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static VETOER_FREED: AtomicUsize = AtomicUsize::new(0);

    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) struct Keeper;

    impl Module for Keeper {
        const NAME: &'static str = "keeper";
        type Args = ();
        type Msg = ();
        type Reply = ();
        fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Keeper)
        }
        fn handle(&mut self, (): (), _: &mut Context<'_>) {}
        fn on_load(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
            KEEPER_LOADED.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn on_free() {
            KEEPER_FREED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) struct Vetoer;

    impl Module for Vetoer {
        const NAME: &'static str = "vetoer";
        type Args = ();
        type Msg = ();
        type Reply = ();
        const DEPENDS: &'static [Dependency] = &[dep!("keeper", "*", (), ())];
        fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Vetoer)
        }
        fn handle(&mut self, (): (), _: &mut Context<'_>) {}
        fn on_load(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
            Err(ModuleError::new("not today"))
        }
        fn on_free() {
            VETOER_FREED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_version_its_on_load_accepted_runs_on_free_when_a_later_module_of_its_unit_vetoes() {
    use std::sync::atomic::Ordering;
    use unit::{KEEPER_FREED, KEEPER_LOADED, Keeper, VETOER_FREED, Vetoer};
    let host = host();
    let modules: Vec<(String, relive_runtime::Source)> = vec![
        ("vetoer".into(), relive_sdk::declaration!(Vetoer, version = "1.0.0").into()),
        ("keeper".into(), relive_sdk::declaration!(Keeper, version = "1.0.0").into()),
    ];
    let e = host.code_server().upgrade_all(modules, Default::default()).unwrap_err();
    assert!(format!("{e:?}").contains("Vetoed"), "{e:?}");
    assert_eq!(KEEPER_LOADED.load(Ordering::SeqCst), 1, "keeper (the callee) loads first");
    assert!(host.code_server().modules().is_empty(), "nothing of the unit was kept");
    let deadline = Instant::now() + Duration::from_secs(10);
    while KEEPER_FREED.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(KEEPER_FREED.load(Ordering::SeqCst), 1, "what keeper's on_load set up is released");
    assert_eq!(VETOER_FREED.load(Ordering::SeqCst), 0, "a vetoed version never lived");
}

#[test]
fn a_unit_naming_a_module_twice_is_refused() {
    let host = host();
    let modules: Vec<(String, relive_runtime::Source)> = vec![
        ("lifecycle".into(), fixtures().path("lifecycle_v1").into()),
        ("lifecycle".into(), fixtures().path("lifecycle_v2").into()),
    ];
    let e = host.code_server().upgrade_all(modules, Default::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            relive_runtime::UpgradeError::Refused(LoadError::DuplicateInUnit { module })
                if module == "lifecycle"
        ),
        "{e:?}"
    );
    assert!(host.code_server().modules().is_empty());
}

/// A module linked into the test whose `on_load` blocks far past its bound.
pub(crate) mod sleeper {
    use relive_sdk::{Context, LoadInfo, Module, ModuleError};

    #[derive(Debug, serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    pub(crate) struct Sleeper;

    impl Module for Sleeper {
        const NAME: &'static str = "sleeper";
        type Args = ();
        type Msg = ();
        type Reply = ();
        fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Sleeper)
        }
        fn handle(&mut self, (): (), _: &mut Context<'_>) {}
        fn on_load(_: &LoadInfo<'_>) -> Result<(), ModuleError> {
            std::thread::sleep(std::time::Duration::from_secs(30));
            Ok(())
        }
    }
}

#[test]
fn an_on_load_that_blocks_is_refused_at_its_bound_and_holds_no_later_load() {
    let host = host();
    let code = host.code_server();
    let started = Instant::now();
    let e = code.load("sleeper", relive_sdk::declaration!(sleeper::Sleeper, version = "1.0.0"));
    let took = started.elapsed();
    let Err(LoadError::Vetoed { source, .. }) = &e else { panic!("not a veto: {e:?}") };
    assert!(
        matches!(&**source, ModuleCallError::TimedOut { function: "on_load", .. }),
        "{source:?}"
    );
    assert!(took >= relive_runtime::ON_LOAD_TIMEOUT, "refused before its bound: {took:?}");
    assert!(took < relive_runtime::ON_LOAD_TIMEOUT + Duration::from_secs(5), "{took:?}");
    // The hook still sleeps on its own thread; other loads go on at once.
    let started = Instant::now();
    code.upgrade("lifecycle", fixtures().path("lifecycle_v1")).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(code.current("sleeper").is_none());
}
