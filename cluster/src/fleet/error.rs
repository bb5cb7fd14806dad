//! The fleet's errors: the buckets, a rollout, and an agent's step.

use crate::error::InvalidName;
use crate::fleet::record::Lock;
use relive_runtime::UpgradeError;
use std::path::PathBuf;
use std::time::Duration;

/// A fleet bucket operation failed: opening the buckets, a key-value read
/// or write, an object's upload or download, a watch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The cluster name is not a subject token.
    #[error(transparent)]
    Name(#[from] InvalidName),
    /// No NATS server was reached (or it refused the credentials).
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
    /// A bucket could not be opened or created within the timeout
    /// (JetStream off on the server, no permission, no quorum).
    #[error("could not open or create the JetStream bucket {bucket} within {timeout:?}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// The timeout.
        timeout: Duration,
        /// The last error async-nats gave.
        #[source]
        source: async_nats::Error,
    },
    /// The subscription to the hosts' heartbeats was refused.
    #[error("subscribing to the heartbeats of cluster {cluster:?}")]
    Subscribe {
        /// The cluster.
        cluster: String,
        /// async-nats' error.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// A key-value operation failed.
    #[error("key-value {op} of {key} failed")]
    Kv {
        /// `get`, `put`, `update`, `create`, `delete`, `keys`.
        op: &'static str,
        /// The key.
        key: String,
        /// async-nats' error.
        #[source]
        source: async_nats::Error,
    },
    /// Someone else wrote the key first: a compare-and-set lost.
    #[error("{key} changed under us (compare-and-set lost)")]
    Conflict {
        /// The key.
        key: String,
    },
    /// An object store operation failed.
    #[error("object store {op} of {name} failed")]
    Object {
        /// `put`, `get`, `read`.
        op: &'static str,
        /// The object's name.
        name: String,
        /// async-nats' (or the read's) error.
        #[source]
        source: async_nats::Error,
    },
    /// A bucket operation did not complete within its bound.
    #[error("{op} of {key} did not complete within {timeout:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The key or object.
        key: String,
        /// The bound.
        timeout: Duration,
    },
    /// A value in the bucket is not what relive writes there.
    #[error("the value of {key} does not decode")]
    Decode {
        /// The key.
        key: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// A local file or directory the fleet needs failed.
    #[error("{}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a rollout did not promote the new version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// A bucket operation failed before the rollout changed anything (or
    /// while it released its lock).
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The module file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a relive module library (no module record).
    #[error("{} is not a relive module", path.display())]
    NotAModule {
        /// The file.
        path: PathBuf,
        /// Why its record could not be read.
        #[source]
        source: relive_runtime::sdk::record::RecordError,
    },
    /// The file is another module's library.
    #[error("{} is module {found:?}, not {expected:?}", path.display())]
    WrongModule {
        /// The file.
        path: PathBuf,
        /// The module named.
        expected: String,
        /// The module the file is.
        found: String,
    },
    /// Another rollout holds the fleet's lock (one rollout at a time).
    #[error(
        "rollout {} of {:?} by {} holds the fleet lock (one rollout at a time)",
        lock.rollout, lock.module, lock.owner
    )]
    Busy {
        /// The lock as its holder wrote it.
        lock: Box<Lock>,
    },
    /// No live host runs a fleet agent.
    #[error("no live host of cluster {cluster:?} runs a fleet agent")]
    NoHosts {
        /// The cluster.
        cluster: String,
    },
    /// The rollout was aborted: every host was told to go back to the
    /// version it ran before (`rolled_back` confirmed it; `unconfirmed` are
    /// gone, or did not confirm within the step timeout).
    #[error("rollout {rollout} of {module:?} aborted")]
    Aborted {
        /// The rollout's id.
        rollout: String,
        /// The module.
        module: String,
        /// The hosts that reported the previous version again.
        rolled_back: Vec<String>,
        /// The hosts gone, or that did not confirm within the step timeout.
        unconfirmed: Vec<String>,
        /// Why it was aborted.
        #[source]
        reason: AbortReason,
    },
    /// The rollout was to be aborted, but the withdrawal of its candidate
    /// could not be written within the step timeout: hosts may still be
    /// told to run the candidate. The lock is not released — it expires
    /// after its lease — so no other rollout starts on a fleet in a state
    /// nobody knows; the next one, after the lease, replaces the candidate
    /// (or withdraws it, for another module).
    #[error(
        "rollout {rollout} of {module:?} could not be aborted ({reason}): its candidate was not \
         withdrawn, and the fleet lock is left to expire"
    )]
    AbortIncomplete {
        /// The rollout's id.
        rollout: String,
        /// The module.
        module: String,
        /// Why it was to be aborted.
        reason: AbortReason,
        /// Why the withdrawal was not written (the last attempt's error).
        #[source]
        source: Box<FleetError>,
    },
    /// Another coordinator took the lock (ours had expired): this one
    /// stopped; the other decides the module's version.
    #[error("rollout {rollout} lost the fleet lock to another coordinator")]
    LockLost {
        /// The rollout's id.
        rollout: String,
    },
}

