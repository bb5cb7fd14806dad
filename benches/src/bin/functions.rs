//! `functions` (issue 17): what calling a hot-patched stateless function
//! costs, and whether swapping it under load loses a call.
//!
//! The same function (`quote` of the pricing fixture, version 1) runs twice:
//! through a host handle into the release-built `cdylib` (an RCU load, the
//! plain form: the request's fixed-layout image on the stack, the `extern
//! "C"` plain entry, the result's image read back — decision 0025) and
//! linked into this binary,
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

/// This thread's time on a CPU so far, in nanoseconds (the first field of
/// `/proc/thread-self/schedstat`); `None` where the kernel does not say.
fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

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
    // The same runs in this thread's on-CPU time, which time spent
    // descheduled on a loaded machine does not inflate (a note, not a figure).
    let mut extra_on_cpu = Vec::new();
    for _ in 0..REPS {
        let cpu = on_cpu_ns();
        let a = run_relive();
        let cpu_a = on_cpu_ns();
        let b = run_static();
        let cpu_b = on_cpu_ns();
        relive_ns.push(a);
        static_ns.push(b);
        extra.push(a - b);
        if let (Some(t0), Some(t1), Some(t2)) = (cpu, cpu_a, cpu_b) {
            extra_on_cpu.push(((t1 - t0) as f64 - (t2 - t1) as f64) / CALLS as f64);
        }
    }
    if !extra_on_cpu.is_empty() {
        eprintln!(
            "on-CPU time (/proc/thread-self/schedstat): extra {:.2} ns per call (median)",
            median(&extra_on_cpu)
        );
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
