//! Why a supervisor or one of its children did not start, and why a call on
//! a supervisor failed.

use crate::{ChildSpecError, FlagsError};
use relive_runtime::{ActorId, SpawnError};

/// Why a supervisor or a child did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A child spec is invalid; nothing was started.
    #[error(transparent)]
    Spec(#[from] ChildSpecError),
    /// The supervisor's flags are invalid; nothing was started (OTP's
    /// `{supervisor_data, _}`).
    #[error(transparent)]
    Flags(#[from] FlagsError),
    /// Child `id` failed to start; the children started before it were
    /// stopped in reverse order.
    #[error("child `{id}` failed to start: {source}")]
    Child {
        /// The child.
        id: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// A child with this id is running, or the name the child registers is
    /// another actor's (OTP's `{already_started, Pid}`).
    #[error("child `{id}` is already started as {actor}")]
    AlreadyStarted {
        /// The child.
        id: String,
        /// The running actor (the child, or the name's holder).
        actor: ActorId,
    },
    /// A child with this id is present but not running (terminated, or
    /// being restarted): OTP's `already_present`. Use `restart_child`.
    #[error("child `{0}` is already present (not running)")]
    AlreadyPresent(String),
    /// A `simple_one_for_one` supervisor needs exactly one child spec, its
    /// template (OTP's `bad_start_spec`); this many were given.
    #[error("a simple_one_for_one supervisor takes exactly one child spec, not {0}")]
    BadStartSpec(usize),
    /// `start_child` with a spec on a `simple_one_for_one` supervisor: its
    /// children start from its template (`start_simple_child`).
    #[error("a simple_one_for_one supervisor starts children from its template")]
    SimpleOneForOne,
    /// `start_simple_child` on a supervisor of another strategy.
    #[error("not a simple_one_for_one supervisor")]
    NotSimpleOneForOne,
    /// The supervisor's own actor could not be spawned.
    #[error("the supervisor could not start: {0}")]
    Supervisor(#[source] Box<SpawnError>),
    /// The supervisor has exited: it starts nothing any more (OTP's
    /// `noproc`).
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
    /// `delete_child` or `restart_child` of a child whose restart failed
    /// and is being retried (OTP's `restarting`).
    #[error("child `{0}` is being restarted")]
    Restarting(String),
    /// `restart_child` failed to start it.
    #[error("child `{id}` failed to restart: {source}")]
    Restart {
        /// The child.
        id: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// A call by id on a `simple_one_for_one` supervisor, whose children
    /// have no ids (OTP's `{error, simple_one_for_one}`).
    #[error("simple_one_for_one children have no ids: address them by actor")]
    SimpleOneForOne,
    /// The supervisor has exited: nothing was done (OTP's `noproc`).
    #[error("the supervisor has exited")]
    SupervisorExited,
}

// issue 20: supervisors adopt
/// Why [`Supervisor::adopt`](crate::Supervisor::adopt) refused an actor.
/// In every case nothing changed: the actor runs on, unsupervised (or
/// under the supervisor it had), its state untouched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdoptError {
    /// The child spec is invalid.
    #[error(transparent)]
    Spec(#[from] ChildSpecError),
    /// The actor has exited: there is nothing to adopt (start it as a
    /// child with `start_child` instead).
    #[error("actor {0} has exited")]
    NotAlive(ActorId),
    /// The actor is a supervisor (this one or any other): a supervisor joins
    /// a tree by being started in it, never adopted (an ancestor adopted as
    /// a descendant would make both wait for each other at shutdown).
    #[error("actor {0} is a supervisor: start it in the tree instead of adopting it")]
    IsSupervisor(ActorId),
    /// Another child of this supervisor has that id.
    #[error("child id `{0}` is taken in this supervisor")]
    IdTaken(String),
    /// The actor is a child of this supervisor already (under `id`).
    #[error("actor {actor} is already child `{id}` of this supervisor")]
    AlreadyChild {
        /// The actor.
        actor: ActorId,
        /// Its child id here.
        id: String,
    },
    /// The actor is a child of another supervisor (one actor, one
    /// supervisor: two would both restart it).
    #[error("actor {actor} is supervised by {supervisor}")]
    Supervised {
        /// The actor.
        actor: ActorId,
        /// The supervisor it is a child of.
        supervisor: ActorId,
    },
    /// The child's start runs another module than the actor: a restart
    /// would replace it with something else.
    #[error("actor {actor} runs {actual}, the child starts {start}")]
    OtherModule {
        /// The actor.
        actor: ActorId,
        /// The module the actor runs (`host-native` for a native actor).
        actual: String,
        /// The module the child's start spawns.
        start: String,
    },
    /// A `simple_one_for_one` supervisor's children all start from its
    /// template (use `start_simple_child`).
    #[error("a simple_one_for_one supervisor adopts no actor")]
    SimpleOneForOne,
    /// The supervisor has exited: nothing was done.
    #[error("the supervisor has exited")]
    SupervisorExited,
}
