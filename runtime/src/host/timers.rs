//! `send_after`: one timer thread per host, started on first use. A timer
//! that fires while its target's mailbox is past its overdraft allowance
//! waits in the thread (behind nothing but earlier timers to that target)
//! and is retried until there is room.
//!
//! Every timer has a reference (its sequence number) and stays *armed*
//! until it fires, is cancelled, or its target exits (timers die with the
//! actor they are for); `cancel` and `read` answer the time left of an
//! armed timer. A timer to a registered name resolves the name when it
//! fires (and is dropped if nobody has it then). An idle timer (a module's
//! `idle_timeout`) tells its actor to run `on_timeout` if no message came
//! since it was set.

use super::HostShared;
use super::services::Origin;
use crate::actor::{ActorId, SystemMsg, send_system};
use parking_lot::{Condvar, Mutex};
use relive_codec::Fingerprint;
use relive_sdk::abi::service_status as status;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// A fired timer's message, to an actor.
#[derive(Debug)]
struct Due {
    to: ActorId,
    schema: Fingerprint,
    msg: Vec<u8>,
}

// issue 14: gen_server
/// Where a timer goes when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A message to an actor.
    Actor(ActorId),
    /// A message to whoever has the name when the timer fires.
    Name(String),
    /// An idle timeout of an actor that had handled `handled` messages
    /// when it was set.
    Idle { actor: ActorId, handled: u64 },
}

/// A timer in the heap: when, its reference, and what it delivers.
#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    target: Target,
    schema: Fingerprint,
    msg: Vec<u8>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Heap entries kept past the armed timers before the heap is compacted
/// (cancelled timers leave their entry until it is due or compacted).
const SLACK: usize = 1024;

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    started: bool,
    shutdown: bool,
    /// Armed timers: reference → (due time, the actor it dies with).
    armed: HashMap<u64, (Instant, Option<ActorId>)>,
}

impl State {
    /// Drop the entries of disarmed timers once they are more than the armed
    /// ones plus [`SLACK`]: an actor re-arming an idle timeout on every
    /// message keeps the heap bounded (amortised O(1) per timer).
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.armed.len() + SLACK {
            let armed = &self.armed;
            self.heap.retain(|Reverse(e)| armed.contains_key(&e.seq));
        }
    }
}

/// The timers of one host.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    state: Mutex<State>,
    cond: Condvar,
}

impl Timers {
    /// Deliver `msg` to `target` after `delay` (in order of due time; equal
    /// times in the order scheduled). Returns the timer's reference.
    pub(crate) fn schedule(
        &self,
        host: &Arc<HostShared>,
        delay: Duration,
        target: Target,
        schema: Fingerprint,
        msg: Vec<u8>,
    ) -> u64 {
        let mut st = self.state.lock();
        st.seq += 1;
        let seq = st.seq;
        let at = Instant::now() + delay;
        let owner = match &target {
            Target::Actor(id) | Target::Idle { actor: id, .. } => Some(*id),
            Target::Name(_) => None,
        };
        st.armed.insert(seq, (at, owner));
        st.heap.push(Reverse(Entry { at, seq, target, schema, msg }));
        st.compact();
        // The timer thread sleeps until the earliest timer: wake it only
        // when this one is the new earliest.
        let earliest = st.heap.peek().is_some_and(|Reverse(e)| e.seq == seq);
        if !st.started {
            st.started = true;
            let weak = Arc::downgrade(host);
            let spawned =
                std::thread::Builder::new().name("relive-timers".into()).spawn(move || run(&weak));
            if spawned.is_err() {
                st.started = false;
                tracing::error!("cannot start the timer thread; send_after messages wait");
            }
        }
        if earliest {
            self.cond.notify_one();
        }
        seq
    }

    /// Disarm timer `tref`; the time it had left, or `None` when it fired,
    /// was cancelled or never existed (OTP's `cancel_timer`).
    pub(crate) fn cancel(&self, tref: u64) -> Option<Duration> {
        let (at, _) = self.state.lock().armed.remove(&tref)?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// The time timer `tref` has left, or `None` (OTP's `read_timer`).
    pub(crate) fn read(&self, tref: u64) -> Option<Duration> {
        let at = self.state.lock().armed.get(&tref)?.0;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// Actor `id` exited: its timers die with it.
    pub(crate) fn forget_actor(&self, id: ActorId) {
        let mut st = self.state.lock();
        if !st.armed.is_empty() {
            st.armed.retain(|_, (_, owner)| *owner != Some(id));
        }
    }

    /// Stop the timer thread (pending timers are dropped).
    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cond.notify_all();
    }
}

/// How often the timer thread retries timers waiting for room.
const RETRY: Duration = Duration::from_millis(1);

/// Fired timers whose target had no room (past its overdraft allowance),
/// per target in firing order. Kept by the timer thread alone.
#[derive(Debug, Default)]
struct Waiting {
    by_target: HashMap<ActorId, VecDeque<Due>>,
}

impl Waiting {
    fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }

