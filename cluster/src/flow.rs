//! Flow control of remote casts (decision 0030): a credit window on the
//! sending side, sequence numbers checked on the serving side, and the
//! counters that make a loss visible.
//!
//! Core NATS has no flow control back to a publisher: a serving host whose
//! subscription falls behind has its client drop what does not fit in the
//! subscription's pending buffer (async-nats: 65,536 messages; a "slow
//! consumer"), without a word to the sender. So each [`RemoteRef`]
//! (with its clones: one *sender*) numbers its casts (`Relive-Seq`, under
//! its own `Relive-Sender`), and every [`CAST_ACK_EVERY`]-th cast carries a
//! reply subject: the serving host answers it once it has delivered that
//! cast to the mailbox — and so every cast of the sender before it, as
//! casts are delivered in arrival order. A sender never has more than the
//! window ([`DEFAULT_CAST_WINDOW`] casts) past its oldest unanswered
//! acknowledgement, so it can never fill the buffer by itself. A serving
//! host counts what still goes missing: casts skipped in a sender's
//! sequence on its pinned subject, and every message its client dropped
//! ([`ClusterStats`]). It follows a bounded number of senders per served
//! name, the least recently heard forgotten first (decision 0036).
//!
//! [`RemoteRef`]: crate::RemoteRef

use crate::bound::Bound;
use crate::header;
use async_nats::{HeaderMap, Subscriber};
use futures_util::StreamExt;
use hashlink::LinkedHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many casts a sender may have sent past its oldest unanswered
/// acknowledgement (the default of
/// [`ClusterBuilder::cast_window`](crate::ClusterBuilder::cast_window)).
/// Small next to a subscription's pending buffer (64 Ki messages), so that
/// many senders flooding one host at once still fit.
pub const DEFAULT_CAST_WINDOW: u64 = 1024;

/// Every how many casts one asks for an acknowledgement: a window holds
/// `window / CAST_ACK_EVERY` of them in flight, so a sender streams on
/// while the oldest comes back.
pub const CAST_ACK_EVERY: u64 = 128;

/// What a member counted about the messages it serves (the figures of
/// [`Cluster::stats`](crate::Cluster::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Casts delivered to a local actor's mailbox.
    pub casts_delivered: u64,
    /// Casts missing from a sender's sequence on this host's pinned
    /// subjects: sent, never arrived (each gap is also logged).
    pub casts_missing: u64,
    /// Casts that arrived with a sequence number not above the last one
    /// seen from their sender (a duplicate or a reordering; logged).
    pub casts_out_of_order: u64,
    /// Messages this member's NATS client dropped because a subscription's
    /// pending buffer was full (async-nats' slow-consumer events; logged).
    /// Any kind: casts, calls, heartbeats.
    pub slow_consumer_drops: u64,
    /// Cast senders whose sequence this host stopped following: beyond
    /// [`ClusterBuilder::remembered_senders`](crate::ClusterBuilder::remembered_senders)
    /// for a served name (the least recently heard), or silent for ten
    /// minutes. Their casts are delivered as ever; a gap across the
    /// forgetting is not judged (decision 0036).
    pub senders_forgotten: u64,
}

