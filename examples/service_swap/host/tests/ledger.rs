//! Every charge is written through the `ledger` port to a real database,
//! and the database agrees with the accounts exactly after a run of charges
//! over HTTP across a handful of upgrades (atomic, gradual, rollbacks): the
//! check `load-test.sh` prints as `ledger_mismatches`. SQLite always;
//! PostgreSQL too when `DATABASE_URL` is set.

mod common;

use common::{http, json};
use relive::{Canary, Host, UpgradeMode, UpgradeOptions};
use service_swap_host::{Ledger, Service};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

struct Builds {
    v1: PathBuf,
    v2: PathBuf,
}

fn builds() -> Builds {
    Builds {
        v1: built(concat!(env!("CARGO_MANIFEST_DIR"), "/../billing_v1")),
        v2: built(concat!(env!("CARGO_MANIFEST_DIR"), "/../billing_v2")),
    }
}

/// Charges from three client threads while the module is upgraded
/// `upgrades` times; then the ledger check. Returns the `/ledger` answer.
fn run(rt: &tokio::runtime::Runtime, ledger: Ledger, upgrades: usize) -> serde_json::Value {
    let b = builds();
    let host = Host::builder().workers(2).build().unwrap();
    let code = host.code_server();
    code.upgrade("billing", &b.v1).unwrap();
    let service = Service::start(&host, 40, ledger).unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    rt.spawn(async move { axum::serve(listener, router).await });

    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (stop, ok, failed) = (&stop, &ok, &failed);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let amount = 1 + (i * 37) % 250; // some over 100: v2's discount
                    let (status, _) =
                        http(addr, "POST", &format!("/charge/{}?amount={amount}", i % 40));
                    let n = if status == 200 { ok } else { failed };
                    n.fetch_add(1, Ordering::Relaxed);
                    i += 3;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(100));
        for i in 0..upgrades {
            match i % 4 {
                0 => {
                    code.upgrade("billing", &b.v2).unwrap();
                }
                2 => {
                    let gradual =
                        UpgradeOptions::new().mode(UpgradeMode::Gradual(Canary::Percent(10)));
                    code.upgrade_with("billing", &b.v2, gradual).unwrap();
                    std::thread::sleep(Duration::from_millis(20));
                    code.promote("billing").unwrap();
                }
                _ => {
                    code.rollback("billing").unwrap();
                    code.purge("billing").unwrap();
                }
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed across the upgrades");
    assert!(ok.load(Ordering::Relaxed) > 0, "no charge went through");
    let (status, body) = http(addr, "GET", "/books");
    assert_eq!(status, 200, "{body}");
    let books = json(&body);
    assert_eq!(books["total_balance"], books["acknowledged"], "no state lost: {body}");
    let (status, body) = http(addr, "GET", "/ledger");
    assert_eq!(status, 200, "{body}");
    let check = json(&body);
    assert_eq!(check["ledger_total"], books["total_balance"], "{body}");
    assert_eq!(check["total_balance"], books["total_balance"], "{body}");
    eprintln!(
        "{} charges over {upgrades} upgrades; ledger check: {check}",
        ok.load(Ordering::Relaxed)
    );
    check
}

#[test]
fn every_charge_is_in_the_sqlite_ledger_across_upgrades() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = tempfile::tempdir().unwrap();
    let ledger = Ledger::sqlite(db.path().join("ledger.sqlite3")).unwrap();
    let check = run(&rt, ledger, 6);
    assert_eq!(check["database"], "sqlite");
    assert_eq!(check["mismatches"], 0, "ledger_mismatches: {check}");
}

#[test]
fn every_charge_is_in_the_postgres_ledger_across_upgrades() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL is not set: skipping the PostgreSQL ledger (SQLite runs always)");
        return;
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ledger = rt.block_on(Ledger::postgres(&url)).unwrap();
    let check = run(&rt, ledger, 6);
    assert_eq!(check["database"], "postgres");
    assert_eq!(check["mismatches"], 0, "ledger_mismatches: {check}");
}

#[test]
fn a_charge_the_ledger_cannot_commit_is_refused_and_charged_nowhere() {
    let b = builds();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let db = tempfile::tempdir().unwrap();
    let path = db.path().join("ledger.sqlite3");
    let ledger = Ledger::sqlite(&path).unwrap();
    let host = Host::builder().workers(2).build().unwrap();
    host.code_server().upgrade("billing", &b.v1).unwrap();
    let service = Service::start(&host, 2, ledger).unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let router = service.router();
    rt.spawn(async move { axum::serve(listener, router).await });
    assert_eq!(http(addr, "POST", "/charge/0?amount=5").0, 200);
    // The table goes away under the service: every write now fails.
    rusqlite::Connection::open(&path).unwrap().execute_batch("DROP TABLE ledger;").unwrap();
    let (status, body) = http(addr, "POST", "/charge/0?amount=7");
    assert_eq!(status, 503, "{body}");
    let (_, body) = http(addr, "GET", "/account/0");
    assert_eq!(json(&body)["balance"], 5, "the failed charge is not in the balance: {body}");
    assert_eq!(json(&body)["orders"], 1, "{body}");
}

/// Build a billing module crate with the public helper (what `relive build`
/// does) and return its library.
fn built(dir: &str) -> std::path::PathBuf {
    relive::build::ModuleCrate::at(dir).build().unwrap_or_else(|e| panic!("{e}")).path
}
