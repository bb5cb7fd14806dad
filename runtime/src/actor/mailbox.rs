//! A mailbox: the queue of normal messages of one actor.
//!
//! # What it promises
//! - **Per-sender FIFO**: one queue, pushed in order by each sender; one
//!   consumer at a time (the thread running the actor's turn) takes
//!   messages in order.
//! - **Bounded by default** ([`DEFAULT_CAPACITY`] messages), never silently
//!   dropping: a host thread's [`push`](Mailbox::push) waits for room (or,
//!   with [`Wait::No`], hands the message back), an async sender awaits room.
//!   The bound is exact for host senders: no host push is accepted while
//!   `capacity` messages are queued.
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
//! - Every push says whether it found the mailbox empty. Only such a push
//!   must notify the actor's scheduling state: a push behind other mail
//!   rides on the notification of the mail ahead of it (whose sender
//!   notifies after its push, and whose turn takes everything behind it or
//!   requeues the actor), so a fast producer touches the state machine once
//!   per batch instead of once per message.
//!
//! # How: lock-free pushes (issue 19, decision 0026)
//! A push takes no lock. The mailbox is three pieces:
//!
//! - `state`, one `AtomicU64`: the **count** of messages in the mailbox
//!   (bits 0–47: reserved by a push, queued, or put back by `unshift`), the
//!   **closed** bit (48), and a **push sequence** (bits 49–63, wrapping)
//!   that picks the metrics' timed messages;
//! - `queue`, a lock-free segment queue (`crossbeam_queue::SegQueue`) of
//!   the messages pushed, allocated by the first push (`sync::LazyQueue`:
//!   one compare-and-swap installs it; until then a pop finds nothing, as
//!   it would in an empty queue, so no step below changes);
//! - `consumer`, a mutex only the consumer side takes (once per batch, never
//!   by a sender): the messages a turn put back at the front (`unshift`), and
//!   the exclusion between taking a batch and closing.
//!
//! The protocol, step by step:
//!
//! 1. **Reserve** (every push): one compare-and-swap on `state` that fails
//!    if closed, or if the count is at the bound (`capacity` for a host
//!    sender, `capacity + allowance` for a handler's), and otherwise adds
//!    one to the count and one to the sequence. The count is the bound's
//!    truth: it is checked and raised in one atomic step, so concurrent
//!    senders cannot overshoot it. The count the CAS saw says whether this
//!    push is the one that found the mailbox empty (**first**).
//! 2. **Enqueue**: push the message (and, for one sequence number in
//!    `SAMPLE_EVERY`, when it was pushed) onto `queue`; then, if first,
//!    notify the scheduling state (the caller does, `cell::wake`).
//! 3. **Take** (the turn, holding `consumer`): pop up to a batch from the
//!    put-back messages, then from `queue`, then subtract what it took from
//!    the count in one RMW. A message reserved but not yet enqueued is not
//!    there to pop: the count still has it, so the turn's end sees mail
//!    left and requeues the actor (it never waits for the sender).
//! 4. **More?** The turn's end ([`is_empty`](Mailbox::is_empty)) reads the
//!    count with an RMW (`fetch_add(0)`), which reads the latest value:
//!    either it sees a reservation (and requeues), or that reservation's
//!    CAS comes after it and saw the count it left, zero, so that sender is
//!    first and notifies — and since the RMW is a release and the sender's
//!    CAS an acquire, the sender's notify then sees the turn's state change
//!    (`RUNNING`, so it sets `NOTIFIED`, or `IDLE`, so it schedules). No
//!    wake-up is lost; this is the argument the loom models check.
//! 5. **Room**: a host sender that finds the mailbox full (after a few
//!    yields) registers under `waiters` (a mutex and condvar only blocked
//!    senders and the consumer's wake-up take), raises `waiting`, issues a
//!    SeqCst fence and checks the count again before it sleeps; the
//!    consumer, after lowering the count, issues a SeqCst fence and reads
//!    `waiting`. Either the sender's check sees the room, or the consumer
//!    sees the sender and wakes it under the same mutex (so the wake cannot
//!    fall between the check and the sleep). An async sender registers its
//!    waker the same way.
//! 6. **Close** (an exit, holding `consumer`): set the closed bit with one
//!    RMW — every later reservation fails — and collect exactly the count
//!    it saw: the put-back messages, then pops from `queue`, yielding while
//!    a push that reserved before the close has not enqueued yet. So every
//!    accepted message is either handled or returned by `close` (and
//!    answered), never stranded; every refused one was handed back.
//!
//! What the loom models check (`cfg(relive_loom)`, `actor/loom_models.rs`):
//! this mailbox's code and the scheduling state (`sched.rs`) as they are,
//! with `crate::sync`'s loom stand-ins for the segment queue and the locks.
//! The segment queue itself is crossbeam's, tested by crossbeam.

