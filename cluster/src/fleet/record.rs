//! What the fleet's key-value bucket holds, as JSON (readable with `nats kv
//! get`): the desired versions, the lock, each host's report and each
//! module's last rollout.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One build of a module, published in the object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The module.
    pub module: String,
    /// The version its module record declares.
    pub version: String,
    /// Its build hash (the BLAKE3 hash of the library, 64 hex digits): what a
    /// host's code server reports as the build.
    pub hash: String,
    /// The object holding the library; `<object>.sig` holds its signature
    /// when `signed`.
    pub object: String,
    /// Whether a `.sig` was published beside it.
    pub signed: bool,
}

/// Which hosts a candidate build is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hosts {
    /// These hosts only (the canaries).
    Only(Vec<String>),
    /// Every host.
    All,
}

/// A build being rolled out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The rollout's id.
    pub rollout: String,
    /// The build.
    pub build: Build,
    /// Which hosts run it now.
    pub hosts: Hosts,
}

/// The value of `desired.<module>`: the promoted build every host runs, and
/// the candidate some hosts run during a rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// The build the fleet promoted last (`None` before the first rollout
    /// completed: each host keeps what it loaded itself).
    pub promoted: Option<Build>,
    /// The build a rollout is moving hosts to.
    pub candidate: Option<Candidate>,
}

impl Desired {
    /// The build `node` should run, with the rollout it belongs to: the
    /// candidate if it is for `node`, else the promoted build.
    pub fn target_for(&self, node: &str) -> Option<(&Build, Option<&str>)> {
        if let Some(c) = &self.candidate {
            let mine = match &c.hosts {
                Hosts::All => true,
                Hosts::Only(hosts) => hosts.iter().any(|h| h == node),
            };
            if mine {
                return Some((&c.build, Some(c.rollout.as_str())));
            }
        }
        self.promoted.as_ref().map(|b| (b, None))
    }
}

/// Where a host's agent is with one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Running the desired build (or the host's own, with none desired).
    Running,
    /// Fetching a build from the object store.
    Fetching,
    /// The code server is upgrading to it.
    Upgrading,
    /// The code server is rolling back to the old version.
    RollingBack,
    /// The last step failed (`error` says why); the running version stays.
    Failed,
}

/// One module on one host, as its agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleReport {
    /// The current version.
    pub version: String,
    /// The current build's hash.
    pub hash: String,
    /// Where the agent is.
    pub step: Step,
    /// The rollout the current step belongs to (none: the promoted build or
    /// the host's own).
    pub rollout: Option<String>,
    /// The last step's error, with its causes.
    pub error: Option<String>,
    /// Messages (casts and calls) the current version handled since the
    /// step that put it there.
    pub handled: u64,
    /// Crashes (exits that were not clean: a handler's panic — a call
    /// whose handler panicked fails by it, and counts here) of its actors
    /// since then.
    pub crashes: u64,
    /// Calls the current version handled since then whose caller got an
    /// error nonetheless: the handler refused the message, or the caller
    /// had gone when the reply was sent (it timed out). The runtime's
    /// per-version `failed_calls`; 0 from an agent that predates it.
    #[serde(default)]
    pub failed_calls: u64,
}

/// The value of `host.<node>`: what a host's agent reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The node.
    pub node: String,
    /// Every module loaded on the host.
    pub modules: BTreeMap<String, ModuleReport>,
    /// When the agent wrote it (its clock, ms since the Unix epoch).
    pub at_unix_ms: u64,
}

/// The value of `lock`: the rollout that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The rollout's id.
    pub rollout: String,
    /// The module it upgrades.
    pub module: String,
    /// Who runs it (a description: node or process).
    pub owner: String,
    /// How long its holder may go without renewing it: a coordinator that
    /// sees the same revision for this long, timed on its own clock, takes
    /// it over.
    pub lease_ms: u64,
}

/// A rollout's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The canaries are upgrading.
    Canary,
    /// The canaries run the new build; their error rate is being judged.
    Baking,
    /// Every other host is upgrading.
    Rest,
    /// Every host runs the new build; it is the promoted one.
    Promoted,
    /// Every host is going back to the version before.
    Aborting,
    /// Aborted; `reason` says why.
    Aborted,
}

/// The value of `rollout.<module>`: the module's last rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Its id.
    pub rollout: String,
    /// The build it rolls out.
    pub build: Build,
    /// Where it is.
    pub phase: Phase,
    /// Its canaries.
    pub canaries: Vec<String>,
    /// Every host it covers.
    pub hosts: Vec<String>,
    /// The canaries' error rate at the last judgement.
    pub error_rate: f64,
    /// Why it was aborted.
    pub reason: Option<String>,
    /// When the coordinator wrote it (ms since the Unix epoch).
    pub at_unix_ms: u64,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
