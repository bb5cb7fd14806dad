//! A host's membership of a cluster: [`Cluster`].

use crate::builder::ClusterBuilder;
use crate::error::{JoinError, RegisterError};
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
    /// Start a member on a connected client: probe the node name, then the
    /// heartbeat, the node watch and the down listener.
    pub(crate) async fn start(
        b: ClusterBuilder,
        client: async_nats::Client,
        host: HostHandle,
    ) -> Result<Cluster, JoinError> {
        let subjects = Subjects::new(&b.cluster);
        let deadline = b.deadline.unwrap_or(b.heartbeat * 3);
        let ping = subjects.ping(&b.node);
        let probe = client.request(ping.clone(), "".into());
        if let Ok(Ok(_)) = tokio::time::timeout(b.connect_timeout, probe).await {
            return Err(JoinError::NodeTaken { cluster: b.cluster, node: b.node });
        }
        let subscribe = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|source| JoinError::Subscribe { subject, source })
            }
        };
        let mut pings = subscribe(ping).await?;
        let beats = subscribe(subjects.heartbeats()).await?;
        let downs = subscribe(subjects.downs()).await?;
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
        });
        let mut tasks = Vec::new();
        let s = Arc::clone(&shared);
        tasks.push(tokio::spawn(async move {
            while let Some(m) = pings.next().await {
                if let Some(reply) = m.reply {
                    let _ = s.client.publish(reply, s.node.clone().into()).await;
                }
            }
        }));
        tasks.push(tokio::spawn(crate::watch::beat(Arc::clone(&shared))));
        tasks.push(tokio::spawn(crate::watch::listen_beats(Arc::clone(&shared), beats)));
        tasks.push(tokio::spawn(crate::watch::listen_downs(Arc::clone(&shared), downs)));
        tasks.push(tokio::spawn(crate::watch::expire(Arc::clone(&shared))));
        // The probe's subscription is in place before anyone else can take
        // the name with a probe of their own.
        let _ = shared.client.flush().await;
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
