//! issue 17: typed configuration, hot-reloaded — real files, the real
//! watcher, real threads. Every wait is a poll with a deadline.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::{ConfigError, EventKind, Events, Host};
use relive_test_support::fixtures;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Two fields that must agree: a reader that saw a value no whole file
/// had (a mix, a prefix) would find them apart.
#[derive(Debug, Deserialize, PartialEq)]
struct Limits {
    n: u64,
    echo: String,
}

fn toml(n: u64) -> String {
    format!("n = {n}\necho = \"v{n}\"\n")
}

fn host() -> Host {
    Host::builder().workers(1).build().unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next config event (skipping others), within the deadline.
fn next_config_event(events: &mut Events) -> EventKind {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(Ok(e))
                if matches!(
                    e.kind,
                    EventKind::ConfigApplied { .. } | EventKind::ConfigRefused { .. }
                ) =>
            {
                return e.kind;
            }
            Some(_) => {}
            None => panic!("no config event within {WAIT:?}"),
        }
    }
}

fn refused(events: &mut Events) -> String {
    match next_config_event(events) {
        EventKind::ConfigRefused { reason, .. } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn applied(events: &mut Events) -> u64 {
    match next_config_event(events) {
        EventKind::ConfigApplied { revision, .. } => revision,
        other => panic!("expected an applied config, got {other:?}"),
    }
}

fn atomic_write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_good_change_is_applied_for_every_reader_and_counted() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(1)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    let other_reader = config.clone();
    assert_eq!(**config.load(), Limits { n: 1, echo: "v1".into() });
    assert_eq!(config.revision(), 1);
    let mut events = host.events();

    std::fs::write(&path, toml(2)).unwrap();
    assert_eq!(applied(&mut events), 2);
    assert_eq!(other_reader.load().n, 2);
    assert_eq!(config.revision(), 2);
    assert!(config.last_error().is_none());

    // The same content again is no new revision.
    std::fs::write(&path, toml(2)).unwrap();
    std::fs::write(&path, toml(3)).unwrap();
    assert_eq!(applied(&mut events), 3, "an unchanged rewrite adds no revision");

    let status = host.configs();
    assert_eq!(status.len(), 1);
    assert_eq!((status[0].revision, status[0].last_error.as_deref()), (3, None));
    assert_eq!(status[0].path, std::path::absolute(&path).unwrap());
}

#[test]
fn an_unparsable_file_keeps_the_old_config_and_says_why() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(1)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    let mut events = host.events();

    std::fs::write(&path, "n = = 2\n").unwrap();
    let reason = refused(&mut events);
    assert!(reason.contains("not a valid TOML configuration"), "{reason}");
    assert_eq!(config.load().n, 1, "the old config stays in force");
    assert_eq!(config.revision(), 1);
    let last = config.last_error().expect("a last error");
    assert!(matches!(*last.error, ConfigError::Parse { .. }), "{:?}", last.error);
    assert!(std::error::Error::source(&*last.error).is_some(), "the parser's error is the source");
    assert_eq!(host.configs()[0].last_error.as_deref(), Some(reason.as_str()));

    // A missing field is a parse error too (the type did not fit).
    std::fs::write(&path, "n = 2\n").unwrap();
    assert!(refused(&mut events).contains("echo"));

    // Fixed: applied, and the last error is cleared.
    std::fs::write(&path, toml(2)).unwrap();
    assert_eq!(applied(&mut events), 2);
    assert!(config.last_error().is_none());
    assert_eq!(host.configs()[0].last_error, None);
}

#[test]
fn a_file_failing_validation_keeps_the_old_config() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.json");
    std::fs::write(&path, r#"{"n": 1, "echo": "v1"}"#).unwrap();
    let config = host
        .config_with(&path, |l: &Limits| {
            if l.n > 100 { Err(format!("n = {} is over 100", l.n)) } else { Ok(()) }
        })
        .unwrap();
    let mut events = host.events();

    std::fs::write(&path, r#"{"n": 101, "echo": "v101"}"#).unwrap();
    let reason = refused(&mut events);
    assert!(reason.contains("refused by validation") && reason.contains("n = 101 is over 100"));
    assert_eq!(config.load().n, 1);
    let last = config.last_error().unwrap();
    assert!(matches!(*last.error, ConfigError::Invalid { .. }));
    assert_eq!(std::error::Error::source(&*last.error).unwrap().to_string(), "n = 101 is over 100");

    // A validation that panics is a refusal, not a dead watcher.
    drop(config);
    let config = host
        .config_with(&path, |l: &Limits| {
            assert!(l.n != 7, "seven is unlucky");
            Ok::<(), String>(())
        })
        .unwrap();
    assert_eq!(applied(&mut events), 1, "a new configuration is applied at revision 1");
    std::fs::write(&path, r#"{"n": 7, "echo": "v7"}"#).unwrap();
    assert!(refused(&mut events).contains("the validation panicked"));
    std::fs::write(&path, r#"{"n": 8, "echo": "v8"}"#).unwrap();
    assert_eq!(applied(&mut events), 2);
    assert_eq!(config.load().n, 8);
}

#[test]
fn an_unreadable_file_keeps_the_old_config() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.yaml");
    std::fs::write(&path, "n: 1\necho: v1\n").unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    let mut events = host.events();

    // chmod 000 blocks reads, except for a privileged user (tests may run
    // as root): check, and say so when the sub-case cannot be made.
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(&path, "n: 2\necho: v2\n").unwrap();
    assert_eq!(applied(&mut events), 2);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_err() {
        // The permission change is an attribute event: a refusal.
        let reason = refused(&mut events);
        assert!(reason.contains("cannot read"), "{reason}");
        assert_eq!(config.load().n, 2);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Readable again, unchanged: good again, same revision.
        assert_eq!(applied(&mut events), 2);
    } else {
        eprintln!(
            "SKIPPED sub-case chmod 000: this user reads the file anyway (root); the directory sub-case below covers unreadable"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // The attribute event re-read the file: unchanged, no event.
    }

    // A directory in the file's place cannot be read, whoever we are.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    until("a refusal for the directory", || {
        config.last_error().is_some_and(|l| matches!(*l.error, ConfigError::Unreadable { .. }))
    });
    assert_eq!(config.load().n, 2);
    let last = config.last_error().unwrap();
    assert!(std::error::Error::source(&*last.error).is_some(), "the I/O error is the source");
    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, "n: 3\necho: v3\n").unwrap();
    until("the recreated file", || config.load().n == 3);
    assert!(config.last_error().is_none());
}