    /// Deliver `d` now unless mail of its target is already waiting (it
    /// then waits behind it, so timers to one actor keep their order).
    fn deliver_or_wait(&mut self, shared: &HostShared, d: Due) {
        if let Some(queue) = self.by_target.get_mut(&d.to) {
            queue.push_back(d);
        } else if let Some(d) = try_deliver(shared, d) {
            self.by_target.entry(d.to).or_default().push_back(d);
        }
    }

    /// Deliver what has room now, in order per target.
    fn retry(&mut self, shared: &HostShared) {
        self.by_target.retain(|_, queue| {
            while let Some(d) = queue.pop_front() {
                if let Some(d) = try_deliver(shared, d) {
                    queue.push_front(d);
                    return true;
                }
            }
            false
        });
    }
}

/// Deliver a fired timer; hand it back if its target has no room.
fn try_deliver(shared: &HostShared, d: Due) -> Option<Due> {
    match super::services::deliver(shared, d.to, d.schema, &d.msg, Origin::Timer) {
        status::OK => None,
        status::MAILBOX_FULL => Some(d),
        code => {
            tracing::debug!(to = %d.to, code, "send_after target gone");
            None
        }
    }
}

// issue 14: gen_server
/// A fired timer's delivery: to an actor (a name resolved now), or an idle
/// timeout handed to its actor at once (`None` then, as for a name nobody
/// has).
fn resolve(shared: &HostShared, e: Entry) -> Option<Due> {
    let to = match e.target {
        Target::Actor(id) => id,
        Target::Name(name) => match shared.registry.whereis(&name) {
            Some(id) => id,
            None => {
                tracing::debug!(name, "send_after to a name nobody has now: dropped");
                return None;
            }
        },
        Target::Idle { actor, handled } => {
            if let Some(cell) = shared.registry.lookup(actor) {
                let msg = SystemMsg::Idle { tref: e.seq, handled };
                send_system(shared, &cell, msg);
            }
            return None;
        }
    };
    Some(Due { to, schema: e.schema, msg: e.msg })
}

fn run(host: &Weak<HostShared>) {
    // A fired timer is a send from a handler, made later: it may overdraw
    // its target's bound by the allowance, but is neither dropped nor
    // allowed to block the other timers when there is no room. It waits
    // here and is retried every `RETRY`.
    let mut waiting = Waiting::default();
    let mut retry_at = Instant::now();
    loop {
        let Some(shared) = host.upgrade() else { return };
        let due = {
            let mut st = shared.timers.state.lock();
            loop {
                if st.shutdown {
                    return;
                }
                let now = Instant::now();
                let next = st.heap.peek().map(|Reverse(d)| d.at);
                match next {
                    Some(at) if at <= now => {
                        let Some(Reverse(e)) = st.heap.pop() else { continue };
                        // Cancelled, or its actor exited: nothing to do.
                        if st.armed.remove(&e.seq).is_none() {
                            continue;
                        }
                        match resolve(&shared, e) {
                            Some(d) => break Some(d),
                            None => continue,
                        }
                    }
                    _ if !waiting.is_empty() && retry_at <= now => break None,
                    _ if !waiting.is_empty() => {
                        let until = next.map_or(retry_at, |at| at.min(retry_at));
                        shared.timers.cond.wait_until(&mut st, until);
                    }
                    Some(at) => {
                        shared.timers.cond.wait_until(&mut st, at);
                    }
                    None => {
                        // Wake now and then to notice a host that went away.
                        shared.timers.cond.wait_for(&mut st, Duration::from_millis(200));
                        if Arc::strong_count(&shared) == 1 {
                            return;
                        }
                    }
                }
            }
        };
        let had_waiting = !waiting.is_empty();
        match due {
            Some(d) => waiting.deliver_or_wait(&shared, d),
            None => {
                waiting.retry(&shared);
                retry_at = Instant::now() + RETRY;
            }
        }
        if !had_waiting && !waiting.is_empty() {
            retry_at = Instant::now() + RETRY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> Reverse<Entry> {
        let target = Target::Actor(ActorId(1));
        let at = Instant::now() + Duration::from_secs(60);
        Reverse(Entry { at, seq, target, schema: Fingerprint([0; 8]), msg: Vec::new() })
    }

    #[test]
    fn an_idle_timeout_rearmed_on_every_message_keeps_the_heap_bounded() {
        let mut st = State::default();
        // 100 k re-arms, each cancelling the one before (as `idle_timeout`).
        for seq in 1..=100_000 {
            st.armed.remove(&(seq - 1));
            st.armed.insert(seq, (Instant::now(), Some(ActorId(1))));
            st.heap.push(entry(seq));
            st.compact();
        }
        assert!(st.heap.len() <= 2 * st.armed.len() + SLACK + 1, "{} entries", st.heap.len());
        assert!(st.heap.iter().any(|Reverse(e)| e.seq == 100_000), "the armed one stays");
    }
}
