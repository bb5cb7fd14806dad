//! Deadlines for futures, without an executor's timer: one lazily started
//! thread (`relive-deadlines`) sleeps until the earliest registered instant
//! and wakes the wakers that are due. [`ActorRef::call_async`] uses it so an
//! awaited call has the same bounded wait as a blocking one while the
//! runtime depends on no async runtime.
//!
//! A future registers its waker each time it returns `Pending` with a
//! deadline; an entry that fires for a future that already completed is a
//! harmless spurious wake-up, and at most one entry per pending poll exists.
//!
//! [`ActorRef::call_async`]: super::ActorRef::call_async

use parking_lot::{Condvar, Mutex};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Instant;

struct Entry {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Deadlines {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Condvar,
}

fn deadlines() -> &'static Deadlines {
    static DEADLINES: OnceLock<&'static Deadlines> = OnceLock::new();
    DEADLINES.get_or_init(|| {
        let d: &'static Deadlines = Box::leak(Box::default());
        std::thread::Builder::new()
            .name("relive-deadlines".into())
            .spawn(move || run(d))
            .expect("spawn the deadline thread");
        d
    })
}

fn run(d: &'static Deadlines) {
    let mut guard = d.heap.lock();
    loop {
        let now = Instant::now();
        while guard.0.peek().is_some_and(|Reverse(e)| e.at <= now) {
            let Reverse(e) = guard.0.pop().expect("peeked");
            e.waker.wake();
        }
        match guard.0.peek().map(|Reverse(e)| e.at) {
            Some(at) => {
                d.changed.wait_until(&mut guard, at);
            }
            None => d.changed.wait(&mut guard),
        }
    }
}

/// Wake `waker` at `at` (or soon after).
pub(crate) fn wake_at(at: Instant, waker: &Waker) {
    let d = deadlines();
    let mut guard = d.heap.lock();
    let seq = guard.1;
    guard.1 += 1;
    let earliest = guard.0.peek().is_none_or(|Reverse(e)| at < e.at);
    guard.0.push(Reverse(Entry { at, seq, waker: waker.clone() }));
    drop(guard);
    if earliest {
        d.changed.notify_one();
    }
}
