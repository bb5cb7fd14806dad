//! `send_after`: one timer thread per host, started on first use.

use super::HostShared;
use crate::actor::ActorId;
use parking_lot::{Condvar, Mutex};
use relive_codec::Fingerprint;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
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

fn run(host: &Weak<HostShared>) {
    loop {
        let Some(shared) = host.upgrade() else { return };
        let due = {
            let mut st = shared.timers.state.lock();
            loop {
                if st.shutdown {
                    return;
                }
                match st.heap.peek() {
                    Some(Reverse(d)) if d.at <= Instant::now() => {
                        break st.heap.pop().map(|Reverse(d)| d);
                    }
                    Some(Reverse(d)) => {
                        let at = d.at;
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
        if let Some(d) = due {
            let code = super::services::deliver(&shared, d.to, d.schema, &d.msg);
            if code != relive_sdk::abi::service_status::OK {
                tracing::debug!(to = %d.to, code, "send_after target gone");
            }
        }
    }
}
