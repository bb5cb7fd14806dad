//! The counter demo: a live upgrade under traffic, end to end.
//!
//! Builds both module versions with cargo, starts counters on v1, sends
//! traffic from several threads, upgrades every counter to v2 at a message
//! boundary (its state migrated by v2's `code_change`), shows that v2's logic
//! answers and no count was lost, rolls back to v1 through `downgrade`, and
//! prints one summary line computed from what it measured.
//!
//! Run: `cargo run -p counter-example-host`
//!
//! This version drives module instances directly; each counter's mutex is its
//! message boundary. The actor layer replaces the mutexes with mailboxes.

use counter_example_api::{Msg, Reply};
use relive::{CodeServer, Instance};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const COUNTERS: usize = 8;
const SENDERS: usize = 4;

/// One counter: its instance, behind the lock that makes a message boundary.
type Counter = Mutex<Option<Instance>>;

fn call(counter: &Counter, msg: Msg) -> Reply {
    let mut slot = counter.lock().unwrap();
    let inst = slot.as_mut().expect("counter present");
    inst.call::<Msg, Reply>(&msg).expect("counter answers")
}

/// Move every counter to `to` at its next message boundary with `step`,
/// checking that the count is the same before and after. Returns whether it was.
fn migrate_all(
    counters: &[Counter],
    step: impl Fn(Instance) -> Result<Instance, Box<relive::MigrateFailed>>,
) -> bool {
    let mut kept = true;
    for counter in counters {
        let mut slot = counter.lock().unwrap();
        let mut inst = slot.take().unwrap();
        let before = inst.call::<Msg, Reply>(&Msg::Get).unwrap().count;
        let mut inst = step(inst).unwrap_or_else(|e| panic!("migration failed: {e}"));
        let after = inst.call::<Msg, Reply>(&Msg::Get).unwrap().count;
        kept &= before == after;
        *slot = Some(inst);
    }
    kept
}

fn main() {
    tracing_subscriber::fmt().with_target(false).init();
    println!("building counter v1 and v2 …");
    let v1_path = relive_test_support::build_library("counter-example-v1", false);
    let v2_path = relive_test_support::build_library("counter-example-v2", false);

    let code = CodeServer::new().expect("code server");
    code.upgrade("counter", &v1_path).expect("load v1");
    let v1 = code.current("counter").unwrap();
    let counters: Arc<Vec<Counter>> = Arc::new(
        (0..COUNTERS)
            .map(|_| Mutex::new(Some(Instance::start_with(&v1, &0u64).unwrap())))
            .collect(),
    );
    println!("{COUNTERS} counters on v{}; {SENDERS} threads sending", v1.version());

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let seen_v2 = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|t| {
            let (counters, stop, sent, seen_v2) =
                (counters.clone(), stop.clone(), sent.clone(), seen_v2.clone());
            std::thread::spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let reply = call(&counters[i % COUNTERS], Msg::Add(1));
                    sent.fetch_add(1, Ordering::Relaxed);
                    if reply.version == 2 {
                        seen_v2.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(300));
    let report = code.upgrade("counter", &v2_path).expect("upgrade to v2");
    let v2 = code.current("counter").unwrap();
    let kept_up = migrate_all(&counters, |inst| inst.code_change(&v2, &[]));
    println!(
        "upgraded {} -> {} in {:?}; every counter migrated, counts kept: {kept_up}",
        report.from.as_ref().unwrap(),
        report.to,
        report.duration
    );
    std::thread::sleep(Duration::from_millis(300));
    let v2_answers = seen_v2.load(Ordering::Relaxed);
    println!("v2 answered {v2_answers} messages under traffic");

    code.rollback("counter").expect("rollback");
    let kept_down = migrate_all(&counters, |inst| inst.downgrade(&v1));
    code.soft_purge("counter").expect("v2 unused after the rollback");
    println!(
        "rolled back to v{}; counts kept: {kept_down}",
        code.current("counter").unwrap().version()
    );
    std::thread::sleep(Duration::from_millis(100));

    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let total: u64 = counters.iter().map(|c| call(c, Msg::Get).count).sum();
    let sent = sent.load(Ordering::Relaxed);
    let on_v1 = counters.iter().all(|c| call(c, Msg::Get).version == 1);
    let lost = sent.abs_diff(total);
    println!("sent {sent} messages, counters hold {total}");
    println!(
        "summary: upgraded=v1->v2 state_kept={} rolled_back={} lost_messages={lost}",
        kept_up && kept_down && v2_answers > 0,
        on_v1
    );
    let ok = kept_up && kept_down && v2_answers > 0 && on_v1 && lost == 0;
    std::process::exit(if ok { 0 } else { 1 });
}
