//! Deadlines for futures, without an executor's timer: one lazily started
//! thread (`relive-deadlines`) sleeps until the earliest armed instant and
//! wakes the wakers that are due. [`ActorRef::call_async`] uses it so an
//! awaited call has the same bounded wait as a blocking one while the
//! runtime depends on no async runtime.
//!
//! A future holds one [`Deadline`]: armed when it returns `Pending` (again
//! only if its waker changed), disarmed when it completes or is dropped.
//! So the set holds one entry per pending future, and a reply that comes
//! in time leaves nothing behind.
//!
//! [`ActorRef::call_async`]: super::ActorRef::call_async

use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Instant;

type Key = (Instant, u64);

#[derive(Default)]
struct Armed {
    wakers: BTreeMap<Key, Waker>,
    next: u64,
}

#[derive(Default)]
struct Deadlines {
    armed: Mutex<Armed>,
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
    let mut armed = d.armed.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = armed.wakers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            // Wake outside the lock: a waker may run executor code that arms
            // or disarms a deadline, which takes this lock.
            drop(armed);
            for w in due {
                w.wake();
            }
            armed = d.armed.lock();
            continue;
        }
        match armed.wakers.keys().next().map(|k| k.0) {
            Some(at) => {
                d.changed.wait_until(&mut armed, at);
            }
            None => d.changed.wait(&mut armed),
        }
    }
}

/// One future's deadline: wakes its task at the instant it was armed for.
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    armed: Option<(Key, Waker)>,
}

impl Deadline {
    /// Wake `waker` at `at` (or soon after); a no-op when already armed
    /// for `at` with a waker that wakes the same task.
    pub(crate) fn arm(&mut self, at: Instant, waker: &Waker) {
        if let Some((key, w)) = &self.armed
            && key.0 == at
            && w.will_wake(waker)
        {
            return;
        }
        self.disarm();
        let d = deadlines();
        let mut armed = d.armed.lock();
        let key = (at, armed.next);
        armed.next += 1;
        let earliest = armed.wakers.keys().next().is_none_or(|k| key < *k);
        armed.wakers.insert(key, waker.clone());
        drop(armed);
        if earliest {
            d.changed.notify_one();
        }
        self.armed = Some((key, waker.clone()));
    }

    /// Forget the deadline (the future is done).
    pub(crate) fn disarm(&mut self) {
        if let Some((key, _)) = self.armed.take() {
            deadlines().armed.lock().wakers.remove(&key);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.disarm();
    }
}
