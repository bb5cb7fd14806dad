//! The scheduling state of one actor (the table in `actor/mod.rs`), on its
//! own so that loom can check it exhaustively (`cfg(relive_loom)`).

use crate::sync::{AtomicU8, Ordering};

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const NOTIFIED: u8 = 3;
const EXITED: u8 = 4;

/// What `notify` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Notified {
    /// The caller must push the actor to a run queue.
    Schedule,
    /// Already scheduled, running or exited: nothing to do.
    Nothing,
}

#[derive(Debug)]
pub(crate) struct Sched(AtomicU8);

impl Sched {
    pub(crate) fn new() -> Self {
        Sched(AtomicU8::new(IDLE))
    }

    /// Mail or a system message arrived (already pushed): decide whether the
    /// caller must schedule the actor. At most one caller gets `Schedule`
    /// per `IDLE` period, so the actor is in at most one run queue.
    pub(crate) fn notify(&self) -> Notified {
        // ORDERING: AcqRel on success: the push that preceded this call
        // happens-before the worker that later runs the actor; Acquire on
        // failure to read the state we retry from.
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let next = match cur {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return Notified::Nothing,
            };
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if next == SCHEDULED => return Notified::Schedule,
                Ok(_) => return Notified::Nothing,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A worker popped the actor: `SCHEDULED → RUNNING`. False if it exited.
    pub(crate) fn start_running(&self) -> bool {
        // ORDERING: AcqRel pairs with `notify`.
        self.0.compare_exchange(SCHEDULED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The running worker ends its turn; `more` says mail is left. Returns
    /// true when the worker must requeue the actor (mail left, or mail that
    /// arrived during the turn).
    pub(crate) fn finish_running(&self, more: bool) -> bool {
        if more {
            // ORDERING: a CAS loop, since a sender may move RUNNING to
            // NOTIFIED concurrently; either way the actor goes back to
            // SCHEDULED, and Release publishes the turn to the next worker.
            let mut cur = self.0.load(Ordering::Acquire);
            loop {
                if cur == EXITED {
                    return false;
                }
                match self.0.compare_exchange_weak(
                    cur,
                    SCHEDULED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return true,
                    Err(actual) => cur = actual,
                }
            }
        }
        // ORDERING: AcqRel, as in `notify`.
        match self.0.compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => false,
            Err(NOTIFIED) => {
                // Only this worker leaves NOTIFIED; no sender changes it.
                self.0.store(SCHEDULED, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether it is queued to run or running (a view's hint).
    pub(crate) fn is_busy(&self) -> bool {
        // ORDERING: a hint for views; nothing is read through it.
        matches!(self.0.load(Ordering::Relaxed), SCHEDULED | RUNNING | NOTIFIED)
    }

    pub(crate) fn is_exited(&self) -> bool {
        // ORDERING: Acquire: seeing EXITED implies seeing the exit's effects.
        self.0.load(Ordering::Acquire) == EXITED
    }

    pub(crate) fn mark_exited(&self) {
        // ORDERING: Release pairs with `is_exited`.
        self.0.store(EXITED, Ordering::Release);
    }

    /// An exited actor restarted in place (under its body lock, with its
    /// mailbox still closed): `EXITED → IDLE`. A stale run-queue entry from
    /// before the exit fails `start_running` and is dropped.
    pub(crate) fn revive(&self) {
        // ORDERING: Release publishes the new body to the next worker.
        self.0.store(IDLE, Ordering::Release);
    }
}

/// Loom models of the scheduling protocol: `cargo test` with
/// `RUSTFLAGS="--cfg relive_loom"` (see `docs/testing.md`).
#[cfg(all(test, relive_loom))]
mod loom_models {
    use super::*;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    /// An actor as the protocol sees it: a mailbox and a run queue.
    struct Model {
        sched: Sched,
        mailbox: Mutex<Vec<u32>>,
        run_queue: Mutex<u32>,
        /// Held by a suspender (an upgrade) between two messages.
        body: Mutex<()>,
        handled: Mutex<Vec<u32>>,
        /// Messages a turn takes at most (the real batch is 64).
        batch: usize,
    }

    impl Model {
        fn new() -> Arc<Self> {
            Self::with_batch(usize::MAX)
        }

        fn with_batch(batch: usize) -> Arc<Self> {
            Arc::new(Model {
                sched: Sched::new(),
                mailbox: Mutex::new(Vec::new()),
                run_queue: Mutex::new(0),
                body: Mutex::new(()),
                handled: Mutex::new(Vec::new()),
                batch,
            })
        }

        /// As `Mailbox::push` and its caller: only a push that found the
        /// mailbox empty notifies.
        fn send(&self, m: u32) {
            let first = {
                let mut mailbox = self.mailbox.lock().unwrap();
                mailbox.push(m);
                mailbox.len() == 1
            };
            if first && self.sched.notify() == Notified::Schedule {
                *self.run_queue.lock().unwrap() += 1;
            }
        }

        /// One worker turn, if the actor is queued; true if it ran.
        fn run_once(&self) -> bool {
            {
                let mut q = self.run_queue.lock().unwrap();
                if *q == 0 {
                    return false;
                }
                *q -= 1;
            }
            assert!(self.sched.start_running(), "a queued actor is SCHEDULED");
            let requeue = match self.body.try_lock() {
                Ok(_guard) => {
                    let batch: Vec<u32> = {
                        let mut mailbox = self.mailbox.lock().unwrap();
                        let n = mailbox.len().min(self.batch);
                        mailbox.drain(..n).collect()
                    };
                    self.handled.lock().unwrap().extend(batch);
                    let more = !self.mailbox.lock().unwrap().is_empty();
                    self.sched.finish_running(more)
                }
                // Suspended: the suspender reschedules on release.
                Err(_) => self.sched.finish_running(false),
            };
            if requeue {
                *self.run_queue.lock().unwrap() += 1;
            }
            true
        }

        /// Whatever interleaving happened, once everyone is done and the
        /// run queue is drained, every message was handled exactly once.
        fn drain_and_check(&self, sent: &[u32]) {
            while self.run_once() {}
            assert!(self.mailbox.lock().unwrap().is_empty(), "a message was stranded");
            let mut handled = self.handled.lock().unwrap().clone();
            handled.sort();
            assert_eq!(handled, sent);
        }
    }

    /// Two senders pushing behind mail that is already queued (so neither
    /// may be the one that notifies) while a worker takes one message per
    /// turn: no message is stranded.
    #[test]
    fn loom_pushes_behind_queued_mail_vs_partial_turns() {
        loom::model(|| {
            let m = Model::with_batch(1);
            m.send(1);
            let senders: Vec<_> = [2, 3]
                .into_iter()
                .map(|n| {
                    let m = Arc::clone(&m);
                    thread::spawn(move || m.send(n))
                })
                .collect();
            let worker = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    m.run_once();
                })
            };
            for s in senders {
                s.join().unwrap();
            }
            worker.join().unwrap();
            m.drain_and_check(&[1, 2, 3]);
        });
    }

    #[test]
    fn loom_mailbox_push_vs_worker_turn() {
        loom::model(|| {
            let m = Model::new();
            m.send(1);
            let sender = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.send(2))
            };
            let worker = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    m.run_once();
                })
            };
            sender.join().unwrap();
            worker.join().unwrap();
            m.drain_and_check(&[1, 2]);
        });
    }

    #[test]
    fn loom_mailbox_push_vs_suspend() {
        loom::model(|| {
            let m = Model::new();
            m.send(1);
            let suspender = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let guard = m.body.lock().unwrap();
                    drop(guard);
                    // `HostShared::release`: reschedule if mail is waiting.
                    if !m.mailbox.lock().unwrap().is_empty()
                        && m.sched.notify() == Notified::Schedule
                    {
                        *m.run_queue.lock().unwrap() += 1;
                    }
                })
            };
            let sender = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.send(2))
            };
            let worker = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    m.run_once();
                })
            };
            suspender.join().unwrap();
            sender.join().unwrap();
            worker.join().unwrap();
            m.drain_and_check(&[1, 2]);
        });
    }

    #[test]
    fn loom_version_pickup_vs_upgrade_commit() {
        // The body lock carries state and version together: a worker that
        // picks the actor up sees either (old state, old version) or (new
        // state, new version), never a mix.
        loom::model(|| {
            let body = Arc::new(Mutex::new((1u32, 1u32)));
            let upgrader = {
                let body = Arc::clone(&body);
                thread::spawn(move || {
                    let mut b = body.lock().unwrap();
                    let migrated = b.0 + 1; // code_change of the state
                    *b = (migrated, 2);
                })
            };
            let worker = {
                let body = Arc::clone(&body);
                thread::spawn(move || {
                    let b = body.lock().unwrap();
                    assert_eq!(b.0, b.1, "state and version always match");
                })
            };
            upgrader.join().unwrap();
            worker.join().unwrap();
        });
    }
}
