//! issue 17: stateless functions, called inline on the caller's thread,
//! swapped by upgrades through an RCU slot, with real `dlopen`ed libraries
//! (the `pricing_*` fixtures).

use pricing_api::{Quote, QuoteReq, SlowReq};
use relive_runtime::code_server::{LoadError, Origin};
use relive_runtime::{
    Canary, FunctionError, FunctionProblem, Host, UnloadStatus, UpgradeError, UpgradeMode,
    UpgradeOptions,
};
use relive_test_support::fixtures;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REQ: QuoteReq = QuoteReq { item: 7, qty: 3 };

fn host_with_v1() -> Host {
    let host = Host::new().unwrap();
    host.code_server().load("pricing", fixtures().path("pricing_v1")).unwrap();
    host
}

fn maps_show(path: &std::path::Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().any(|l| l.contains(path.to_str().unwrap()))
}

#[test]
fn a_call_runs_the_current_version_inline_and_types_are_checked() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let q = quote.call(&REQ).unwrap();
    assert_eq!(q, Quote::by(1, REQ));
    assert!(q.is_whole(REQ));
    assert_eq!(quote.version().unwrap().to_string(), "1.0.0");
    assert_eq!(quote.calls(), 1);

    // A result larger than the stack buffer comes back through the heap.
    let catalog = host.function::<u32, Vec<Quote>>("pricing", "catalog").unwrap();
    let all = catalog.call(&500).unwrap();
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|q| q.version == 1 && q.is_whole(QuoteReq { item: q.item, qty: 1 })));
    // So does an argument larger than it.
    let sum = host.function::<Vec<u64>, u64>("pricing", "sum").unwrap();
    let xs: Vec<u64> = (1..=1000).collect();
    assert_eq!(sum.call(&xs).unwrap(), 500_500 + 1);

    // Wrong types, unknown functions and modules: typed errors at lookup.
    match host.function::<QuoteReq, u64>("pricing", "quote") {
        Err(FunctionError::SchemaMismatch { what, function, .. }) => {
            assert_eq!((what, function.as_str()), ("result", "quote"));
        }
        other => panic!("expected a result mismatch, got {other:?}"),
    }
    match host.function::<u32, Quote>("pricing", "quote") {
        Err(FunctionError::SchemaMismatch { what, .. }) => assert_eq!(what, "argument"),
        other => panic!("expected an argument mismatch, got {other:?}"),
    }
    assert!(matches!(
        host.function::<u32, u32>("pricing", "nope"),
        Err(FunctionError::NoSuchFunction { ref function, .. }) if function == "nope"
    ));
    assert!(matches!(
        host.function::<u32, u32>("nowhere", "quote"),
        Err(FunctionError::NotLoaded { ref module }) if module == "nowhere"
    ));

    // The view the CLI shows.
    let infos = host.functions();
    let names: Vec<&str> = infos.iter().map(|i| i.function.as_str()).collect();
    assert_eq!(names, ["catalog", "fails_on_zero", "quote", "slow_quote", "sum"]);
    let q = infos.iter().find(|i| i.function == "quote").unwrap();
    assert_eq!((q.module.as_str(), q.calls), ("pricing", 1));
    assert_eq!(q.version.as_ref().unwrap().to_string(), "1.0.0");
}

