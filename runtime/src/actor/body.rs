//! What an actor runs: a module instance or a host-native handler.

use super::{ActorId, ExitReason, Instance};
use crate::code_server::ModuleCallError;
use std::fmt;

/// What an actor runs. Only ever touched under the actor's body lock.
pub(crate) enum Body {
    /// A module instance (its state and the version it runs).
    Module(Instance),
    /// A host-native handler.
    Native(Box<dyn NativeBody>),
    /// Gone.
    Exited(ExitReason),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Module(i) => f.debug_tuple("Module").field(&i.version().version()).finish(),
            Body::Native(_) => f.write_str("Native"),
            Body::Exited(r) => f.debug_tuple("Exited").field(r).finish(),
        }
    }
}

/// A panic caught inside a native handler, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Panicked(pub(crate) String);

/// The untyped face of a host-native actor, as a turn drives it. The layer
/// that defines native actors (the host) implements it; every method catches
/// the handler's panics, so a turn survives any of them.
pub(crate) trait NativeBody: Send {
    /// Handle one encoded message, writing the encoded reply to `reply`.
    fn handle(
        &mut self,
        id: ActorId,
        msg: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<(), ModuleCallError>;

    /// A linked actor exited (the actor traps exits).
    fn on_exit(&mut self, id: ActorId, from: ActorId, reason: &ExitReason) -> Result<(), Panicked>;

    /// The actor is exiting with `reason` (runs once).
    fn on_stop(&mut self, id: ActorId, reason: &ExitReason) -> Result<(), Panicked>;
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}
