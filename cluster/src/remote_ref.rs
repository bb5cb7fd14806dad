//! `RemoteRef<M, R>`: an actor on another host, behind the call/cast shape
//! of the local [`ActorRef`](relive_runtime::ActorRef).

use crate::cluster::Shared;
use crate::error::{RemoteError, RemoteFailure};
use crate::flow::{Window, WindowError};
use crate::header::{self, Kind, Status};
use async_nats::client::RequestErrorKind;
use relive_codec::{Fingerprint, Schema};
use relive_runtime::actor::Monitor;
use relive_runtime::{ExitReason, TypeMismatch};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// Whom a reference reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Whichever host serves the name (its queue group).
    Pool(String),
    /// The one host `node`.
    Node { node: String, name: String },
}

/// A typed reference to an actor served by the cluster
/// ([`Cluster::remote`](crate::Cluster::remote),
/// [`Cluster::remote_on`](crate::Cluster::remote_on)).
///
/// Cheap to clone, `Send + Sync`. Each message carries the fingerprints of
/// `M` and `R` and the wire version in its headers; the serving host checks
/// them against the actor's current declaration before delivery, so a
/// mismatch is [`RemoteError::Types`], never a mis-decode. Every call ends
/// within its timeout: a reply, or a typed [`RemoteError`].
///
/// # Upgrade behaviour
/// As a local reference: the serving host's actor keeps its name across
/// upgrades, and its mail is handled by whichever version it runs; the
/// types this reference uses were recorded on the serving host when it
/// accepted them, so a later version there that breaks them is refused at
/// load.
pub struct RemoteRef<M, R> {
    shared: Arc<Shared>,
    target: Target,
    subject: String,
    /// This sender's casts: sequence and credit window, shared by clones.
    window: Arc<Window>,
    _types: PhantomData<fn(M) -> R>,
}

impl<M, R> Clone for RemoteRef<M, R> {
    fn clone(&self) -> Self {
        RemoteRef {
            shared: Arc::clone(&self.shared),
            target: self.target.clone(),
            subject: self.subject.clone(),
            window: Arc::clone(&self.window),
            _types: PhantomData,
        }
    }
}

impl<M, R> fmt::Debug for RemoteRef<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteRef").field("subject", &self.subject).finish()
    }
}

impl<M, R> RemoteRef<M, R> {
    pub(crate) fn new(shared: Arc<Shared>, target: Target) -> Self {
        let subject = match &target {
            Target::Pool(name) => shared.subjects.pool(name),
            Target::Node { node, name } => shared.subjects.node(node, name),
        };
        let window = Window::new(&shared.client, shared.cast_window);
        RemoteRef { shared, target, subject, window, _types: PhantomData }
    }

    /// The actor's cluster-wide name.
    pub fn name(&self) -> &str {
        match &self.target {
            Target::Pool(name) | Target::Node { name, .. } => name,
        }
    }

    /// The node this reference is pinned to (`None`: any host of the pool).
    pub fn node(&self) -> Option<&str> {
        match &self.target {
            Target::Pool(_) => None,
            Target::Node { node, .. } => Some(node),
        }
    }

    /// The NATS subject its messages go to.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

impl<M: Schema, R: Schema> RemoteRef<M, R> {
    fn headers(&self, kind: Kind) -> async_nats::HeaderMap {
        header::request(kind, Fingerprint::of::<M>(), Fingerprint::of::<R>())
    }

    fn gone(&self) -> Option<RemoteError> {
        match &self.target {
            Target::Node { node, .. } if self.shared.watch.is_gone(node) => {
                Some(RemoteError::HostGone { node: node.clone() })
            }
            _ => None,
        }
    }

