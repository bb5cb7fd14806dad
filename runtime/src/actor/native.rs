//! Host-native actors: implemented in the host, not reloadable, reached
//! through the same `ActorRef` API as module actors.

use super::ActorId;
use crate::code_server::CallError as ModuleCallError;
use crate::host::HostShared;
use relive_codec::Schema;
use serde::{Serialize, de::DeserializeOwned};

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
    fn on_stop(&mut self, reason: &super::ExitReason, host: &crate::HostHandle) {
        let _ = (reason, host);
    }

    /// A linked actor exited (only when trapping exits).
    fn on_exit(&mut self, from: ActorId, reason: &super::ExitReason, ctx: &mut NativeContext<'_>) {
        let _ = (from, reason, ctx);
    }
}

/// What a native actor's handler can reach.
#[derive(Debug)]
pub struct NativeContext<'a> {
    pub(crate) id: ActorId,
    pub(crate) host: &'a std::sync::Arc<HostShared>,
}

impl NativeContext<'_> {
    /// The running actor's id.
    pub fn id(&self) -> ActorId {
        self.id
    }

    /// The host, to spawn, link, stop and upgrade from a handler.
    pub fn host(&self) -> crate::HostHandle {
        crate::HostHandle::from_shared(std::sync::Arc::clone(self.host))
    }

    /// Exit after this handler returns (a stop system message to itself).
    pub fn stop_self(&mut self, reason: super::ExitReason) {
        if let Some(cell) = self.host.cell(self.id) {
            self.host.send_system(&cell, super::SystemMsg::Stop(reason));
        }
    }
}

/// The untyped face of a native actor, as the worker drives it.
pub(crate) trait NativeHandler: Send {
    fn handle(
        &mut self,
        msg: &[u8],
        reply: &mut Vec<u8>,
        ctx: &mut NativeContext<'_>,
    ) -> Result<(), ModuleCallError>;

    fn on_exit(&mut self, from: ActorId, reason: &super::ExitReason, ctx: &mut NativeContext<'_>);

    fn on_stop(&mut self, reason: &super::ExitReason, host: &crate::HostHandle);
}

/// Adapts a typed [`NativeActor`] to [`NativeHandler`].
pub(crate) struct Typed<N>(pub(crate) N);

fn native_error(function: &'static str, message: String, panicked: bool) -> ModuleCallError {
    let (module, version) = ("native".to_owned(), "-".to_owned());
    if panicked {
        ModuleCallError::Panicked { module, version, function, message }
    } else {
        ModuleCallError::BadInput { module, version, function, message }
    }
}

impl<N: NativeActor> NativeHandler for Typed<N> {
    fn handle(
        &mut self,
        msg: &[u8],
        reply: &mut Vec<u8>,
        ctx: &mut NativeContext<'_>,
    ) -> Result<(), ModuleCallError> {
        let msg: N::Msg =
            relive_codec::decode(msg).map_err(|e| native_error("handle", e.to_string(), false))?;
        let out =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.handle(msg, ctx)))
                .map_err(|p| {
                    let text = p
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "panic with a non-string payload".into());
                    native_error("handle", text, true)
                })?;
        relive_codec::encode_into(&out, reply)
            .map_err(|e| native_error("handle", e.to_string(), false))
    }

    fn on_exit(&mut self, from: ActorId, reason: &super::ExitReason, ctx: &mut NativeContext<'_>) {
        self.0.on_exit(from, reason, ctx);
    }

    fn on_stop(&mut self, reason: &super::ExitReason, host: &crate::HostHandle) {
        let _ =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.on_stop(reason, host)));
    }
}
