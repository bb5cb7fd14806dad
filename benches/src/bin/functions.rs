//! `functions` (issue 17): what calling a hot-patched stateless function
//! costs, and whether swapping it under load loses a call.
//!
//! The same function (`quote` of the pricing fixture, version 1) runs twice:
//! through a host handle into the release-built `cdylib` (an RCU load, a
//! postcard encode of a small request into a stack buffer, the `extern "C"`
//! entry, a postcard decode of the result) and linked into this binary,
//! called directly through `std::hint::black_box`. The difference is what
//! hot-patching the function costs per call.
//!
//! Then the swap scenario of `runtime/tests/functions.rs`: four threads call
//! continuously while the module is swapped 1,000 times between v1 and v2;
//! every answer must come from one whole version.
//!
//! Run: `cargo run --release -p relive-benches --bin functions`

use pricing_api::{Quote, QuoteReq};
use relive_benches::{figure, machine, median, ns_per_iter};
use relive_runtime::Host;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const CALLS: u64 = 5_000_000;
const REPS: usize = 9;
const SWAPS: usize = 1000;
const FRESH_EVERY: usize = 100;
const CALLERS: u32 = 4;

fn main() {
    eprintln!("machine: {}", machine());
    let v1 = relive_test_support::build_library("pricing_v1", true);
    let v2 = relive_test_support::build_library("pricing_v2", true);
    let host = Host::new().expect("host");
    host.code_server().load("pricing", &v1).expect("load pricing v1");
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").expect("quote");

    let run_relive = || {
        ns_per_iter(CALLS, |i| {
            let req = QuoteReq { item: i as u32, qty: 3 };
            let q = quote.call(black_box(&req)).expect("call");
            black_box(q);
        })
    };
    let run_static = || {
        ns_per_iter(CALLS, |i| {
            let req = QuoteReq { item: i as u32, qty: 3 };
            let q = black_box(pricing_v1::quote)(black_box(req));
            black_box(q);
        })
    };
    // Warm-up, then interleave the two so that noise hits both alike.
    run_relive();
    run_static();
    let (mut relive_ns, mut static_ns, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPS {
        let a = run_relive();
        let b = run_static();
        relive_ns.push(a);
        static_ns.push(b);
        extra.push(a - b);
    }
    // Where the difference goes: the same handle path into the module
    // linked statically (no dylib), as a note beside the figures.
    let linked = Host::new().expect("host");
    linked.code_server().load("pricing", pricing_v1::relive_declaration()).expect("load static");
    let linked_quote = linked.function::<QuoteReq, Quote>("pricing", "quote").expect("quote");
    let linked_ns = ns_per_iter(CALLS, |i| {
        let req = QuoteReq { item: i as u32, qty: 3 };
        black_box(linked_quote.call(black_box(&req)).expect("call"));
    });
    eprintln!("the handle path into the statically linked declaration: {linked_ns:.2} ns per call");
    figure("relive", "function_call_ns", median(&relive_ns), "ns");
    figure("static", "function_call_ns", median(&static_ns), "ns");
    figure("relive", "function_call_extra_ns", median(&extra), "ns");

    // The swap scenario.
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|t| {
            let (quote, stop) = (quote.clone(), Arc::clone(&stop));
            let (failed, calls) = (Arc::clone(&failed), Arc::clone(&calls));
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let req = QuoteReq { item: t * 1_000_000 + i, qty: i % 97 };
                    match quote.call(&req) {
                        Ok(q) if q.is_whole(req) && (q.version == 1 || q.version == 2) => {}
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                    i = i.wrapping_add(1);
                }
            })
        })
        .collect();
    let code = host.code_server();
    let started = std::time::Instant::now();
    let mut on_v1 = true;
    for swap in 0..SWAPS {
        if swap % FRESH_EVERY == 0 {
            code.upgrade("pricing", if on_v1 { &v2 } else { &v1 }).expect("upgrade");
        } else {
            code.rollback("pricing").expect("rollback");
        }
        on_v1 = !on_v1;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("caller");
    }
    eprintln!("{SWAPS} swaps in {took:?} under {} calls", calls.load(Ordering::Relaxed));
    // A count, not a measurement: printed as an integer.
    println!("relive function_swaps_failed_calls: {}", failed.load(Ordering::Relaxed));
}