#[test]
fn a_panic_in_a_function_is_a_typed_error_and_the_host_runs_on() {
    let host = host_with_v1();
    let f = host.function::<u32, u32>("pricing", "fails_on_zero").unwrap();
    match f.call(&0) {
        Err(FunctionError::Panicked { function, version, message, .. }) => {
            assert_eq!((function.as_str(), version.as_str()), ("fails_on_zero", "1.0.0"));
            assert!(message.contains("fails_on_zero: zero"), "{message}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    // issue 17, decision 0025: `u32 -> u32` is plain, so that panic was
    // caught in the plain entry.
    assert!(f.is_plain());
    assert_eq!(f.call(&21).unwrap(), 42, "the same function answers after a panic");
    // The module's actor, too.
    let actor = host.spawn::<QuoteReq, Quote, ()>("pricing", &()).unwrap();
    assert_eq!(actor.call(REQ).unwrap(), Quote::by(1, REQ));
}

#[test]
fn an_upgrade_that_drops_or_changes_a_function_is_refused_and_v1_serves_on() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let code = host.code_server();
    match code.upgrade("pricing", fixtures().path("pricing_gone")) {
        Err(UpgradeError::Refused(LoadError::FunctionMismatch { function, problem, .. })) => {
            assert_eq!(function, "quote");
            assert!(matches!(problem, FunctionProblem::Missing { .. }), "{problem:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match code.upgrade("pricing", fixtures().path("pricing_bad")) {
        Err(UpgradeError::Refused(e @ LoadError::FunctionMismatch { .. })) => {
            let LoadError::FunctionMismatch { function, problem, .. } = &e else { unreachable!() };
            assert_eq!(function, "quote");
            assert!(matches!(problem, FunctionProblem::ResultChanged { .. }), "{problem:?}");
            assert!(std::error::Error::source(&e).is_some(), "the problem is the source");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(code.current("pricing").unwrap().version().to_string(), "1.0.0");
    assert_eq!(quote.call(&REQ).unwrap(), Quote::by(1, REQ));
}

#[test]
fn rollback_serves_the_previous_version_again() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let code = host.code_server();
    code.upgrade("pricing", fixtures().path("pricing_v2")).unwrap();
    assert_eq!(quote.call(&REQ).unwrap(), Quote::by(2, REQ));
    code.rollback("pricing").unwrap();
    assert_eq!(quote.call(&REQ).unwrap(), Quote::by(1, REQ));
    // A handle made now serves the same.
    let again = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    assert_eq!(again.call(&REQ).unwrap().version, 1);
    assert_eq!(quote.calls(), 3, "every handle of one function counts into one slot");
}

#[test]
fn a_gradual_upgrade_sends_its_share_of_calls_to_the_new_version() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let code = host.code_server();
    let gradual = |p| UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Percent(p)));
    code.upgrade_with("pricing", fixtures().path("pricing_v2"), gradual(30)).unwrap();
    let count = |n: usize| {
        let mut on = [0usize; 3];
        for _ in 0..n {
            let q = quote.call(&REQ).unwrap();
            assert!(q.is_whole(REQ));
            on[q.version as usize] += 1;
        }
        on
    };
    assert_eq!(count(1000), [0, 700, 300], "30 % of the calls on the new version");
    let info = host.functions().into_iter().find(|i| i.function == "quote").unwrap();
    assert_eq!(info.version.unwrap().to_string(), "1.0.0");
    let (canary, share) = info.canary.unwrap();
    assert_eq!((canary.to_string().as_str(), share), ("2.0.0", 30));
    code.promote("pricing").unwrap();
    assert_eq!(count(100), [0, 0, 100], "promote: every call on the new version");

    // Abort: every call back on the version that served before.
    code.upgrade_with("pricing", fixtures().path("pricing_v1"), gradual(50)).unwrap();
    assert_eq!(count(100), [0, 50, 50]);
    code.abort("pricing").unwrap();
    assert_eq!(count(100), [0, 0, 100]);
}

#[test]
fn a_call_in_flight_finishes_on_its_version_which_stays_resident_until_it_returns() {
    let host = host_with_v1();
    let code = host.code_server();
    let v1 = code.current("pricing").unwrap();
    let Origin::Dylib { copy, .. } = v1.origin().clone() else { panic!("a dylib") };
    let watch = {
        let slow = host.function::<SlowReq, Quote>("pricing", "slow_quote").unwrap();
        let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
        drop(v1);
        // A call is counted once it holds its version (inside the slot's
        // read), so a count of 1 says the slow call is in flight on v1,
        // however late a loaded machine runs its thread.
        let counted = slow.clone();
        let in_flight = std::thread::spawn(move || slow.call(&SlowReq { ms: 1500, req: REQ }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while counted.calls() == 0 {
            assert!(Instant::now() < deadline, "the slow call never started");
            std::thread::yield_now();
        }
        code.upgrade("pricing", fixtures().path("pricing_v2")).unwrap();
        // v1 leaves every slot of the code server: the purge drops it.
        let purged = code.purge("pricing").unwrap();
        assert_eq!(purged.purged.unwrap().to_string(), "1.0.0");
        let watch = purged.unload.unwrap();
        // New calls are on v2 at once; the slow call still holds v1.
        assert_eq!(quote.call(&REQ).unwrap(), Quote::by(2, REQ));
        assert_eq!(watch.status(), UnloadStatus::InUse, "a call runs v1's code");
        assert!(maps_show(&copy), "v1 is mapped while its call runs");
        let q = in_flight.join().unwrap().unwrap();
        assert_eq!(q, Quote::by(1, REQ), "the call finished on the version it started on");
        watch
    };
    // Unloaded, not merely settled: the first look may come while the call's
    // thread is still ending — running v1's thread-exit destructors, a
    // `ModuleThread` hazard the unloader looks at again shortly after.
    // Generous: the swap test's callers, in this process, keep threads busy
    // on a CPU, which the unloader waits out before it closes a library
    // (`UninspectedThread`); alone this settles in milliseconds.
    assert_eq!(watch.unloaded(Duration::from_secs(30)), UnloadStatus::Unloaded);
    assert!(!maps_show(&copy));
}

#[test]
fn a_thousand_swaps_under_four_callers_lose_no_call_and_mix_no_version() {
    const SWAPS: usize = 1000;
    const FRESH_EVERY: usize = 100;
    let host = host_with_v1();
    let code = host.code_server();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..4u32)
        .map(|t| {
            let (quote, stop, calls) = (quote.clone(), Arc::clone(&stop), Arc::clone(&calls));
            std::thread::spawn(move || {
                let mut seen = [0u64; 3];
                let mut failed = Vec::new();
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let req = QuoteReq { item: t * 1_000_000 + i, qty: i % 97 };
                    match quote.call(&req) {
                        Ok(q) if q.is_whole(req) && (q.version == 1 || q.version == 2) => {
                            seen[q.version as usize] += 1;
                        }
                        Ok(q) => failed.push(format!("mixed or unknown answer {q:?} to {req:?}")),
                        Err(e) => failed.push(e.to_string()),
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                    i = i.wrapping_add(1);
                }
                (seen, failed)
            })
        })
        .collect();
    let started = Instant::now();
    let mut watches = Vec::new();
    // Every hundredth swap loads a fresh copy of the other version (its
    // `old`, the one before, is dropped and must unload); the others roll
    // back and forth between current and old. Either way every handle
    // switches at once.
    let mut on_v1 = true;
    for swap in 0..SWAPS {
        if swap % FRESH_EVERY == 0 {
            let to = if on_v1 { "pricing_v2" } else { "pricing_v1" };
            let report = code.upgrade("pricing", fixtures().path(to)).unwrap();
            watches.extend(report.modules.into_iter().filter_map(|m| m.dropped_old));
        } else {
            code.rollback("pricing").unwrap();
        }
        on_v1 = !on_v1;
        let want = if on_v1 { 1 } else { 2 };
        assert_eq!(quote.call(&REQ).unwrap().version, want, "swap {swap} served at once");
        // The callers call between every two swaps: five more calls
        // counted, of which at most four (one per caller) started before
        // the swap. On a loaded machine the swapping thread, woken from
        // the code server's waits, can otherwise run whole bursts of swaps
        // while the callers wait for a CPU and never see one version.
        let from = calls.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Spinning, not yielding: a yield gives the CPU to a caller for a
        // whole time slice, a millisecond per swap for nothing.
        while calls.load(Ordering::Relaxed) < from + 5 {
            assert!(Instant::now() < deadline, "the callers stopped calling at swap {swap}");
            std::hint::spin_loop();
        }
    }
    let swapping = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut seen = [0u64; 3];
    for c in callers {
        let (s, failed) = c.join().unwrap();
        assert!(failed.is_empty(), "{} failed calls, first: {}", failed.len(), failed[0]);
        seen[1] += s[1];
        seen[2] += s[2];
    }
    assert!(seen[1] > 0 && seen[2] > 0, "both versions answered: {seen:?}");
    assert_eq!(
        watches.len(),
        SWAPS / FRESH_EVERY - 1,
        "every fresh load but the first dropped one"
    );
    // Once no call holds them, every dropped version is unloaded.
    let deadline = Instant::now() + Duration::from_secs(20);
    let left: Vec<UnloadStatus> = watches
        .iter()
        .map(|w| w.unloaded(deadline.saturating_duration_since(Instant::now())))
        .collect();
    let stuck: Vec<&UnloadStatus> = left.iter().filter(|s| **s != UnloadStatus::Unloaded).collect();
    assert!(stuck.is_empty(), "{} versions not unloaded: {stuck:?}", stuck.len());
    eprintln!(
        "{SWAPS} swaps in {swapping:?} under {} calls ({seen:?})",
        calls.load(Ordering::Relaxed)
    );
}

#[test]
fn the_admin_status_shows_each_function_with_its_version_and_calls() {
    use std::io::{BufRead, BufReader, Write};
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    for _ in 0..5 {
        quote.call(&REQ).unwrap();
    }
    let dir = relive_test_support::scratch_dir();
    let socket = dir.path().join("admin.sock");
    let _admin = host.serve_admin(&socket).unwrap();
    let status = || {
        let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let mut r = BufReader::new(stream.try_clone().unwrap());
        (&stream).write_all(b"{\"version\": 1, \"command\": \"Status\"}\n").unwrap();
        let mut answer = String::new();
        r.read_line(&mut answer).unwrap();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        v["Done"]["Status"]["functions"].clone()
    };
    let functions = status();
    let quote_view = functions
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "quote")
        .unwrap_or_else(|| panic!("no quote in {functions}"));
    assert_eq!(quote_view["module"], "pricing");
    assert_eq!(quote_view["version"], "1.0.0");
    assert_eq!(quote_view["calls"], 5);
    assert!(quote_view["canary"].is_null());
    // issue 16: the same count in the host's metrics.
    let metrics = host.metrics_text();
    assert!(
        metrics.contains("relive_function_calls_total{module=\"pricing\",function=\"quote\"} 5\n"),
        "{metrics}"
    );

    let gradual = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Percent(25)));
    host.code_server().upgrade_with("pricing", fixtures().path("pricing_v2"), gradual).unwrap();
    let functions = status();
    let q = functions.as_array().unwrap().iter().find(|f| f["function"] == "quote").unwrap();
    assert_eq!(
        (&q["version"], &q["canary"], &q["share"]),
        (&"1.0.0".into(), &"2.0.0".into(), &25.into())
    );
}

