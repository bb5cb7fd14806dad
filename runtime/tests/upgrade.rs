//! Live upgrade of instances through real cdylibs: state kept exactly in both
//! directions, each version answering with its own logic.

use counter_api::{CounterMsg, CounterReply, CounterV1};
use relive_codec::Fingerprint;
use relive_runtime::code_server::{Action, LoadOptions, LoadOutcome};
use relive_runtime::code_server::{LoadError, Part, TypeMismatch};
use relive_runtime::{Instance, ModuleCallError};
use relive_test_support::fixtures;

fn add(inst: &mut Instance, n: u64) -> CounterReply {
    inst.call::<CounterMsg, CounterReply>(&CounterMsg::Add(n)).unwrap()
}

fn get(inst: &mut Instance) -> CounterReply {
    inst.call::<CounterMsg, CounterReply>(&CounterMsg::Get).unwrap()
}

#[test]
fn v1_to_v2_keeps_the_count_and_v2_logic_answers() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    let first = code.load("counter", fixtures().path("counter_v1")).unwrap();
    assert_eq!(first.outcome, LoadOutcome::Loaded);
    let v1 = code.current("counter").unwrap();
    let mut inst = Instance::start_with(&v1, &40u64).unwrap();
    assert_eq!(add(&mut inst, 2), CounterReply { logic: 1, count: 42 });

    let report = code.load("counter", fixtures().path("counter_v2")).unwrap();
    assert_eq!(report.outcome, LoadOutcome::Upgraded);
    assert_eq!(report.from.unwrap().to_string(), "1.0.0");
    assert_eq!(report.to.to_string(), "2.0.0");
    let v2 = code.current("counter").unwrap();
    assert_eq!(code.old("counter").unwrap().version().to_string(), "1.0.0");

    // Until it migrates, the instance runs v1: new code never sees old state.
    assert_eq!(get(&mut inst).logic, 1);
    let mut inst = inst.code_change(&v2, &[]).unwrap();
    assert_eq!(inst.version().version().to_string(), "2.0.0");
    assert_eq!(get(&mut inst), CounterReply { logic: 2, count: 42 }, "count kept exactly");
    assert_eq!(add(&mut inst, 8), CounterReply { logic: 2, count: 50 });
    assert_eq!((v1.instances(), v2.instances()), (0, 1));

    // v2's new field was derived by its code_change (adds = 0) and counts on.
    let snap = inst.snapshot().unwrap();
    #[derive(serde::Deserialize, postcard_schema::Schema)]
    #[allow(dead_code)]
    struct V2State {
        count: u64,
        adds: u64,
    }
    let state: V2State = snap.decode().unwrap();
    assert_eq!((state.count, state.adds), (50, 1));
}

#[test]
fn v2_downgrade_to_v1_keeps_the_count() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1 = code.current("counter").unwrap();
    code.load("counter", fixtures().path("counter_v2")).unwrap();
    let v2 = code.current("counter").unwrap();
    let mut inst = Instance::start_with(&v2, &7u64).unwrap();
    add(&mut inst, 3);
    assert!(v2.can_downgrade_to(v1.schemas().state));

    let back = code.rollback("counter").unwrap();
    assert_eq!((back.from.to_string(), back.to.to_string()), ("2.0.0".into(), "1.0.0".into()));
    assert!(std::sync::Arc::ptr_eq(&code.current("counter").unwrap(), &v1));
    assert!(std::sync::Arc::ptr_eq(&code.old("counter").unwrap(), &v2));

    let mut inst = inst.downgrade(&v1).unwrap();
    assert_eq!(get(&mut inst), CounterReply { logic: 1, count: 10 });
    let snap = inst.snapshot().unwrap();
    assert_eq!(snap.schema, Fingerprint::of::<CounterV1>());
    assert_eq!(snap.decode::<CounterV1>().unwrap(), CounterV1 { count: 10 });
}

#[test]
fn rollback_without_downgrade_restores_the_upgrade_snapshot() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1 = code.current("counter").unwrap();
    let mut inst = Instance::start_with(&v1, &1u64).unwrap();
    add(&mut inst, 1);
    // v1 → the v1 hotfix build (forced, same version): it has no downgrade.
    let snapshot = inst.snapshot().unwrap();
    code.load_with("counter", fixtures().path("counter_v1_hotfix"), LoadOptions::new().force(true))
        .unwrap();
    let hotfix = code.current("counter").unwrap();
    let mut inst = inst.code_change(&hotfix, &[]).unwrap();
    assert_eq!(add(&mut inst, 1), CounterReply { logic: 101, count: 3 });

    code.rollback("counter").unwrap();
    let failed = inst.downgrade(&v1).unwrap_err();
    assert!(matches!(failed.error, ModuleCallError::Unsupported { function: "downgrade", .. }));
    assert_eq!(failed.instance.version().hash(), hotfix.hash(), "handed back unchanged");
    // The snapshot taken at upgrade time brings it back, losing what came after.
    let mut restored = Instance::restore(&v1, &snapshot, &[]).unwrap();
    assert_eq!(get(&mut restored), CounterReply { logic: 1, count: 2 });
}

