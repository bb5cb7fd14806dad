//! `supervisor`: restart latency, and 100 k children under a dynamic
//! supervisor.
//!
//! - `restart_latency_us`: a counter child crashes (its handler panics) and
//!   the supervisor restarts it in place; measured from the crashing call's
//!   return to the first successful call on the restarted child, with the
//!   supervisor's reports on (`tracing` events, no subscriber installed:
//!   the cost of building them is in, the cost of a sink is not);
//! - `spawn_supervised_us_per_actor`: 100 k `start_child` under
//!   `simple_one_for_one`;
//! - `supervisor_shutdown_us_per_child`: stopping that supervisor.
//!
//! Run: `cargo run --release -p relive-benches --bin supervisor`
//! (the module's panic messages go to stderr; `2>/dev/null` hides them).

use counter_api::{CounterMsg, CounterReply};
use relive_benches::{counter_host, figure, machine};
use relive_runtime::ActorRef;
use relive_supervisor::{Child, ChildSpec, ChildStart, Flags, Strategy, Supervisor};
use std::time::{Duration, Instant};

const CRASHES: usize = 300;
const CHILDREN: usize = 100_000;

fn main() {
    eprintln!("machine: {}", machine());
    let (host, _) = counter_host();
    let flags = Flags::default().intensity(u32::MAX, Duration::from_secs(1)).probation(None);
    let child =
        Child::new(ChildSpec::worker("c", &["counter"]), ChildStart::module("counter", &0u64));
    let sup = Supervisor::start(&host, flags, vec![child]).unwrap();
    let c: ActorRef<CounterMsg, CounterReply> = sup.child("c").unwrap().typed();
    let mut samples = Vec::with_capacity(CRASHES);
    for _ in 0..CRASHES {
        let _ = c.call(CounterMsg::Panic("bench crash".into()));
        let crashed = Instant::now();
        while c.call(CounterMsg::Get).is_err() {}
        samples.push(crashed.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    figure("relive", "restart_latency_us", samples[samples.len() / 2], "us");
    sup.stop();

    let dynamic = Supervisor::start(&host, Flags::new(Strategy::SimpleOneForOne), vec![]).unwrap();
    let start = Instant::now();
    for _ in 0..CHILDREN {
        let child =
            Child::new(ChildSpec::worker("", &["counter"]), ChildStart::module("counter", &0u64));
        dynamic.start_child(child).unwrap();
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / CHILDREN as f64;
    figure("relive", "spawn_supervised_us_per_actor", us, "us");
    let start = Instant::now();
    dynamic.stop();
    let us = start.elapsed().as_secs_f64() * 1e6 / CHILDREN as f64;
    figure("relive", "supervisor_shutdown_us_per_child", us, "us");
}
