//! A library is never unmapped while something can still run its code
//! (issue 12, item 7): a thread the module started, a signal handler it
//! installed, a thread-exit destructor std registered for it. Each of these
//! crashed the host with SIGSEGV after a purge on the code before the fix.

use relive_runtime::code_server::Residency;
use relive_runtime::{ActorRef, Host, Instance, UnloadStatus};
use relive_test_support::fixtures;
use std::time::Duration;
use tls_api::{Hazards, TlsMsg, TlsReply};

fn host_with(v1: bool) -> Host {
    let host = Host::builder().inline_calls(false).build().unwrap();
    let first = if v1 { "tls_panicky" } else { "tls_panicky_v2" };
    host.code_server().load("tls", fixtures().path(first)).unwrap();
    host
}

fn run(inst: &mut Instance, h: Hazards) -> TlsReply {
    inst.call::<TlsMsg, TlsReply>(&TlsMsg::Run(h)).unwrap()
}

#[test]
fn a_thread_the_module_started_keeps_its_library_until_it_ends() {
    let host = host_with(true);
    let code = host.code_server();
    // From a thread that ends: the module's std registers thread-exit
    // destructors on the thread that spawns, which would pin the library
    // until that thread ends (a host thread's, not the module's, hazard).
    let v1 = code.current("tls").unwrap();
    std::thread::spawn(move || {
        let mut inst = Instance::start_with(&v1, &0u64).unwrap();
        run(&mut inst, Hazards { sleeper_ms: Some(700), ..Hazards::default() });
    })
    .join()
    .unwrap();
    code.load("tls", fixtures().path("tls_panicky_v2")).unwrap();
    let watch = code.purge("tls").unwrap().unload.unwrap();
    let status = watch.settled(Duration::from_secs(5));
    assert!(matches!(status, UnloadStatus::Resident(Residency::ModuleThread { .. })), "{status:?}");
    // When its thread has ended (on the old code: in unmapped memory, SIGSEGV),
    // the library goes.
    assert_eq!(watch.unloaded(Duration::from_secs(10)), UnloadStatus::Unloaded);
}

#[test]
fn a_signal_handler_in_the_library_keeps_it_mapped_for_good() {
    let host = host_with(false);
    let code = host.code_server();
    let mut inst = Instance::start_with(&code.current("tls").unwrap(), &0u64).unwrap();
    run(&mut inst, Hazards { sigusr2: true, ..Hazards::default() });
    drop(inst);
    code.load("tls", fixtures().path("tls_panicky")).unwrap();
    let watch = code.purge("tls").unwrap().unload.unwrap();
    let status = watch.settled(Duration::from_secs(5));
    assert_eq!(status, UnloadStatus::Resident(Residency::SignalHandler { signal: libc_sigusr2() }));
    // issue 16: metrics — the gauge says so however many events came since
    // (more refusals than the event stream holds: it used to be folded from
    // the events, and missed a `Resident` that had scrolled away).
    for _ in 0..relive_runtime::code_server::DEFAULT_EVENT_CAPACITY + 10 {
        assert!(code.load("tls", "/nonexistent/libtls.so").is_err());
    }
    let text = host.handle().metrics_text();
    assert!(text.lines().any(|l| l == "relive_resident_versions{module=\"tls\"} 1"), "{text}");
    // The signal still finds its handler (on the old code: unmapped, SIGSEGV).
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR2)
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(watch.status(), UnloadStatus::Resident(_)));
}

fn libc_sigusr2() -> i32 {
    rustix::process::Signal::USR2.as_raw()
}

#[test]
fn a_host_thread_that_ran_thread_current_in_a_module_exits_safely_after_the_purge() {
    let host = host_with(true);
    let code = host.code_server();
    let v1 = code.current("tls").unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    // A host thread (as a tokio blocking thread would be) runs module code
    // that calls `std::thread::current()`, then lives on past the purge.
    let t = std::thread::spawn(move || {
        let mut inst = Instance::start_with(&v1, &0u64).unwrap();
        run(&mut inst, Hazards { current_thread: true, ..Hazards::default() });
        drop(inst);
        drop(v1);
        wait.recv().unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    code.load("tls", fixtures().path("tls_panicky_v2")).unwrap();
    let watch = code.purge("tls").unwrap().unload.unwrap();
    assert_eq!(watch.unloaded(Duration::from_secs(10)), UnloadStatus::Unloaded);
    // Its exit runs no destructor of the unmapped library (on the old code:
    // std's thread-exit key destructor, in unmapped memory, SIGSEGV).
    go.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn thread_locals_touched_on_workers_do_not_keep_purged_libraries_mapped() {
    let host = host_with(true);
    let code = host.code_server();
    let mut watches = Vec::new();
    for cycle in 0..5 {
        let a: ActorRef<TlsMsg, TlsReply> = host.spawn("tls", &0u64).unwrap();
        // On a worker (no inline calls): std registers thread-exit
        // destructors of this version there.
        let touch = Hazards { tls: true, current_thread: true, ..Hazards::default() };
        a.cast(TlsMsg::Run(touch)).unwrap();
        assert_eq!(a.call(TlsMsg::Get).unwrap().runs, 1);
        host.terminate(&a.any(), relive_runtime::ExitReason::Shutdown).unwrap();
        let next = if cycle % 2 == 0 { "tls_panicky_v2" } else { "tls_panicky" };
        code.load_with(
            "tls",
            fixtures().path(next),
            relive_runtime::LoadOptions::new().force(true),
        )
        .unwrap();
        watches.push(code.purge("tls").unwrap().unload.unwrap());
    }
    // The workers are retired (their destructors run while the library is
    // still mapped) and every library goes (on the old code: all stayed).
    for w in &watches {
        assert_eq!(w.unloaded(Duration::from_secs(20)), UnloadStatus::Unloaded);
    }
    assert_eq!(host.workers(), std::thread::available_parallelism().map_or(2, |n| n.get()));
}
