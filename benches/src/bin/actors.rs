//! `actors`: the actor layer's figures, each beside a raw channel doing the
//! same hand-off in the same run.
//!
//! - `cast_msgs_per_s`: one producer thread casts 1 M `Add(1)` to one actor of
//!   the counter *dylib* (codec included), then one call waits for all;
//! - `call_round_trips_per_s`: one caller, 200 k sequential calls;
//! - `spawn_us_per_actor`, `bytes_per_idle_actor`: 100 k counter actors.
//!
//! Run: `cargo run --release -p relive-benches --bin actors`

use counter_api::{CounterMsg, CounterReply};
use relive_benches::{counter_host, figure, machine, median, rss_bytes};
use relive_runtime::ActorRef;
use std::time::Instant;

const CASTS: u64 = 1_000_000;
const CALLS: u64 = 200_000;
const SPAWNS: usize = 100_000;
const REPS: usize = 5;

type Counter = ActorRef<CounterMsg, CounterReply>;

fn relive_cast(c: &Counter) -> f64 {
    let start = Instant::now();
    for _ in 0..CASTS {
        c.cast(CounterMsg::Add(1)).unwrap();
    }
    c.call(CounterMsg::Get).unwrap();
    CASTS as f64 / start.elapsed().as_secs_f64()
}

fn raw_cast() -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    let consumer = std::thread::spawn(move || rx.iter().sum::<u64>());
    let start = Instant::now();
    for _ in 0..CASTS {
        tx.send(1).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    CASTS as f64 / start.elapsed().as_secs_f64()
}

fn relive_call(c: &Counter) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        c.call(CounterMsg::Add(1)).unwrap();
    }
    CALLS as f64 / start.elapsed().as_secs_f64()
}

fn raw_call() -> f64 {
    let (tx, rx) = crossbeam_channel::bounded::<(u64, crossbeam_channel::Sender<u64>)>(1);
    let server = std::thread::spawn(move || {
        for (n, reply) in rx.iter() {
            reply.send(n + 1).unwrap();
        }
    });
    let (rtx, rrx) = crossbeam_channel::bounded(1);
    let start = Instant::now();
    for i in 0..CALLS {
        tx.send((i, rtx.clone())).unwrap();
        rrx.recv().unwrap();
    }
    let rate = CALLS as f64 / start.elapsed().as_secs_f64();
    drop(tx);
    server.join().unwrap();
    rate
}

fn main() {
    eprintln!("machine: {}", machine());
    let (host, _) = counter_host();
    eprintln!("relive workers: {}", host.workers());
    let c: Counter = host.spawn("counter", &0u64).unwrap();
    relive_cast(&c);
    let cast = median(REPS, || relive_cast(&c));
    let raw = median(REPS, raw_cast);
    figure("relive", "cast_msgs_per_s", cast, "msgs/s");
    figure("crossbeam", "cast_msgs_per_s", raw, "msgs/s");
    println!("ratio cast_msgs_per_s relive/crossbeam: {:.2}", cast / raw);

    relive_call(&c);
    let call = median(REPS, || relive_call(&c));
    let raw = median(REPS, raw_call);
    figure("relive", "call_round_trips_per_s", call, "rt/s");
    figure("crossbeam", "call_round_trips_per_s", raw, "rt/s");
    println!("ratio call_round_trips_per_s relive/crossbeam: {:.2}", call / raw);

    let before = rss_bytes();
    let start = Instant::now();
    let actors: Vec<Counter> = (0..SPAWNS).map(|_| host.spawn("counter", &0u64).unwrap()).collect();
    let spawn_us = start.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64;
    let bytes = (rss_bytes().saturating_sub(before)) as f64 / SPAWNS as f64;
    figure("relive", "spawn_us_per_actor", spawn_us, "us");
    // The module's state (a Box<u64> in the module's allocator) is ~32 B of it.
    figure("relive", "bytes_per_idle_actor", bytes, "B");
    drop(actors);
}