/// A module that exports functions and no actor (`export_functions!`),
/// linked into this test binary.
mod rates {
    #[relive_sdk::function]
    pub(crate) fn vat(cents: u64) -> u64 {
        cents / 5
    }

    relive_sdk::export_functions!("rates", version = "1.0.0", functions = [vat]);
}

#[test]
fn a_module_may_export_functions_instead_of_an_actor() {
    let host = Host::new().unwrap();
    host.code_server().load("rates", rates::relive_declaration()).unwrap();
    let vat = host.function::<u64, u64>("rates", "vat").unwrap();
    assert_eq!(vat.call(&1000).unwrap(), 200);
    // Its placeholder actor never starts.
    let spawned = host.spawn::<(), (), ()>("rates", &());
    assert!(
        matches!(spawned, Err(relive_runtime::SpawnError::Ignored)),
        "no actor of a functions-only module starts: {spawned:?}"
    );
}

/// Version 3 of pricing, linked into the test: v2's functions and one
/// more, `discount`, that no earlier version has.
mod pricing_v3 {
    use pricing_api::{Quote, QuoteReq, SlowReq};
    use relive_sdk::prelude::*;

    #[relive_sdk::function]
    pub(crate) fn quote(req: QuoteReq) -> Quote {
        Quote::by(3, req)
    }
    #[relive_sdk::function]
    pub(crate) fn slow_quote(req: SlowReq) -> Quote {
        std::thread::sleep(std::time::Duration::from_millis(req.ms));
        Quote::by(3, req.req)
    }
    #[relive_sdk::function]
    pub(crate) fn fails_on_zero(n: u32) -> u32 {
        assert!(n != 0, "fails_on_zero: zero");
        n * 2
    }
    #[relive_sdk::function]
    pub(crate) fn catalog(n: u32) -> Vec<Quote> {
        (0..n).map(|item| Quote::by(3, QuoteReq { item, qty: 1 })).collect()
    }
    #[relive_sdk::function]
    pub(crate) fn sum(xs: Vec<u64>) -> u64 {
        xs.iter().sum::<u64>() + 3
    }
    /// New in version 3.
    #[relive_sdk::function]
    pub(crate) fn discount(price: u64) -> u64 {
        price - price / 10
    }

