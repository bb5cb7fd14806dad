//! A host's membership of a cluster: [`Cluster`].

use crate::bound::{Bound, Elapsed, WaitError};
use crate::builder::ClusterBuilder;
use crate::claim::Claim;
use crate::error::{JoinError, JoinStep, RegisterError};
use crate::flow::{ClusterStats, Counters};
use crate::remote_ref::{RemoteRef, Target};
use crate::serve::{self, Registration};
use crate::subject::{Subjects, check_token};
use crate::watch::Watch;
use futures_util::StreamExt;
use parking_lot::Mutex;
use relive_codec::Schema;
use relive_runtime::HostHandle;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What every task of a member shares.
pub(crate) struct Shared {
    pub(crate) client: async_nats::Client,
    pub(crate) subjects: Subjects,
    pub(crate) cluster: String,
    pub(crate) node: String,
    pub(crate) host: HostHandle,
    pub(crate) call_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) watch: Watch,
    /// The runtime the member's tasks run on (for the blocking forms).
    pub(crate) runtime: tokio::runtime::Handle,
    /// Each sender's cast window (decision 0030).
    pub(crate) cast_window: u64,
    /// How many cast senders each served name follows (decision 0036).
    pub(crate) remembered_senders: usize,
    /// What the member counts: casts delivered, missing, dropped.
    pub(crate) counters: Arc<Counters>,
}

