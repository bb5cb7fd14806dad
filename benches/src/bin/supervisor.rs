//! `supervisor`: 100 k children under a dynamic supervisor (restart latency
//! is `relive-bench restart`, beside OTP's).
//!
//! - `spawn_supervised_us_per_actor`: 100 k `start_child` under
//!   `simple_one_for_one`;
//! - `supervisor_shutdown_us_per_child`: stopping that supervisor.
//!
//! Run: `cargo run --release -p relive-benches --bin supervisor`

use relive_benches::{counter_host, figure, machine};
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Strategy, Supervisor};
use std::time::Instant;

const CHILDREN: usize = 100_000;

fn main() {
    eprintln!("machine: {}", machine());
    let (host, _) = counter_host();
    let template = Child::new(
        ChildSpec::worker("counter", &["counter"]),
        ChildStart::module("counter", &0u64),
    );
    let flags = Flags::new(Strategy::SimpleOneForOne);
    let dynamic = Supervisor::start(&host, flags, vec![template]).unwrap();
    let start = Instant::now();
    for _ in 0..CHILDREN {
        dynamic.start_simple_child(&0u64).unwrap();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / CHILDREN as f64;
    figure("relive", "spawn_supervised_us_per_actor", us, "us");
    let start = Instant::now();
    dynamic.stop().expect("the supervisor runs");
    let us = start.elapsed().as_secs_f64() * 1e6 / CHILDREN as f64;
    figure("relive", "supervisor_shutdown_us_per_child", us, "us");
}
