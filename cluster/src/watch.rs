//! Who is alive, and the monitors of remote actors: heartbeats, goodbyes,
//! the deadline, and the downs other hosts publish.
//!
//! Every member publishes a heartbeat on `relive.<cluster>.heartbeat.<node>`
//! each interval and listens to everyone's. A node not heard from within the
//! deadline — or that said goodbye — is gone: every local monitor of an
//! actor on it resolves with [`ExitReason::NoConnection`], and calls pinned
//! to it fail with [`RemoteError::HostGone`](crate::RemoteError::HostGone)
//! before anything is sent. A member that hears a gone node again (a
//! network partition healed) treats it as alive again; monitors already
//! resolved stay resolved, as OTP's do after `noconnection`.

use crate::bound::Bound;
use crate::cluster::Shared;
use crate::header;
use futures_util::StreamExt;
use parking_lot::Mutex;
use relive_runtime::{DownSender, ExitReason};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The node table and the remote monitors.
pub(crate) struct Watch {
    deadline: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// When each node was last heard from (`None`: gone).
    seen: HashMap<String, Option<Instant>>,
    /// Monitors by (node, actor name).
    monitors: HashMap<(String, String), Vec<DownSender>>,
}

impl Watch {
    pub(crate) fn new(deadline: Duration) -> Self {
        Watch { deadline, inner: Mutex::new(Inner::default()) }
    }

    /// `node` was heard from now.
    pub(crate) fn heard(&self, node: &str) {
        let mut inner = self.inner.lock();
        inner.seen.insert(node.to_owned(), Some(Instant::now()));
    }

    /// Whether `node` is known gone (heard before, then no more); a node
    /// never heard of is not gone: a call finds out through NATS.
    pub(crate) fn is_gone(&self, node: &str) -> bool {
        let inner = self.inner.lock();
        match inner.seen.get(node) {
            Some(None) => true,
            Some(Some(at)) => at.elapsed() > self.deadline,
            None => false,
        }
    }

    /// The nodes heard from within the deadline.
    pub(crate) fn alive(&self) -> Vec<String> {
        let inner = self.inner.lock();
        inner
            .seen
            .iter()
            .filter(|(_, at)| at.is_some_and(|t| t.elapsed() <= self.deadline))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Watch `name` on `node` (heard from now: it just answered).
    pub(crate) fn add(&self, node: &str, name: &str, down: DownSender) {
        let mut inner = self.inner.lock();
        inner.seen.insert(node.to_owned(), Some(Instant::now()));
        inner.monitors.entry((node.to_owned(), name.to_owned())).or_default().push(down);
    }

    /// Resolve the monitors of `name` on `node` with `reason`.
    pub(crate) fn down(&self, node: &str, name: &str, reason: &ExitReason) {
        let fired = self.inner.lock().monitors.remove(&(node.to_owned(), name.to_owned()));
        for d in fired.into_iter().flatten() {
            d.send(reason.clone());
        }
    }

    /// `node` is gone: resolve every monitor of an actor on it.
    pub(crate) fn gone(&self, node: &str) {
        let fired: Vec<DownSender> = {
            let mut inner = self.inner.lock();
            inner.seen.insert(node.to_owned(), None);
            let keys: Vec<_> = inner.monitors.keys().filter(|(n, _)| n == node).cloned().collect();
            keys.iter().filter_map(|k| inner.monitors.remove(k)).flatten().collect()
        };
        if !fired.is_empty() {
            tracing::warn!(node, monitors = fired.len(), "cluster: host gone (noconnection)");
        }
        for d in fired {
            d.send(ExitReason::NoConnection(node.to_owned()));
        }
    }

    /// The nodes whose deadline passed.
    fn expired(&self) -> Vec<String> {
        let inner = self.inner.lock();
        inner
            .seen
            .iter()
            .filter(|(_, at)| at.is_some_and(|t| t.elapsed() > self.deadline))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Publish this node's heartbeat every interval.
pub(crate) async fn beat(shared: Arc<Shared>) {
    let subject = shared.subjects.heartbeat(&shared.node);
    let mut tick = tokio::time::interval(shared.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Bounded by the interval: the next beat supersedes this one.
        let publish = shared.client.publish(subject.clone(), "".into());
        match Bound::after(shared.heartbeat).run(publish).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "cluster: heartbeat not sent"),
            Err(_) => tracing::debug!("cluster: heartbeat not sent in time"),
        }
    }
}

/// Say goodbye: the other members treat this node as gone at once. Waits
/// a heartbeat interval at most (without it they see the deadline pass).
pub(crate) async fn goodbye(shared: &Shared) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(header::GOODBYE, "1");
    let subject = shared.subjects.heartbeat(&shared.node);
    let bound = Bound::after(shared.heartbeat);
    let _ = bound.run(shared.client.publish_with_headers(subject, h, "".into())).await;
    let _ = bound.run(shared.client.flush()).await;
}

/// Record the heartbeats (and goodbyes) of the other nodes.
pub(crate) async fn listen_beats(shared: Arc<Shared>, mut beats: async_nats::Subscriber) {
    while let Some(m) = beats.next().await {
        let Some(node) = shared.subjects.heartbeat_node(&m.subject) else { continue };
        if node == shared.node {
            continue;
        }
        if header::get(m.headers.as_ref(), header::GOODBYE).is_some() {
            shared.watch.gone(node);
        } else {
            shared.watch.heard(node);
        }
    }
}

/// Resolve the monitors of actors whose exits other hosts publish.
pub(crate) async fn listen_downs(shared: Arc<Shared>, mut downs: async_nats::Subscriber) {
    while let Some(m) = downs.next().await {
        let Some((node, name)) = shared.subjects.down_of(&m.subject) else { continue };
        let reason = header::exit_reason(&String::from_utf8_lossy(&m.payload));
        shared.watch.down(node, name, &reason);
    }
}

/// Every half interval: the nodes whose deadline passed are gone.
pub(crate) async fn expire(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.heartbeat / 2);
    loop {
        tick.tick().await;
        for node in shared.watch.expired() {
            shared.watch.gone(&node);
        }
    }
}