/// Why a rollout was aborted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AbortReason {
    /// The canaries' error rate over the bake exceeded the plan's maximum.
    #[error(
        "error rate {rate:.3} over the canaries {hosts:?} exceeds {max} ({crashes} crashes, \
         {failed_calls} failed calls, {handled} messages handled)"
    )]
    ErrorRate {
        /// (crashes + failed calls) / (handled + crashes).
        rate: f64,
        /// The plan's maximum.
        max: f64,
        /// Crashes on the new version.
        crashes: u64,
        /// Calls the new version handled whose caller got an error
        /// (refused, or timed out).
        failed_calls: u64,
        /// Messages the new version handled.
        handled: u64,
        /// The canaries.
        hosts: Vec<String>,
    },
    /// Hosts did not report the new version within the step timeout.
    #[error("step {step} timed out after {timeout:?} waiting for {waiting:?}")]
    StepTimeout {
        /// `canary` or `rest`.
        step: &'static str,
        /// The hosts still not there.
        waiting: Vec<String>,
        /// The timeout.
        timeout: Duration,
    },
    /// A host of the rollout stopped sending heartbeats (or left).
    #[error("host {node:?} is gone (noconnection)")]
    HostGone {
        /// The node.
        node: String,
    },
    /// A host could not apply the new version (its agent's error).
    #[error("host {node:?} failed: {error}")]
    HostFailed {
        /// The node.
        node: String,
        /// What its agent reported.
        error: String,
    },
    /// Writing the next step to the bucket failed.
    #[error("the fleet bucket failed")]
    Fleet(#[source] Box<FleetError>),
}

/// Why a fleet agent could not apply a desired version (reported in its
/// host's entry, `error`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The module file could not be fetched from the object store.
    #[error("fetching {object}")]
    Fetch {
        /// The object.
        object: String,
        /// The bucket's error.
        #[source]
        source: FleetError,
    },
    /// The fetched bytes are not the build the desired version names.
    #[error("{object} has hash {found}, not {expected}")]
    Corrupt {
        /// The object.
        object: String,
        /// The desired build.
        expected: String,
        /// The hash of what was fetched.
        found: String,
    },
    /// The fetched file could not be written to the download directory.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The host's code server refused the upgrade (its loader's checks,
    /// signature included, or a migration).
    #[error("upgrading {module}")]
    Upgrade {
        /// The module.
        module: String,
        /// The code server's error.
        #[source]
        source: Box<UpgradeError>,
    },
    /// The host's code server refused the rollback.
    #[error("rolling {module} back")]
    Rollback {
        /// The module.
        module: String,
        /// The code server's error.
        #[source]
        source: Box<UpgradeError>,
    },
    /// The upgrade or rollback did not return within the agent's bound (it
    /// goes on, or restores everything, on its own thread).
    #[error("{step} of {module} did not return within {timeout:?}")]
    Timeout {
        /// `upgrade` or `rollback`.
        step: &'static str,
        /// The module.
        module: String,
        /// The bound.
        timeout: Duration,
    },
    /// The fleet has no version to go back to and the host's old slot is
    /// not the version it ran before the aborted rollout.
    #[error("no previous version of {module} to go back to")]
    NoPrevious {
        /// The module.
        module: String,
    },
}

/// `e` and its sources, as one line (what an agent reports, and what
/// `relive fleet` prints).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
