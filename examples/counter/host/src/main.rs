//! The counter demo: a live upgrade under traffic, end to end.
//!
//! Builds both module versions with cargo, starts counter actors on v1,
//! sends traffic from several threads, upgrades every actor to v2 live (an
//! atomic upgrade: each pauses at a message boundary, v2's `code_change`
//! migrates its state), shows that v2's logic answers and that no count was
//! lost, rolls back to v1 through `downgrade`, and prints one summary line
//! computed from what it measured.
//!
//! Run: `cargo run -p counter-example-host`

use counter_example_api::{Msg, Reply};
use relive::{ActorRef, Host};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const COUNTERS: usize = 8;
const SENDERS: usize = 4;

/// What one sender saw.
#[derive(Default)]
struct Seen {
    sent: u64,
    /// Replies whose count was not exactly the expected one (lost state,
    /// lost or reordered messages).
    mismatches: u64,
    from_v2: u64,
}

/// Each sender owns two counters, so it knows exactly what each reply must
/// say: three casts, then a call whose count must be four more than before.
fn send(counters: &[ActorRef<Msg, Reply>], me: usize, stop: &AtomicBool) -> Seen {
    let mine = [2 * me, 2 * me + 1];
    let mut expect = [0u64; 2];
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        for (k, &i) in mine.iter().enumerate() {
            for _ in 0..3 {
                counters[i].cast(Msg::Add(1)).expect("cast");
            }
            let reply = counters[i].call(Msg::Add(1)).expect("call");
            expect[k] += 4;
            seen.sent += 4;
            if reply.count != expect[k] {
                seen.mismatches += 1;
                expect[k] = reply.count;
            }
            if reply.version == 2 {
                seen.from_v2 += 1;
            }
        }
    }
    seen
}

fn main() {
    tracing_subscriber::fmt().with_target(false).init();
    println!("building counter v1 and v2 …");
    let v1 = relive_test_support::build_library("counter-example-v1", false);
    let v2 = relive_test_support::build_library("counter-example-v2", false);

    let host = Host::new().expect("host");
    host.code().upgrade("counter", &v1).expect("load v1");
    let counters: Vec<ActorRef<Msg, Reply>> =
        (0..COUNTERS).map(|_| host.spawn("counter", &0u64).expect("spawn")).collect();
    println!(
        "{COUNTERS} counter actors on v1, {SENDERS} threads sending, {} workers",
        host.workers()
    );

    let stop = AtomicBool::new(false);
    let (seen, up, down) = std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|t| {
                s.spawn({
                    let (c, st) = (&counters, &stop);
                    move || send(c, t, st)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let up = host.upgrade("counter", &v2).expect("upgrade to v2");
        println!(
            "upgraded {} -> {}: {} actors migrated in {:?}, longest pause {:?}",
            up.code[0].from.as_ref().unwrap(),
            up.code[0].to,
            up.migrated,
            up.duration,
            up.longest_pause
        );
        std::thread::sleep(Duration::from_millis(300));
        let down = host.rollback("counter").expect("rollback");
        println!(
            "rolled back to v1: {} actors through downgrade in {:?}",
            down.migrated, down.duration
        );
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = senders.into_iter().map(|h| h.join().unwrap()).collect();
        (seen, up, down)
    });

    let sent: u64 = seen.iter().map(|s| s.sent).sum();
    let mismatches: u64 = seen.iter().map(|s| s.mismatches).sum();
    let from_v2: u64 = seen.iter().map(|s| s.from_v2).sum();
    let replies: Vec<Reply> = counters.iter().map(|c| c.call(Msg::Get).expect("get")).collect();
    let held: u64 = replies.iter().map(|r| r.count).sum();
    let lost = sent.abs_diff(held);
    let on_v1 = replies.iter().all(|r| r.version == 1);
    println!("sent {sent} messages; counters hold {held}; v2 answered {from_v2} calls");

    let upgraded = up.migrated == COUNTERS && up.failed.is_empty() && from_v2 > 0;
    let state_kept = mismatches == 0 && lost == 0;
    let rolled_back = down.migrated == COUNTERS && on_v1;
    println!(
        "summary: upgraded={} state_kept={state_kept} rolled_back={rolled_back} lost_messages={lost}",
        if upgraded { "v1->v2" } else { "failed" }
    );
    std::process::exit(if upgraded && state_kept && rolled_back { 0 } else { 1 });
}