    /// One request: its reply's payload and the node that answered.
    async fn request(
        &self,
        kind: Kind,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<(Vec<u8>, String), RemoteError> {
        if let Some(e) = self.gone() {
            return Err(e);
        }
        let mut headers = self.headers(kind);
        headers.insert(header::TIMEOUT_MS, timeout.as_millis().to_string().as_str());
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(payload.into())
            .timeout(Some(timeout));
        let subject = self.subject.clone();
        let asked = self.shared.client.send_request(subject.clone(), request);
        // async-nats keeps the timeout; this one is the last word should
        // its publish wait on a reconnect.
        let answer = match tokio::time::timeout(timeout, asked).await {
            Err(_) => return Err(self.timed_out(timeout)),
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                return Err(match e.kind() {
                    RequestErrorKind::TimedOut => self.timed_out(timeout),
                    RequestErrorKind::NoResponders => self.gone().unwrap_or_else(|| {
                        RemoteError::NoResponders { name: self.name().to_owned(), subject }
                    }),
                    _ => RemoteError::Nats { subject, source: Box::new(e) },
                });
            }
        };
        let h = answer.headers.as_ref();
        let protocol = |what: &str| RemoteError::Protocol {
            subject: self.subject.clone(),
            what: what.to_owned(),
        };
        let status = header::get(h, header::STATUS)
            .and_then(Status::parse)
            .ok_or_else(|| protocol("no readable Relive-Status header"))?;
        let node = header::get(h, header::NODE).unwrap_or("?").to_owned();
        let reason = header::get(h, header::REASON).unwrap_or("").to_owned();
        let failure = match status {
            Status::Ok => return Ok((answer.payload.to_vec(), node)),
            Status::Types => {
                let part = header::get(h, header::PART).and_then(header::part);
                let expected = header::get(h, header::EXPECTED).and_then(header::fingerprint);
                let (Some(part), Some(expected)) = (part, expected) else {
                    return Err(protocol("a type refusal without its part or fingerprint"));
                };
                let found = match part {
                    relive_runtime::code_server::Part::Reply => Fingerprint::of::<R>(),
                    _ => Fingerprint::of::<M>(),
                };
                let target = header::get(h, header::TARGET).unwrap_or("?").to_owned();
                let source = TypeMismatch { target, part, expected, found, variant: None };
                return Err(RemoteError::Types { node, source });
            }
            Status::Timeout => return Err(self.timed_out(timeout)),
            Status::NoProc => RemoteFailure::NoProc,
            Status::Exited => RemoteFailure::Exited(header::exit_reason(&reason)),
            Status::Handler => RemoteFailure::Handler(reason),
            Status::UnknownVariant => RemoteFailure::UnknownVariant(reason),
            Status::Full => RemoteFailure::MailboxFull,
            Status::Dropped => RemoteFailure::ReplyDropped,
            Status::Wire => RemoteFailure::Wire(reason),
        };
        Err(RemoteError::Remote { node, name: self.name().to_owned(), failure })
    }

    fn timed_out(&self, timeout: Duration) -> RemoteError {
        self.gone()
            .unwrap_or_else(|| RemoteError::Timeout { name: self.name().to_owned(), timeout })
    }

    /// Ask a serving host to check the types (resolving the reference).
    pub(crate) async fn check(&self) -> Result<String, RemoteError> {
        let (_, node) = self.request(Kind::Check, Vec::new(), self.shared.call_timeout).await?;
        Ok(node)
    }

    /// A monitor of the actor: resolved with its exit reason when it exits,
    /// with [`ExitReason::NoConnection`] when its host is gone (no
    /// heartbeat within the deadline, or a goodbye), with
    /// [`ExitReason::NoProc`] when there is no such actor now. For a pool
    /// reference, the actor of the host that answered the set-up.
    ///
    /// # Errors
    /// None for a host that is gone or has no such actor (the monitor
    /// resolves at once, as OTP's `monitor` of a dead process does); a type
    /// refusal or a NATS failure as [`RemoteError`].
    pub async fn monitor(&self) -> Result<Monitor, RemoteError> {
        let (down, monitor) = Monitor::channel();
        let name = self.name().to_owned();
        let watch = &self.shared.watch;
        match &self.target {
            Target::Node { node, .. } => {
                // Watched before asking: a down published meanwhile is seen.
                watch.add(node, &name, down);
                match self.request(Kind::Monitor, Vec::new(), self.shared.call_timeout).await {
                    Ok(_) => {}
                    Err(RemoteError::Remote { failure: RemoteFailure::NoProc, .. }) => {
                        watch.down(node, &name, &ExitReason::NoProc)
                    }
                    Err(
                        RemoteError::HostGone { .. }
                        | RemoteError::NoResponders { .. }
                        | RemoteError::Timeout { .. },
                    ) => watch.gone(node),
                    Err(e) => {
                        watch.down(node, &name, &ExitReason::NoProc);
                        return Err(e);
                    }
                }
            }
            Target::Pool(_) => {
                let node =
                    match self.request(Kind::Monitor, Vec::new(), self.shared.call_timeout).await {
                        Ok((_, node)) => node,
                        Err(RemoteError::Remote { failure: RemoteFailure::NoProc, .. }) => {
                            down.send(ExitReason::NoProc);
                            return Ok(monitor);
                        }
                        Err(e) => return Err(e),
                    };
                let pinned =
                    RemoteRef::<M, R>::new(Arc::clone(&self.shared), Target::Node { node, name });
                return Box::pin(pinned.monitor()).await;
            }
        }
        Ok(monitor)
    }
}

impl<M: Serialize + Schema, R: DeserializeOwned + Schema> RemoteRef<M, R> {
    /// Send `msg` one way: published to the serving host (one member of a
    /// pool), which checks its types and delivers it in the order it
    /// arrived. Nothing comes back for it: a cast whose types the host
    /// refuses is lost there (logged by the refusing host), one that no
    /// host takes is lost. Use a call to know.
    ///
    /// Between two live hosts no cast is lost and one sender's casts (this
    /// reference and its clones) are delivered in the order sent: each
    /// carries its sequence number, and a sender waits when it is a window
    /// ([`ClusterBuilder::cast_window`](crate::ClusterBuilder::cast_window))
    /// ahead of what the serving host acknowledged, so the host's NATS
    /// buffer never overflows (decision 0030). To a pool of several hosts
    /// the order holds per host.
    ///
    /// # Errors
    /// [`RemoteError::Encode`], [`RemoteError::HostGone`] (pinned to a host
    /// known gone), [`RemoteError::CastWindow`] (nothing acknowledged
    /// within the call timeout: this cast is not sent),
    /// [`RemoteError::Nats`] when the client cannot publish.
    pub async fn cast_async(&self, msg: M) -> Result<(), RemoteError> {
        if let Some(e) = self.gone() {
            return Err(e);
        }
        let payload = encode(&msg)?;
        let timeout = self.shared.call_timeout;
        let sent = self
            .window
            .send(&self.shared.client, &self.subject, self.headers(Kind::Cast), payload, timeout)
            .await;
        sent.map_err(|e| match e {
            WindowError::Timeout(timeout) => {
                self.gone().unwrap_or_else(|| RemoteError::CastWindow {
                    name: self.name().to_owned(),
                    window: self.shared.cast_window,
                    timeout,
                })
            }
            WindowError::Nats(source) => {
                RemoteError::Nats { subject: self.subject.clone(), source }
            }
        })
    }

