//! What an upgrade, a rollback or a purge did to the actors.

use crate::actor::ActorId;
use crate::code_server::{LoadReport, ModuleCallError, UnloadWatch};
use std::fmt;
use std::time::Duration;

/// Why one actor could not be moved to another version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The module's `export_state`, `code_change` or `downgrade` failed or
    /// panicked.
    #[error(transparent)]
    Module(Box<ModuleCallError>),
    /// It did not reach a message boundary in time (its handler ran on).
    #[error("did not reach a message boundary within {0:?}")]
    NoBoundary(Duration),
    /// Its migration (`export_state`, then `code_change`) had not finished
    /// when the migration deadline passed.
    #[error("its migration did not finish within {0:?}")]
    Deadline(Duration),
}

/// An actor that could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("actor {actor} of `{module}`: {error}")]
pub struct ActorFailure {
    /// The actor.
    pub actor: ActorId,
    /// Its module.
    pub module: String,
    /// Why.
    #[source]
    pub error: MigrateError,
}

/// The actors that could not be moved, in id order (at least one when an
/// error carries it); its `source` is the first one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorFailures(pub Vec<ActorFailure>);

impl fmt::Display for ActorFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.first() {
            Some(first) => {
                write!(f, "{} actor(s) failed to migrate (first: {first})", self.0.len())
            }
            None => f.write_str("no actor failed"),
        }
    }
}

impl std::error::Error for ActorFailures {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.first().map(|f| f as &(dyn std::error::Error + 'static))
    }
}

impl std::ops::Deref for ActorFailures {
    type Target = [ActorFailure];

    fn deref(&self) -> &[ActorFailure] {
        &self.0
    }
}

/// What an upgrade (or a promote) did.
#[derive(Debug, Clone)]
pub struct UpgradeReport {
    /// What the module table did, per module (empty for a promote).
    pub modules: Vec<LoadReport>,
    /// Actors now on the new version.
    pub migrated: usize,
    /// Actors that could not be moved (gradual, promote), with why.
    pub failed: Vec<ActorFailure>,
    /// Actors still on the old version (a gradual upgrade's non-canaries).
    pub remaining: usize,
    /// From the call to the last actor resumed.
    pub duration: Duration,
    /// The longest time any actor was suspended. An atomic upgrade reads
    /// the clock once per group of 256 actors, so this is its longest
    /// group's pause: never less than any actor's, at most a few µs more.
    pub longest_pause: Duration,
}

impl UpgradeReport {
    pub(super) fn new(modules: Vec<LoadReport>) -> Self {
        UpgradeReport {
            modules,
            migrated: 0,
            failed: Vec::new(),
            remaining: 0,
            duration: Duration::ZERO,
            longest_pause: Duration::ZERO,
        }
    }
}

/// What a rollback (or the abort of a gradual upgrade) did.
#[derive(Debug, Clone)]
pub struct RollbackReport {
    /// The module.
    pub module: String,
    /// The version that was current (now `old`, or gone after an abort).
    pub from: semver::Version,
    /// The version current again.
    pub to: semver::Version,
    /// Actors moved back through `downgrade` (or the older `code_change`).
    pub migrated: usize,
    /// Actors restored from their upgrade snapshot, losing what they
    /// handled since the upgrade (no `downgrade` could write their state).
    pub restored_from_snapshot: usize,
    /// Actors that could be moved by neither (they exited `failed to
    /// migrate`), with why.
    pub failed: Vec<ActorFailure>,
    /// Actors busy in a handler past the rollback's wait: each moves back at
    /// its next message boundary (a `Move` system message).
    pub deferred: usize,
    /// From the call to the last actor resumed.
    pub duration: Duration,
    /// The longest time any actor was suspended.
    pub longest_pause: Duration,
}

impl RollbackReport {
    /// A report of nothing moved yet, from `from` back to `to`.
    pub(crate) fn start(module: &str, from: &semver::Version, to: &semver::Version) -> Self {
        Self {
            module: module.to_owned(),
            from: from.clone(),
            to: to.clone(),
            migrated: 0,
            restored_from_snapshot: 0,
            failed: Vec::new(),
            deferred: 0,
            duration: Duration::ZERO,
            longest_pause: Duration::ZERO,
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone)]
pub struct PurgeReport {
    /// The version dropped, if there was an `old`.
    pub purged: Option<semver::Version>,
    /// Actors that ran it and were stopped (`killed`).
    pub killed: usize,
    /// Instances outside any actor that still ran it when it was dropped
    /// (they keep its library loaded until they end).
    pub instances: usize,
    /// Follows the dropped version until its library is unmapped.
    pub unload: Option<UnloadWatch>,
}
