//! Why an upgrade, a promote, an abort or a rollback did not happen.

use super::report::ActorFailures;
use crate::actor::ActorId;
use crate::code_server::{LoadError, RollbackError};
use std::time::Duration;

/// Why an upgrade (or promote, abort, rollback) did not happen. In every
/// case nothing changed: every actor runs its old version with its exact
/// old state, no mail was lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// A new version was refused by the loader or the module table.
    #[error(transparent)]
    Refused(#[from] LoadError),
    /// A migration failed or panicked; every actor was restored.
    #[error("upgrade aborted: {failed}")]
    MigrationFailed {
        /// The actors whose migration failed, with why.
        #[source]
        failed: ActorFailures,
    },
    /// An actor did not reach a message boundary in time.
    #[error(
        "upgrade aborted: actor {actor} of `{module}` did not reach a message boundary within {timeout:?}"
    )]
    SuspendTimeout {
        /// The actor.
        actor: ActorId,
        /// Its module.
        module: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Spawns of one of the modules were still running (an `init` taking
    /// long) when the suspend timeout passed.
    #[error("upgrade aborted: spawns of `{module}` did not finish within {timeout:?}")]
    SpawnsInFlight {
        /// The module.
        module: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Rollback refused.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// `promote` or `abort` without a gradual upgrade in progress.
    #[error("no gradual upgrade of `{0}` in progress")]
    NoGradualUpgrade(String),
}
