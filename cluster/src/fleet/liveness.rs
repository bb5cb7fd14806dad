//! Which hosts a coordinator counts as alive: the cluster's heartbeats —
//! a member's own node table, or (for a coordinator outside the cluster,
//! the CLI) a listener of its own on `relive.<cluster>.heartbeat.*`.

use crate::cluster::Shared;
use crate::header;
use crate::subject::Subjects;
use crate::watch::Watch;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::task::JoinHandle;

pub(crate) enum Liveness {
    /// A member's node table (it hears everyone's heartbeats already).
    Member(Arc<Shared>),
    /// A listener of heartbeats only.
    Listener { watch: Arc<Watch>, task: JoinHandle<()> },
}

impl std::fmt::Debug for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Liveness::Member(s) => write!(f, "Member({})", s.node),
            Liveness::Listener { .. } => f.write_str("Listener"),
        }
    }
}

impl Liveness {
    /// Listen to the heartbeats of `cluster` on `client`.
    pub(crate) async fn listen(
        client: &async_nats::Client,
        cluster: &str,
        deadline: std::time::Duration,
    ) -> Result<Liveness, async_nats::SubscribeError> {
        let subjects = Subjects::new(cluster);
        let mut beats = client.subscribe(subjects.heartbeats()).await?;
        let watch = Arc::new(Watch::new(deadline));
        let w = Arc::clone(&watch);
        let task = tokio::spawn(async move {
            while let Some(m) = beats.next().await {
                let Some(node) = subjects.heartbeat_node(&m.subject) else { continue };
                if header::get(m.headers.as_ref(), header::GOODBYE).is_some() {
                    w.gone(node);
                } else {
                    w.heard(node);
                }
            }
        });
        Ok(Liveness::Listener { watch, task })
    }

    /// The nodes heard from within the deadline (a member's own included).
    pub(crate) fn alive(&self) -> Vec<String> {
        let mut nodes = match self {
            Liveness::Member(s) => {
                let mut n = s.watch.alive();
                n.push(s.node.clone());
                n
            }
            Liveness::Listener { watch, .. } => watch.alive(),
        };
        nodes.sort();
        nodes.dedup();
        nodes
    }

    /// Whether `node` is gone: heard before, then not within the deadline,
    /// or it said goodbye.
    pub(crate) fn is_gone(&self, node: &str) -> bool {
        match self {
            Liveness::Member(s) => node != s.node && s.watch.is_gone(node),
            Liveness::Listener { watch, .. } => watch.is_gone(node),
        }
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        if let Liveness::Listener { task, .. } = self {
            task.abort();
        }
    }
}
