//! issue 18 §2: fleet rollouts — one module's new build, rolled out to
//! every host of a cluster in bounded steps, on NATS JetStream.
//!
//! - Each host runs a [`FleetAgent`] ([`Cluster::fleet_agent`](crate::Cluster::fleet_agent)):
//!   it watches the desired builds in the fleet's key-value bucket, fetches
//!   a library from the object store, has its own code server load and
//!   upgrade to it (its loader's checks, signatures included, decide), and
//!   reports each module's version, step, error and counters (messages
//!   handled, crashes, failed calls) under its node name. A host that
//!   starts late applies the promoted builds first.
//! - A coordinator ([`Fleet`]: from a member, [`Cluster::fleet`](crate::Cluster::fleet),
//!   or on a connection of its own, [`FleetBuilder`]; the CLI's `relive
//!   fleet upgrade`) runs [`Fleet::upgrade`]: publish, lock (compare-and-set,
//!   one rollout at a time, a dead coordinator's lock expires), canaries,
//!   bake and judge, the rest, promote — or abort, and every host goes
//!   back. Every step has a timeout.
//!
//! ```no_run
//! use relive_cluster::{ClusterBuilder, FleetAgentOptions, RolloutPlan};
//! use relive_runtime::Host;
//! use std::time::Duration;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::new()?;
//! let cluster = ClusterBuilder::new("nats://127.0.0.1:4222", "shop", "web-1")
//!     .join(&host.handle())
//!     .await?;
//! // On every host: apply what the fleet promotes, report what runs here.
//! let _agent = cluster.fleet_agent(FleetAgentOptions::new("/var/lib/shop/fleet")).await?;
//!
//! // On one of them (or `relive fleet upgrade`): roll counter 2 out.
//! let fleet = cluster.fleet().await?;
//! let plan = RolloutPlan {
//!     canary_hosts: 1,
//!     bake: Duration::from_secs(120),
//!     max_error_rate: 0.01,
//!     step_timeout: Duration::from_secs(60),
//!     ..RolloutPlan::default()
//! };
//! let report = fleet.upgrade("counter", "target/release/libcounter_v2.so", plan).await?;
//! println!("promoted on {:?}", report.hosts);
//! for h in fleet.status().await?.hosts {
//!     println!("{}: {:?}", h.report.node, h.report.modules.get("counter").map(|m| &m.version));
//! }
//! # Ok(()) }
//! ```
//!
//! The buckets and keys are in [`bucket`]'s table; the steps in
//! [`Fleet::upgrade`]'s module (`rollout.rs`) and the agent's; the design,
//! failure behaviour and the comparison with OTP's `release_handler` in
//! docs/cluster.md ("Fleet rollouts") and decision 0029.

mod agent;
pub mod bucket;
mod coordinator;
mod error;
mod liveness;
mod lock;
mod record;
mod rollout;

pub use agent::{FleetAgent, FleetAgentOptions};
pub use coordinator::{Fleet, FleetBuilder, FleetStatus, HostStatus};
pub use error::{AbortReason, AgentError, FleetError, RolloutError, chain};
pub use record::{
    Build, Candidate, Desired, HostReport, Hosts, Lock, ModuleReport, Phase, RolloutState, Step,
};
pub use rollout::{RolloutPlan, RolloutReport};
