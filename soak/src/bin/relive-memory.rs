//! `relive-memory`: resident memory under the two loads that could grow it
//! without bound. Prints `memory <figure>: <value> <unit>` lines and exits
//! non-zero if a bound is broken or a message is lost.
//!
//! - `relive-memory backlog [--messages N]` (default 1 M): one producer casts
//!   N messages to a counter actor that is busy for its first second, so
//!   the whole stream backs up against its bounded mailbox (1024). The
//!   peak growth of resident memory while it drains is printed, then the
//!   same with an unbounded mailbox for contrast; every message must be
//!   counted by the actor.
//! - `relive-memory cycles [--cycles N]` (default 10,000): N upgrade/purge
//!   cycles of a module with 16 live actors (v1 → v1 hotfix, purge v1,
//!   hotfix → v1, purge the hotfix, …: two builds of one version, so each
//!   upgrade is forced, and each migrates every actor). Resident memory after the first tenth and at the end, and
//!   the module libraries still mapped, are printed; growth past 8 MiB or
//!   more than 2 libraries mapped fails.
//! - `relive-memory panics [--cycles N] [--release-modules] [--panic-only]`
//!   (default 1,000; debug builds of the module unless asked): N cycles of the `tls` module
//!   (fixtures `tls_panicky` 1.0.0 and `tls_panicky_v2` 2.0.0, alternately):
//!   upgrade to the other version, purge the previous one, then 4 new actors
//!   each touch a thread-local with a destructor, call
//!   `std::thread::current()` and panic (one also installs a SIGUSR2
//!   handler with `--signals`, and starts a 2 ms thread of the module's own) — all with
//!   `RUST_BACKTRACE=1` (the process re-executes itself to set it). Resident
//!   memory after cycle 0, cycle 100 and at the end — once the unloader,
//!   which works behind the loop, settled every purged version (how long
//!   that took and the most `tls` libraries seen mapped during the loop are
//!   printed too) —, the growth from cycle 0
//!   (`relive memory_growth_panics_bytes: <n> B`, the bench line format),
//!   the `tls` libraries still mapped and how each purged version ended are
//!   printed. Fails if a panic is not reported as the actor's exit, if
//!   memory grew by more than 8 MiB from cycle 100 to the end, or if more
//!   than 4 `tls` libraries are still mapped (the current one, and the few
//!   a host thread may pin before the module is found to register
//!   thread-local destructors on it). Handlers run on workers; `--inline`
//!   runs them on the calling thread (inline calls), `--signals` has one
//!   actor a cycle install a SIGUSR2 handler too (each such version then
//!   stays mapped for good, by design), `--panic-only` leaves out
//!   everything but the panic.

use counter_api::{CounterMsg, CounterReply};
use relive::{ActorRef, Host, SpawnOptions};
use relive_test_support::rss_bytes;
use std::time::{Duration, Instant};
use tls_api::{Hazards, TlsMsg, TlsReply};

type Counter = ActorRef<CounterMsg, CounterReply>;

/// Libraries of `module` (the code server's private copies) mapped now.
fn libraries_mapped(module: &str) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let prefix = format!("/{module}-");
    let mut paths: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(&prefix) && p.ends_with(".so"))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths.len()
}

/// How long the end of `panics` waits for the unloader to catch up.
const SETTLE_WAIT: Duration = Duration::from_secs(60);

fn figure(name: &str, value: f64, unit: &str) {
    println!("memory {name}: {value:.0} {unit}");
}

fn host() -> (Host, std::path::PathBuf, std::path::PathBuf) {
    let v1 = relive_test_support::build_library("counter_v1", true);
    let hotfix = relive_test_support::build_library("counter_v1_hotfix", true);
    let host = Host::new().expect("host");
    host.code_server().upgrade("counter", &v1).expect("load counter v1");
    (host, v1, hotfix)
}

/// Peak resident growth while `n` casts back up behind a busy actor.
fn backlog(host: &Host, n: u64, capacity: usize) -> (u64, u64) {
    let c: Counter =
        host.spawn_with("counter", &0u64, SpawnOptions::default().capacity(capacity)).unwrap();
    c.call(CounterMsg::Get).unwrap();
    let before = rss_bytes();
    c.cast(CounterMsg::Sleep(1000)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let peak = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        for _ in 0..n {
            c.cast(CounterMsg::Add(1)).unwrap();
        }
        let count = c.call_timeout(CounterMsg::Get, Duration::from_secs(120)).unwrap().count;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (sampler.join().unwrap(), count)
    });
    (peak.0.saturating_sub(before), peak.1)
}

