//! A host's state directory: the bad-build marks and the history survive a
//! restart, one host at a time uses it, a corrupt state file stops the host
//! from starting, and private copies a crashed host left behind are removed
//! at start (docs/decisions/0004-state-dir.md).

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::{
    Action, BuildHash, LoadError, LoadOptions, STATE_FORMAT, StateError,
};
use relive_runtime::{ActorRef, Host, HostStartError, ModuleTable};
use relive_test_support::{fixtures, scratch_dir};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn host(state: &Path) -> Host {
    Host::builder().workers(1).state_dir(state).build().expect("host on the state dir")
}

fn start(state: &Path) -> Result<Host, HostStartError> {
    Host::builder().workers(1).state_dir(state).build()
}

/// The `StateError` a host refused to start with.
fn refused(state: &Path) -> StateError {
    match start(state) {
        Ok(_) => panic!("the host started on {}", state.display()),
        Err(HostStartError::State(e)) => e,
        Err(e) => panic!("not a state error: {e:?}"),
    }
}

#[test]
fn a_build_marked_bad_is_refused_after_a_restart_unless_forced() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    let v2 = fixtures().path("counter_v2");
    let hash = {
        let first = host(&state);
        let code = first.code_server();
        let hash = code.inspect(v2).unwrap().hash;
        code.mark_bad("counter", hash).unwrap();
        hash
    };

    let second = host(&state);
    let code = second.code_server();
    assert!(code.is_bad(&hash), "the mark survived the restart");
    match code.load("counter", v2) {
        Err(LoadError::BadBuild { hash: refused, .. }) => assert_eq!(refused, hash),
        other => panic!("expected BadBuild, got {other:?}"),
    }
    assert!(code.current("counter").is_none());
    code.load_with("counter", v2, LoadOptions::new().force(true)).unwrap();
    assert_eq!(code.current("counter").unwrap().hash(), hash);
}

// issue 19: build hashes became BLAKE3; a state dir of format 1 holds
// SHA-256 marks.
#[test]
fn a_mark_made_with_sha256_in_a_format_1_state_dir_still_refuses_its_build() {
    use sha2::Digest;
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    drop(host(&state));
    let v2 = fixtures().path("counter_v2");
    let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(v2).unwrap()));
    let file = format!(r#"{{"format": 1, "bad": [{{"hash": "{sha256}", "module": "counter"}}]}}"#);
    std::fs::write(state.join("bad-builds.json"), file).unwrap();

    let host = host(&state);
    let code = host.code_server();
    match code.load("counter", v2) {
        Err(LoadError::BadBuild { hash, .. }) => {
            assert_eq!(hash, BuildHash::of_library(&std::fs::read(v2).unwrap()));
            assert_ne!(hash.to_string(), sha256, "the identity is BLAKE3 now");
        }
        other => panic!("expected BadBuild, got {other:?}"),
    }
    // Another build is not refused, and a new mark keeps the old one.
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1_hash = code.current("counter").unwrap().hash();
    code.mark_bad("counter", v1_hash).unwrap();
    let saved = std::fs::read_to_string(state.join("bad-builds.json")).unwrap();
    assert!(saved.contains(&format!("\"format\": {STATE_FORMAT}")), "{saved}");
    assert!(saved.contains(&sha256) && saved.contains(&v1_hash.to_string()), "{saved}");
    drop(host);
    let again = Host::builder().workers(1).state_dir(&state).build().unwrap();
    assert!(matches!(again.code_server().load("counter", v2), Err(LoadError::BadBuild { .. })));
}

#[test]
fn the_history_survives_a_restart_in_order() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    let (v1, v2) = (fixtures().path("counter_v1"), fixtures().path("counter_v2"));
    let before = {
        let first = host(&state);
        let code = first.code_server();
        code.upgrade("counter", v1).unwrap();
        code.upgrade("counter", v2).unwrap();
        code.rollback("counter").unwrap();
        let v2_hash = code.old("counter").unwrap().hash();
        code.mark_bad("counter", v2_hash).unwrap();
        code.load("counter", fixtures().path("wrong_name")).unwrap_err();
        code.history(None)
    };
    let actions: Vec<Action> = before.iter().map(|h| h.action).collect();
    assert_eq!(
        actions,
        [Action::Load, Action::Upgrade, Action::Rollback, Action::MarkBad, Action::Upgrade]
    );
    assert!(before.last().unwrap().refused.is_some());

    let second = host(&state);
    let code = second.code_server();
    assert_eq!(code.history(None), before, "every entry, field for field, in order");
    // The restored history goes on: a new entry comes after the old ones.
    code.upgrade("counter", v1).unwrap();
    let after = code.history(Some("counter"));
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().unwrap().action, Action::Load);
}

#[test]
fn a_second_host_on_the_same_state_dir_is_refused_while_the_first_lives() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    let first = host(&state);
    match refused(&state) {
        StateError::Locked { dir, pid } => {
            assert_eq!(dir, state);
            assert_eq!(pid, Some(std::process::id()));
        }
        e => panic!("expected Locked, got {e:?}"),
    }
    // A bare module table is refused the same way.
    let e = ModuleTable::builder().state_dir(&state).build().unwrap_err();
    assert!(matches!(e, StateError::Locked { .. }), "{e:?}");
    drop(first);
    drop(host(&state));
}

#[test]
fn a_host_that_served_calls_on_this_thread_lets_go_of_its_state_dir_when_dropped() {
    // A blocking call to an idle actor runs its turn on the calling thread
    // (`HostBuilder::inline_calls`), which must not keep the host alive
    // there after it is dropped: a restart in the same process would find
    // the state directory locked by the host it replaces.
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    {
        let h = host(&state);
        h.code_server().upgrade("counter", fixtures().path("counter_v1")).unwrap();
        let c: ActorRef<CounterMsg, CounterReply> = h.spawn("counter", &0u64).unwrap();
        assert_eq!(c.call(CounterMsg::Add(2)).unwrap().count, 2);
    }
    drop(host(&state));
}

