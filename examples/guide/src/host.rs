//! docs/guide.md, the host's side: upgrading, upgrading a unit, watching
//! events, a state directory, `sys`, and registering a port.
//!
//! Each function is one snippet of the guide with what it needs around it;
//! `tests/guide.rs` runs some of them on the counter example's libraries.

use crate::ports::{LedgerReceipt, LedgerWrite};
use counter_example_api::{Msg, Reply};
use relive::{ActorRef, Host, Lagged, UpgradeOptions};
use std::error::Error;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// "Upgrading in a host": load v1, spawn, upgrade to v2, roll back, purge
/// (`v1` and `v2` are the paths `relive build` printed).
///
/// # Errors
/// The first refusal, as the guide's `?` passes it on.
#[rustfmt::skip]
pub fn upgrade_in_a_host(v1: &Path, v2: &Path) -> Result<(), Box<dyn Error>> {
    let host = relive::Host::new()?;
    let code_server = host.code_server();
    code_server.upgrade("counter", v1)?;                                  // the first version: a load
    let c: relive::ActorRef<Msg, Reply> = host.spawn("counter", &0u64)?;
    // … traffic …
    c.call(Msg::Add(41))?;
    let report = code_server.upgrade("counter", v2)?;                     // atomic: all actors or none
    println!("{} migrated, longest pause {:?}", report.migrated, report.longest_pause);
    code_server.rollback("counter")?;                                     // back through downgrade
    code_server.purge("counter")?;                                        // drop v2
    Ok(())
}

/// "Depending on another module": a cart and its inventory upgraded as one
/// unit.
///
/// # Errors
/// The unit's refusal.
pub fn upgrade_a_unit(host: &Host) -> Result<(), Box<dyn Error>> {
    let code_server = host.code_server();
    code_server.upgrade_all(
        vec![
            ("cart".into(), "libcart_v2.so".into()),
            ("inventory".into(), "libinventory_v2.so".into()),
        ],
        UpgradeOptions::default(),
    )?;
    Ok(())
}

/// "Watching what happens": print every event on a thread of its own (it
/// ends when the host does).
#[rustfmt::skip]
pub fn watch(host: &Host) {
    let events = host.events();
    std::thread::spawn(move || {
        for item in events {             // blocking; or `events.next().await`
            match item {
                Ok(e) => println!("#{} {:?}", e.seq, e.kind),   // Loaded, Upgraded, Migrated, …
                Err(Lagged(n)) => println!("missed {n} events"),
            }
        }
    });
}

/// "A state directory": a host whose bad-build marks and history survive a
/// restart.
///
/// # Errors
/// The state directory's refusal (`StateError`).
pub fn host_with_a_state_dir() -> Result<Host, Box<dyn Error>> {
    let host = relive::Host::builder().state_dir("/var/lib/billing/relive").build()?;
    Ok(host)
}

/// "Looking inside a running actor": OTP's `sys` on a counter.
///
/// # Errors
/// The first `sys` call refused (`SysError`).
#[rustfmt::skip]
pub fn look_inside(host: &Host, counter: &ActorRef<Msg, Reply>) -> Result<(), Box<dyn Error>> {
    let sys = host.sys().timeout(Duration::from_secs(2));   // every wait is bounded
    let a = counter.any();
    println!("{}", sys.get_state(&a)?);                      // {"count":41}, rendered by the module
    sys.suspend(&a)?;                                        // its mail queues, nothing is lost
    sys.replace_state(&a, &serde_json::json!({"count": 0}))?; // decoded and validated by the module
    sys.resume(&a)?;
    println!("{:?}", sys.statistics(&a)?);                  // messages in/out, turns, mailbox
    sys.trace(&a, 20)?;                                      // keep its last 20 messages in and out
    for e in sys.trace_log(&a)?.unwrap_or_default() { println!("{:?} {}", e.kind, e.message); }
    Ok(())
}

/// A ledger that writes nowhere (the guide's database pool).
#[derive(Debug, Default)]
pub struct Db {
    rows: std::sync::atomic::AtomicU64,
}

/// Why the ledger did not write.
#[derive(Debug)]
pub struct DbError;

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the ledger is read-only")
    }
}

impl Db {
    /// Write one row.
    ///
    /// # Errors
    /// Never, here; a real pool's errors.
    pub async fn insert(&self, w: LedgerWrite) -> Result<LedgerReceipt, DbError> {
        let _ = w;
        // ORDERING: a counter.
        Ok(LedgerReceipt { row: self.rows.fetch_add(1, std::sync::atomic::Ordering::Relaxed) })
    }
}

/// "Doing I/O: ports": a host with a `ledger` port.
///
/// # Errors
/// The host's or the port's refusal.
#[rustfmt::skip]
pub fn host_with_a_ledger(db: Arc<Db>) -> Result<Host, Box<dyn Error>> {
    let host = Host::new()?;
    // Runs on a small tokio runtime the host owns (threads `relive-port`);
    // `port_on(handle, …)` or `HostBuilder::port_runtime(handle)` to use yours.
    host.port("ledger", move |w: LedgerWrite| {
        let db = db.clone();
        async move { db.insert(w).await }   // -> Result<LedgerReceipt, E: Display>
    })?;
    Ok(host)
}
