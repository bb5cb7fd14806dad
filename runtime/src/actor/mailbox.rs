//! A mailbox: the queue of normal messages of one actor.
//!
//! - **Per-sender FIFO**: one queue, pushed in order by each sender; one
//!   consumer (the worker running the actor) takes messages in order.
//! - **Bounded by default** ([`DEFAULT_CAPACITY`] messages), never silently
//!   dropping: a host thread's [`push`](Mailbox::push) waits for room (or,
//!   with [`Wait::No`], hands the message back), an async sender awaits room.
//! - **Sends from handlers never block a worker, and are bounded too**
//!   (decision 5, `docs/decisions/0005-handler-send-bound.md`): a send from
//!   inside a handler is accepted past the bound, but only by the
//!   mailbox's **overdraft allowance** (as many messages again as the
//!   capacity unless the spawner says otherwise: 2 × capacity in all), and
//!   beyond it is refused and handed back ([`push_overdraft`]
//!   (Mailbox::push_overdraft) returns `Full`; a module's `ctx.send` gets
//!   `MAILBOX_FULL`). Blocking there could deadlock the scheduler (two
//!   actors filling each other's mailboxes on the only two workers, or an
//!   actor sending to itself); dropping would lose mail; accepting without
//!   end let a self-sending handler queue 950k messages past a 1,024 bound.
//!   Overdrafts and refusals are counted. A fired `send_after` timer is held
//!   to the same allowance but keeps its message and tries again
//!   ([`push_delayed`](Mailbox::push_delayed)). An unbounded mailbox
//!   (capacity 0) refuses nothing.
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
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Messages accepted past the bound (sends from handlers).
    overdrafts: u64,
    /// Sends from handlers refused past the overdraft allowance.
    refusals: u64,
    /// How many messages sends from handlers may add past the bound.
    allowance: usize,
    // issue 16: metrics
    /// Messages ever pushed: the message at `msgs[i]` is number
    /// `pushed - msgs.len() + i` (an `unshift` puts earlier numbers back in
    /// front, a `close` takes them all).
    pushed: u64,
    /// The one message being timed: its number and when it was pushed.
    sample: Option<(u64, Instant)>,
}

/// The mailbox of one actor.
#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    room: Condvar,
    /// 0 means unbounded.
    capacity: usize,
    // issue 16: metrics
    /// Time a message when its push number masked with this is 0: one in
    /// `mask + 1` pushes (a power of two, so no division per push);
    /// `None`: no timing, metrics are off.
    sample_mask: Option<u64>,
    /// The queue's length, stored under the lock by every change: what
    /// views and scrapes read without taking the lock.
    depth: AtomicUsize,
}

// issue 16: metrics
/// What [`Mailbox::take_batch`] found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taken {
    /// Messages queued before the batch was taken.
    pub(crate) depth: usize,
    /// The timed message, if it is in the batch: its index there and when
    /// it was pushed.
    pub(crate) sample: Option<(usize, Instant)>,
}

impl Mailbox {
    /// A mailbox of `capacity` messages (0: unbounded) whose overdraft
    /// allowance is as many again ([`set_allowance`](Self::set_allowance)
    /// changes it).
    pub(crate) fn new(capacity: usize) -> Self {
        let queue = Queue { allowance: capacity, ..Queue::default() };
        Mailbox {
            queue: Mutex::new(queue),
            room: Condvar::new(),
            capacity,
            sample_mask: None,
            depth: AtomicUsize::new(0),
        }
    }

    // issue 16: metrics
    /// A mailbox as [`new`](Self::new) that times one message in every
    /// `every` pushed (0: none): when it was pushed, for its wait.
    ///
    /// `every` is rounded up to a power of two.
    pub(crate) fn sampled(capacity: usize, every: u64) -> Self {
        let sample_mask = (every != 0).then(|| every.next_power_of_two() - 1);
        Mailbox { sample_mask, ..Self::new(capacity) }
    }

    /// Append under the lock, noting the time of a sampled message (one
    /// clock read in `mask + 1` pushes; none while one is in flight).
    fn enqueue(&self, q: &mut Queue, env: Envelope) {
        if let Some(mask) = self.sample_mask
            && q.pushed & mask == 0
            && q.sample.is_none()
        {
            q.sample = Some((q.pushed, Instant::now()));
        }
        q.pushed += 1;
        q.msgs.push_back(env);
        self.note_depth(q);
    }

    /// Publish the queue's length for [`depth`](Self::depth) (under the lock).
    fn note_depth(&self, q: &Queue) {
        // ORDERING: a statistic; the lock orders the queue itself.
        self.depth.store(q.msgs.len(), Ordering::Relaxed);
    }

    // issue 16: metrics
    /// The queue's length as of its last change, without the lock (for
    /// views and metrics; [`len`](Self::len) is exact).
    pub(crate) fn depth(&self) -> usize {
        // ORDERING: see `note_depth`.
        self.depth.load(Ordering::Relaxed)
    }

    /// Let sends from handlers add up to `allowance` messages past the bound
    /// (no effect on an unbounded mailbox).
    pub(crate) fn set_allowance(&self, allowance: usize) {
        self.queue.lock().allowance = allowance;
    }

    fn full(&self, q: &Queue) -> bool {
        self.capacity != 0 && q.msgs.len() >= self.capacity
    }

    /// Full even for a send from a handler: the bound and the allowance used.
    fn overdrawn(&self, q: &Queue) -> bool {
        self.capacity != 0 && q.msgs.len() >= self.capacity.saturating_add(q.allowance)
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
                self.enqueue(&mut q, env);
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
        self.enqueue(&mut q, env);
        Ok(q.msgs.len() == 1)
    }