fn arg(args: &[String], flag: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map_or(default, |w| w[1].parse().unwrap_or_else(|_| panic!("{flag} takes a number")))
}

/// One cycle's hazards for actor `n`, ending in a panic with `text` (only
/// the panic when `panic_only`).
fn hazards(n: usize, text: String, panic_only: bool, signals: bool) -> Hazards {
    let all = !panic_only;
    Hazards {
        tls: all,
        current_thread: all,
        sigusr2: signals && n == 0,
        sleeper_ms: (all && n == 0).then_some(2),
        sleeper_panics: None,
        panic: Some(text),
    }
}

/// The `panics` scenario; false if a panic was not reported as an exit.
fn panics(cycles: u64, release: bool, panic_only: bool, signals: bool, inline: bool) -> bool {
    type Tls = ActorRef<TlsMsg, TlsReply>;
    let builds = [
        relive_test_support::build_library("tls_panicky", release),
        relive_test_support::build_library("tls_panicky_v2", release),
    ];
    // Handlers on workers: a host thread that ran a handler inline holds the
    // thread-local destructors it registered until that thread ends (see
    // docs/guide.md); `--inline` shows what that costs.
    let host = Host::builder().inline_calls(inline).build().expect("host");
    let start = Instant::now();
    let (mut ok, mut located, mut watches) = (true, 0u64, Vec::new());
    let (mut at_0, mut at_100, mut peak_mapped) = (0, None, 0);
    for i in 0..cycles {
        host.code_server().upgrade("tls", &builds[(i % 2) as usize]).expect("upgrade");
        if i > 0 {
            let purged = host.code_server().purge("tls").expect("purge");
            watches.extend(purged.unload);
        }
        for n in 0..4 {
            let a: Tls = host.spawn("tls", &0u64).expect("spawn");
            let text = format!("cycle {i} actor {n}");
            match a.call(TlsMsg::Run(hazards(n, text.clone(), panic_only, signals))) {
                Err(relive::CallError::Exited(relive::ExitReason::Panicked(m)))
                    if m.starts_with(&text) =>
                {
                    located += u64::from(m.contains(" (at "));
                }
                other => {
                    eprintln!("cycle {i} actor {n}: expected its panic, got {other:?}");
                    ok = false;
                }
            }
        }
        if i % 10 == 0 {
            peak_mapped = peak_mapped.max(libraries_mapped("tls"));
        }
        if i == 0 {
            at_0 = rss_bytes();
        } else if i == 100 {
            at_100 = Some(rss_bytes());
        }
    }
    let looped = start.elapsed();
    // The unloader works behind the loop, on its own thread (a purge never
    // waits for it): at 10 ms a cycle it may be a few — after a stall, tens
    // of — versions behind. What the bounds are about is what stays once it
    // caught up, so the end is measured after every purged version settled:
    // unloaded, or resident for a reason that lasts (a signal handler,
    // glibc's key table unreadable).
    use relive::code_server::{Residency, UnloadStatus};
    let deadline = Instant::now() + SETTLE_WAIT;
    let settled: Vec<UnloadStatus> = watches
        .iter()
        .map(|w| {
            let left = || deadline.saturating_duration_since(Instant::now());
            match w.settled(left()) {
                s @ (UnloadStatus::Resident(
                    Residency::SignalHandler { .. } | Residency::KeysUnknown,
                )
                | UnloadStatus::Unloaded) => s,
                _ => w.unloaded(left()),
            }
        })
        .collect();
    let caught_up = start.elapsed() - looped;
    let end = rss_bytes();
    figure("panics_cycles", cycles as f64, "upgrade+purge");
    figure("panics_seconds", looped.as_secs_f64(), "s");
    figure("panics_unloader_catch_up_ms", caught_up.as_secs_f64() * 1e3, "ms");
    figure("panics_libraries_mapped_peak", peak_mapped as f64, "libraries");
    figure("panics_panics", (cycles * 4) as f64, "panics");
    figure("panics_with_location", located as f64, "panics");
    figure("panics_rss_cycle_0", at_0 as f64, "B");
    if let Some(at_100) = at_100 {
        figure("panics_rss_cycle_100", at_100 as f64, "B");
    }
    figure("panics_rss_at_end", end as f64, "B");
    let mapped = libraries_mapped("tls");
    figure("panics_libraries_mapped", mapped as f64, "libraries");
    for (what, is) in [
        ("unloaded", (|s| matches!(s, UnloadStatus::Unloaded)) as fn(&UnloadStatus) -> bool),
        ("resident", |s| matches!(s, UnloadStatus::Resident(_))),
        ("in_use", |s| matches!(s, UnloadStatus::InUse | UnloadStatus::Closing)),
    ] {
        let n = settled.iter().filter(|s| is(s)).count();
        figure(&format!("panics_purged_{what}"), n as f64, "versions");
    }
    println!("relive memory_growth_panics_bytes: {} B", end.saturating_sub(at_0));
    // Flat after the warm-up: past cycle 100, a version left mapped would
    // cost hundreds of KiB a cycle (the library, and what pins it).
    if let Some(at_100) = at_100 {
        let growth = end.saturating_sub(at_100);
        println!("relive memory_growth_panics_after_100_bytes: {growth} B");
        if growth > 8 << 20 {
            eprintln!("VIOLATION: memory grew by {growth} B from cycle 100 to the end");
            ok = false;
        }
    }
    if !signals && mapped > 4 {
        eprintln!(
            "VIOLATION: {mapped} tls libraries still mapped (the current one, and at most \
            the versions pinned before the module was found to pin host threads)"
        );
        ok = false;
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("panics") {
        // Module panics under the setting that makes a default hook capture
        // and symbolise a backtrace; set for the process before any load.
        if std::env::var_os("RUST_BACKTRACE").is_none_or(|v| v != "1") {
            let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                .args(&args)
                .env("RUST_BACKTRACE", "1")
                .status()
                .expect("re-execute with RUST_BACKTRACE=1");
            std::process::exit(status.code().unwrap_or(1));
        }
        let cycles = arg(&args, "--cycles", 1_000);
        let release = args.iter().any(|a| a == "--release-modules");
        let panic_only = args.iter().any(|a| a == "--panic-only");
        let signals = args.iter().any(|a| a == "--signals");
        let inline = args.iter().any(|a| a == "--inline");
        if !panics(cycles, release, panic_only, signals, inline) {
            eprintln!("relive-memory: a module panic was not reported as its actor's exit");
            std::process::exit(1);
        }
        return;
    }
    let (host, v1, hotfix) = host();
    let mut ok = true;
    match args.first().map(String::as_str) {
        Some("backlog") => {
            let n = arg(&args, "--messages", 1_000_000);
            let (bounded, count) = backlog(&host, n, 1024);
            figure("backlog_messages", n as f64, "msgs");
            figure("backlog_bounded_peak_rss_growth", bounded as f64, "B");
            ok &= count == n;
            let (unbounded, count) = backlog(&host, n, 0);
            figure("backlog_unbounded_peak_rss_growth", unbounded as f64, "B");
            ok &= count == n;
            figure("backlog_lost", if ok { 0.0 } else { 1.0 }, "msgs");
            // 1024 queued envelopes are well under 1 MiB; allow the
            // allocator's slack.
            ok &= bounded < 8 << 20;
        }
        Some("cycles") => {
            let cycles = arg(&args, "--cycles", 10_000);
            let actors: Vec<Counter> =
                (0..16).map(|i| host.spawn("counter", &(i as u64)).unwrap()).collect();
            let start = Instant::now();
            let mut settled = 0;
            for i in 0..cycles {
                let to = if i % 2 == 0 { &hotfix } else { &v1 };
                // Same version, another build: an operator's `--force`.
                let force = relive::host::UpgradeOptions::new().force(true);
                host.code_server().upgrade_with("counter", to, force).expect("upgrade");
                host.code_server().purge("counter").expect("purge");
                if i + 1 == cycles / 10 {
                    settled = rss_bytes();
                }
            }
            for (i, a) in actors.iter().enumerate() {
                ok &= a.call(CounterMsg::Get).unwrap().count == i as u64;
            }
            let end = rss_bytes();
            figure("cycles", cycles as f64, "upgrade+purge");
            figure("cycles_seconds", start.elapsed().as_secs_f64(), "s");
            figure("cycles_rss_after_first_tenth", settled as f64, "B");
            figure("cycles_rss_at_end", end as f64, "B");
            let growth = end.saturating_sub(settled);
            figure("cycles_rss_growth", growth as f64, "B");
            let mapped = libraries_mapped("counter");
            figure("cycles_libraries_mapped", mapped as f64, "libraries");
            ok &= growth < 8 << 20 && mapped <= 2;
        }
        _ => {
            eprintln!(
                "usage: relive-memory backlog [--messages N] | cycles [--cycles N] \
                 | panics [--cycles N] [--release-modules] [--panic-only]"
            );
            std::process::exit(2);
        }
    }
    if !ok {
        eprintln!("relive-memory: a bound was broken or state was lost");
        std::process::exit(1);
    }
}
