//! Purging old versions and unloading libraries, reported honestly.
//!
//! One test leaves SIGUSR2 handled by the `tls` fixture's code: nothing in
//! this binary raises SIGUSR2 after it.

use counter_api::{CounterMsg, CounterReply};
use relive_runtime::code_server::{Origin, PurgeError};
use relive_runtime::{CodeServer, Instance, UnloadStatus};
use relive_test_support::fixtures;
use std::path::{Path, PathBuf};

fn maps_show(path: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().any(|l| l.contains(path.to_str().unwrap()))
}

fn copy_of(code: &CodeServer, name: &str) -> PathBuf {
    match code.current(name).unwrap().origin() {
        Origin::Dylib { copy, .. } => copy.clone(),
        Origin::Static => panic!("not a dylib"),
    }
}

#[test]
fn soft_purge_refuses_while_an_instance_runs_old_then_purge_succeeds() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let mut on_v1 = Instance::start_with(&code.current("counter").unwrap(), &1u64).unwrap();
    code.load("counter", fixtures().path("counter_v2")).unwrap();

    let e = code.soft_purge("counter").unwrap_err();
    assert_eq!(
        e,
        PurgeError::InUse { module: "counter".into(), old: "1.0.0".into(), instances: 1 }
    );
    assert!(code.old("counter").is_some(), "nothing changed");
    let reply = on_v1.call::<CounterMsg, CounterReply>(&CounterMsg::Add(1)).unwrap();
    assert_eq!(reply, CounterReply { logic: 1, count: 2 });

    drop(on_v1);
    let report = code.soft_purge("counter").unwrap();
    assert_eq!(report.purged.unwrap().to_string(), "1.0.0");
    assert_eq!(report.instances, 0);
    assert!(code.old("counter").is_none());
    // Nothing left to purge: not an error, nothing purged (Erlang returns false).
    assert!(code.purge("counter").unwrap().purged.is_none());
    assert_eq!(code.purge("nope").unwrap_err(), PurgeError::NotLoaded("nope".into()));
}

#[test]
fn unload_is_reported_from_proc_self_maps() {
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("counter", fixtures().path("counter_v1")).unwrap();
    let v1_copy = copy_of(code, "counter");
    assert!(maps_show(&v1_copy), "a loaded library is mapped");
    let mut inst = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
    inst.call::<CounterMsg, CounterReply>(&CounterMsg::Add(1)).unwrap();
    code.load("counter", fixtures().path("counter_v2")).unwrap();

    let report = code.purge("counter").unwrap();
    assert_eq!(report.instances, 1);
    let watch = report.unload.unwrap();
    assert_eq!(watch.status(), UnloadStatus::InUse);
    assert!(maps_show(&v1_copy));
    drop(inst);
    let status = watch.settled(std::time::Duration::from_secs(5));
    // "Unloaded" exactly when the map no longer shows the copy.
    assert_eq!(status == UnloadStatus::Unloaded, !maps_show(&v1_copy), "{status:?}");
    assert_eq!(status, UnloadStatus::Unloaded, "counter v1 registers no TLS destructors");
    assert!(!v1_copy.exists(), "the private copy is removed");
}

fn rss_kib() -> u64 {
    relive_test_support::rss_bytes() / 1024
}

#[test]
fn a_thousand_load_unload_cycles_keep_memory_bounded() {
    const CYCLES: usize = 1000;
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    let (v1, v2) = (fixtures().path("counter_v1"), fixtures().path("counter_v2"));
    code.load("counter", v1).unwrap();
    // One cycle: load v2 and run an instance on it, roll back to v1, purge v2.
    let cycle = || {
        code.load("counter", v2).unwrap();
        let mut inst = Instance::start_with(&code.current("counter").unwrap(), &0u64).unwrap();
        inst.call::<CounterMsg, CounterReply>(&CounterMsg::Add(1)).unwrap();
        drop(inst);
        code.rollback("counter").unwrap();
        code.purge("counter").unwrap().unload.unwrap()
    };
    // Warm up allocator and loader caches before measuring.
    for _ in 0..20 {
        cycle();
    }
    let before = rss_kib();
    let watches: Vec<_> = (0..CYCLES).map(|_| cycle()).collect();
    // Unloading is checked on a background thread, and looked at again while
    // another thread is busy on a CPU: every library must be gone soon.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut left: Vec<UnloadStatus> = watches.iter().map(|w| w.status()).collect();
    while left.iter().any(|s| *s != UnloadStatus::Unloaded) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = watches.iter().map(|w| w.status()).collect();
    }
    let stuck: Vec<&UnloadStatus> = left.iter().filter(|s| **s != UnloadStatus::Unloaded).collect();
    let resident = stuck.len();
    if let Some(s) = stuck.first() {
        println!("first library still mapped: {s:?}");
    }
    let after = rss_kib();
    let growth = after.saturating_sub(before);
    println!(
        "{CYCLES} load/unload cycles: RSS {before} KiB -> {after} KiB (growth {growth} KiB), \
         {resident} left resident"
    );
    assert_eq!(resident, 0, "every purged library was unmapped");
    // One library is ~4 MiB mapped: a leak of even one per cycle would be GiBs.
    assert!(growth < 32 * 1024, "RSS grew by {growth} KiB over {CYCLES} cycles");
    let left = std::fs::read_dir(code.table().private_dir()).unwrap().count();
    assert_eq!(left, 1, "only the current version's private copy remains");
}

#[test]
fn a_library_with_thread_local_destructors_pending_is_reported_resident() {
    use tls_api::{Hazards, TlsMsg, TlsReply};
    let host_code = relive_runtime::Host::new().unwrap();
    let code = host_code.code_server();
    code.load("tls", fixtures().path("tls_panicky")).unwrap();
    let v1_copy = copy_of(code, "tls");
    let mut inst = Instance::start_with(&code.current("tls").unwrap(), &0u64).unwrap();
    // On this thread, v1's std now has thread-exit destructors to run.
    let touch = Hazards { tls: true, current_thread: true, ..Hazards::default() };
    let reply = inst.call::<TlsMsg, TlsReply>(&TlsMsg::Run(touch)).unwrap();
    assert_eq!((reply.major, reply.runs), (1, 1));

    code.load("tls", fixtures().path("tls_panicky_v2")).unwrap();
    let mut v2 = Instance::start_with(&code.current("tls").unwrap(), &0u64).unwrap();
    // A C-style module's signal handler, in v2, catches what is raised.
    let install = Hazards { sigusr2: true, ..Hazards::default() };
    assert_eq!(v2.call::<TlsMsg, TlsReply>(&TlsMsg::Run(install)).unwrap().major, 2);
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR2)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while v2.call::<TlsMsg, TlsReply>(&TlsMsg::Get).unwrap().sigusr2_caught == 0 {
        assert!(std::time::Instant::now() < deadline, "SIGUSR2 not caught by v2's handler");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }

    drop(inst);
    let watch = code.purge("tls").unwrap().unload.unwrap();
    // Closed, but glibc keeps v1 mapped until this thread's destructors run.
    assert_eq!(
        watch.settled(std::time::Duration::from_secs(5)),
        UnloadStatus::Resident(relive_runtime::code_server::Residency::ThreadLocalDestructors)
    );
    assert!(maps_show(&v1_copy));
}