    /// Push from inside a handler: never waits; may exceed the bound by the
    /// overdraft allowance, beyond which the message is handed back
    /// (`Err(Full)`, counted as a refusal). `Ok` as for [`push`](Self::push).
    pub(crate) fn push_overdraft(&self, env: Envelope) -> Result<bool, Refused> {
        self.push_within_allowance(env, true)
    }

    /// As [`push_overdraft`](Self::push_overdraft) for a send from a handler
    /// made later (a fired timer): a refusal is not counted, since the timer
    /// keeps the message and tries again.
    pub(crate) fn push_delayed(&self, env: Envelope) -> Result<bool, Refused> {
        self.push_within_allowance(env, false)
    }

    fn push_within_allowance(&self, env: Envelope, count: bool) -> Result<bool, Refused> {
        let mut q = self.queue.lock();
        if q.closed {
            drop(env);
            return Err(Refused::Closed);
        }
        if self.overdrawn(&q) {
            if count {
                q.refusals += 1;
            }
            return Err(Refused::Full(env));
        }
        if self.full(&q) {
            q.overdrafts += 1;
        }
        self.enqueue(&mut q, env);
        Ok(q.msgs.len() == 1)
    }

    /// Move up to `max` messages into `batch` (which the caller keeps and
    /// reuses), and wake senders waiting for room. Says how deep the queue
    /// was and where the timed message is, if it is in the batch.
    pub(crate) fn take_batch(&self, batch: &mut VecDeque<Envelope>, max: usize) -> Taken {
        let (wakers, taken) = {
            let mut q = self.queue.lock();
            let depth = q.msgs.len();
            let first = q.pushed - depth as u64;
            let n = depth.min(max);
            if depth <= max && batch.is_empty() {
                std::mem::swap(&mut q.msgs, batch);
            } else {
                batch.extend(q.msgs.drain(..n));
            }
            self.note_depth(&q);
            let sample = match q.sample {
                Some((seq, at)) if seq < first + n as u64 => {
                    q.sample = None;
                    // Before `first`: it left without being handled (a
                    // close); it is not timed.
                    seq.checked_sub(first).map(|i| (i as usize, at))
                }
                _ => None,
            };
            if q.blocked > 0 {
                self.room.notify_all();
            }
            (std::mem::take(&mut q.wakers), Taken { depth, sample })
        };
        for w in wakers {
            w.wake();
        }
        taken
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
        self.note_depth(&q);
    }

    /// Refuse further mail and return what is queued (the caller answers it).
    pub(crate) fn close(&self) -> VecDeque<Envelope> {
        let (msgs, wakers) = {
            let mut q = self.queue.lock();
            q.closed = true;
            q.sample = None;
            self.room.notify_all();
            let msgs = std::mem::take(&mut q.msgs);
            self.note_depth(&q);
            (msgs, std::mem::take(&mut q.wakers))
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

    /// Whether a send from a handler would be refused now; a refusal is
    /// counted as one (`send_after` checks this when it is asked).
    pub(crate) fn refuse_if_overdrawn(&self) -> bool {
        let mut q = self.queue.lock();
        let refused = self.overdrawn(&q) && !q.closed;
        if refused {
            q.refusals += 1;
        }
        refused
    }

    pub(crate) fn refusals(&self) -> u64 {
        self.queue.lock().refusals
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Payload;

    fn env() -> Envelope {
        Envelope { bytes: Payload::copy_from(&[7]), reply: None }
    }

    #[test]
    fn a_handler_send_past_the_allowance_is_refused_and_handed_back() {
        let m = Mailbox::new(4);
        for _ in 0..4 {
            m.push(env(), Wait::No).unwrap();
        }
        for _ in 0..4 {
            m.push_overdraft(env()).expect("within the allowance");
        }
        assert!(matches!(m.push_overdraft(env()), Err(Refused::Full(e)) if *e.bytes == [7]));
        assert_eq!(m.len(), 8, "2 × capacity in all");
        assert_eq!((m.overdrafts(), m.refusals()), (4, 1));
        // One taken: room for one more send from a handler, not two.
        let mut batch = VecDeque::new();
        m.take_batch(&mut batch, 1);
        m.push_overdraft(env()).expect("room again");
        assert!(matches!(m.push_overdraft(env()), Err(Refused::Full(_))));
        assert_eq!(m.refusals(), 2);
        // A fired timer is held to the same allowance, but keeps its message
        // to retry: not a refusal.
        assert!(matches!(m.push_delayed(env()), Err(Refused::Full(_))));
        assert_eq!(m.refusals(), 2);
        m.take_batch(&mut batch, 1);
        m.push_delayed(env()).expect("room for the timer");
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn an_allowance_of_zero_makes_the_bound_exact_for_handlers() {
        let m = Mailbox::new(2);
        m.set_allowance(0);
        m.push_overdraft(env()).unwrap();
        m.push_overdraft(env()).unwrap();
        assert!(matches!(m.push_overdraft(env()), Err(Refused::Full(_))));
        assert_eq!((m.len(), m.overdrafts(), m.refusals()), (2, 0, 1));
    }

    #[test]
    fn an_unbounded_mailbox_refuses_no_handler_send() {
        let m = Mailbox::new(0);
        m.set_allowance(0);
        for _ in 0..10_000 {
            m.push_overdraft(env()).unwrap();
        }
        assert_eq!((m.len(), m.overdrafts(), m.refusals()), (10_000, 0, 0));
    }
}
