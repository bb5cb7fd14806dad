//! `metrics`: what the runtime's metrics cost, and how long a status takes
//! with 100 k actors (issue 16).
//!
//! - `relive metrics_overhead_pct`: the `cast` scenario of `relive-bench`
//!   (one producer casts `Add(1)` to one release-built `counter_v1`
//!   actor, then one call waits for all of them; 500 k per round here) on
//!   two hosts in the same process, one with metrics on (the default) and
//!   one built with `HostBuilder::metrics(false)`: `OVERHEAD_SETS` sets,
//!   each on a fresh pair of hosts, of four rounds (on, off, off, on, each
//!   after a short idle gap); the figure is the median over the sets of
//!   the set's mean `(off − on) / off × 100` (negative: within the noise,
//!   on was faster);
//! - `relive status_ms_100k`: with 100 k counter actors live (1 in 100 under
//!   a registered name), the views a status is built from
//!   (`HostHandle::actor_views`, `actors_by_build`, `tree_views`), median of
//!   `REPS`;
//! - `relive status_admin_ms_100k`: the same status through the admin
//!   socket (`Command::Status`: built, encoded as JSON, sent, read back by
//!   the client), median of `REPS`.
//! - `relive metrics_scrape_ms_100k`: `HostHandle::metrics_text` with the
//!   same 100 k actors.
//!
//! Run: `cargo run --release -p relive-benches --bin metrics [overhead|status]`
//! (both unless one is named); `metrics control` runs the overhead rounds
//! with metrics on in both hosts (the figure is then the bench's noise).
//! For a profiler, `metrics casts-on` and
//! `metrics casts-off` run only the cast rounds of one host, metrics on or
//! off, and print nothing but their throughput and messages per turn.

