//! A rollout coordinator's connection to the fleet: [`Fleet`], made from a
//! cluster member ([`Cluster::fleet`]) or on its own connection
//! ([`FleetBuilder`], what `relive fleet` uses), and the fleet's status.

use super::bucket::{self, Buckets};
use super::error::FleetError;
use super::liveness::Liveness;
use super::record::{Desired, HostReport, Lock, RolloutState};
use crate::builder::DEFAULT_HEARTBEAT;
use crate::cluster::Cluster;
use crate::subject::check_token;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How a coordinator outside the cluster connects to the fleet.
#[derive(Debug)]
pub struct FleetBuilder {
    url: String,
    cluster: String,
    options: async_nats::ConnectOptions,
    connect_timeout: Duration,
    heartbeat: Duration,
    deadline: Option<Duration>,
    replicas: usize,
    op_timeout: Duration,
    owner: Option<String>,
}

impl FleetBuilder {
    /// The fleet of `cluster` through the NATS server(s) at `url`.
    pub fn new(url: impl Into<String>, cluster: impl Into<String>) -> Self {
        FleetBuilder {
            url: url.into(),
            cluster: cluster.into(),
            options: async_nats::ConnectOptions::new(),
            connect_timeout: Duration::from_secs(5),
            heartbeat: DEFAULT_HEARTBEAT,
            deadline: None,
            replicas: 1,
            op_timeout: Duration::from_secs(5),
            owner: None,
        }
    }

    /// async-nats' connect options (credentials, TLS), as
    /// [`ClusterBuilder::options`](crate::ClusterBuilder::options).
    pub fn options(mut self, options: async_nats::ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// How long connecting and opening the buckets may take (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// The cluster's heartbeat interval and deadline (default 1 s and three
    /// intervals): connecting listens one and a half intervals for the
    /// hosts' heartbeats, and a host silent for the deadline is gone.
    pub fn heartbeat(mut self, interval: Duration, deadline: Duration) -> Self {
        self.heartbeat = interval;
        self.deadline = Some(deadline);
        self
    }

    /// The copies JetStream keeps of the buckets, if this creates them
    /// (default 1).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// The bound of one bucket operation (default 5 s).
    pub fn op_timeout(mut self, t: Duration) -> Self {
        self.op_timeout = t;
        self
    }

    /// Who the lock says runs the rollouts (default `relive fleet, pid N`).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Connect, open (or create) the buckets and listen for the hosts'
    /// heartbeats for one and a half intervals.
    ///
    /// # Errors
    /// [`FleetError`]: a bad cluster name, no server, no JetStream.
    pub async fn connect(self) -> Result<Fleet, FleetError> {
        check_token("cluster", &self.cluster)?;
        let options = self
            .options
            .name(format!("relive fleet {}", self.cluster))
            .connection_timeout(self.connect_timeout);
        let url = self.url.clone();
        let client =
            match tokio::time::timeout(self.connect_timeout, options.connect(url.as_str())).await {
                Ok(Ok(c)) => c,
                Ok(Err(source)) => return Err(FleetError::Connect { url, source }),
                Err(_) => {
                    return Err(FleetError::ConnectTimeout { url, timeout: self.connect_timeout });
                }
            };
        let deadline = self.deadline.unwrap_or(self.heartbeat * 3);
        let listen = Liveness::listen(&client, &self.cluster, deadline);
        let liveness = match tokio::time::timeout(self.connect_timeout, listen).await {
            Ok(Ok(l)) => l,
            Ok(Err(source)) => {
                return Err(FleetError::Subscribe { cluster: self.cluster, source });
            }
            Err(_) => {
                return Err(FleetError::Timeout {
                    op: "subscribe",
                    key: "heartbeats".into(),
                    timeout: self.connect_timeout,
                });
            }
        };
        let started = Instant::now();
        let buckets = Buckets::open(
            client.clone(),
            &self.cluster,
            self.replicas,
            self.connect_timeout,
            self.op_timeout,
        )
        .await?;
        // Every live host beats once an interval: after one and a half,
        // each has been heard.
        let listen = self.heartbeat + self.heartbeat / 2;
        tokio::time::sleep(listen.saturating_sub(started.elapsed())).await;
        let owner =
            self.owner.unwrap_or_else(|| format!("relive fleet, pid {}", std::process::id()));
        Ok(Fleet { cluster: self.cluster, owner, buckets, liveness, _client: Some(client) })
    }
}

/// A rollout coordinator's handle on the fleet of one cluster: run
/// [`upgrade`](Self::upgrade)s and read the [`status`](Self::status).
#[derive(Debug)]
pub struct Fleet {
    pub(crate) cluster: String,
    pub(crate) owner: String,
    pub(crate) buckets: Buckets,
    pub(crate) liveness: Liveness,
    /// The connection of a [`FleetBuilder`] (a member's is the member's).
    _client: Option<async_nats::Client>,
}

impl Cluster {
    /// A rollout coordinator on this member's connection, counting as
    /// alive the nodes this member hears.
    ///
    /// # Errors
    /// [`FleetError`]: the buckets cannot be opened or created within 10 s.
    pub async fn fleet(&self) -> Result<Fleet, FleetError> {
        let shared = std::sync::Arc::clone(self.shared());
        let buckets = Buckets::open(
            shared.client.clone(),
            &shared.cluster,
            1,
            Duration::from_secs(10),
            Duration::from_secs(5),
        )
        .await?;
        Ok(Fleet {
            cluster: shared.cluster.clone(),
            owner: format!("node {}", shared.node),
            buckets,
            liveness: Liveness::Member(shared),
            _client: None,
        })
    }
}

/// One host, as the fleet sees it.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// Whether its heartbeats arrive.
    pub alive: bool,
    /// Its agent's last report.
    pub report: HostReport,
}