use super::Envelope;
use crate::sync::{AtomicU64, AtomicUsize, Condvar, LazyQueue, Mutex, Ordering, fence, yield_now};
use std::collections::VecDeque;
use std::task::Waker;
use std::time::Instant;

/// Yields a host sender makes on a full mailbox before it sleeps (one in
/// the loom models, where each yield multiplies the interleavings).
const SPIN_YIELDS: u32 = if cfg!(all(test, relive_loom)) { 1 } else { 16 };

/// Capacity of a mailbox unless the spawner asks otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Bits 0–47 of `state`: messages in the mailbox.
const COUNT: u64 = (1 << 48) - 1;
/// Bit 48 of `state`: refusing mail.
const CLOSED: u64 = 1 << 48;
/// Bits 49–63 of `state`: the push sequence (wraps).
const SEQ_SHIFT: u32 = 49;
/// What one reservation adds to `state`.
const RESERVE: u64 = 1 | (1 << SEQ_SHIFT);

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

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NoRoom {
    Full,
    Closed,
}

/// Senders waiting for room.
#[derive(Debug, Default)]
struct Waiters {
    /// Host threads asleep on `room`.
    blocked: usize,
    /// Async senders to wake.
    wakers: Vec<Waker>,
}

/// The mailbox of one actor.
#[derive(Debug)]
pub(crate) struct Mailbox {
    /// Count, closed bit and push sequence (see the module docs).
    state: AtomicU64,
    /// Pushed messages, each with when it was pushed if it is timed. Boxed,
    /// and allocated by the first push (`LazyQueue`): the queue's head and
    /// tail are cache-padded (128-byte aligned), which inline would align
    /// the whole actor cell to 128 bytes, and which an actor that never got
    /// mail need not carry (issue 19: `bytes_per_idle_actor`).
    queue: LazyQueue<(Envelope, Option<Instant>)>,
    /// The consumer side: messages put back in front (`unshift`); held by
    /// `take_batch`, `unshift` and `close`, never by a sender.
    consumer: Mutex<VecDeque<Envelope>>,
    /// Senders waiting for room; `waiting` is their number, read by the
    /// consumer without the lock.
    waiters: Mutex<Waiters>,
    waiting: AtomicUsize,
    room: Condvar,
    /// 0 means unbounded.
    capacity: usize,
    /// How many messages sends from handlers may add past the bound.
    allowance: AtomicUsize,
    /// Messages accepted past the bound (sends from handlers).
    overdrafts: AtomicU64,
    /// Sends from handlers refused past the overdraft allowance.
    refusals: AtomicU64,
    // issue 16: metrics
    /// Time the messages whose push sequence is 0 modulo `sample_mask + 1`;
    /// `None`: none (metrics are off).
    sample_mask: Option<u64>,
}

// issue 16: metrics
/// What [`Mailbox::take_batch`] found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Taken {
    /// Messages in the mailbox before the batch was taken.
    pub(crate) depth: usize,
    /// The first timed message of the batch, if it has one: its index there
    /// and when it was pushed.
    pub(crate) sample: Option<(usize, Instant)>,
}