#[test]
fn a_deleted_file_keeps_the_old_config_and_its_recreation_is_applied() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(1)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    let mut events = host.events();

    std::fs::remove_file(&path).unwrap();
    let reason = refused(&mut events);
    assert!(reason.contains("no such file"), "{reason}");
    assert!(matches!(*config.last_error().unwrap().error, ConfigError::Missing { .. }));
    assert_eq!(config.load().n, 1);

    std::fs::write(&path, toml(4)).unwrap();
    assert_eq!(applied(&mut events), 2);
    assert_eq!(config.load().n, 4);
}

#[test]
fn an_initial_bad_file_is_a_typed_error() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    let e = host.config::<Limits>(p("absent.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Missing { .. }), "{e:?}");

    std::fs::write(p("limits.ini"), "n=1").unwrap();
    let e = host.config::<Limits>(p("limits.ini")).unwrap_err();
    assert!(matches!(e, ConfigError::UnknownFormat { .. }), "{e:?}");

    std::fs::write(p("bad.yml"), "n: [\n").unwrap();
    let e = host.config::<Limits>(p("bad.yml")).unwrap_err();
    assert!(matches!(e, ConfigError::Parse { .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some());

    std::fs::write(p("big.toml"), toml(500)).unwrap();
    let e = host
        .config_with(p("big.toml"), |l: &Limits| if l.n > 100 { Err("too big") } else { Ok(()) })
        .unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
    assert_eq!(e.path(), std::path::absolute(p("big.toml")).unwrap());

    std::fs::create_dir(p("dir.json")).unwrap();
    let e = host.config::<Limits>(p("dir.json")).unwrap_err();
    assert!(matches!(e, ConfigError::Unreadable { .. }), "{e:?}");

    assert!(host.configs().is_empty(), "no configuration came of any of them");
}

/// Readers on their own threads check every value they load is one a whole
/// file had, while `write` rewrites the file 100 times in a burst.
fn burst(write: fn(&Path, &str)) {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(0)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (config, stop) = (config.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = 0u64;
                // ORDERING: a stop flag.
                while !stop.load(Ordering::Relaxed) {
                    let v = config.load();
                    assert_eq!(v.echo, format!("v{}", v.n), "a value no whole file had");
                    assert!(v.n >= seen, "went back from {seen} to {}", v.n);
                    seen = v.n;
                }
                seen
            })
        })
        .collect();
    for i in 1..=100 {
        write(&path, &toml(i));
    }
    until("the last write to win", || config.load().n == 100);
    // ORDERING: as above.
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader saw a bad value");
    }
    let revision = config.revision();
    assert!((2..=101).contains(&revision), "revision {revision}");
    // Nothing more arrives later (the last content is in force for good).
    std::thread::sleep(relive_runtime::host::config::DEBOUNCE * 4);
    assert_eq!((config.load().n, config.revision()), (100, revision));
}

#[test]
fn a_burst_of_in_place_rewrites_ends_with_the_last() {
    burst(|p, t| std::fs::write(p, t).unwrap());
}

#[test]
fn a_burst_of_atomic_renames_ends_with_the_last() {
    burst(atomic_write);
}

#[test]
fn a_dropped_config_stops_being_watched_and_listed() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(1)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();
    assert_eq!(host.configs().len(), 1);
    drop(config);
    assert!(host.configs().is_empty());
    let mut events = host.events();
    std::fs::write(&path, "garbage =").unwrap();
    std::thread::sleep(relive_runtime::host::config::DEBOUNCE * 4);
    assert!(events.try_recv().is_none(), "no event for a file nobody configures from");
}

#[test]
fn a_config_change_during_an_upgrade_is_applied_and_the_upgrade_completes() {
    let host = host();
    let code = host.code_server();
    code.upgrade("counter", fixtures().path("counter_v1")).unwrap();
    let counters: Vec<_> = (0..20).map(|i| host.spawn("counter", &(i as u64)).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limits.toml");
    std::fs::write(&path, toml(1)).unwrap();
    let config = host.config::<Limits>(&path).unwrap();

    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            for i in 2..=30 {
                atomic_write(&path, &toml(i));
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let report = code.upgrade("counter", fixtures().path("counter_v2")).unwrap();
    writer.join().unwrap();
    assert_eq!(report.migrated, 20);
    until("the last config", || config.load().n == 30);
    for c in &counters {
        let r: CounterReply = c.call(&CounterMsg::Get).unwrap();
        assert_eq!(r.logic, 2, "every actor on v2");
    }
    assert_eq!(host.configs()[0].last_error, None);
}
