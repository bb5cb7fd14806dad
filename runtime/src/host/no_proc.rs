//! `NoProc`: a stop of an actor that had already exited (OTP's `noproc`).

use crate::actor::ActorId;

/// The actor to stop had already exited: nothing was done (OTP's `noproc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("actor {0} has already exited")]
pub struct NoProc(pub ActorId);
