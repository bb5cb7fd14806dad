//! `relive-bench <scenario>`: relive's side of the comparison with the peers
//! (`benches/peers`) and Erlang/OTP (`benches/erlang`). One scenario per
//! process; `benches/run.sh` runs every system's processes interleaved,
//! several times, and prints the medians and the ratios.
//!
//! The counter module is the release-built `counter_v1` cdylib and every
//! message goes through the codec; the host has one worker per core.
//!
//! - `cast`: one producer thread casts 1 M `Add(1)` to one actor, then one
//!   call waits for all of them (`cast_msgs_per_s`);
//! - `call`: one caller, 200 k sequential `Add(1)` calls
//!   (`call_round_trips_per_s`);
//! - `fanout`: one producer thread casts 1 M `Add(1)` round-robin to 100
//!   counter actors (10 k each); the clock stops when every actor has
//!   answered a `Get` sent after its share (all 100 calls in flight at
//!   once) and each count is checked to be 10 k (`fanout_msgs_per_s`);
//! - `pingpong`: 1,000 pairs of `pingpong` actors (the release-built
//!   `pingpong` cdylib, test-modules/pingpong), each pair bouncing one ball
//!   1,000 times (1 M messages in all, every one sent by a handler through
//!   the host's `send` service); the host calls one actor of each pair to
//!   serve, all 1,000 calls in flight at once, and the clock stops when
//!   every server has answered, which it does on receiving the rally's last
//!   ball (`pingpong_pairs_msgs_per_s`, balls per second);
//! - `spawn`: 100 k counter actors (`spawn_us_per_actor`, and the resident
//!   memory they add, `bytes_per_idle_actor`, the module's state included);
//! - `upgrade_1k`, `upgrade_10k`, `upgrade_100k`: an atomic upgrade of N
//!   live actors v1 → v2 (v2's `code_change` migrates each state), from the
//!   upgrade call until every actor runs v2 (`upgrade_atomic_<N>k_ms`; the
//!   closing calls that check every actor answers from v2 are not timed, on
//!   OTP's side neither), and the longest pause any actor saw
//!   (`upgrade_pause_<N>k_us`); `upgrade_1k` also prints the fixed cost in
//!   it, one load of the counter library into a fresh code server, median
//!   of 9 (`load_ms`);
//! - `restart`: a supervised counter's handler panics; from the crashing
//!   call's return to the first successful call on the restarted child,
//!   median of 300 (`restart_latency_us`), supervisor reports built as
//!   `tracing` events with no subscriber, as OTP's are with logging off.

use counter_api::{CounterMsg, CounterReply};
use pingpong::PingPongMsg;
use relive_benches::{block_on_all, counter_host, figure, rss_bytes, thread_cpu_ms};
use relive_runtime::{ActorRef, Host};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Supervisor};
use std::time::{Duration, Instant};

const CASTS: u64 = 1_000_000;
const CALLS: u64 = 200_000;
const SPAWNS: usize = 100_000;
const CRASHES: usize = 300;
const FANOUT_ACTORS: u64 = 100;
const FANOUT_CASTS: u64 = 1_000_000;
const PAIRS: u64 = 1_000;
const BOUNCES: u64 = 1_000;
/// The closing calls of fanout and ping-pong wait this long at most.
const CLOSING: Duration = Duration::from_secs(120);

type Counter = ActorRef<CounterMsg, CounterReply>;
type Player = ActorRef<PingPongMsg, Result<u64, String>>;

