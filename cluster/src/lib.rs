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
//! Fleet rollouts ([`fleet`], issue 18 §2): each host runs a
//! [`FleetAgent`] ([`Cluster::fleet_agent`]) that applies the builds the
//! fleet's JetStream key-value bucket desires, fetched from its object
//! store, through the host's own code server; a [`Fleet`] coordinator
//! ([`Cluster::fleet`], [`FleetBuilder`], `relive fleet upgrade`) moves one
//! module's build over the hosts — canaries, a bake judged on their error
//! rate, the rest, or an abort everywhere — every step bounded.
//!
//! Built on NATS request/reply, queue groups and plain subjects, and
//! JetStream for the fleet, not a protocol of our own; the subjects are
//! listed in [`subject`], the fleet's buckets in [`fleet::bucket`], and the
//! design, failure behaviour and security in docs/cluster.md.

mod bound;
mod builder;
mod claim;
mod cluster;
mod error;
// issue 18 §2: fleet rollouts
pub mod fleet;
mod flow;
pub mod header;
mod remote_ref;
mod serve;
pub mod subject;
mod synced;
mod watch;

pub use builder::{ClusterBuilder, DEFAULT_HEARTBEAT, DEFAULT_JOIN_TIMEOUT};
pub use claim::DEFAULT_CLAIM_WINDOW;
pub use cluster::Cluster;
pub use error::{InvalidName, JoinError, JoinStep, RegisterError, RemoteError, RemoteFailure};
pub use flow::{CAST_ACK_EVERY, ClusterStats, DEFAULT_CAST_WINDOW, DEFAULT_REMEMBERED_SENDERS};
pub use remote_ref::RemoteRef;
// issue 18 §2: fleet rollouts
pub use fleet::{Fleet, FleetAgent, FleetAgentOptions, FleetBuilder, RolloutError, RolloutPlan};
