//! `send_after`: one timer thread per host, started on first use. A timer
//! that fires while its target's mailbox is past its overdraft allowance
//! waits in the thread (behind nothing but earlier timers to that target)
//! and is retried until there is room.

use super::HostShared;
use super::services::Origin;
use crate::actor::ActorId;
use parking_lot::{Condvar, Mutex};
use relive_codec::Fingerprint;
use relive_sdk::abi::service_status as status;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Due {
    at: Instant,
    seq: u64,
    to: ActorId,
    schema: Fingerprint,
    msg: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Due>>,
    seq: u64,
    started: bool,
    shutdown: bool,
}

/// The timers of one host.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    state: Mutex<State>,
    cond: Condvar,
}

impl Timers {
    /// Deliver `msg` to `to` after `delay` (in order of due time; equal
    /// times in the order scheduled).
    pub(crate) fn schedule(
        &self,
        host: &Arc<HostShared>,
        delay: Duration,
        to: ActorId,
        schema: Fingerprint,
        msg: Vec<u8>,
    ) {
        let mut st = self.state.lock();
        st.seq += 1;
        let seq = st.seq;
        st.heap.push(Reverse(Due { at: Instant::now() + delay, seq, to, schema, msg }));
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
        self.cond.notify_one();
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
                        break st.heap.pop().map(|Reverse(d)| d);
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
