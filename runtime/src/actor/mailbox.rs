//! A mailbox: the queue of normal messages of one actor.
//!
//! - **Per-sender FIFO**: one queue, pushed in order by each sender; one
//!   consumer (the worker running the actor) takes messages in order.
//! - **Bounded by default** ([`DEFAULT_CAPACITY`] messages), never silently
//!   dropping: a host thread's [`push`](Mailbox::push) waits for room (or,
//!   with [`Wait::No`], hands the message back), an async sender awaits room.
//! - **Actor-to-actor sends never block a worker**: a send from inside a
//!   handler is accepted even past the bound ([`push_overdraft`]
//!   (Mailbox::push_overdraft)). Blocking there could deadlock the scheduler
//!   (two actors filling each other's mailboxes on the only two workers);
//!   dropping would lose mail. The overdraft is counted, and since host
//!   threads — where load enters — do wait, a mailbox grows past its bound
//!   only by what actors forward among themselves (as on BEAM, whose
//!   mailboxes are unbounded).
//! - The consumer takes a whole batch under one lock acquisition, so the
//!   lock is taken about once per message by the producer and once per batch
//!   by the consumer.
//! - Every push says whether it found the queue empty. Only such a push
//!   must notify the actor's scheduling state: a push behind other mail
//!   rides on the notification of the mail ahead of it (whose sender
//!   notifies after its push, and whose turn takes everything behind it or
//!   requeues the actor), so a fast producer touches the state machine once
//!   per batch instead of once per message.

use super::Envelope;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::task::Waker;
use std::time::Instant;

/// Yields a host sender makes on a full mailbox before it sleeps.
const SPIN_YIELDS: u32 = 16;

/// Capacity of a mailbox unless the spawner asks otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Whether a host-thread push may wait for room.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Return the message at once if the mailbox is full.
    No,
    /// Wait until there is room, or until the deadline.
    Until(Option<Instant>),
}

/// Why a push did not happen; the envelope is handed back.
#[derive(Debug)]
pub(crate) enum Refused {
    Full(Envelope),
    /// The actor exited; the envelope was dropped (its reply channel with it).
    Closed,
}

#[derive(Debug, Default)]
struct Queue {
    msgs: VecDeque<Envelope>,
    closed: bool,
    /// Host threads waiting for room.
    blocked: usize,
    /// Async senders waiting for room.
    wakers: Vec<Waker>,
    /// Messages accepted past the bound (actor-to-actor sends).
    overdrafts: u64,
}

/// The mailbox of one actor.
#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    room: Condvar,
    /// 0 means unbounded.
    capacity: usize,
}

impl Mailbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Mailbox { queue: Mutex::new(Queue::default()), room: Condvar::new(), capacity }
    }

    fn full(&self, q: &Queue) -> bool {
        self.capacity != 0 && q.msgs.len() >= self.capacity
    }

    /// Push from a host thread, waiting for room as `wait` says. `Ok(true)`:
    /// the queue was empty, the caller must notify the actor.
    pub(crate) fn push(&self, env: Envelope, wait: Wait) -> Result<bool, Refused> {
        let mut spun = false;
        let mut q = self.queue.lock();
        loop {
            if q.closed {
                drop(env);
                return Err(Refused::Closed);
            }
            if !self.full(&q) {
                q.msgs.push_back(env);
                return Ok(q.msgs.len() == 1);
            }
            match wait {
                Wait::No => return Err(Refused::Full(env)),
                Wait::Until(_) if !spun => {
                    // The worker is usually draining: yield a few times
                    // before sleeping (a wake-up costs ~25 µs here).
                    spun = true;
                    drop(q);
                    for _ in 0..SPIN_YIELDS {
                        std::thread::yield_now();
                        if !self.full(&self.queue.lock()) {
                            break;
                        }
                    }
                    q = self.queue.lock();
                }
                Wait::Until(deadline) => {
                    q.blocked += 1;
                    let timed_out = match deadline {
                        Some(d) => self.room.wait_until(&mut q, d).timed_out(),
                        None => {
                            self.room.wait(&mut q);
                            false
                        }
                    };
                    q.blocked -= 1;
                    if timed_out && self.full(&q) && !q.closed {
                        return Err(Refused::Full(env));
                    }
                }
            }
        }
    }

    /// Push from an async sender: `Err(Full)` registers `waker` to be woken
    /// when room appears. `Ok` as for [`push`](Self::push).
    pub(crate) fn push_or_register(&self, env: Envelope, waker: &Waker) -> Result<bool, Refused> {
        let mut q = self.queue.lock();
        if q.closed {
            drop(env);
            return Err(Refused::Closed);
        }
        if self.full(&q) {
            if !q.wakers.iter().any(|w| w.will_wake(waker)) {
                q.wakers.push(waker.clone());
            }
            return Err(Refused::Full(env));
        }
        q.msgs.push_back(env);
        Ok(q.msgs.len() == 1)
    }

    /// Push from inside a handler: never waits, may exceed the bound. `Ok`
    /// as for [`push`](Self::push).
    pub(crate) fn push_overdraft(&self, env: Envelope) -> Result<bool, Refused> {
        let mut q = self.queue.lock();
        if q.closed {
            drop(env);
            return Err(Refused::Closed);
        }
        if self.full(&q) {
            q.overdrafts += 1;
        }
        q.msgs.push_back(env);
        Ok(q.msgs.len() == 1)
    }

    /// Move up to `max` messages into `batch` (which the caller keeps and
    /// reuses), and wake senders waiting for room.
    pub(crate) fn take_batch(&self, batch: &mut VecDeque<Envelope>, max: usize) {
        let wakers = {
            let mut q = self.queue.lock();
            if q.msgs.len() <= max && batch.is_empty() {
                std::mem::swap(&mut q.msgs, batch);
            } else {
                let n = q.msgs.len().min(max);
                batch.extend(q.msgs.drain(..n));
            }
            if q.blocked > 0 {
                self.room.notify_all();
            }
            std::mem::take(&mut q.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Put unprocessed messages back at the front, in order (used when a
    /// batch is interrupted, e.g. by a suspension).
    pub(crate) fn unshift(&self, batch: &mut VecDeque<Envelope>) {
        if batch.is_empty() {
            return;
        }
        let mut q = self.queue.lock();
        while let Some(env) = batch.pop_back() {
            q.msgs.push_front(env);
        }
    }

    /// Refuse further mail and return what is queued (the caller answers it).
    pub(crate) fn close(&self) -> VecDeque<Envelope> {
        let (msgs, wakers) = {
            let mut q = self.queue.lock();
            q.closed = true;
            self.room.notify_all();
            (std::mem::take(&mut q.msgs), std::mem::take(&mut q.wakers))
        };
        for w in wakers {
            w.wake();
        }
        msgs
    }

    /// Accept mail again: the actor was restarted in place.
    pub(crate) fn reopen(&self) {
        self.queue.lock().closed = false;
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().msgs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().msgs.is_empty()
    }

    pub(crate) fn overdrafts(&self) -> u64 {
        self.queue.lock().overdrafts
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
