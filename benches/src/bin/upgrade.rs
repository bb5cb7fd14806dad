//! `upgrade`: an atomic upgrade of N live counter actors (v1 → v2, state
//! migrated by v2's `code_change`), end to end until every actor answers from
//! the new version; and the longest pause any actor saw.
//!
//! Run: `cargo run --release -p relive-benches --bin upgrade`

use counter_api::{CounterMsg, CounterReply};
use relive_benches::{block_on_all, counter_host, figure, machine};
use relive_runtime::ActorRef;
use std::time::Instant;

fn main() {
    eprintln!("machine: {}", machine());
    let mut max_pause = 0.0f64;
    for n in [1_000usize, 10_000, 100_000] {
        let (host, v2) = counter_host();
        let actors: Vec<ActorRef<CounterMsg, CounterReply>> =
            (0..n).map(|i| host.spawn("counter", &(i as u64)).unwrap()).collect();
        let start = Instant::now();
        let report = host.upgrade("counter", &v2).unwrap();
        // Every actor answers from v2: all the calls in flight at once.
        let replies = block_on_all(actors.iter().map(|a| a.call_async(CounterMsg::Get)).collect());
        assert!(replies.into_iter().all(|r| r.unwrap().logic == 2));
        let ms = start.elapsed().as_secs_f64() * 1e3;
        assert_eq!(report.migrated, n);
        let label = format!("upgrade_atomic_{}k_ms", n / 1000);
        figure("relive", &label, ms, "ms");
        max_pause = max_pause.max(report.longest_pause.as_secs_f64() * 1e6);
        eprintln!(
            "  {n}: load+validate+migrate {:?}, pause {:?}",
            report.duration, report.longest_pause
        );
    }
    figure("relive", "upgrade_pause_us_max", max_pause, "us");
}
