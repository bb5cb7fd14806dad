//! Parking without lost wake-ups: the idle workers and their count, the
//! protocol of "Parking without lost wake-ups" in `scheduler/mod.rs`, on
//! its own so that loom checks this very code (`cfg(relive_loom)`).
//!
//! A worker about to park [`announce`](Sleepers::announce)s itself (into
//! the idle list, then `sleeping` + 1, then a SeqCst fence), checks every
//! queue once more, and either [`withdraw`](Sleepers::withdraw)s or parks.
//! A scheduler pushes its task, then [`notify`](Sleepers::notify)s (a
//! SeqCst fence, then reads `sleeping`, and unparks one sleeper if any).
//! The two fences order "raise the count, read the queues" against "push
//! to a queue, read the count": either the worker's recheck sees the push,
//! or the scheduler sees the sleeper; an unpark before the park makes the
//! park return at once.

use crate::sync::{AtomicUsize, Mutex, Ordering, fence};

/// What a sleeper is woken through.
pub(crate) trait Unpark {
    fn unpark(&self);
}

/// The idle workers of one scheduler.
#[derive(Debug)]
pub(crate) struct Sleepers<S> {
    /// Parked (or about to park) workers.
    idle: Mutex<Vec<S>>,
    /// How many are in `idle`, read by schedulers without the lock.
    sleeping: AtomicUsize,
}

impl<S: Unpark> Sleepers<S> {
    pub(crate) fn new(workers: usize) -> Self {
        Sleepers { idle: Mutex::new(Vec::with_capacity(workers)), sleeping: AtomicUsize::new(0) }
    }

    /// Step 1 of parking: record `me` as idle; the caller then checks every
    /// queue once more before it parks.
    pub(crate) fn announce(&self, me: S) {
        self.idle.lock().push(me);
        // ORDERING: the increment, then a SeqCst fence, then the caller's
        // recheck of the queues: pairs with `notify`'s fence.
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Take the worker `is_me` out of the idle list, if whoever woke it has
    /// not already.
    pub(crate) fn withdraw(&self, is_me: impl Fn(&S) -> bool) {
        let mut idle = self.idle.lock();
        if let Some(pos) = idle.iter().position(is_me) {
            idle.swap_remove(pos);
            // ORDERING: SeqCst, as every access to `sleeping`.
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A task was just pushed to a queue: wake a sleeper, if there is one.
    pub(crate) fn notify(&self) {
        // ORDERING: SeqCst fence between the push and the read of
        // `sleeping`, pairing with `announce`'s fence.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        let sleeper = self.idle.lock().pop();
        if let Some(s) = sleeper {
            // ORDERING: SeqCst, as every access to `sleeping`.
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            s.unpark();
        }
    }
}

/// Loom models of parking: a worker's loop around the real [`Sleepers`]
/// against a scheduler pushing a task (a counter stands in for the deques,
/// loom's `park`/`unpark` for crossbeam's `Parker`, which has the same
/// token semantics).
#[cfg(all(test, relive_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    struct Parked(thread::Thread);

    impl Unpark for Parked {
        fn unpark(&self) {
            self.0.unpark();
        }
    }

    /// The worker loop of `worker.rs`: take a task, else announce, recheck,
    /// park; until it has run `tasks` tasks.
    fn worker(s: &Sleepers<Parked>, queue: &AtomicUsize, tasks: usize) {
        let me = thread::current().id();
        let mut ran = 0;
        while ran < tasks {
            // ORDERING: the model's run queue; its own synchronisation.
            if queue.load(Ordering::Acquire) > 0 {
                queue.fetch_sub(1, Ordering::AcqRel);
                ran += 1;
                continue;
            }
            s.announce(Parked(thread::current()));
            if queue.load(Ordering::Acquire) > 0 {
                s.withdraw(|p| p.0.id() == me);
                continue;
            }
            thread::park();
            s.withdraw(|p| p.0.id() == me);
        }
    }

    /// A task scheduled while the only worker decides to park: the worker
    /// runs it (loom reports a deadlock if it parks for good).
    #[test]
    fn loom_park_vs_schedule() {
        loom::model(|| {
            let s = Arc::new(Sleepers::new(1));
            let queue = Arc::new(AtomicUsize::new(0));
            let w = {
                let (s, queue) = (Arc::clone(&s), Arc::clone(&queue));
                thread::spawn(move || worker(&s, &queue, 1))
            };
            // `Shared::schedule`: push, then notify.
            queue.fetch_add(1, Ordering::Release);
            s.notify();
            w.join().unwrap();
        });
    }

    /// Two tasks scheduled one after the other while the worker parks
    /// between them: both run.
    #[test]
    fn loom_park_vs_two_schedules() {
        loom::model(|| {
            let s = Arc::new(Sleepers::new(1));
            let queue = Arc::new(AtomicUsize::new(0));
            let w = {
                let (s, queue) = (Arc::clone(&s), Arc::clone(&queue));
                thread::spawn(move || worker(&s, &queue, 2))
            };
            for _ in 0..2 {
                queue.fetch_add(1, Ordering::Release);
                s.notify();
            }
            w.join().unwrap();
        });
    }
}