    /// Send `msg` and await the reply for up to the cluster's call timeout
    /// ([`ClusterBuilder::call_timeout`](crate::ClusterBuilder::call_timeout)).
    ///
    /// # Errors
    /// [`RemoteError`]: no responders, host gone, timeout, types refused,
    /// the remote actor's failure, a reply that does not decode as `R`.
    pub async fn call_async(&self, msg: M) -> Result<R, RemoteError> {
        self.call_async_timeout(msg, self.shared.call_timeout).await
    }

    /// [`call_async`](Self::call_async) with its own timeout.
    ///
    /// # Errors
    /// As [`call_async`](Self::call_async).
    pub async fn call_async_timeout(&self, msg: M, timeout: Duration) -> Result<R, RemoteError> {
        let payload = encode(&msg)?;
        let (bytes, node) = self.request(Kind::Call, payload, timeout).await?;
        relive_codec::decode(&bytes).map_err(|source| RemoteError::Decode { node, source })
    }
}

impl<M, R> RemoteRef<M, R>
where
    M: Serialize + Schema + Send + 'static,
    R: DeserializeOwned + Schema + Send + 'static,
{
    /// [`call_async`](Self::call_async) from a thread outside the cluster's
    /// tokio runtime, blocking it until the reply or the timeout.
    ///
    /// # Errors
    /// As [`call_async`](Self::call_async).
    pub fn call(&self, msg: M) -> Result<R, RemoteError> {
        self.call_timeout(msg, self.shared.call_timeout)
    }

    /// [`call`](Self::call) with its own timeout.
    ///
    /// # Errors
    /// As [`call_async`](Self::call_async).
    pub fn call_timeout(&self, msg: M, timeout: Duration) -> Result<R, RemoteError> {
        let this = self.clone();
        self.block(async move { this.call_async_timeout(msg, timeout).await }, timeout)
    }

    /// [`cast_async`](Self::cast_async) from a thread outside the cluster's
    /// tokio runtime.
    ///
    /// # Errors
    /// As [`cast_async`](Self::cast_async).
    pub fn cast(&self, msg: M) -> Result<(), RemoteError> {
        let this = self.clone();
        self.block(async move { this.cast_async(msg).await }, self.shared.call_timeout)
    }

    fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, RemoteError>> + Send + 'static,
        timeout: Duration,
    ) -> Result<T, RemoteError> {
        let (tx, rx) = oneshot::channel();
        self.shared.runtime.spawn(async move {
            let _ = tx.send(f.await);
        });
        // The future keeps its own timeout; this margin only covers a
        // runtime too busy to poll it.
        match rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(r) => r,
            Err(_) => Err(RemoteError::Timeout { name: self.name().to_owned(), timeout }),
        }
    }
}

fn encode<M: Serialize>(msg: &M) -> Result<Vec<u8>, RemoteError> {
    let mut buf = Vec::new();
    relive_codec::encode_into(msg, &mut buf).map_err(RemoteError::Encode)?;
    Ok(buf)
}