use counter_api::{CounterMsg, CounterReply};
use relive_benches::{figure, median};
use relive_runtime::admin::protocol::{Command, PROTOCOL_VERSION, Request};
use relive_runtime::{ActorRef, Host, SpawnOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

const CASTS: u64 = 500_000;
const REPS: usize = 5;
/// Sets of the overhead bench: a set's difference spreads about ±20 %
/// on this 2-core VM, so the median of 25 (the first choice) moved by
/// ±4 % from run to run even in the control; 100 sets resolve the 2 %
/// the issue asks for (`METRICS_SETS` overrides).
const OVERHEAD_SETS: usize = 100;
/// Idle time before each timed round (workers park well within it).
const IDLE_GAP: std::time::Duration = std::time::Duration::from_millis(20);
const ACTORS: usize = 100_000;

type Counter = ActorRef<CounterMsg, CounterReply>;

fn cast(c: &Counter) -> f64 {
    let start = Instant::now();
    for _ in 0..CASTS {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    c.call(CounterMsg::Get).unwrap();
    CASTS as f64 / start.elapsed().as_secs_f64()
}

fn host(metrics: bool, v1: &std::path::Path) -> Host {
    let host = Host::builder().metrics(metrics).build().expect("host");
    host.code_server().upgrade("counter", v1).expect("load counter v1");
    host
}

/// `control`: metrics on in both hosts, to see what the bench reads when
/// there is nothing to find.
///
/// Two hosts in one process differ by more than metrics cost: where their
/// workers and the actor's mailbox land (threads on cores, allocations on
/// cache lines) moved one host's throughput by up to ±15 % against the
/// other's for a whole process with metrics on in both. So every set gets
/// a fresh pair of hosts, and the figure is the median over the sets.
fn overhead(v1: &std::path::Path, control: bool) {
    let (mut with, mut without, mut pct) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_turn = (Vec::new(), Vec::new());
    let round = |c: &Counter| {
        // Idle before each round: neither host's workers still spin from
        // the last one.
        std::thread::sleep(IDLE_GAP);
        cast(c)
    };
    let sets = std::env::var("METRICS_SETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(OVERHEAD_SETS)
        .max(1);
    for _ in 0..sets {
        let on = host(true, v1);
        let off = host(control, v1);
        let a: Counter = on.spawn("counter", &0u64).unwrap();
        let b: Counter = off.spawn("counter", &0u64).unwrap();
        // Warm-up, then on, off, off, on: going first or second cancels.
        round(&a);
        round(&b);
        let (w1, wo1) = (round(&a), round(&b));
        let (wo2, w2) = (round(&b), round(&a));
        with.extend([w1, w2]);
        without.extend([wo1, wo2]);
        pct.push(((wo1 - w1) / wo1 + (wo2 - w2) / wo2) * 50.0);
        if let (Ok(sa), Ok(sb)) = (on.sys().statistics(&a.any()), off.sys().statistics(&b.any())) {
            per_turn.0.push(sa.messages_in as f64 / sa.turns as f64);
            per_turn.1.push(sb.messages_in as f64 / sb.turns as f64);
        }
    }
    let mut sorted = pct.clone();
    sorted.sort_by(f64::total_cmp);
    let quartile = |q: usize| sorted[(sorted.len() - 1) * q / 4];
    eprintln!(
        "differences over {} sets: quartiles {:.1} / {:.1} / {:.1} %",
        sorted.len(),
        quartile(1),
        quartile(2),
        quartile(3)
    );
    eprintln!(
        "cast msgs/s (medians of {} rounds): metrics on {:.0}, off {:.0}",
        with.len(),
        median(&with),
        median(&without)
    );
    if !per_turn.0.is_empty() {
        eprintln!(
            "messages per turn (medians): on {:.1}, off {:.1}",
            median(&per_turn.0),
            median(&per_turn.1)
        );
    }
    figure("relive", "metrics_overhead_pct", median(&pct), "%");
}

fn admin_status(path: &std::path::Path) -> usize {
    let mut stream = UnixStream::connect(path).expect("admin socket");
    let req = Request { version: PROTOCOL_VERSION, command: Command::Status };
    let mut line = serde_json::to_string(&req).unwrap();
    line.push('\n');
    stream.write_all(line.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).unwrap();
    let v: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    v["Done"]["Status"]["actors"].as_array().expect("a status").len()
}

fn status(v1: &std::path::Path) {
    let host = host(true, v1);
    let actors: Vec<Counter> = (0..ACTORS)
        .map(|i| {
            let opts = if i % 100 == 0 {
                SpawnOptions::default().name(format!("c{i}"))
            } else {
                SpawnOptions::default()
            };
            host.spawn_with("counter", &(i as u64), opts).unwrap()
        })
        .collect();
    let mut views = Vec::new();
    let reps = std::env::var("STATUS_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(REPS);
    if reps != REPS {
        eprintln!("views: {reps} repetitions");
    }
    for _ in 0..reps {
        let start = Instant::now();
        let a = host.actor_views();
        let b = host.actors_by_build("counter");
        let t = host.tree_views();
        views.push(start.elapsed().as_secs_f64() * 1e3);
        assert_eq!(a.len(), ACTORS);
        assert_eq!(b.values().sum::<usize>(), ACTORS);
        assert!(t.is_empty());
    }
    eprintln!(
        "status views: min {:.2} ms of {REPS}",
        views.iter().copied().fold(f64::MAX, f64::min)
    );
    figure("relive", "status_ms_100k", median(&views), "ms");
    let dir = tempfile_dir();
    let sock = dir.join("admin.sock");
    let _server = host.serve_admin(&sock).expect("admin socket");
    let mut admin = Vec::new();
    for _ in 0..REPS {
        let start = Instant::now();
        assert_eq!(admin_status(&sock), ACTORS);
        admin.push(start.elapsed().as_secs_f64() * 1e3);
    }
    figure("relive", "status_admin_ms_100k", median(&admin), "ms");
    let mut scrape = Vec::new();
    for _ in 0..REPS {
        let start = Instant::now();
        let text = host.metrics_text();
        scrape.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(
            text.contains("relive_version_actors{module=\"counter\",version=\"1.0.0\"} 100000")
        );
    }
    figure("relive", "metrics_scrape_ms_100k", median(&scrape), "ms");
    drop(actors);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private directory for the admin socket (mode 0700, as the host wants).
fn tempfile_dir() -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!("relive-bench-metrics-{}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).expect("a private directory");
    dir
}

fn main() {
    let v1 = relive_test_support::build_library("counter_v1", true);
    let only = std::env::args().nth(1).unwrap_or_default();
    if let Some(on) = match only.as_str() {
        "casts-on" => Some(true),
        "casts-off" => Some(false),
        _ => None,
    } {
        let host = host(on, &v1);
        let c: Counter = host.spawn("counter", &0u64).unwrap();
        let rounds: Vec<f64> = (0..4).map(|_| cast(&c)).collect();
        let stats = host.handle().sys().statistics(&c.any()).unwrap();
        eprintln!(
            "cast msgs/s, metrics {}: {:.0} ({:.1} messages per turn)",
            if on { "on" } else { "off" },
            median(&rounds),
            stats.messages_in as f64 / stats.turns.max(1) as f64
        );
        return;
    }
    if only != "status" {
        overhead(&v1, only == "control");
    }
    if only != "overhead" && only != "control" {
        status(&v1);
    }
}