fn cast(c: &Counter) -> f64 {
    let start = Instant::now();
    for _ in 0..CASTS {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    c.call(CounterMsg::Get).unwrap();
    CASTS as f64 / start.elapsed().as_secs_f64()
}

fn fanout(host: &Host) -> f64 {
    let actors: Vec<Counter> =
        (0..FANOUT_ACTORS).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    let start = Instant::now();
    for i in 0..FANOUT_CASTS {
        actors[(i % FANOUT_ACTORS) as usize].cast(CounterMsg::Add(1)).unwrap();
    }
    let gets = actors.iter().map(|a| a.call_async_timeout(CounterMsg::Get, CLOSING)).collect();
    let replies = block_on_all(gets);
    let rate = FANOUT_CASTS as f64 / start.elapsed().as_secs_f64();
    for r in replies {
        assert_eq!(r.unwrap().count, FANOUT_CASTS / FANOUT_ACTORS);
    }
    rate
}

fn pingpong(host: &Host) -> f64 {
    let players: Vec<(Player, Player)> = (0..PAIRS)
        .map(|_| (host.spawn("pingpong", &()).unwrap(), host.spawn("pingpong", &()).unwrap()))
        .collect();
    let start = Instant::now();
    let serves = players
        .iter()
        .map(|(server, partner)| {
            let serve = PingPongMsg::Serve { partner: partner.id().get(), bounces: BOUNCES };
            server.call_async_timeout(serve, CLOSING)
        })
        .collect();
    let replies = block_on_all(serves);
    let rate = (PAIRS * BOUNCES) as f64 / start.elapsed().as_secs_f64();
    for r in replies {
        // The server received every other ball of its rally.
        assert_eq!(r.unwrap(), Ok(BOUNCES / 2));
    }
    rate
}

fn call(c: &Counter) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        c.call(CounterMsg::Add(1)).unwrap();
    }
    CALLS as f64 / start.elapsed().as_secs_f64()
}

fn spawn(host: &Host) {
    let before = rss_bytes();
    let start = Instant::now();
    let actors: Vec<Counter> = (0..SPAWNS).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    let us = start.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64;
    let bytes = rss_bytes().saturating_sub(before) as f64 / SPAWNS as f64;
    figure("relive", "spawn_us_per_actor", us, "us");
    figure("relive", "bytes_per_idle_actor", bytes, "B");
    drop(actors);
}

fn upgrade(host: &Host, v2: &std::path::Path, n: usize) {
    let actors: Vec<Counter> =
        (0..n).map(|i| host.spawn("counter", &(i as u64)).unwrap()).collect();
    // Timed: from the upgrade call until every actor runs v2 (an atomic
    // upgrade returns once every actor is migrated and resumed), as OTP's
    // side is timed from its suspends to its last resume.
    let start = Instant::now();
    let report = host.code_server().upgrade("counter", v2).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    // Not timed, on both sides: every actor answers from v2, all the calls
    // in flight at once.
    let replies = block_on_all(actors.iter().map(|a| a.call_async(CounterMsg::Get)).collect());
    assert!(replies.into_iter().all(|r| r.unwrap().logic == 2));
    assert_eq!(report.migrated, n);
    figure("relive", &format!("upgrade_atomic_{}k_ms", n / 1000), ms, "ms");
    eprintln!(
        "upgrade {n}: report.duration {:?} (load, suspend, migrate, commit, resume)",
        report.duration
    );
    let pause = report.longest_pause.as_secs_f64() * 1e6;
    figure("relive", &format!("upgrade_pause_{}k_us", n / 1000), pause, "us");
}

/// Loads of the counter library measured for `load_ms`.
const LOADS: usize = 9;

