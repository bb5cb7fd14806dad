//! # relive beyond one host: remote actors on NATS
//!
//! A host joins a cluster with a NATS URL, a cluster name and a node name
//! ([`ClusterBuilder`]); serves its registered actors cluster-wide by name
//! ([`Cluster::register`]: several hosts serving one name form a pool, one
//! NATS queue group); and reaches the others' through [`RemoteRef`], the
//! call/cast shape of a local `ActorRef`. Each message's schema
//! fingerprints and the wire version travel in NATS headers and are checked
//! on the serving host against the actor's current declaration: a mismatch
//! is [`RemoteError::Types`], never a mis-decode. Calls always end within
//! their timeout; a host that disappears is DOWN with
//! [`ExitReason::NoConnection`](relive_runtime::ExitReason::NoConnection)
//! to the monitors of its actors.
//!
//! Built on NATS request/reply, queue groups and plain subjects, not a
//! protocol of our own; the subjects are listed in [`subject`] and the
//! design, failure behaviour and security in docs/cluster.md.

mod builder;
mod claim;
mod cluster;
mod error;
mod flow;
pub mod header;
mod remote_ref;
mod serve;
pub mod subject;
mod watch;

pub use builder::{ClusterBuilder, DEFAULT_HEARTBEAT};
pub use claim::DEFAULT_CLAIM_WINDOW;
pub use cluster::Cluster;
pub use error::{InvalidName, JoinError, RegisterError, RemoteError, RemoteFailure};
pub use flow::{CAST_ACK_EVERY, ClusterStats, DEFAULT_CAST_WINDOW};
pub use remote_ref::RemoteRef;
