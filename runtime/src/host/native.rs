//! Host-native actors: implemented in the host, not reloadable, reached
//! through the same `ActorRef` API as module actors. Supervisors are native
//! actors.
//!
//! A native actor is isolated like a module actor: a panic in `handle` or
//! `on_exit` makes it exit `panicked` (its links and monitors are told), a
//! panic in `on_stop` is logged; none of them reaches the worker thread.

use super::{HostHandle, HostShared};
use crate::actor::{
    ActorId, ExitReason, NativeBody, Panicked, SystemMsg, panic_message, send_system,
};
use crate::code_server::ModuleCallError;
use relive_codec::Schema;
use serde::{Serialize, de::DeserializeOwned};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

/// An actor implemented in the host.
pub trait NativeActor: Send + 'static {
    /// Its messages.
    type Msg: Serialize + DeserializeOwned + Schema + Send;
    /// Its replies.
    type Reply: Serialize + DeserializeOwned + Schema + Send;

    /// Handle one message.
    fn handle(&mut self, msg: Self::Msg, ctx: &mut NativeContext<'_>) -> Self::Reply;

    /// Whether exits of linked actors arrive as [`on_exit`](Self::on_exit)
    /// calls instead of taking this actor down (OTP's `trap_exit`).
    fn trap_exit(&self) -> bool {
        false
    }

    /// This actor is exiting with `reason` (OTP's `terminate`); a supervisor
    /// stops its children here. Runs at most once, on whichever thread makes
    /// the actor exit.
    fn on_stop(&mut self, reason: &ExitReason, host: &HostHandle) {
        let _ = (reason, host);
    }

    /// A linked actor exited (only when trapping exits).
    fn on_exit(&mut self, from: ActorId, reason: &ExitReason, ctx: &mut NativeContext<'_>) {
        let _ = (from, reason, ctx);
    }
}

/// What a native actor's handler can reach.
#[derive(Debug)]
pub struct NativeContext<'a> {
    id: ActorId,
    host: &'a Arc<HostShared>,
}

impl NativeContext<'_> {
    /// The running actor's id.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The host, to spawn, link, stop and upgrade from a handler.
    pub fn host(&self) -> HostHandle {
        HostHandle::from_shared(Arc::clone(self.host))
    }

    /// Exit after this handler returns (a stop system message to itself).
    pub fn stop_self(&mut self, reason: ExitReason) {
        if let Some(cell) = self.host.registry.lookup(self.id) {
            send_system(&**self.host, &cell, SystemMsg::Stop(reason));
        }
    }
}

/// Adapts a typed [`NativeActor`] to the actor layer's [`NativeBody`]. It
/// holds its host weakly: the host's registry holds the actor.
pub(crate) struct Typed<N> {
    actor: N,
    host: Weak<HostShared>,
}

impl<N> Typed<N> {
    pub(crate) fn new(actor: N, host: &Arc<HostShared>) -> Self {
        Typed { actor, host: Arc::downgrade(host) }
    }
}

fn native_error(message: String, panicked: bool) -> ModuleCallError {
    let (module, version, function) = ("native".to_owned(), "-".to_owned(), "handle");
    if panicked {
        ModuleCallError::Panicked { module, version, function, message }
    } else {
        ModuleCallError::BadInput { module, version, function, message }
    }
}

fn gone() -> ModuleCallError {
    native_error("the host is shutting down".into(), false)
}

impl<N: NativeActor> NativeBody for Typed<N> {
    fn handle(
        &mut self,
        id: ActorId,
        msg: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<(), ModuleCallError> {
        let host = self.host.upgrade().ok_or_else(gone)?;
        let msg: N::Msg =
            relive_codec::decode(msg).map_err(|e| native_error(e.to_string(), false))?;
        let mut ctx = NativeContext { id, host: &host };
        let out = catch_unwind(AssertUnwindSafe(|| self.actor.handle(msg, &mut ctx)))
            .map_err(|p| native_error(panic_message(&*p), true))?;
        relive_codec::encode_into(&out, reply).map_err(|e| native_error(e.to_string(), false))
    }

    fn on_exit(&mut self, id: ActorId, from: ActorId, reason: &ExitReason) -> Result<(), Panicked> {
        let Some(host) = self.host.upgrade() else { return Ok(()) };
        let mut ctx = NativeContext { id, host: &host };
        catch_unwind(AssertUnwindSafe(|| self.actor.on_exit(from, reason, &mut ctx)))
            .map_err(|p| Panicked(panic_message(&*p)))
    }

    fn on_stop(&mut self, _id: ActorId, reason: &ExitReason) -> Result<(), Panicked> {
        let Some(host) = self.host.upgrade() else { return Ok(()) };
        let handle = HostHandle::from_shared(host);
        catch_unwind(AssertUnwindSafe(|| self.actor.on_stop(reason, &handle)))
            .map_err(|p| Panicked(panic_message(&*p)))
    }
}
