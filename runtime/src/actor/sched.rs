//! The scheduling state of one actor (the table in `actor/mod.rs`), on its
//! own so that loom can check it exhaustively with the real mailbox
//! (`cfg(relive_loom)`, `actor/loom_models.rs`).

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