#[test]
fn private_copies_a_crashed_host_left_in_the_state_dir_are_removed_at_start() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    let lib = state.join("lib");
    drop(host(&state));
    // What a host killed with its libraries loaded leaves behind.
    let left: Vec<PathBuf> = ["counter-0123456789abcdef-0.so", "counter-0123456789abcdef-1.so"]
        .iter()
        .map(|n| lib.join(n))
        .collect();
    for f in &left {
        std::fs::copy(fixtures().path("counter_v1"), f).unwrap();
    }

    let h = host(&state);
    let code = h.code_server();
    assert_eq!(code.table().private_dir(), lib, "copies live in <state>/lib");
    for f in &left {
        assert!(!f.exists(), "{} was left behind", f.display());
    }
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let copies = std::fs::read_dir(&lib).unwrap().count();
    assert_eq!(copies, 1, "only the copy of the running version");
}

/// Set by [`stale_private_dirs_of_dead_hosts_are_removed`] in the process it
/// runs this test in.
const CHILD: &str = "RELIVE_STATE_DIR_TEST_CHILD";

/// Runs only in a child process: a module table with the default private
/// directory, under the `TMPDIR` its parent gave it.
#[test]
fn child_starts_a_table_with_a_temporary_private_dir() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let table = ModuleTable::new().unwrap();
    let dir = table.private_dir();
    assert_eq!(dir.parent().unwrap(), std::env::temp_dir());
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(&format!("relive-{}-", std::process::id())), "{name}");
}

#[test]
fn stale_private_dirs_of_dead_hosts_are_removed() {
    // The system temp directory of the child process below: a scratch dir,
    // so nothing under the real /tmp is touched.
    let tmp = scratch_dir();
    let dead = {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let me = std::process::id();
    let mkdir = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&d).unwrap();
        std::fs::write(d.join("counter-0123456789abcdef-0.so"), b"left").unwrap();
        d
    };
    let stale = mkdir(&format!("relive-{dead}-AbC123"));
    let alive = mkdir(&format!("relive-{me}-XyZ789"));
    let not_a_pid = mkdir("relive-build-1");
    let old_style = mkdir("relive-Qw3rTy");
    let other = mkdir(&format!("cargo-{dead}-AbC123"));
    let file = tmp.path().join(format!("relive-{dead}-file"));
    std::fs::write(&file, b"not a directory").unwrap();

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_starts_a_table_with_a_temporary_private_dir", "--nocapture"])
        .env(CHILD, "1")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "child: {}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));

    assert!(!stale.exists(), "the dead host's directory was removed");
    for kept in [&alive, &not_a_pid, &old_style, &other, &file] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    // The child's own directory went when its table dropped.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 5, "{left:?}");
}

#[test]
fn a_corrupt_state_file_stops_the_host_and_is_left_as_it_was() {
    for name in ["bad-builds.json", "history.json"] {
        let scratch = scratch_dir();
        let state = scratch.path().join("state");
        {
            let h = host(&state);
            let code = h.code_server();
            let hash = code.inspect(fixtures().path("counter_v2")).unwrap().hash;
            code.mark_bad("counter", hash).unwrap();
        }
        let path = state.join(name);
        let good = std::fs::read(&path).unwrap();
        let torn = &good[..good.len() / 2];
        std::fs::write(&path, torn).unwrap();
        match refused(&state) {
            StateError::Corrupt { file, .. } => assert_eq!(file, path),
            e => panic!("{name}: expected Corrupt, got {e:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), torn, "{name}: the file is kept for repair");
        // Put back, the host starts with its marks.
        std::fs::write(&path, &good).unwrap();
        let h = host(&state);
        assert_eq!(h.code_server().history(None).len(), 1);
    }
}

#[test]
fn a_state_file_of_another_format_stops_the_host() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    drop(host(&state));
    let path = state.join("bad-builds.json");
    std::fs::write(&path, br#"{"format": 99, "bad": "whatever format 99 holds"}"#).unwrap();
    match refused(&state) {
        StateError::Format { file, found, supported } => {
            assert_eq!((file, found, supported), (path, 99, STATE_FORMAT));
        }
        e => panic!("expected Format, got {e:?}"),
    }
}

#[test]
fn a_state_dir_others_can_enter_is_refused() {
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    match refused(&state) {
        StateError::NotPrivate { dir, mode, .. } => assert_eq!((dir, mode), (state.clone(), 0o755)),
        e => panic!("expected NotPrivate, got {e:?}"),
    }
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o755);
    // A missing one is created private.
    let fresh = scratch.path().join("a").join("fresh");
    drop(host(&fresh));
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_version_that_outlives_its_table_leaves_the_next_tables_copy_alone() {
    use relive_runtime::code_server::Origin;
    let scratch = scratch_dir();
    let state = scratch.path().join("state");
    let v1 = fixtures().path("counter_v1");
    let table = ModuleTable::builder().state_dir(&state).build().unwrap();
    table.load("counter", v1).unwrap();
    let outlives = table.current("counter").unwrap();
    drop(table);

    let next = ModuleTable::builder().state_dir(&state).build().unwrap();
    next.load("counter", v1).unwrap();
    let Origin::Dylib { copy, .. } = next.current("counter").unwrap().origin().clone() else {
        panic!("a library has a copy")
    };
    // The old version removes its own copy when it drops, by name: not the
    // new table's.
    drop(outlives);
    assert!(copy.exists(), "{} was removed", copy.display());
}
