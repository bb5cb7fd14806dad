//! The cluster's errors: joining, registering, and a remote call or cast.

use relive_codec::CodecError;
use relive_runtime::{ExitReason, TypeMismatch};
use std::time::Duration;

/// A cluster, node or actor name that cannot be a NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name {name:?}: use 1 to 128 of A-Z a-z 0-9 _ -")]
pub struct InvalidName {
    /// Which name (`cluster`, `node`, `actor`).
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

/// The step of [`ClusterBuilder::join`](crate::ClusterBuilder::join)
/// that did not complete in time ([`JoinError::Timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinStep {
    /// Connecting to the NATS server (the handshake).
    Connect,
    /// Claiming the node name: subscribing to its ping subject, sending the
    /// probe and having the server confirm it, the claim window.
    Claim,
    /// Subscribing to the heartbeats and the downs.
    Subscribe,
    /// Having the server confirm those subscriptions (a message of the
    /// member's own coming back through it).
    Confirm,
}

impl std::fmt::Display for JoinStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JoinStep::Connect => "connecting to NATS",
            JoinStep::Claim => "claiming the node name",
            JoinStep::Subscribe => "subscribing to the heartbeats and downs",
            JoinStep::Confirm => "confirming the subscriptions with the server",
        })
    }
}