impl Mailbox {
    /// A mailbox of `capacity` messages (0: unbounded) whose overdraft
    /// allowance is as many again ([`set_allowance`](Self::set_allowance)
    /// changes it).
    pub(crate) fn new(capacity: usize) -> Self {
        Mailbox {
            state: AtomicU64::new(0),
            queue: LazyQueue::new(),
            consumer: Mutex::new(VecDeque::new()),
            waiters: Mutex::new(Waiters::default()),
            waiting: AtomicUsize::new(0),
            room: Condvar::new(),
            capacity,
            allowance: AtomicUsize::new(capacity),
            overdrafts: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            sample_mask: None,
        }
    }

    // issue 16: metrics
    /// A mailbox as [`new`](Self::new) that times about one message in every
    /// `every` pushed (0: none; rounded up to a power of two): when it was
    /// pushed, for its wait.
    pub(crate) fn sampled(capacity: usize, every: u64) -> Self {
        let sample_mask = (every != 0).then(|| every.next_power_of_two() - 1);
        Mailbox { sample_mask, ..Self::new(capacity) }
    }

    /// Step 1: reserve a place under `bound` (0: none). The count before,
    /// and whether the reservation went past the capacity (an overdraft).
    fn reserve(&self, bound: usize) -> Result<(u64, bool), NoRoom> {
        // ORDERING: the CAS below validates what this load saw.
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & CLOSED != 0 {
                return Err(NoRoom::Closed);
            }
            let n = cur & COUNT;
            if bound != 0 && n >= bound as u64 {
                return Err(NoRoom::Full);
            }
            // ORDERING: AcqRel: Acquire pairs with the consumer's Release
            // RMWs (step 4: a sender that sees the count a turn left sees
            // that turn's state change); Release orders this reservation
            // before the enqueue and notify that follow.
            match self.state.compare_exchange_weak(
                cur,
                cur.wrapping_add(RESERVE),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let over = self.capacity != 0 && n >= self.capacity as u64;
                    return Ok((cur, over));
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Step 2: enqueue a reserved message; whether it is the first.
    fn enqueue(&self, before: u64, env: Envelope) -> bool {
        let timed = match self.sample_mask {
            Some(mask) if (before >> SEQ_SHIFT) & mask == 0 => Some(Instant::now()),
            _ => None,
        };
        self.queue.push((env, timed));
        before & COUNT == 0
    }

    /// The count as of the last change, without ordering anything (for views
    /// and metrics; [`len`](Self::len) reads the latest).
    pub(crate) fn depth(&self) -> usize {
        // ORDERING: a statistic.
        (self.state.load(Ordering::Relaxed) & COUNT) as usize
    }

    /// Let sends from handlers add up to `allowance` messages past the bound
    /// (no effect on an unbounded mailbox).
    pub(crate) fn set_allowance(&self, allowance: usize) {
        // ORDERING: a setting read by later pushes; publishing the actor
        // (the registry's lock) orders it before any of them.
        self.allowance.store(allowance, Ordering::Relaxed);
    }

    /// The bound for a send from a handler (0: none).
    fn overdraft_bound(&self) -> usize {
        if self.capacity == 0 {
            return 0;
        }
        // ORDERING: see `set_allowance`.
        self.capacity.saturating_add(self.allowance.load(Ordering::Relaxed))
    }

    /// Push from a host thread, waiting for room as `wait` says. `Ok(true)`:
    /// the mailbox was empty, the caller must notify the actor.
    pub(crate) fn push(&self, env: Envelope, wait: Wait) -> Result<bool, Refused> {
        let mut spun = false;
        loop {
            match self.reserve(self.capacity) {
                Ok((before, _)) => return Ok(self.enqueue(before, env)),
                Err(NoRoom::Closed) => return Err(Refused::Closed),
                Err(NoRoom::Full) => {}
            }
            match wait {
                Wait::No => return Err(Refused::Full(env)),
                Wait::Until(_) if !spun => {
                    // The worker is usually draining: yield a few times
                    // before sleeping (a wake-up costs ~25 µs here).
                    spun = true;
                    for _ in 0..SPIN_YIELDS {
                        yield_now();
                        if self.has_room(self.capacity) {
                            break;
                        }
                    }
                }
                Wait::Until(deadline) => {
                    if !self.sleep_for_room(deadline) {
                        return Err(Refused::Full(env));
                    }
                }
            }
        }
    }

    /// Whether a reservation under `bound` would succeed now (or fail as
    /// closed): worth trying again.
    fn has_room(&self, bound: usize) -> bool {
        // ORDERING: a hint; the reservation decides.
        let s = self.state.load(Ordering::Relaxed);
        s & CLOSED != 0 || bound == 0 || (s & COUNT) < bound as u64
    }

    /// Step 5 for a host sender: sleep until the consumer makes room (or
    /// closes), or until `deadline`. False: the deadline passed and there is
    /// still no room.
    fn sleep_for_room(&self, deadline: Option<Instant>) -> bool {
        let mut w = self.waiters.lock();
        w.blocked += 1;
        // ORDERING: the increment, then a SeqCst fence, then the check of
        // the count: pairs with the consumer's decrement, fence and read of
        // `waiting` (module docs, step 5).
        self.waiting.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let room = if self.has_room(self.capacity) {
            true
        } else {
            match deadline {
                Some(d) => {
                    let timed_out = self.room.wait_until(&mut w, d).timed_out();
                    !timed_out || self.has_room(self.capacity)
                }
                None => {
                    self.room.wait(&mut w);
                    true
                }
            }
        };
        w.blocked -= 1;
        // ORDERING: under the lock, as the increment.
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        room
    }

    /// Push from an async sender: `Err(Full)` registers `waker` to be woken
    /// when room appears. `Ok` as for [`push`](Self::push).
    pub(crate) fn push_or_register(&self, env: Envelope, waker: &Waker) -> Result<bool, Refused> {
        match self.reserve(self.capacity) {
            Ok((before, _)) => return Ok(self.enqueue(before, env)),
            Err(NoRoom::Closed) => return Err(Refused::Closed),
            Err(NoRoom::Full) => {}
        }
        {
            let mut w = self.waiters.lock();
            if !w.wakers.iter().any(|x| x.will_wake(waker)) {
                w.wakers.push(waker.clone());
                // ORDERING: as in `sleep_for_room`.
                self.waiting.fetch_add(1, Ordering::Relaxed);
            }
        }
        fence(Ordering::SeqCst);
        // Room may have appeared before the consumer could see the waker.
        match self.reserve(self.capacity) {
            Ok((before, _)) => Ok(self.enqueue(before, env)),
            Err(NoRoom::Closed) => Err(Refused::Closed),
            Err(NoRoom::Full) => Err(Refused::Full(env)),
        }
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
        match self.reserve(self.overdraft_bound()) {
            Ok((before, over)) => {
                if over {
                    // ORDERING: a statistic.
                    self.overdrafts.fetch_add(1, Ordering::Relaxed);
                }
                Ok(self.enqueue(before, env))
            }
            Err(NoRoom::Closed) => Err(Refused::Closed),
            Err(NoRoom::Full) => {
                if count {
                    // ORDERING: a statistic.
                    self.refusals.fetch_add(1, Ordering::Relaxed);
                }
                Err(Refused::Full(env))
            }
        }
    }

    /// Step 3: move up to `max` messages into `batch` (which the caller
    /// keeps and reuses), and wake senders waiting for room. Says how many
    /// messages the mailbox had and where the first timed message of the
    /// batch is, if it has one.
    pub(crate) fn take_batch(&self, batch: &mut VecDeque<Envelope>, max: usize) -> Taken {
        let mut front = self.consumer.lock();
        // ORDERING: a statistic (the depth a turn found).
        let depth = (self.state.load(Ordering::Relaxed) & COUNT) as usize;
        let start = batch.len();
        let mut sample = None;
        let from_front = front.len().min(max);
        batch.extend(front.drain(..from_front));
        while batch.len() - start < max {
            let Some((env, timed)) = self.queue.pop() else { break };
            if sample.is_none()
                && let Some(at) = timed
            {
                sample = Some((batch.len() - start, at));
            }
            batch.push_back(env);
        }
        drop(front);
        let taken = (batch.len() - start) as u64;
        if taken > 0 {
            // ORDERING: Release: a sender whose reservation reads this (or a
            // later) count sees everything this turn did before (step 4).
            self.state.fetch_sub(taken, Ordering::AcqRel);
            self.wake_waiters();
        }
        Taken { depth, sample }
    }

    /// Step 5 for the consumer: wake the senders waiting for room, if any.
    fn wake_waiters(&self) {
        // ORDERING: pairs with the SeqCst fence of a sender that registers
        // (module docs, step 5).
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) == 0 {
            return;
        }
        let wakers = {
            let mut w = self.waiters.lock();
            if w.blocked > 0 {
                self.room.notify_all();
            }
            let wakers = std::mem::take(&mut w.wakers);
            // ORDERING: under the lock, as every change of `waiting`.
            self.waiting.fetch_sub(wakers.len(), Ordering::Relaxed);
            wakers
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
        let mut front = self.consumer.lock();
        let n = batch.len() as u64;
        while let Some(env) = batch.pop_back() {
            front.push_front(env);
        }
        // ORDERING: as in `take_batch`.
        self.state.fetch_add(n, Ordering::AcqRel);
    }

    /// Step 6: refuse further mail and return what is queued (the caller
    /// answers it).
    pub(crate) fn close(&self) -> VecDeque<Envelope> {
        let msgs = {
            let mut front = self.consumer.lock();
            // ORDERING: AcqRel: every reservation before this in the
            // count's order is collected below; every one after fails.
            let before = self.state.fetch_or(CLOSED, Ordering::AcqRel);
            let count = (before & COUNT) as usize;
            let mut msgs = std::mem::take(&mut *front);
            while msgs.len() < count {
                match self.queue.pop() {
                    Some((env, _)) => msgs.push_back(env),
                    // A push reserved before the close and has not
                    // enqueued yet: it will, without waiting on anything.
                    None => yield_now(),
                }
            }
            // ORDERING: closed, so only the consumer side (holding
            // `consumer`) changes the count now.
            self.state.fetch_sub(count as u64, Ordering::AcqRel);
            msgs
        };
        let wakers = {
            let mut w = self.waiters.lock();
            self.room.notify_all();
            let wakers = std::mem::take(&mut w.wakers);
            // ORDERING: under the lock, as every change of `waiting`.
            self.waiting.fetch_sub(wakers.len(), Ordering::Relaxed);
            wakers
        };
        for w in wakers {
            w.wake();
        }
        msgs
    }

    /// Accept mail again: the actor was restarted in place.
    pub(crate) fn reopen(&self) {
        // ORDERING: Release: the restart happens-before pushes that see it.
        self.state.fetch_and(!CLOSED, Ordering::AcqRel);
    }

    /// Messages in the mailbox now (the latest count: an RMW).
    pub(crate) fn len(&self) -> usize {
        // ORDERING: an RMW reads the latest count (step 4).
        (self.state.fetch_add(0, Ordering::AcqRel) & COUNT) as usize
    }

    /// Whether the mailbox is empty now; a turn's end and a suspender's
    /// release ask this (step 4).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn overdrafts(&self) -> u64 {
        // ORDERING: a statistic.
        self.overdrafts.load(Ordering::Relaxed)
    }

    /// Whether a send from a handler would be refused now; a refusal is
    /// counted as one (`send_after` checks this when it is asked).
    pub(crate) fn refuse_if_overdrawn(&self) -> bool {
        // ORDERING: a check made when a timer is armed, as a send would be.
        let s = self.state.load(Ordering::Acquire);
        let bound = self.overdraft_bound();
        let refused = s & CLOSED == 0 && bound != 0 && (s & COUNT) >= bound as u64;
        if refused {
            // ORDERING: a statistic.
            self.refusals.fetch_add(1, Ordering::Relaxed);
        }
        refused
    }

    pub(crate) fn refusals(&self) -> u64 {
        // ORDERING: a statistic.
        self.refusals.load(Ordering::Relaxed)
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

    // issue 19: the lock-free mailbox
    #[test]
    fn host_senders_never_exceed_the_bound_and_keep_their_order() {
        const SENDERS: u8 = 4;
        const EACH: u32 = if cfg!(miri) { 50 } else { 2_000 };
        let m = std::sync::Arc::new(Mailbox::new(8));
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let m = std::sync::Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let mut b = [s; 5];
                        b[1..].copy_from_slice(&i.to_le_bytes());
                        let e = Envelope { bytes: Payload::copy_from(&b), reply: None };
                        m.push(e, Wait::Until(None)).unwrap();
                    }
                })
            })
            .collect();
        let mut next = [0u32; SENDERS as usize];
        let mut batch = VecDeque::new();
        let mut got = 0;
        while got < u64::from(SENDERS) * u64::from(EACH) {
            let taken = m.take_batch(&mut batch, 3);
            assert!(taken.depth <= 8, "the bound held: {} queued", taken.depth);
            for e in batch.drain(..) {
                let s = e.bytes[0] as usize;
                let i = u32::from_le_bytes(e.bytes[1..5].try_into().unwrap());
                assert_eq!(i, next[s], "sender {s}'s messages in order");
                next[s] += 1;
                got += 1;
            }
        }
        for s in senders {
            s.join().unwrap();
        }
        assert!(m.is_empty());
        assert_eq!(next, [EACH; SENDERS as usize]);
    }

    #[test]
    fn one_push_in_64_is_timed_and_reported_by_its_batch() {
        let m = Mailbox::sampled(0, 64);
        for _ in 0..130 {
            m.push(env(), Wait::No).unwrap();
        }
        let mut batch = VecDeque::new();
        assert_eq!(m.take_batch(&mut batch, 10).sample.map(|s| s.0), Some(0));
        batch.clear();
        assert!(m.take_batch(&mut batch, 50).sample.is_none(), "messages 10..60 are not timed");
        batch.clear();
        let t = m.take_batch(&mut batch, 64);
        assert_eq!((t.depth, t.sample.map(|s| s.0)), (70, Some(4)), "message 64");
        assert!(Mailbox::new(0).sample_mask.is_none(), "metrics off: nothing timed");
    }

    #[test]
    fn close_returns_put_back_mail_then_queued_mail_in_order_and_refuses_more() {
        let m = Mailbox::new(4);
        for i in 0..4u8 {
            let first = m.push(Envelope { bytes: Payload::copy_from(&[i]), reply: None }, Wait::No);
            assert_eq!(first.unwrap(), i == 0, "only the push into an empty mailbox is first");
        }
        let mut batch = VecDeque::new();
        m.take_batch(&mut batch, 3);
        batch.pop_front();
        m.unshift(&mut batch);
        assert_eq!(m.len(), 3);
        let left: Vec<u8> = m.close().into_iter().map(|e| e.bytes[0]).collect();
        assert_eq!(left, [1, 2, 3]);
        assert!(matches!(m.push(env(), Wait::Until(None)), Err(Refused::Closed)));
        assert!(matches!(m.push_overdraft(env()), Err(Refused::Closed)));
        assert!(m.is_empty());
        m.reopen();
        assert!(m.push(env(), Wait::No).unwrap(), "reopened, empty: first again");
    }

    #[test]
    fn an_async_sender_on_a_full_mailbox_is_woken_when_a_batch_makes_room() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(std::sync::Arc::clone(&count));
        let m = Mailbox::new(1);
        m.push(env(), Wait::No).unwrap();
        assert!(matches!(m.push_or_register(env(), &waker), Err(Refused::Full(_))));
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 0);
        let mut batch = VecDeque::new();
        m.take_batch(&mut batch, 64);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1, "woken once");
        assert!(m.push_or_register(env(), &waker).unwrap());
    }

    #[test]
    fn a_host_sender_waiting_with_a_deadline_gets_its_message_back() {
        let m = Mailbox::new(1);
        m.push(env(), Wait::No).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        assert!(matches!(m.push(env(), Wait::Until(Some(deadline))), Err(Refused::Full(_))));
        assert!(Instant::now() >= deadline);
        assert_eq!(m.len(), 1);
    }
}
