//! `OffThread<T>`: the future of a code-server operation run on a thread of
//! its own (`CodeServer::upgrade_async` and the like), so an async service
//! awaits an upgrade without blocking its executor and without tokio's
//! `spawn_blocking` (the runtime depends on no executor).
//!
//! The operation runs on a plain `std` thread named `relive-code-op`; its
//! result comes back through a `oneshot` channel, whose async receiver wakes
//! the awaiting task. A panic of the operation is carried back and resumed
//! in the awaiting task, as the blocking form would have panicked in its
//! caller.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The future of an `*_async` code-server operation
/// ([`CodeServer::upgrade_async`](crate::CodeServer::upgrade_async), …):
/// the blocking operation runs on a thread of its own, the awaiting task
/// only polls a channel. Dropping it does not cancel the operation (an
/// upgrade that has begun completes or restores, as its blocking form);
/// its result is then dropped.
#[derive(Debug)]
#[must_use = "the operation runs either way; await it to learn its result"]
pub struct OffThread<T> {
    rx: oneshot::AsyncReceiver<std::thread::Result<T>>,
}

impl<T: Send + 'static> OffThread<T> {
    /// Run `op` on a new thread.
    ///
    /// # Panics
    /// If the operating system refuses a thread (as `std::thread::spawn`).
    pub(crate) fn spawn(op: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = oneshot::async_channel();
        std::thread::Builder::new()
            .name("relive-code-op".into())
            .spawn(move || {
                // The awaiting task may be gone: then the result is dropped.
                let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(op)));
            })
            .expect("spawn a thread for a code-server operation");
        OffThread { rx }
    }
}

impl<T> Future for OffThread<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.rx).poll(cx).map(|r| match r {
            Ok(Ok(value)) => value,
            Ok(Err(payload)) => panic::resume_unwind(payload),
            // The thread always sends before it ends (catch_unwind above).
            Err(oneshot::RecvError) => {
                unreachable!("the operation's thread ended without a result")
            }
        })
    }
}
