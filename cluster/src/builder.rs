//! Joining a cluster: [`ClusterBuilder`].

use crate::cluster::Cluster;
use crate::error::JoinError;
use crate::subject::check_token;
use relive_runtime::HostHandle;
use relive_runtime::actor::DEFAULT_CALL_TIMEOUT;
use std::time::Duration;

/// The default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// How a host joins a cluster: the NATS URL, the cluster's name and this
/// node's, and the timeouts. Credentials and TLS are async-nats'
/// [`ConnectOptions`](async_nats::ConnectOptions), passed through
/// ([`options`](Self::options)).
#[derive(Debug)]
pub struct ClusterBuilder {
    pub(crate) url: String,
    pub(crate) cluster: String,
    pub(crate) node: String,
    pub(crate) options: async_nats::ConnectOptions,
    pub(crate) connect_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) deadline: Option<Duration>,
}

impl ClusterBuilder {
    /// Join `cluster` as `node` through the NATS server(s) at `url` (a
    /// comma-separated list is several servers).
    pub fn new(
        url: impl Into<String>,
        cluster: impl Into<String>,
        node: impl Into<String>,
    ) -> Self {
        ClusterBuilder {
            url: url.into(),
            cluster: cluster.into(),
            node: node.into(),
            options: async_nats::ConnectOptions::new(),
            connect_timeout: Duration::from_secs(5),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            heartbeat: DEFAULT_HEARTBEAT,
            deadline: None,
        }
    }

    /// async-nats' connect options: credentials (`credentials_file`,
    /// `nkey`, `user_and_password`, `token`), TLS (`require_tls`,
    /// `add_root_certificates`, `add_client_certificate`), reconnects.
    /// This builder sets the connection's name (the node's) and its connect
    /// timeout on top of them.
    pub fn options(mut self, options: async_nats::ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// How long joining may wait for the NATS server (default 5 s); also
    /// the node-name probe's timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The timeout of a remote call that names none (default
    /// [`DEFAULT_CALL_TIMEOUT`], 5 s, as a local call's).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How often this host sends its heartbeat (default 1 s), and how long
    /// without one from another host makes that host gone (default three
    /// intervals): its monitored actors are DOWN with
    /// [`ExitReason::NoConnection`](relive_runtime::ExitReason::NoConnection).
    /// Every member should use the same figures.
    pub fn heartbeat(mut self, interval: Duration, deadline: Duration) -> Self {
        self.heartbeat = interval;
        self.deadline = Some(deadline);
        self
    }

    /// Connect and join, serving actors of `host`. Must run inside a tokio
    /// runtime, which then runs the member's tasks.
    ///
    /// # Errors
    /// [`JoinError`]: a name that is not a subject token, no NATS server
    /// (or refused credentials) within the connect timeout, a node name
    /// another member uses, a refused subscription.
    pub async fn join(self, host: &HostHandle) -> Result<Cluster, JoinError> {
        check_token("cluster", &self.cluster)?;
        check_token("node", &self.node)?;
        let options = self
            .options
            .clone()
            .name(format!("relive {}/{}", self.cluster, self.node))
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.call_timeout));
        let url = self.url.clone();
        let connect = options.connect(url.as_str());
        let client = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(source)) => return Err(JoinError::Connect { url, source }),
            Err(_) => return Err(JoinError::ConnectTimeout { url, timeout: self.connect_timeout }),
        };
        Cluster::start(self, client, host.clone()).await
    }
}