/// A host could not join a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// A name is not a subject token.
    #[error(transparent)]
    Name(#[from] InvalidName),
    /// No NATS server was reached within the connect timeout, or it refused
    /// the credentials or TLS.
    #[error("could not connect to NATS at {url}")]
    Connect {
        /// The URL given.
        url: String,
        /// async-nats' error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The connection did not complete within the connect timeout.
    #[error("could not connect to NATS at {url} within {timeout:?}")]
    ConnectTimeout {
        /// The URL given.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Another member of the cluster already uses this node name (it
    /// answered the node-name probe), or another host joining with the same
    /// name at the same time won the tie-break.
    #[error("node name {node:?} is already in use in cluster {cluster:?}")]
    NodeTaken {
        /// The cluster.
        cluster: String,
        /// The node name.
        node: String,
    },
    /// A subscription the member needs was refused.
    #[error("subscribing to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// async-nats' error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The node-name probe could not be sent (the connection failed while
    /// joining).
    #[error("probing the node name on {subject}")]
    Probe {
        /// The ping subject.
        subject: String,
        /// async-nats' error.
        #[source]
        source: async_nats::Error,
    },
    /// A step of joining did not complete within `timeout`: the whole join
    /// took longer than the join timeout
    /// ([`ClusterBuilder::join_timeout`](crate::ClusterBuilder::join_timeout)),
    /// or a round trip with the server longer than the call timeout (a
    /// server that accepts but does not answer, a connection lost while
    /// joining). The host did not join; nothing stays subscribed.
    #[error("joining timed out {step} after {timeout:?}")]
    Timeout {
        /// The step.
        step: JoinStep,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// NATS failed a step of joining after the claim (the connection
    /// closed).
    #[error("NATS failed while {step}")]
    Nats {
        /// The step.
        step: JoinStep,
        /// async-nats' error.
        #[source]
        source: async_nats::Error,
    },
}

/// A local actor could not be served cluster-wide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The name is not a subject token.
    #[error(transparent)]
    Name(#[from] InvalidName),
    /// This host already serves that name.
    #[error("this host already serves {0:?} in the cluster")]
    AlreadyServed(String),
    /// A subscription was refused.
    #[error("subscribing to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// async-nats' error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The server did not confirm the subscriptions within the call
    /// timeout (it does not answer, or the connection is lost): the name is
    /// not served, nothing stays subscribed.
    #[error("the NATS server did not confirm serving {subject} within {timeout:?}")]
    Timeout {
        /// The pool subject (or the subject whose subscription waited).
        subject: String,
        /// The timeout (the call timeout).
        timeout: Duration,
    },
    /// NATS failed while confirming the subscriptions (the connection
    /// closed).
    #[error("NATS failed while confirming {subject}")]
    Nats {
        /// The pool subject.
        subject: String,
        /// async-nats' error.
        #[source]
        source: async_nats::Error,
    },
}

/// Why a remote actor did what it did instead of replying: its host's
/// answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// No actor is registered under the name on that host now.
    #[error("no actor of that name there (noproc)")]
    NoProc,
    /// The actor exited before it replied (perhaps on this message).
    #[error("the actor exited before replying: {0}")]
    Exited(ExitReason),
    /// The handler could not handle the message.
    #[error("the handler failed: {0}")]
    Handler(String),
    /// The message's variant is one the version the actor runs lacks.
    #[error("{0}")]
    UnknownVariant(String),
    /// Its mailbox stayed full until the timeout.
    #[error("its mailbox stayed full")]
    MailboxFull,
    /// The call was taken but dropped unanswered.
    #[error("the call was dropped without a reply")]
    ReplyDropped,
    /// It could not read the request (another wire version, say).
    #[error("it could not read the request: {0}")]
    Wire(String),
}

/// Why a remote call (or a check, or a monitor's set-up) got no reply.
/// Every remote call ends in a reply or one of these within its timeout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// No host of the cluster serves the name (on that node): NATS had no
    /// responder for the subject.
    #[error("no host serves {name:?} on {subject}")]
    NoResponders {
        /// The actor name.
        name: String,
        /// The subject asked.
        subject: String,
    },
    /// The host the reference is pinned to is gone: no heartbeat within
    /// the deadline, or it said goodbye.
    #[error("host {node:?} is gone (noconnection)")]
    HostGone {
        /// The node.
        node: String,
    },
    /// No reply within the timeout.
    #[error("no reply from {name:?} within {timeout:?}")]
    Timeout {
        /// The actor name.
        name: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The serving host refused the sender's types: they are not the
    /// actor's (nor compatible with its module's current version). Nothing
    /// was delivered.
    #[error("{node} refused the types: {source}")]
    Types {
        /// The node that refused.
        node: String,
        /// The mismatch, as a local typed reference would report it (no
        /// variant detail: only fingerprints travel).
        #[source]
        source: TypeMismatch,
    },
    /// The remote actor did not reply (see [`RemoteFailure`]).
    #[error("{name:?} on {node}: {failure}")]
    Remote {
        /// The node that answered.
        node: String,
        /// The actor name.
        name: String,
        /// What happened.
        #[source]
        failure: RemoteFailure,
    },
    /// A cast was not sent: the serving host did not acknowledge the casts
    /// this sender sent a window before it within the timeout (it is gone,
    /// or takes nothing: its actor's mailbox stayed full). Those earlier
    /// casts are given up — at most once, as to a host that died — and the
    /// next cast starts a fresh window (decision 0030).
    #[error(
        "{name:?} acknowledged no cast of the last {window} within {timeout:?}; this cast was not sent"
    )]
    CastWindow {
        /// The actor name.
        name: String,
        /// The sender's window, in casts.
        window: u64,
        /// The timeout waited.
        timeout: Duration,
    },
    /// The message did not encode.
    #[error("encode failed")]
    Encode(#[source] CodecError),
    /// The reply did not decode as the caller's reply type.
    #[error("the reply from {node} did not decode")]
    Decode {
        /// The node that answered.
        node: String,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
    /// An answer without relive's headers (not a relive host on that
    /// subject).
    #[error("an answer on {subject} that is not relive's: {what}")]
    Protocol {
        /// The subject asked.
        subject: String,
        /// What was wrong.
        what: String,
    },
    /// NATS failed the request or publish (connection lost, payload too
    /// large, …).
    #[error("NATS failed on {subject}")]
    Nats {
        /// The subject.
        subject: String,
        /// async-nats' error.
        #[source]
        source: async_nats::Error,
    },
}