/// The fleet now: the hosts' versions, the desired versions, the rollouts.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatus {
    /// The cluster.
    pub cluster: String,
    /// Every host that ever ran an agent, by node name.
    pub hosts: Vec<HostStatus>,
    /// The desired builds, by module.
    pub desired: BTreeMap<String, Desired>,
    /// Each module's last rollout.
    pub rollouts: BTreeMap<String, RolloutState>,
    /// The rollout holding the lock, if any.
    pub lock: Option<Lock>,
}

impl Fleet {
    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The live hosts running a fleet agent, by name.
    ///
    /// # Errors
    /// [`FleetError`]: the bucket's keys could not be read.
    pub async fn hosts(&self) -> Result<Vec<String>, FleetError> {
        let alive = self.liveness.alive();
        let keys = self.buckets.keys(bucket::HOST_PREFIX).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(bucket::HOST_PREFIX))
            .filter(|n| alive.iter().any(|a| a == n))
            .map(str::to_owned)
            .collect())
    }

    /// Every host's report, the desired versions, the last rollouts, the
    /// lock.
    ///
    /// # Errors
    /// [`FleetError`]: a read failed or timed out, or a value is not
    /// relive's.
    pub async fn status(&self) -> Result<FleetStatus, FleetError> {
        let alive = self.liveness.alive();
        let mut hosts = Vec::new();
        for key in self.buckets.keys(bucket::HOST_PREFIX).await? {
            if let Some((report, _)) = self.buckets.get::<HostReport>(&key).await? {
                let alive = alive.contains(&report.node);
                hosts.push(HostStatus { alive, report });
            }
        }
        let mut desired = BTreeMap::new();
        for key in self.buckets.keys(bucket::DESIRED_PREFIX).await? {
            if let Some((d, _)) = self.buckets.get::<Desired>(&key).await? {
                desired.insert(key[bucket::DESIRED_PREFIX.len()..].to_owned(), d);
            }
        }
        let mut rollouts = BTreeMap::new();
        for key in self.buckets.keys("rollout.").await? {
            if let Some((r, _)) = self.buckets.get::<RolloutState>(&key).await? {
                rollouts.insert(key["rollout.".len()..].to_owned(), r);
            }
        }
        let lock = self.buckets.get::<Lock>(bucket::LOCK).await?.map(|(l, _)| l);
        Ok(FleetStatus { cluster: self.cluster.clone(), hosts, desired, rollouts, lock })
    }
}