/// A host's membership of a cluster: serve its actors by name to the other
/// members ([`register`](Self::register)) and reach theirs
/// ([`remote`](Self::remote), [`remote_on`](Self::remote_on)).
///
/// Made by [`ClusterBuilder::join`]. Dropping it (or
/// [`leave`](Self::leave)) stops serving, says goodbye (the other members'
/// monitors of this host's actors see `noconnection` at once) and closes
/// the connection.
pub struct Cluster {
    shared: Arc<Shared>,
    served: Mutex<HashMap<String, Registration>>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("cluster", &self.shared.cluster)
            .field("node", &self.shared.node)
            .field("served", &self.served.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Cluster {
    /// Start a member on a connected client: claim the node name, then the
    /// heartbeat, the node watch and the down listener; every step by the
    /// deadline `join`.
    pub(crate) async fn start(
        b: ClusterBuilder,
        client: async_nats::Client,
        host: HostHandle,
        counters: Arc<Counters>,
        join: Bound,
    ) -> Result<Cluster, JoinError> {
        let subjects = Subjects::new(&b.cluster);
        let deadline = b.deadline.unwrap_or(b.heartbeat * 3);
        let ping = subjects.ping(&b.node);
        // Every round trip with the server is bounded by the call timeout,
        // within the join's deadline (`join`): async-nats' commands wait
        // for room in its channel, which a lost connection fills, and a
        // server that accepts but never answers would otherwise let a host
        // "join" unheard.
        let call = b.call_timeout;
        let subscribe = |step: JoinStep, subject: String| {
            let client = client.clone();
            async move {
                join.within(call)
                    .run(client.subscribe(subject.clone()))
                    .await
                    .map_err(|Elapsed(timeout)| JoinError::Timeout { step, timeout })?
                    .map_err(|source| JoinError::Subscribe { subject, source })
            }
        };
        // The ping subject is answered from before the probe on: a host
        // joining with the same name at the same instant hears this one.
        let claim = Claim::new(&client);
        let mut pings = subscribe(JoinStep::Claim, ping.clone()).await?;
        let (c, answerer) = (Arc::clone(&claim), client.clone());
        let answering = tokio::spawn(async move {
            while let Some(m) = pings.next().await {
                if let (Some(reply), Some(answer)) = (m.reply, c.answer(&m.payload)) {
                    let _ = Bound::after(call).run(answerer.publish(reply, answer.into())).await;
                }
            }
        });
        // Aborted on every way out but success.
        let answering = AbortOnDrop(Some(answering));
        match claim.probe(&client, &ping, b.claim_window, join, call).await {
            Ok(true) => {}
            Ok(false) => {
                let (cluster, node) = (b.cluster.clone(), b.node.clone());
                return Err(JoinError::NodeTaken { cluster, node });
            }
            Err(WaitError::Elapsed(timeout)) => {
                return Err(JoinError::Timeout { step: JoinStep::Claim, timeout });
            }
            Err(WaitError::Nats(source)) => return Err(JoinError::Probe { subject: ping, source }),
        }
        let beats = subscribe(JoinStep::Subscribe, subjects.heartbeats()).await?;
        let downs = subscribe(JoinStep::Subscribe, subjects.downs()).await?;
        // The server has them before `join` returns (and before the tasks
        // that read them start).
        crate::synced::synced(&client, join.within(call)).await.map_err(|e| match e {
            WaitError::Elapsed(timeout) => JoinError::Timeout { step: JoinStep::Confirm, timeout },
            WaitError::Nats(source) => JoinError::Nats { step: JoinStep::Confirm, source },
        })?;
        let shared = Arc::new(Shared {
            client: client.clone(),
            subjects,
            cluster: b.cluster,
            node: b.node,
            host,
            call_timeout: b.call_timeout,
            heartbeat: b.heartbeat,
            watch: Watch::new(deadline),
            runtime: tokio::runtime::Handle::current(),
            cast_window: b.cast_window,
            remembered_senders: b.remembered_senders,
            counters,
        });
        let mut tasks = vec![answering.disarm()];
        tasks.push(tokio::spawn(crate::watch::beat(Arc::clone(&shared))));
        tasks.push(tokio::spawn(crate::watch::listen_beats(Arc::clone(&shared), beats)));
        tasks.push(tokio::spawn(crate::watch::listen_downs(Arc::clone(&shared), downs)));
        tasks.push(tokio::spawn(crate::watch::expire(Arc::clone(&shared))));
        Ok(Cluster { shared, served: Mutex::new(HashMap::new()), tasks })
    }

    // issue 18 §2: fleet rollouts (the agent and coordinator share it)
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.shared.cluster
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    /// The NATS client (for an application's own subjects).
    pub fn client(&self) -> &async_nats::Client {
        &self.shared.client
    }

    /// Serve the actor this host registers locally as `name` to the
    /// cluster under the same name: on the pool subject (with every other
    /// host serving `name`, in one queue group) and on this node's own.
    /// The local name is looked up for each message, so an actor a
    /// supervisor restarts under the name is served on; its exits are
    /// published to the other members' monitors.
    ///
    /// # Errors
    /// [`RegisterError`]: not a subject token, already served here, a
    /// refused subscription.
    pub async fn register(&self, name: &str) -> Result<(), RegisterError> {
        check_token("actor", name)?;
        if self.served.lock().contains_key(name) {
            return Err(RegisterError::AlreadyServed(name.to_owned()));
        }
        let registration = serve::start(Arc::clone(&self.shared), name).await?;
        let mut served = self.served.lock();
        if served.contains_key(name) {
            return Err(RegisterError::AlreadyServed(name.to_owned()));
        }
        served.insert(name.to_owned(), registration);
        Ok(())
    }

    /// Stop serving `name`: unsubscribe, and answer the messages that had
    /// already arrived (the other members' calls then reach the other hosts
    /// of its pool, or get no responders). Whether it was served.
    pub async fn unregister(&self, name: &str) -> bool {
        let registration = self.served.lock().remove(name);
        match registration {
            Some(r) => {
                r.stop(self.shared.call_timeout).await;
                true
            }
            None => false,
        }
    }

    /// The names this host serves.
    pub fn served(&self) -> Vec<String> {
        self.served.lock().keys().cloned().collect()
    }

    /// A reference to whichever host serves `name` (a pool: each message
    /// goes to one member of its queue group), typed `M`/`R` once one of
    /// them accepted the types.
    ///
    /// # Errors
    /// [`RemoteError::Types`](crate::RemoteError::Types) when the serving
    /// host refuses them; [`NoResponders`](crate::RemoteError::NoResponders)
    /// when no host serves `name`; a timeout.
    pub async fn remote<M: Schema, R: Schema>(
        &self,
        name: &str,
    ) -> Result<RemoteRef<M, R>, crate::RemoteError> {
        let r = RemoteRef::new(Arc::clone(&self.shared), Target::Pool(name.to_owned()));
        r.check().await?;
        Ok(r)
    }

    /// A reference to the actor the host `node` serves as `name`: its
    /// monitor sees that host go.
    ///
    /// # Errors
    /// As [`remote`](Self::remote), and
    /// [`HostGone`](crate::RemoteError::HostGone) for a node that stopped
    /// sending heartbeats.
    pub async fn remote_on<M: Schema, R: Schema>(
        &self,
        node: &str,
        name: &str,
    ) -> Result<RemoteRef<M, R>, crate::RemoteError> {
        let target = Target::Node { node: node.to_owned(), name: name.to_owned() };
        let r = RemoteRef::new(Arc::clone(&self.shared), target);
        r.check().await?;
        Ok(r)
    }

    /// What this member counted about the casts it serves and the messages
    /// its client dropped (decision 0030): a cast lost between two live
    /// hosts shows here, never silently.
    pub fn stats(&self) -> ClusterStats {
        self.shared.counters.snapshot()
    }

    /// The nodes heard from within the heartbeat deadline (this one too).
    pub fn nodes(&self) -> Vec<String> {
        let mut nodes = self.shared.watch.alive();
        if !nodes.contains(&self.shared.node) {
            nodes.push(self.shared.node.clone());
        }
        nodes.sort();
        nodes
    }

    /// Leave: stop serving (as [`unregister`](Self::unregister) each
    /// name), say goodbye, and drain and close the connection.
    pub async fn leave(mut self) {
        let served: Vec<_> = self.served.lock().drain().map(|(_, r)| r).collect();
        for r in served {
            r.stop(self.shared.call_timeout).await;
        }
        crate::watch::goodbye(&self.shared).await;
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let _ = tokio::time::timeout(self.shared.heartbeat, self.shared.client.drain()).await;
    }
}

/// A task aborted when this drops, unless [`disarm`](Self::disarm)ed.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl AbortOnDrop {
    fn disarm(mut self) -> JoinHandle<()> {
        self.0.take().expect("armed until disarmed")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.served.lock().clear();
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            rt.spawn(async move { crate::watch::goodbye(&shared).await });
        }
    }
}