/// The fixed cost of an upgrade: one load of the counter library (steps 1
/// to 8 of the loader: open and check the file, private copy, hash,
/// `dlopen`, the declaration's checks, commit) into a fresh code server,
/// median of [`LOADS`] (`load_ms`), and the CPU time of the same loads
/// (`load_cpu_ms`: the load runs on the calling thread, so on a loaded
/// machine this is what it would take at rest).
fn load(library: &std::path::Path) {
    let (mut wall, mut cpu) = (Vec::with_capacity(LOADS), Vec::with_capacity(LOADS));
    for _ in 0..LOADS {
        let table = relive_runtime::ModuleTable::new().expect("a code server");
        let (start, cpu_start) = (Instant::now(), thread_cpu_ms());
        table.load("counter", library).expect("load the counter library");
        cpu.push(thread_cpu_ms() - cpu_start);
        wall.push(start.elapsed().as_secs_f64() * 1e3);
        let copy = match table
            .current("counter")
            .as_deref()
            .map(relive_runtime::code_server::Version::origin)
        {
            Some(relive_runtime::code_server::Origin::Dylib { copy, .. }) => Some(copy.clone()),
            _ => None,
        };
        drop(table);
        // The version's unload (unmapping, the copy's removal) runs on the
        // unloader's thread: let it end before the next load is timed, which
        // would otherwise share the two cores with it.
        if let Some(copy) = copy {
            let deadline = Instant::now() + Duration::from_secs(5);
            while copy.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    figure("relive", "load_ms", relive_benches::median(&wall), "ms");
    figure("relive", "load_cpu_ms", relive_benches::median(&cpu), "ms");
    load_phases(library);
}

/// Two parts of a load measured alone on the same library, wall-clock,
/// median of [`LOADS`] each (the thread CPU clock advances by whole
/// scheduler ticks on some VMs, too coarse for these): hashing its bytes
/// in memory on one thread (`load_phase_hash_ms`), and the kernel copying
/// the file into a new one (`load_phase_copy_ms`: the raw limit of a load
/// that makes a private copy, which the loader's hashing overlaps). The
/// rest of `load_ms` is the checks, `dlopen` and the commit.
fn load_phases(library: &std::path::Path) {
    let bytes = std::fs::read(library).expect("read the counter library");
    let (mut hash, mut copy) = (Vec::with_capacity(LOADS), Vec::with_capacity(LOADS));
    let dir = relive_test_support::scratch_dir();
    for i in 0..LOADS {
        let start = Instant::now();
        std::hint::black_box(relive_runtime::code_server::BuildHash::of_library(&bytes));
        hash.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let mut from = std::fs::File::open(library).expect("open the counter library");
        let path = dir.path().join(format!("copy-{i}.so"));
        let mut to = std::fs::File::create_new(&path).expect("create a copy");
        std::io::copy(&mut from, &mut to).expect("copy the counter library");
        copy.push(start.elapsed().as_secs_f64() * 1e3);
        // As a load's copy goes when its table does: no dirty pages pile up.
        drop(to);
        std::fs::remove_file(&path).expect("remove the copy");
    }
    figure("relive", "load_phase_hash_ms", relive_benches::median(&hash), "ms");
    figure("relive", "load_phase_copy_ms", relive_benches::median(&copy), "ms");
}

fn restart(host: &Host) {
    let flags = Flags::default().intensity(u32::MAX, Duration::from_secs(1)).probation(None);
    let child =
        Child::new(ChildSpec::worker("c", &["counter"]), ChildStart::module("counter", &0u64));
    let sup = Supervisor::start(host, flags, vec![child]).unwrap();
    let c: Counter = sup.child("c").unwrap().typed().expect("types");
    let mut samples = Vec::with_capacity(CRASHES);
    for _ in 0..CRASHES {
        let _ = c.call(CounterMsg::Panic("bench crash".into()));
        let crashed = Instant::now();
        while c.call(CounterMsg::Get).is_err() {}
        samples.push(crashed.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    figure("relive", "restart_latency_us", samples[CRASHES / 2], "us");
    sup.stop().expect("the supervisor runs");
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let (host, v2) = counter_host();
    if scenario == "pingpong" {
        let lib = relive_test_support::build_library("pingpong", true);
        host.code_server().upgrade("pingpong", &lib).expect("load pingpong");
    }
    let counter = || -> Counter { host.spawn("counter", &0u64).unwrap() };
    match scenario.as_str() {
        // One warm-up round, then the measured one.
        "cast" => {
            let c = counter();
            cast(&c);
            figure("relive", "cast_msgs_per_s", cast(&c), "msgs/s");
        }
        "call" => {
            let c = counter();
            call(&c);
            figure("relive", "call_round_trips_per_s", call(&c), "rt/s");
        }
        // Fresh actors each round: one warm-up round, then the measured one.
        "fanout" => {
            fanout(&host);
            figure("relive", "fanout_msgs_per_s", fanout(&host), "msgs/s");
        }
        "pingpong" => {
            pingpong(&host);
            figure("relive", "pingpong_pairs_msgs_per_s", pingpong(&host), "msgs/s");
        }
        "spawn" => spawn(&host),
        "upgrade_1k" => {
            load(&v2);
            upgrade(&host, &v2, 1_000)
        }
        "upgrade_10k" => upgrade(&host, &v2, 10_000),
        "upgrade_100k" => upgrade(&host, &v2, 100_000),
        "restart" => restart(&host),
        _ => {
            eprintln!(
                "usage: relive-bench <cast|call|fanout|pingpong|spawn|upgrade_1k|upgrade_10k|\
                 upgrade_100k|restart>"
            );
            std::process::exit(2);
        }
    }
}
