//! `relive-soak --seconds N [--seed S] [--ops A,B,..] [--slow N]`: a chaos soak.
//!
//! Thousands of actors of two modules (`counter`, `billing`) run under
//! supervisors while three traffic threads send them mail and a chaos thread,
//! driven by the seed, keeps doing random things: atomic upgrades and
//! rollbacks, gradual upgrades then promote or abort, purges, upgrades to
//! builds that crash-loop (rolled back by the supervisors), panicking
//! handlers, kills, and bad module files.
//!
//! Invariants, checked continuously and at the end:
//! - every traffic actor is owned by one thread, which knows exactly what
//!   each reply must say: a message lost, duplicated or reordered, or state
//!   lost in a migration, shows as a wrong count;
//! - every message a traffic thread sent was handled exactly once (the sum
//!   of the counts at the end);
//! - at most two versions per module, and no actor runs a version that is
//!   neither current nor old;
//! - a bad file is refused and changes nothing.
//!
//! Chaos that destroys state (panics, kills, crash loops) only touches
//! actors no traffic thread owns. On any violation it prints the seed and
//! exits non-zero. `--slow N` multiplies every timeout and time window the
//! invariants rely on (call timeouts, the supervisor's probation window) by
//! N, for runs under valgrind.

use billing_api::{BillingMsg, BillingReply};
use counter_api::{CounterMsg, CounterReply};
use relive::host::{Canary, UpgradeMode, UpgradeOptions};
use relive::supervisor::{Child, ChildSpec, ChildStart, Flags, Probation, Strategy, Supervisor};
use relive::{ActorRef, ExitReason, Host};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TRAFFIC_THREADS: usize = 3;
const COUNTERS_PER_THREAD: usize = 300;
const ACCOUNTS_PER_THREAD: usize = 300;
const CHAOS_ACTORS: usize = 50;

/// `--slow N`: every timeout and time window the soak relies on, ×N (for
/// runs under valgrind, ~50× slower). Set once in `main`.
static SLOW: AtomicU64 = AtomicU64::new(1);

/// `d` scaled by `--slow`.
fn scaled(d: Duration) -> Duration {
    // ORDERING: written once before any thread starts.
    d * SLOW.load(Ordering::Relaxed) as u32
}

/// The timeout of every call the soak makes: OTP's 5 s, scaled.
fn call_timeout() -> Duration {
    scaled(relive::actor::DEFAULT_CALL_TIMEOUT)
}

/// A small deterministic generator (xorshift64*), so a seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Stats {
    messages: AtomicU64,
    upgrades: AtomicU64,
    rollbacks: AtomicU64,
    violations: AtomicU64,
}

fn violation(stats: &Stats, what: String) {
    eprintln!("VIOLATION: {what}");
    stats.violations.fetch_add(1, Ordering::Relaxed);
}

struct Libs {
    counter: [PathBuf; 3],
    billing: [PathBuf; 3],
    bad: Vec<PathBuf>,
}

fn libraries(scratch: &std::path::Path) -> Libs {
    let f = relive_test_support::fixtures();
    let copy = |name: &str| {
        let dest = scratch.join(format!("{name}.so"));
        std::fs::copy(f.path(name), &dest).expect("copy fixture");
        dest
    };
    let truncated = scratch.join("truncated.so");
    std::fs::write(&truncated, &std::fs::read(f.path("counter_v2")).unwrap()[..8192]).unwrap();
    Libs {
        counter: [copy("counter_v1"), copy("counter_v2"), copy("counter_v3_crashy")],
        billing: [
            relive_test_support::build_library("billing-v1", false),
            relive_test_support::build_library("billing-v2", false),
            relive_test_support::build_library("billing-v3", false),
        ],
        bad: vec![
            truncated,
            copy("wrong_abi"),
            copy("incompatible_schema"),
            copy("unreadable_state"),
        ],
    }
}

