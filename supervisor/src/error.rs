//! Why a supervisor or one of its children did not start, and why a call on
//! a supervisor failed.

use crate::ChildSpecError;
use relive_runtime::SpawnError;

/// Why a supervisor or a child did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A child spec is invalid; nothing was started.
    #[error(transparent)]
    Spec(#[from] ChildSpecError),
    /// Child `id` failed to start; the children started before it were
    /// stopped in reverse order.
    #[error("child `{id}` failed to start: {source}")]
    Child {
        /// The child.
        id: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// The supervisor's own actor could not be spawned.
    #[error("the supervisor could not start: {0}")]
    Supervisor(#[source] Box<SpawnError>),
    /// The supervisor has exited: it starts nothing any more.
    #[error("the supervisor has exited")]
    SupervisorExited,
}

/// Why a dynamic call on a supervisor failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChildError {
    /// No child with that id.
    #[error("no child `{0}`")]
    NotFound(String),
    /// `delete_child` or `restart_child` of a running child.
    #[error("child `{0}` is running")]
    Running(String),
    /// `restart_child` failed to start it.
    #[error("child `{id}` failed to restart: {source}")]
    Restart {
        /// The child.
        id: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// The supervisor has exited.
    #[error("the supervisor has exited")]
    SupervisorExited,
}
