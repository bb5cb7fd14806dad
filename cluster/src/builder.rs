//! Joining a cluster: [`ClusterBuilder`].

use crate::bound::Bound;
use crate::claim::DEFAULT_CLAIM_WINDOW;
use crate::cluster::Cluster;
use crate::error::{JoinError, JoinStep};
use crate::flow::{Counters, DEFAULT_CAST_WINDOW, DEFAULT_REMEMBERED_SENDERS};
use crate::subject::check_token;
use relive_runtime::HostHandle;
use relive_runtime::actor::DEFAULT_CALL_TIMEOUT;
use std::sync::Arc;
use std::time::Duration;

/// An application's own listener of the client's events
/// ([`ClusterBuilder::on_event`]).
type OnEvent = Arc<dyn Fn(&async_nats::Event) + Send + Sync>;

/// The default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// How long [`ClusterBuilder::join`] may take in all by default: connecting,
/// claiming the node name, subscribing and the server's confirmation.
pub const DEFAULT_JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a host joins a cluster: the NATS URL, the cluster's name and this
/// node's, and the timeouts. Credentials and TLS are async-nats'
/// [`ConnectOptions`](async_nats::ConnectOptions), passed through
/// ([`options`](Self::options)).
pub struct ClusterBuilder {
    pub(crate) url: String,
    pub(crate) cluster: String,
    pub(crate) node: String,
    pub(crate) options: async_nats::ConnectOptions,
    pub(crate) connect_timeout: Duration,
    pub(crate) join_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) deadline: Option<Duration>,
    pub(crate) cast_window: u64,
    pub(crate) remembered_senders: usize,
    pub(crate) claim_window: Duration,
    on_event: Option<OnEvent>,
}

impl std::fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("url", &self.url)
            .field("cluster", &self.cluster)
            .field("node", &self.node)
            .field("connect_timeout", &self.connect_timeout)
            .field("join_timeout", &self.join_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("heartbeat", &self.heartbeat)
            .field("deadline", &self.deadline)
            .field("cast_window", &self.cast_window)
            .field("remembered_senders", &self.remembered_senders)
            .field("claim_window", &self.claim_window)
            .finish_non_exhaustive()
    }
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
            join_timeout: DEFAULT_JOIN_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            heartbeat: DEFAULT_HEARTBEAT,
            deadline: None,
            cast_window: DEFAULT_CAST_WINDOW,
            remembered_senders: DEFAULT_REMEMBERED_SENDERS,
            claim_window: DEFAULT_CLAIM_WINDOW,
            on_event: None,
        }
    }

    /// async-nats' connect options: credentials (`credentials_file`,
    /// `nkey`, `user_and_password`, `token`), TLS (`require_tls`,
    /// `add_root_certificates`, `add_client_certificate`), reconnects.
    /// This builder sets the connection's name (the node's), its connect
    /// timeout and its event callback on top of them (an event callback
    /// set here is replaced: use [`on_event`](Self::on_event)).
    pub fn options(mut self, options: async_nats::ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// How long joining may wait for the NATS server (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long joining may take in all (default [`DEFAULT_JOIN_TIMEOUT`],
    /// 10 s): connecting, claiming the node name (its window included),
    /// subscribing and the server's confirmation. Each round trip inside is
    /// bounded by its own timeout too (the connect timeout, the call
    /// timeout); whichever ends first ends the join, with
    /// [`JoinError::Timeout`] naming the step (or
    /// [`JoinError::ConnectTimeout`] when the connect timeout ran out
    /// first).
    pub fn join_timeout(mut self, timeout: Duration) -> Self {
        self.join_timeout = timeout;
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

    /// How long joining collects answers to the node-name probe (default
    /// [`DEFAULT_CLAIM_WINDOW`], 250 ms; within the
    /// [join timeout](Self::join_timeout)): joining takes this long, and two
    /// hosts joining with one name at once are told apart as long as a
    /// probe and its answer cross within it (decision 0030).
    pub fn claim_window(mut self, window: Duration) -> Self {
        self.claim_window = window;
        self
    }

    /// How many casts one sender (a [`RemoteRef`](crate::RemoteRef) and
    /// its clones) may have in flight past its oldest unacknowledged one
    /// (default [`DEFAULT_CAST_WINDOW`]; at least
    /// [`CAST_ACK_EVERY`](crate::CAST_ACK_EVERY)). The sum over the senders
    /// flooding one host at once must stay under a subscription's pending
    /// buffer (async-nats' `subscription_capacity`, 64 Ki messages) for no
    /// cast to be dropped (decision 0030).
    pub fn cast_window(mut self, casts: u64) -> Self {
        self.cast_window = casts;
        self
    }

    /// How many cast senders this host follows the sequence of, per name
    /// it serves (default [`DEFAULT_REMEMBERED_SENDERS`], 4,096; at least
    /// one): beyond it the least recently heard is forgotten, as is any
    /// sender silent for ten minutes, so the table stays bounded however
    /// many senders come and go. A forgotten sender's casts are delivered
    /// as ever, in order; its next one is first contact, and a gap across
    /// the forgetting is not counted in
    /// [`ClusterStats::casts_missing`](crate::ClusterStats::casts_missing)
    /// (decision 0036).
    pub fn remembered_senders(mut self, senders: usize) -> Self {
        self.remembered_senders = senders;
        self
    }

    /// Call `f` with every event of the member's NATS client (connected,
    /// disconnected, slow consumer, server errors), after the member's own
    /// handling (it counts slow consumers in
    /// [`Cluster::stats`](crate::Cluster::stats)).
    pub fn on_event(mut self, f: impl Fn(&async_nats::Event) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Connect and join, serving actors of `host`. Must run inside a tokio
    /// runtime, which then runs the member's tasks. Ends within the
    /// [join timeout](Self::join_timeout), joined or not.
    ///
    /// # Errors
    /// [`JoinError`]: a name that is not a subject token, no NATS server
    /// (or refused credentials) within the connect timeout, a node name
    /// another member uses, a refused subscription, a step not done within
    /// the join or call timeout ([`JoinError::Timeout`]).
    pub async fn join(self, host: &HostHandle) -> Result<Cluster, JoinError> {
        let bound = Bound::after(self.join_timeout);
        check_token("cluster", &self.cluster)?;
        check_token("node", &self.node)?;
        let counters = Arc::new(Counters::default());
        let (c, on_event) = (Arc::clone(&counters), self.on_event.clone());
        let options = self
            .options
            .clone()
            .event_callback(move |event| {
                if let async_nats::Event::SlowConsumer(sid) = &event {
                    c.slow_consumer(*sid);
                } else {
                    tracing::debug!(%event, "cluster: NATS client event");
                }
                if let Some(f) = &on_event {
                    f(&event);
                }
                std::future::ready(())
            })
            .name(format!("relive {}/{}", self.cluster, self.node))
            .connection_timeout(self.connect_timeout)
            .request_timeout(Some(self.call_timeout));
        let url = self.url.clone();
        let connect = options.connect(url.as_str());
        let join_sooner = bound.is_sooner_than(self.connect_timeout);
        let client = match bound.within(self.connect_timeout).run(connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(source)) => return Err(JoinError::Connect { url, source }),
            Err(_) if join_sooner => {
                let timeout = bound.timeout();
                return Err(JoinError::Timeout { step: JoinStep::Connect, timeout });
            }
            Err(_) => return Err(JoinError::ConnectTimeout { url, timeout: self.connect_timeout }),
        };
        Cluster::start(self, client, host.clone(), counters, bound).await
    }
}
