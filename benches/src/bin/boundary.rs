//! `boundary`: what crossing the dynamic-library boundary costs per message.
//!
//! The same module (counter v1) runs twice: once as a release-built `cdylib`
//! loaded with `dlopen`, once linked into this binary with `declaration!`.
//! Both go through the same code path — typed call, postcard encode of a
//! small order (an id, an amount, a 16-byte memo), the `extern "C"` handle
//! function, postcard decode of the reply — so the difference is what the
//! dynamic library itself costs.
//!
//! Run: `cargo run --release -p relive-benches --bin boundary`

use counter_api::{CounterMsg, CounterReply};
use relive_benches::{figure, machine, median, ns_per_iter};
use relive_runtime::{Instance, ModuleTable};
use std::hint::black_box;

const MSGS: u64 = 2_000_000;
const REPS: usize = 9;

fn run(inst: &mut Instance) -> f64 {
    let memo = String::from("sixteen-byte-memo");
    let memo = &memo[..16];
    ns_per_iter(MSGS, |i| {
        let msg = CounterMsg::Charge { id: i, amount: -42, memo: memo.to_owned() };
        let reply: CounterReply = inst.call(black_box(&msg)).expect("call");
        black_box(reply);
    })
}

fn main() {
    eprintln!("machine: {}", machine());
    let dylib_path = relive_test_support::build_library("counter_v1", true);
    let dylib = ModuleTable::new().expect("code server");
    dylib.load("counter", &dylib_path).expect("load dylib");
    let stat = ModuleTable::new().expect("code server");
    stat.load("counter", counter_v1::relive_declaration()).expect("load static");

    let mut d = Instance::start_with(&dylib.current("counter").unwrap(), &0u64).unwrap();
    let mut s = Instance::start_with(&stat.current("counter").unwrap(), &0u64).unwrap();
    // Warm-up, then interleave the two so that noise hits both alike.
    run(&mut d);
    run(&mut s);
    let mut dylib_ns = Vec::new();
    let mut static_ns = Vec::new();
    let mut extra = Vec::new();
    for _ in 0..REPS {
        let a = run(&mut d);
        let b = run(&mut s);
        dylib_ns.push(a);
        static_ns.push(b);
        extra.push(a - b);
    }
    figure("relive", "boundary_static_ns_per_msg", median(&static_ns), "ns");
    figure("relive", "boundary_dylib_ns_per_msg", median(&dylib_ns), "ns");
    figure("relive", "boundary_extra_ns_per_msg", median(&extra), "ns");
}