#[test]
fn a_rebuilt_library_at_the_same_path_runs_the_new_code() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    let dir = fixtures().scratch();
    let path = dir.path().join("libcounter.so");
    fixtures().install("counter_v1", &path);
    code.load("counter", &path).unwrap();
    let mut a = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
    assert_eq!(add(&mut a, 1).logic, 1);

    // "Rebuild": new code at the very same path. dlopen of the same path
    // would return the library already loaded; the private copy makes it new.
    fixtures().install("counter_v2", &path);
    assert!(matches!(
        code.module_status("counter"),
        Some(relive_runtime::ModuleStatus::Modified { .. })
    ));
    code.load("counter", &path).unwrap();
    assert_eq!(code.module_status("counter"), Some(relive_runtime::ModuleStatus::Unchanged));
    let mut b = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
    assert_eq!(add(&mut b, 1).logic, 2, "the rebuilt code answers");
    assert_eq!(add(&mut a, 1).logic, 1, "the old instance still runs the old code");

    std::fs::remove_file(&path).unwrap();
    assert_eq!(code.module_status("counter"), Some(relive_runtime::ModuleStatus::Removed));
}

#[test]
fn a_third_version_is_refused_while_old_has_instances() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let mut on_v1 = Instance::start_with(&code.current("counter").unwrap(), &3u64).unwrap();
    let forced = LoadOptions::new().force(true);
    code.load_with("counter", fixtures().path("counter_v1_hotfix"), forced).unwrap();
    let e = code.load("counter", fixtures().path("counter_v2")).unwrap_err();
    assert!(
        matches!(&e, LoadError::NotPurged { old, instances: 1, .. } if old == "1.0.0"),
        "{e:?}"
    );
    assert_eq!(code.current("counter").unwrap().version().to_string(), "1.0.0");
    assert_eq!(add(&mut on_v1, 1), CounterReply { logic: 1, count: 4 }, "old still serves");

    // With purge, `old` is dropped and the load proceeds.
    let report = code
        .load_with("counter", fixtures().path("counter_v2"), LoadOptions::new().purge(true))
        .unwrap();
    assert_eq!(report.to.to_string(), "2.0.0");
    let dropped = report.dropped_old.unwrap();
    assert_eq!(dropped.status(), relive_runtime::UnloadStatus::InUse, "the instance holds v1");
    drop(on_v1);
    assert_ne!(dropped.status(), relive_runtime::UnloadStatus::InUse);
}

#[test]
fn history_records_every_attempt() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    code.load("counter", fixtures().path("wrong_abi")).unwrap_err();
    code.load("counter", fixtures().path("counter_v2")).unwrap();
    code.rollback("counter").unwrap();
    code.purge("counter").unwrap();
    let actions: Vec<_> = code.history(Some("counter")).iter().map(|h| h.action).collect();
    assert_eq!(
        actions,
        [Action::Load, Action::Upgrade, Action::Upgrade, Action::Rollback, Action::Purge]
    );
    let h = code.history(None);
    assert!(h[1].refused.as_deref().unwrap().contains("ABI version 999"));
    assert!(h[0].refused.is_none() && h[2].refused.is_none());
    let which = code.which("counter").unwrap();
    assert_eq!(which.current.version.to_string(), "1.0.0");
    assert!(which.old.is_none());
}

#[test]
fn typed_calls_check_schemas() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1 = code.current("counter").unwrap();
    assert!(matches!(
        Instance::start_with(&v1, &"not a u64").unwrap_err(),
        ModuleCallError::Types(TypeMismatch { part: Part::Args, .. })
    ));
    let mut inst = Instance::start_with(&v1, &0u64).unwrap();
    assert!(matches!(
        inst.call::<u32, CounterReply>(&1).unwrap_err(),
        ModuleCallError::Types(TypeMismatch { part: Part::Message, .. })
    ));
    // Raw bytes that are no message: a typed error, the instance unharmed.
    assert!(matches!(inst.handle(&[0xff, 0xff]).unwrap_err(), ModuleCallError::BadInput { .. }));
    assert_eq!(add(&mut inst, 1).count, 1);
}

#[test]
fn a_panicking_handler_is_a_typed_error_with_its_message() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1 = code.current("counter").unwrap();
    let mut crashed = Instance::start_with(&v1, &0u64).unwrap();
    let mut other = Instance::start_with(&v1, &0u64).unwrap();
    let e = crashed
        .call::<CounterMsg, CounterReply>(&CounterMsg::Panic("boom in handle".into()))
        .unwrap_err();
    // The text carries where the module panicked: the `panic!` in
    // counter-api's `v1_handle`, as rustc names the file.
    let file = "test-modules/counter_api/src/lib.rs";
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../test-modules/counter_api/src/lib.rs"
    ))
    .unwrap();
    let (line, col) = source
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("panic!(\"{text}\")").map(|c| (i + 1, c + 1)))
        .unwrap();
    let expected = format!("boom in handle (at {file}:{line}:{col})");
    assert!(
        matches!(&e, ModuleCallError::Panicked { function: "handle", message, .. } if *message == expected),
        "{e:?}, expected {expected:?}"
    );
    drop(crashed);
    assert_eq!(add(&mut other, 1).count, 1, "other instances keep serving");
    assert_eq!(v1.instances(), 1);
}