/// The counters behind [`ClusterStats`], shared by a member's tasks and its
/// client's event callback.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    missing: AtomicU64,
    out_of_order: AtomicU64,
    slow_consumer: AtomicU64,
    forgotten: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ClusterStats {
        // ORDERING: statistics.
        ClusterStats {
            casts_delivered: self.delivered.load(Ordering::Relaxed),
            casts_missing: self.missing.load(Ordering::Relaxed),
            casts_out_of_order: self.out_of_order.load(Ordering::Relaxed),
            slow_consumer_drops: self.slow_consumer.load(Ordering::Relaxed),
            senders_forgotten: self.forgotten.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn delivered(&self) {
        // ORDERING: a statistic.
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// An async-nats slow-consumer event: one message dropped. Logged on the
    /// first and then every 1024th, so a flood does not flood the log too.
    pub(crate) fn slow_consumer(&self, sid: u64) {
        // ORDERING: a statistic.
        let n = self.slow_consumer.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(1024) {
            tracing::warn!(
                subscription = sid,
                dropped = n,
                "cluster: NATS client dropped messages (slow consumer: a pending buffer is full)"
            );
        }
    }
}

/// How many senders a serving host remembers the sequence of, per served
/// name, by default
/// ([`ClusterBuilder::remembered_senders`](crate::ClusterBuilder::remembered_senders)).
pub const DEFAULT_REMEMBERED_SENDERS: usize = 4096;

/// A sender not heard from for this long is forgotten (a sender's stream
/// ends with its `RemoteRef`, unannounced).
const IDLE: Duration = Duration::from_secs(600);

/// A serving host's view of its senders' sequences, for one served name:
/// at most `cap` senders, the least recently heard first, so forgetting
/// one is O(1) — the oldest beyond the cap, and any idle for [`IDLE`].
///
/// The table only judges (gaps, steps back: [`ClusterStats`]); it never
/// decides whether or when a cast is delivered. So a forgotten sender
/// that casts again loses nothing and keeps its order: its next cast is
/// first contact, as its very first was, and is compared from then on
/// (decision 0036).
#[derive(Debug)]
pub(crate) struct Sequences {
    /// Each sender's last sequence number and when it was last heard.
    last: LinkedHashMap<String, (u64, Instant)>,
    cap: usize,
}

impl Sequences {
    /// A table of at most `cap` senders (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        Sequences { last: LinkedHashMap::new(), cap: cap.max(1) }
    }

    /// How many senders it remembers now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.last.len()
    }

    /// Note a cast's sequence number (headers `Relive-Sender`,
    /// `Relive-Seq`). `pinned`: it came on this host's own subject, where
    /// the sender's every cast should arrive; on a pool's subject this host
    /// sees only its share, so only a step back counts there.
    pub(crate) fn note(
        &mut self,
        counters: &Counters,
        name: &str,
        h: Option<&HeaderMap>,
        pinned: bool,
    ) {
        let sender = header::get(h, header::SENDER);
        let seq = header::get(h, header::SEQ).and_then(|s| s.parse::<u64>().ok());
        let (Some(sender), Some(seq)) = (sender, seq) else { return };
        let now = Instant::now();
        self.judge(counters, name, sender, seq, pinned, now);
        self.forget(counters, name, now);
    }

    /// Forget the senders beyond the cap (least recently heard first) and
    /// those idle for [`IDLE`].
    fn forget(&mut self, counters: &Counters, name: &str, now: Instant) {
        while let Some((_, (_, at))) = self.last.front() {
            if self.last.len() <= self.cap && now.duration_since(*at) < IDLE {
                break;
            }
            if let Some((sender, (seq, _))) = self.last.pop_front() {
                // ORDERING: a statistic.
                counters.forgotten.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(name, sender, seq, "cluster: a cast sender forgotten");
            }
        }
    }

    fn judge(
        &mut self,
        counters: &Counters,
        name: &str,
        sender: &str,
        seq: u64,
        pinned: bool,
        now: Instant,
    ) {
        // Heard now: to the back, the most recently heard end.
        let Some((last, at)) = self.last.to_back(sender) else {
            // First contact (or first since it was forgotten): casts before
            // it may have gone out before this host served the name;
            // nothing to compare with.
            self.last.insert(sender.to_owned(), (seq, now));
            return;
        };
        *at = now;
        if seq <= *last {
            // ORDERING: a statistic.
            counters.out_of_order.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(name, sender, seq, last = *last, "cluster: a cast out of order");
            return;
        }
        let skipped = seq - *last - 1;
        *last = seq;
        if pinned && skipped > 0 {
            // ORDERING: a statistic.
            counters.missing.fetch_add(skipped, Ordering::Relaxed);
            tracing::warn!(
                name,
                sender,
                seq,
                missing = skipped,
                "cluster: casts missing from a sender's sequence (lost on the way)"
            );
        }
    }
}

/// Why a cast was not sent.
#[derive(Debug)]
pub(crate) enum WindowError {
    /// The acknowledgement `window` casts back did not come within the
    /// timeout; the window was reset.
    Timeout(Duration),
    /// Subscribing to the acknowledgements, or publishing, failed.
    Nats(async_nats::Error),
}

/// A sender's side: its sequence and its window of acknowledgements.
#[derive(Debug)]
pub(crate) struct Window {
    /// `Relive-Sender`, and the prefix of the acknowledgements' subjects
    /// (`<inbox>.<seq>`): a fresh inbox of the client, unique.
    inbox: String,
    size: u64,
    state: tokio::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last sequence number sent.
    sent: u64,
    /// The acknowledgements asked for and not answered yet.
    outstanding: BTreeSet<u64>,
    acks: Option<Subscriber>,
}