    #[data]
    #[derive(Debug)]
    pub(crate) struct Pricing {
        asked: u64,
    }

    impl Module for Pricing {
        const NAME: &'static str = "pricing";
        type Args = ();
        type Msg = QuoteReq;
        type Reply = Quote;

        fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> {
            Ok(Pricing { asked: 0 })
        }

        fn handle(&mut self, req: QuoteReq, _: &mut Context<'_>) -> Quote {
            self.asked += 1;
            quote(req)
        }
    }
}

/// A function only the new version has is served by it for every call of
/// a gradual upgrade (there is no old version of it to share calls with);
/// the functions both have split as usual. It once failed the old
/// version's share of calls with `Unavailable`.
#[test]
fn a_function_new_in_a_gradual_upgrade_serves_every_call_from_the_new_version() {
    let host = host_with_v1();
    let v3 = relive_sdk::declaration!(
        pricing_v3::Pricing,
        version = "3.0.0",
        functions = [
            pricing_v3::quote,
            pricing_v3::slow_quote,
            pricing_v3::fails_on_zero,
            pricing_v3::catalog,
            pricing_v3::sum,
            pricing_v3::discount
        ]
    );
    let gradual = UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Percent(30)));
    host.code_server().upgrade_with("pricing", v3, gradual).unwrap();
    let discount = host.function::<u64, u64>("pricing", "discount").unwrap();
    for _ in 0..100 {
        assert_eq!(discount.call(&100).unwrap(), 90);
    }
    assert_eq!(discount.version().map(|v| v.major), Some(3));
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let on_v3 = (0..100).filter(|_| quote.call(&REQ).unwrap().version == 3).count();
    assert_eq!(on_v3, 30, "the shared function still splits 30/70");
}

