//! What the actor layer needs from the layer that composes it.
//!
//! Actors are run, found and retired by someone above this layer (the host).
//! Rather than import it, this layer names what it needs as a trait, which
//! the host implements and passes down: a run queue, the registry, and the
//! notices an exit gives. Everything that plugs into an actor's life later
//! (events, metrics) goes through here.

use super::{ActorCell, ActorId, ExitReason};
use crate::code_server::{Interface, TypeMismatch};
use std::sync::Arc;

/// The services an actor needs from the system it runs in.
pub(crate) trait System: Send + Sync + 'static {
    /// Put `cell`, which the caller just moved to `SCHEDULED`, on a run queue.
    fn schedule(&self, cell: Arc<ActorCell>);

    /// Whether the calling thread is one of the system's workers (so a
    /// handler is running here, and must never block).
    fn on_worker(&self) -> bool;

    /// For a blocking call from a host thread that just made `cell`
    /// runnable (moved it to `SCHEDULED`): run the actor's turn on this
    /// thread instead of waking a worker. `None` when this system does not
    /// run turns inline (the caller then schedules it); otherwise whether
    /// the actor must be requeued.
    fn run_inline(&self, cell: &Arc<ActorCell>) -> Option<bool>;

    /// The live actor with this id.
    fn lookup(&self, id: ActorId) -> Option<Arc<ActorCell>>;

    /// `cell` is exiting with `reason`: take it out of every index (its
    /// registered name, `name`, included) and tell whatever else waited on
    /// it (callers whose replies it deferred). Called before its monitors
    /// and links hear of the exit, so none of them can still find it.
    fn retire(&self, cell: &ActorCell, name: Option<String>, reason: &ExitReason);

    /// `n` casts will never be handled (their actor exited).
    fn dead_letters(&self, n: u64);

    /// A `Move` system message: the system asked for `cell` to move to
    /// another version at its next message boundary, which is now (`body`
    /// is its locked body).
    fn deferred_move(&self, cell: &Arc<ActorCell>, body: &mut super::Body);

    // issue 15: interfaces that grow
    /// A caller types module actor `cell` with the message and reply types
    /// of `interface`: check them against its module's current version
    /// (compatible: one a prefix of the other) and record them among the
    /// types callers use, which every later version is checked against.
    fn caller_types(&self, cell: &ActorCell, interface: Interface) -> Result<(), TypeMismatch>;
}