/// One traffic thread: owns its actors, checks every reply exactly.
fn traffic(
    me: usize,
    counters: &[ActorRef<CounterMsg, CounterReply>],
    accounts: &[ActorRef<BillingMsg, BillingReply>],
    stop: &AtomicBool,
    stats: &Stats,
    seed: u64,
) -> (Vec<u64>, Vec<u64>) {
    let mut rng = Rng(seed ^ (me as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut counts = vec![0u64; counters.len()];
    let mut balances = vec![0u64; accounts.len()];
    while !stop.load(Ordering::Relaxed) {
        let i = rng.below(counters.len() as u64) as usize;
        let casts = rng.below(4);
        for _ in 0..casts {
            if counters[i].cast(CounterMsg::Add(1)).is_err() {
                violation(stats, format!("cast to traffic counter {i} refused"));
            }
        }
        match counters[i].call_timeout(CounterMsg::Add(1), call_timeout()) {
            Ok(r) if r.count == counts[i] + casts + 1 => counts[i] = r.count,
            Ok(r) => {
                violation(
                    stats,
                    format!(
                        "counter {i}: count {} after {} (seed {seed})",
                        r.count,
                        counts[i] + casts + 1
                    ),
                );
                counts[i] = r.count;
            }
            Err(e) => violation(stats, format!("counter {i}: call failed: {e}")),
        }
        stats.messages.fetch_add(casts + 1, Ordering::Relaxed);
        let j = rng.below(accounts.len() as u64) as usize;
        // 1-cent orders: every version prices them at 1 (and none crashes on them).
        match accounts[j].call_timeout(BillingMsg::Charge { amount: 1 }, call_timeout()) {
            Ok(r) if r.balance == balances[j] + 1 => balances[j] = r.balance,
            Ok(r) => {
                violation(
                    stats,
                    format!("account {j}: balance {} after {}", r.balance, balances[j] + 1),
                );
                balances[j] = r.balance;
            }
            Err(e) => violation(stats, format!("account {j}: call failed: {e}")),
        }
        stats.messages.fetch_add(1, Ordering::Relaxed);
    }
    (counts, balances)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let seconds: u64 = arg("--seconds").map_or(60, |s| s.parse().expect("--seconds N"));
    // `--ops 0,1,2`: only these chaos operations (for narrowing a failure down).
    let ops: Vec<u64> = arg("--ops").map_or_else(
        || (0..10).collect(),
        |s| s.split(',').filter_map(|o| o.parse().ok()).collect(),
    );
    let seed: u64 = arg("--seed").map_or_else(
        || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
                as u64
                | 1
        },
        |s| s.parse().expect("--seed S"),
    );
    let slow: u64 = arg("--slow").map_or(1, |s| s.parse().expect("--slow N"));
    // ORDERING: before any other thread exists.
    SLOW.store(slow.max(1), Ordering::Relaxed);
    eprintln!("soak: {seconds} s, seed {seed}, slow x{slow}");
    // Not under /tmp: the loader refuses libraries in directories others may write.
    let scratch = relive_test_support::scratch_dir();
    let libs = libraries(scratch.path());

    let host = Host::builder().workers(2).build().expect("host");
    // Every billing version writes each charge through the `ledger` port
    // (issue 15) and counts it once the receipt comes: an in-memory ledger
    // here, one row per charge.
    let rows = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    host.port(billing_api::LEDGER_PORT, move |_: billing_api::LedgerWrite| {
        let row = rows.fetch_add(1, Ordering::Relaxed) + 1;
        async move { Ok::<_, String>(billing_api::LedgerReceipt { row }) }
    })
    .expect("the ledger port");
    host.code_server().upgrade("counter", &libs.counter[0]).unwrap();
    host.code_server().upgrade("billing", &libs.billing[0]).unwrap();
    // Traffic actors and chaos actors live under separate supervisors: the
    // chaos crashes its own actors as fast as it likes without the traffic
    // supervisor reaching its intensity (which would, rightly, stop every
    // child). The chaos supervisor does the crash-loop rollbacks; chaos
    // panics and kills are paced so they do not trip its probation.
    // The traffic supervisor holds two modules' children: one_for_one (a
    // simple_one_for_one has one template).
    let flags = Flags::new(Strategy::OneForOne).intensity(10, Duration::from_secs(1));
    let sup = Supervisor::start(&host, flags, vec![]).unwrap();
    let probation = Probation::default();
    let chaos_flags = Flags::new(Strategy::SimpleOneForOne)
        .intensity(100_000, Duration::from_secs(1))
        .probation(Some(Probation { within: scaled(probation.within), ..probation }));
    let chaos_template =
        Child::new(ChildSpec::worker("chaos", &["counter"]), ChildStart::module("counter", &0u64));
    let chaos_sup = Supervisor::start(&host, chaos_flags, vec![chaos_template]).unwrap();
    let start_counter = |id: String| -> ActorRef<CounterMsg, CounterReply> {
        sup.start_child(Child::new(
            ChildSpec::worker(id, &["counter"]),
            ChildStart::module("counter", &0u64),
        ))
        .unwrap()
        .expect("the counter's init does not ignore")
        .typed()
        .expect("types")
    };
    let mut traffic_counters: Vec<Vec<ActorRef<CounterMsg, CounterReply>>> = Vec::new();
    let mut traffic_accounts: Vec<Vec<ActorRef<BillingMsg, BillingReply>>> = Vec::new();
    for t in 0..TRAFFIC_THREADS {
        traffic_counters
            .push((0..COUNTERS_PER_THREAD).map(|i| start_counter(format!("t{t}-c{i}"))).collect());
        traffic_accounts.push(
            (0..ACCOUNTS_PER_THREAD)
                .map(|i| {
                    let id = (t * ACCOUNTS_PER_THREAD + i) as u64;
                    let spec = ChildSpec::worker(format!("t{t}-a{i}"), &["billing"]);
                    sup.start_child(Child::new(spec, ChildStart::module("billing", &id)))
                        .unwrap()
                        .expect("billing's init does not ignore")
                        .typed()
                        .expect("types")
                })
                .collect(),
        );
    }
    let chaos: Vec<ActorRef<CounterMsg, CounterReply>> = (0..CHAOS_ACTORS)
        .map(|_| {
            chaos_sup
                .start_simple_child(&0u64)
                .unwrap()
                .expect("the counter's init does not ignore")
                .typed()
                .expect("types")
        })
        .collect();
    eprintln!("soak: {} actors", host.actor_count());

    let stats = Stats::default();
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = Rng(seed);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TRAFFIC_THREADS)
            .map(|t| {
                let (c, a, stop, stats) =
                    (&traffic_counters[t], &traffic_accounts[t], &stop, &stats);
                s.spawn(move || traffic(t, c, a, stop, stats, seed))
            })
            .collect();
        // The chaos thread is this one.
        let mut gradual: Option<&str> = None;
        while Instant::now() < deadline {
            let module = if rng.below(2) == 0 { "counter" } else { "billing" };
            let libs_of = if module == "counter" { &libs.counter } else { &libs.billing };
            let on_v1 = host.code_server().current(module).is_some_and(|v| v.version().major == 1);
            let op = rng.below(10);
            if !ops.contains(&op) {
                continue;
            }
            match op {
                // Upgrade v1 -> v2, atomic or gradual.
                0..=2 if gradual.is_none() && on_v1 => {
                    let opts = if rng.below(3) == 0 {
                        gradual = Some(module);
                        UpgradeOptions::new()
                            .mode(UpgradeMode::Gradual(Canary::Percent(rng.below(50) as u32 + 1)))
                    } else {
                        UpgradeOptions::new()
                    }
                    .purge(true);
                    match host.code_server().upgrade_with(module, &libs_of[1], opts) {
                        Ok(_) => stats.upgrades.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            gradual = None;
                            violation(&stats, format!("upgrade {module} to v2 failed: {e}"));
                            0
                        }
                    };
                }
                // Finish a gradual upgrade: promote or abort.
                3 if gradual.is_some() => {
                    let m = gradual.take().unwrap();
                    let code = host.code_server();
                    let r = if rng.below(2) == 0 {
                        code.promote(m).map(drop)
                    } else {
                        code.abort(m).map(drop)
                    };
                    if let Err(e) = r {
                        violation(&stats, format!("promote/abort {m}: {e}"));
                    }
                }
                // Roll back v2 -> v1, then purge.
                4 | 5
                    if gradual.is_none() && !on_v1 && host.code_server().old(module).is_some() =>
                {
                    match host.code_server().rollback(module) {
                        Ok(r) if r.failed.is_empty() && r.restored_from_snapshot == 0 => {
                            stats.rollbacks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => violation(&stats, format!("rollback {module}: {r:?}")),
                        Err(e) => violation(&stats, format!("rollback {module}: {e}")),
                    }
                    let _ = host.code_server().purge(module);
                }
                // A crash-looping build: the supervisor must roll it back.
                6 if gradual.is_none() && module == "counter" => {
                    let before = host.code_server().current(module).unwrap().version().clone();
                    let forced = UpgradeOptions::new().force(true).purge(true);
                    if host.code_server().upgrade_with(module, &libs_of[2], forced).is_ok() {
                        stats.upgrades.fetch_add(1, Ordering::Relaxed);
                        let victim = &chaos[rng.below(CHAOS_ACTORS as u64) as usize];
                        let mut seen = Vec::new();
                        for _ in 0..3 {
                            let crash = victim.call_timeout(CounterMsg::Add(7), call_timeout());
                            let t = Instant::now();
                            let mut back = false;
                            while !back && t.elapsed() < scaled(Duration::from_secs(5)) {
                                back = victim.call_timeout(CounterMsg::Get, call_timeout()).is_ok();
                            }
                            seen.push((crash.err().map(|e| e.to_string()), back, t.elapsed()));
                        }
                        let now = host.code_server().current(module).unwrap().version().clone();
                        if now != before {
                            violation(
                                &stats,
                                format!(
                                    "crash loop not rolled back: {before} -> {now}; old slot: {:?}; \
                                     rollbacks by the chaos supervisor: {}; last history: {:?}; \
                                     crashes (error, back, after): {seen:?}",
                                    host.code_server().old(module).map(|v| v.version().to_string()),
                                    chaos_sup.rollbacks().len(),
                                    host.code_server()
                                        .history(Some(module))
                                        .iter()
                                        .rev()
                                        .take(4)
                                        .map(|h| (h.action, h.to.clone(), h.refused.clone()))
                                        .collect::<Vec<_>>()
                                ),
                            );
                        } else {
                            stats.rollbacks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // A panicking handler or a kill, on a chaos actor, while no
                // upgrade is on probation (a crash then would, rightly, be
                // taken for a crash loop of the new version).
                7 if on_v1 && host.code_server().old("counter").is_none() => {
                    let victim = &chaos[rng.below(CHAOS_ACTORS as u64) as usize];
                    if rng.below(2) == 0 {
                        let _ =
                            victim.call_timeout(CounterMsg::Panic("soak".into()), call_timeout());
                    } else {
                        // A victim that exited already (NoProc) is no news.
                        let _ = host.terminate(&victim.any(), ExitReason::Killed);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                // A bad module file: refused, nothing changes.
                8 => {
                    let bad = &libs.bad[rng.below(libs.bad.len() as u64) as usize];
                    let slots = || {
                        host.code_server()
                            .which("counter")
                            .map(|w| (w.current.hash, w.old.map(|o| o.hash)))
                    };
                    let before = slots();
                    if host.code_server().upgrade("counter", bad).is_ok() {
                        violation(&stats, format!("{} was accepted", bad.display()));
                    }
                    if slots() != before {
                        violation(&stats, format!("refusing {} changed the slots", bad.display()));
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        if let Some(m) = gradual {
            let _ = host.code_server().promote(m);
        }
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });

    // Quiescent now: every actor of a module runs its current or old
    // version (at most two exist by construction: the slots).
    std::thread::sleep(Duration::from_millis(200));
    for m in ["counter", "billing"] {
        let which = host.code_server().which(m).unwrap();
        let live = which.current.instances + which.old.as_ref().map_or(0, |o| o.instances);
        if live != host.actors_of(m) {
            violation(
                &stats,
                format!("{m}: {} actors but {live} instances on current+old", host.actors_of(m)),
            );
        }
    }
    // The end: every traffic actor holds exactly what its thread sent.
    let mut lost = 0u64;
    for (t, (counts, balances)) in results.iter().enumerate() {
        for (i, want) in counts.iter().enumerate() {
            let got = traffic_counters[t][i]
                .call_timeout(CounterMsg::Get, call_timeout())
                .map(|r| r.count)
                .unwrap_or(0);
            lost += want.abs_diff(got);
        }
        for (j, want) in balances.iter().enumerate() {
            let got = traffic_accounts[t][j]
                .call_timeout(BillingMsg::Balance, call_timeout())
                .map(|r| r.balance)
                .unwrap_or(0);
            lost += want.abs_diff(got);
        }
    }
    if lost > 0 {
        violation(&stats, format!("{lost} messages' effects missing at the end"));
    }
    for r in sup.rollbacks().iter().chain(chaos_sup.rollbacks().iter()) {
        if r.rollback.restored_from_snapshot > 0 {
            eprintln!(
                "rollback restored {} actor(s) from snapshots: {r:?}",
                r.rollback.restored_from_snapshot
            );
        }
    }
    eprintln!(
        "traffic supervisor rollbacks: {}, chaos supervisor rollbacks: {}",
        sup.rollbacks().len(),
        chaos_sup.rollbacks().len()
    );
    let violations = stats.violations.load(Ordering::Relaxed);
    println!("soak seconds: {seconds}");
    println!("soak upgrades: {}", stats.upgrades.load(Ordering::Relaxed));
    println!("soak rollbacks: {}", stats.rollbacks.load(Ordering::Relaxed));
    println!("soak messages: {}", stats.messages.load(Ordering::Relaxed));
    println!("soak lost: {lost}");
    println!("soak invariant_violations: {violations}");
    drop(scratch);
    if violations > 0 {
        eprintln!("soak FAILED; replay with --seed {seed}");
        std::process::exit(1);
    }
}
