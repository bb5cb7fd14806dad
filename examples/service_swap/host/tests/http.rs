//! The billing service over real HTTP on loopback: upgraded under requests,
//! books balanced; a crash-looping build rolled back by the supervisor.

mod common;

use common::{http, json};
use relive::Host;
use service_swap_host::{Ledger, Service};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[test]
fn upgraded_under_requests_with_the_books_balanced_and_a_bad_build_rolled_back() {
    let v1 = built(concat!(env!("CARGO_MANIFEST_DIR"), "/../billing_v1"));
    let v2 = built(concat!(env!("CARGO_MANIFEST_DIR"), "/../billing_v2"));
    let v3 = built(concat!(env!("CARGO_MANIFEST_DIR"), "/../billing_v3"));
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("billing", &v1).unwrap();
    let db = tempfile::tempdir().unwrap();
    let ledger = Ledger::sqlite(db.path().join("ledger.sqlite3")).unwrap();
    let service = Service::start(&host, 50, ledger).unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    rt.spawn(async move { axum::serve(listener, router).await });

    // Charges of 1 cent from two client threads while the module is upgraded.
    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (stop, ok, failed) = (&stop, &ok, &failed);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    // Account 49 is kept for the poison orders below.
                    let (status, _) = http(addr, "POST", &format!("/charge/{}", i % 49));
                    if status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                    i += 2;
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let r = host.code_server().upgrade("billing", &v2).unwrap();
        assert_eq!(r.migrated, 50);
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed during the upgrade");
    let (_, body) = http(addr, "GET", "/books");
    assert_eq!(
        json(&body)["total_balance"].as_u64(),
        Some(ok.load(Ordering::Relaxed)),
        "no state lost"
    );
    let (_, body) = http(addr, "POST", "/charge/3?amount=200");
    assert_eq!(
        (json(&body)["version"].as_u64(), json(&body)["added"].as_u64()),
        (Some(2), Some(198)),
        "v2's pricing"
    );

    // A build that crash-loops on 13-cent orders: the supervisor rolls back.
    let before = json(&http(addr, "GET", "/books").1)["total_balance"].as_u64().unwrap();
    host.code_server().upgrade("billing", &v3).unwrap();
    let mut poison_failures = 0;
    for _ in 0..3 {
        let (status, _) = http(addr, "POST", "/charge/49?amount=13");
        if status != 200 {
            poison_failures += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(poison_failures, 3, "only the poison requests fail");
    let (_, body) = http(addr, "GET", "/version");
    let v = json(&body);
    assert_eq!(
        (v["current"].as_str(), v["rollbacks"].as_u64()),
        (Some("2.0.0"), Some(1)),
        "{body}"
    );
    let after = json(&http(addr, "GET", "/books").1)["total_balance"].as_u64().unwrap();
    assert_eq!(after, before, "the crash loop lost no state");
    assert_eq!(http(addr, "POST", "/charge/1").0, 200, "serving normally on the old version");
}

/// Build a billing module crate with the public helper (what `relive build`
/// does) and return its library.
fn built(dir: &str) -> std::path::PathBuf {
    relive::build::ModuleCrate::at(dir).build().unwrap_or_else(|e| panic!("{e}")).path
}
