//! Nothing unwinds across the boundary: every export runs its body here.

use super::{Sink, status};
use crate::ModuleError;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// How an export's body ended, before it becomes a status code.
pub(crate) enum Failure {
    /// The module's own code returned an error.
    Failed(ModuleError),
    /// The input did not decode.
    BadInput(String),
    /// The operation is not provided by this module.
    Unsupported(String),
}

impl From<ModuleError> for Failure {
    fn from(e: ModuleError) -> Self {
        Failure::Failed(e)
    }
}

/// Run `body`, catching any panic, and turn the result into a status code.
/// Error and panic messages are written to `out`.
pub(crate) fn guard(out: &Sink<'_>, body: impl FnOnce() -> Result<(), Failure>) -> i32 {
    // AssertUnwindSafe: after a panic the host treats the instance as crashed
    // and only ever drops its state, which is memory-safe for any Rust value
    // left in whatever state the panic interrupted.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => status::OK,
        Ok(Err(Failure::Failed(e))) => {
            out.write(e.message().as_bytes());
            status::FAILED
        }
        Ok(Err(Failure::BadInput(reason))) => {
            out.write(reason.as_bytes());
            status::BAD_INPUT
        }
        Ok(Err(Failure::Unsupported(reason))) => {
            out.write(reason.as_bytes());
            status::UNSUPPORTED
        }
        Err(payload) => {
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            // Formatting the message cannot panic in a way that matters, but
            // dropping a hostile payload could: never let that unwind out.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            out.write(msg.as_bytes());
            status::PANICKED
        }
    }
}