// issue 17: the plain form (decision 0025)
#[test]
fn the_plain_form_and_postcard_give_the_same_results_and_every_call_is_counted() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    let catalog = host.function::<u32, Vec<Quote>>("pricing", "catalog").unwrap();
    assert!(quote.is_plain(), "two u32s in, four integers out: plain");
    assert!(!catalog.is_plain(), "a Vec is not plain: postcard");
    // `catalog(n)` is `quote` of every item below `n` at quantity 1, made
    // by the same module code but carried by postcard.
    let by_postcard = catalog.call(&64).unwrap();
    for (item, expected) in (0u32..).zip(&by_postcard) {
        let by_plain = quote.call(&QuoteReq { item, qty: 1 }).unwrap();
        assert_eq!(&by_plain, expected, "item {item}");
    }
    // Extreme values cross the plain form unchanged (little-endian,
    // fixed width: no varint edge).
    let edge = QuoteReq { item: u32::MAX, qty: u32::MAX };
    assert_eq!(quote.call(&edge).unwrap(), Quote::by(1, edge));

    // Counted per calling thread, summed exactly.
    let before = quote.calls();
    let threads: Vec<_> = (0..3u32)
        .map(|t| {
            let quote = quote.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    quote.call(&QuoteReq { item: t * 1000 + i, qty: 2 }).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(quote.calls(), before + 3000);
}

/// The host's own copies of the pricing types: the same schemas (names,
/// fields, field order) as `pricing_api`'s, laid out differently in memory.
mod other_layout {
    use relive_sdk::prelude::*;

    #[data]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(C, align(32))]
    pub(crate) struct QuoteReq {
        pub(crate) item: u32,
        pub(crate) qty: u32,
    }

    #[data]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(C, align(64))]
    pub(crate) struct Quote {
        pub(crate) version: u32,
        pub(crate) item: u32,
        pub(crate) price: u64,
        pub(crate) marker: u64,
    }
}

/// Like `pricing_api::QuoteReq`, its fields swapped: another schema, so its
/// image has the fields at other offsets.
mod swapped {
    use relive_sdk::prelude::*;

    #[data]
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct QuoteReq {
        pub(crate) qty: u32,
        pub(crate) item: u32,
    }
}

#[test]
fn the_plain_form_follows_the_schema_not_the_memory_layout() {
    assert_ne!(size_of::<other_layout::QuoteReq>(), size_of::<QuoteReq>());
    assert_ne!(size_of::<other_layout::Quote>(), size_of::<Quote>());
    let host = host_with_v1();
    // Same schema, other layout: accepted, and it reads right, because the
    // image is the schema's leaves in order, not the value's bytes.
    let quote = host.function::<other_layout::QuoteReq, other_layout::Quote>("pricing", "quote");
    let quote = quote.unwrap();
    assert!(quote.is_plain());
    let q = quote.call(&other_layout::QuoteReq { item: 7, qty: 3 }).unwrap();
    let expected = Quote::by(1, REQ);
    assert_eq!(
        (q.version, q.item, q.price, q.marker),
        (expected.version, expected.item, expected.price, expected.marker)
    );
    // Another image layout is another schema: refused with a typed error
    // when the handle is made, before any call.
    match host.function::<swapped::QuoteReq, Quote>("pricing", "quote") {
        Err(FunctionError::SchemaMismatch { what, function, .. }) => {
            assert_eq!((what, function.as_str()), ("argument", "quote"));
        }
        other => panic!("expected an argument mismatch, got {other:?}"),
    }
}

// A load through the table itself (below the host's code server) changes
// the slots as the host's own `load` does: every handle serves the new
// version from its next call.
#[test]
fn a_load_through_the_table_swaps_every_handle_too() {
    let host = host_with_v1();
    let quote = host.function::<QuoteReq, Quote>("pricing", "quote").unwrap();
    assert_eq!(quote.call(&REQ).unwrap(), Quote::by(1, REQ));
    host.code_server().table().load("pricing", fixtures().path("pricing_v2")).unwrap();
    assert_eq!(quote.call(&REQ).unwrap(), Quote::by(2, REQ));
    assert_eq!(quote.version().unwrap().to_string(), "2.0.0");
}