impl Window {
    pub(crate) fn new(client: &async_nats::Client, size: u64) -> Arc<Self> {
        Arc::new(Window {
            inbox: client.new_inbox(),
            size: size.max(CAST_ACK_EVERY),
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// Publish one cast on `subject`, in this sender's order, first waiting
    /// (up to `timeout`) for the acknowledgement that keeps it inside the
    /// window.
    pub(crate) async fn send(
        &self,
        client: &async_nats::Client,
        subject: &str,
        mut headers: HeaderMap,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), WindowError> {
        // The lock is held to the publish: the sequence is the order on the
        // connection.
        // One deadline for the turn at the lock (another clone may be
        // waiting for credit) and for the credit.
        let deadline = Bound::after(timeout);
        let Ok(mut guard) = deadline.run(self.state.lock()).await else {
            return Err(WindowError::Timeout(timeout));
        };
        let st = &mut *guard;
        let seq = st.sent + 1;
        while let Some(&oldest) = st.outstanding.first()
            && seq - oldest >= self.size
        {
            let Some(acks) = st.acks.as_mut() else {
                st.outstanding.clear();
                break;
            };
            match deadline.run(acks.next()).await {
                Err(_) => {
                    // The serving host took nothing for the whole timeout
                    // (gone, or stuck): give those casts up (at most once)
                    // and say so for this one, which is not sent.
                    st.outstanding.clear();
                    return Err(WindowError::Timeout(timeout));
                }
                Ok(None) => {
                    st.outstanding.clear();
                    st.acks = None;
                }
                // An answer of any status (delivered, refused, no
                // responders) means the casts before it left the buffer.
                Ok(Some(ack)) => {
                    let acked = ack.subject.rsplit('.').next().and_then(|s| s.parse().ok());
                    if let Some(acked) = acked {
                        st.outstanding.remove(&acked);
                    }
                }
            }
        }
        headers.insert(header::SENDER, self.inbox.as_str());
        headers.insert(header::SEQ, seq.to_string().as_str());
        let published = if seq.is_multiple_of(CAST_ACK_EVERY) {
            if st.acks.is_none() {
                // Bounded too: the client's command channel blocks while
                // it is disconnected.
                let sub = deadline
                    .run(client.subscribe(format!("{}.*", self.inbox)))
                    .await
                    .map_err(|_| WindowError::Timeout(timeout))?
                    .map_err(|e| WindowError::Nats(Box::new(e)))?;
                st.acks = Some(sub);
            }
            let reply = format!("{}.{seq}", self.inbox);
            let publish = client.publish_with_reply_and_headers(
                subject.to_owned(),
                reply,
                headers,
                payload.into(),
            );
            let p = deadline.run(publish).await;
            if matches!(p, Ok(Ok(()))) {
                st.outstanding.insert(seq);
            }
            p
        } else {
            deadline
                .run(client.publish_with_headers(subject.to_owned(), headers, payload.into()))
                .await
        };
        published
            .map_err(|_| WindowError::Timeout(timeout))?
            .map_err(|e| WindowError::Nats(Box::new(e)))?;
        st.sent = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast(sender: &str, seq: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::SENDER, sender);
        h.insert(header::SEQ, seq.to_string().as_str());
        h
    }

    #[test]
    fn a_gap_on_a_pinned_subject_and_a_step_back_anywhere_are_counted() {
        let (c, mut s) = (Counters::default(), Sequences::new(DEFAULT_REMEMBERED_SENDERS));
        for seq in [5, 6, 7, 10] {
            s.note(&c, "n", Some(&cast("x", seq)), true);
        }
        assert_eq!(c.snapshot().casts_missing, 2, "8 and 9");
        s.note(&c, "n", Some(&cast("x", 10)), true);
        assert_eq!(c.snapshot().casts_out_of_order, 1);
        // A pool member sees a share of the sequence: no gap, but a step
        // back still counts.
        for seq in [1, 4, 9, 3] {
            s.note(&c, "n", Some(&cast("y", seq)), false);
        }
        let st = c.snapshot();
        assert_eq!((st.casts_missing, st.casts_out_of_order), (2, 2));
        // Casts without sequence headers (another sender's code) pass.
        s.note(&c, "n", Some(&HeaderMap::new()), true);
        assert_eq!(c.snapshot(), st);
    }

    /// Before the bound, a table over its 4,096 senders only dropped those
    /// idle for ten minutes: 10,000 busy senders stayed, and every note
    /// scanned them all.
    #[test]
    fn many_senders_stay_within_the_cap_and_a_forgotten_one_is_judged_afresh() {
        const CAP: usize = 64;
        let (c, mut s) = (Counters::default(), Sequences::new(CAP));
        for seq in 1..=3 {
            s.note(&c, "n", Some(&cast("first", seq)), true);
        }
        for i in 0..10_000 {
            s.note(&c, "n", Some(&cast(&format!("sender-{i}"), 1)), true);
            assert!(s.len() <= CAP, "{} senders remembered", s.len());
        }
        let st = c.snapshot();
        assert_eq!(s.len(), CAP);
        assert_eq!(st.senders_forgotten, 10_001 - CAP as u64, "{st:?}");
        // "first" was forgotten long ago: its next casts are first contact,
        // then judged again — no false gap, no false step back.
        for seq in 4..=6 {
            s.note(&c, "n", Some(&cast("first", seq)), true);
        }
        assert_eq!((c.snapshot().casts_missing, c.snapshot().casts_out_of_order), (0, 0));
        s.note(&c, "n", Some(&cast("first", 9)), true);
        s.note(&c, "n", Some(&cast("first", 9)), true);
        let st = c.snapshot();
        assert_eq!((st.casts_missing, st.casts_out_of_order), (2, 1), "judged afresh: {st:?}");
        // The most recently heard are kept: a busy sender is never the one
        // forgotten while quieter ones are remembered.
        for i in 0..CAP {
            s.note(&c, "n", Some(&cast("first", 10 + i as u64)), true);
            s.note(&c, "n", Some(&cast(&format!("late-{i}"), 1)), true);
        }
        assert_eq!(c.snapshot().casts_missing, 2, "first stayed remembered: no gap");
    }
}
