//! OTP's `sys` for relive actors (issue 14): [`HostHandle::sys`] gives a
//! [`Sys`], whose calls suspend and resume an actor, show and replace its
//! state as JSON (rendered and parsed by its module), count what it did and
//! keep a bounded trace of its messages.
//!
//! Every call that needs the actor's body is a system message the actor
//! applies on its own turn at a message boundary (`actor::sys`), answered
//! within the [`Sys`]'s timeout (default: the host's kill timeout): a stuck
//! actor is a [`SysError::Timeout`], never a hang.

use super::HostHandle;
use crate::actor::sys::{SysAnswer, SysOp, SysRefused, SysRequest, TraceRing};
use crate::actor::{ActorCell, ActorId, AnyActor, SystemMsg, TraceEvent, send_system};
use crate::code_server::ModuleCallError;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The ring size of [`Sys::trace`] when none is given (OTP's `sys:log`
/// keeps the last 10 events).
pub const DEFAULT_TRACE_EVENTS: usize = 10;

/// Why a `sys` call did not happen. The actor keeps running and its state is
/// unchanged; after a [`Timeout`](SysError::Timeout) the request is dropped
/// when the actor gets to it (only one the actor took up in the very instant
/// the wait ended may still have taken effect).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysError {
    /// The actor is not running (exited, or exited while the call waited).
    #[error("actor {0} is not running (noproc)")]
    NoProc(ActorId),
    /// A host-native actor (a supervisor…) has no module state to show.
    #[error("actor {0} is a host-native actor: it has no module state")]
    NotAModule(ActorId),
    /// The actor did not reach a message boundary and answer in time (a
    /// handler still running, or a body held by an upgrade).
    #[error("actor {actor} did not answer within {after:?}")]
    Timeout {
        /// The actor.
        actor: ActorId,
        /// How long the call waited.
        after: Duration,
    },
    /// The module's `sys` function refused (a state that does not decode,
    /// or that its `validate` rejects), failed, panicked, or is missing (a
    /// module built before `sys`: [`ModuleCallError::Unsupported`]). OTP's
    /// `callback_failed`.
    #[error("actor {actor}: {source}")]
    Module {
        /// The actor.
        actor: ActorId,
        /// What the module said.
        #[source]
        source: ModuleCallError,
    },
    /// Asked from inside a handler (a worker thread), where waiting for
    /// an actor would block the worker (as `CallError::FromHandler`).
    #[error("a sys call on actor {0} from inside a handler would block a worker")]
    FromHandler(ActorId),
    /// What the module rendered as its state is not JSON.
    #[error("actor {actor}: the module's state is not valid JSON")]
    NotJson {
        /// The actor.
        actor: ActorId,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

/// What an actor did (OTP's `sys:statistics`), counted since it started
/// (always on: cheap relaxed counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// Messages it handled (casts and calls; OTP's `messages_in`).
    pub messages_in: u64,
    /// Replies it sent, and messages its handlers sent (OTP's
    /// `messages_out`).
    pub messages_out: u64,
    /// Turns it ran, each at most a batch of messages (the closest to OTP's
    /// `reductions`).
    pub turns: u64,
    /// Mail waiting now.
    pub mailbox_len: usize,
    /// Whether `sys` suspended it.
    pub suspended: bool,
}

/// OTP's `sys` on this host's actors, with a bound on every wait.
#[derive(Debug, Clone)]
pub struct Sys<'a> {
    host: &'a HostHandle,
    timeout: Duration,
}

impl HostHandle {
    /// OTP's `sys` on this host's actors; waits are bounded by the host's
    /// kill timeout unless [`Sys::timeout`] says otherwise.
    pub fn sys(&self) -> Sys<'_> {
        Sys { host: self, timeout: self.shared().kill_timeout }
    }
}

impl Sys<'_> {
    /// Wait at most `t` for an actor to answer (OTP's `Timeout` argument).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    fn live(&self, actor: &AnyActor) -> Result<Arc<ActorCell>, SysError> {
        if actor.cell.is_exited() {
            return Err(SysError::NoProc(actor.cell.id));
        }
        Ok(Arc::clone(&actor.cell))
    }

    /// Ask the actor to apply `op` on its turn and wait for the answer.
    fn ask(&self, actor: &AnyActor, op: SysOp) -> Result<SysAnswer, SysError> {
        let cell = self.live(actor)?;
        let id = cell.id;
        if crate::actor::System::on_worker(&**self.host.shared()) {
            return Err(SysError::FromHandler(id));
        }
        let (tx, rx) = oneshot::channel();
        send_system(&**self.host.shared(), &cell, SystemMsg::Sys(SysRequest { op, reply: tx }));
        let deadline = Instant::now() + self.timeout;
        match rx.recv_deadline(deadline) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(SysRefused::NotAModule)) => Err(SysError::NotAModule(id)),
            Ok(Err(SysRefused::Module(source))) => Err(SysError::Module { actor: id, source }),
            // The request was dropped unanswered: the actor exited.
            Err(oneshot::RecvTimeoutError::Disconnected) => Err(SysError::NoProc(id)),
            Err(oneshot::RecvTimeoutError::Timeout) => {
                Err(SysError::Timeout { actor: id, after: self.timeout })
            }
        }
    }

    /// Suspend the actor at its next message boundary (OTP's `sys:suspend`):
    /// when this returns it handles no more mail — which stays queued, in
    /// order — until [`resume`](Self::resume); system messages (stop, link
    /// exits, `sys` calls) still apply. Suspending a suspended actor is no
    /// error.
    ///
    /// # Errors
    /// [`SysError::NoProc`], [`SysError::Timeout`], [`SysError::FromHandler`]
    /// (every call that waits for the actor refuses so from a handler).
    ///
    /// # Upgrade behaviour
    /// An upgrade migrates a suspended actor as any other; it stays
    /// suspended on the new version.
    pub fn suspend(&self, actor: &AnyActor) -> Result<(), SysError> {
        self.ask(actor, SysOp::Suspend).map(drop)
    }

    /// Let a suspended actor take mail again (OTP's `sys:resume`); its
    /// queued mail is handled in order. Resuming a running actor is no error.
    ///
    /// # Errors
    /// [`SysError::NoProc`], [`SysError::Timeout`].
    pub fn resume(&self, actor: &AnyActor) -> Result<(), SysError> {
        self.ask(actor, SysOp::Resume).map(drop)
    }

    /// The actor's state as JSON, rendered by its module on the actor's own
    /// turn (OTP's `sys:get_state`); works while it is suspended.
    ///
    /// # Errors
    /// [`SysError::NoProc`], [`SysError::NotAModule`], [`SysError::Timeout`],
    /// [`SysError::Module`] (failed, panicked, or a module built before
    /// `sys`), [`SysError::NotJson`].
    pub fn get_state(&self, actor: &AnyActor) -> Result<serde_json::Value, SysError> {
        match self.ask(actor, SysOp::GetState)? {
            SysAnswer::State(json) => parse(actor.cell.id, &json),
            other => unreachable!("get_state answered {other:?}"),
        }
    }

    /// Replace the actor's state with `state`, which its module decodes and
    /// validates (`Module::validate`) on the actor's own turn (OTP's
    /// `sys:replace_state`); returns the new state as the module shows it.
    /// Works while it is suspended.
    ///
    /// # Errors
    /// As [`get_state`](Self::get_state); [`SysError::Module`] with
    /// [`ModuleCallError::BadInput`] when `state` does not decode as the
    /// module's state, [`ModuleCallError::Failed`] when `validate` refused
    /// it. On every error the state is unchanged and the actor keeps running.
    pub fn replace_state(
        &self,
        actor: &AnyActor,
        state: &serde_json::Value,
    ) -> Result<serde_json::Value, SysError> {
        match self.ask(actor, SysOp::ReplaceState(state.to_string()))? {
            SysAnswer::State(json) => parse(actor.cell.id, &json),
            other => unreachable!("replace_state answered {other:?}"),
        }
    }

    /// What the actor did (OTP's `sys:statistics(Pid, get)`): read from its
    /// counters, without waiting for it.
    ///
    /// # Errors
    /// [`SysError::NoProc`].
    pub fn statistics(&self, actor: &AnyActor) -> Result<Statistics, SysError> {
        let cell = self.live(actor)?;
        // ORDERING: statistics.
        Ok(Statistics {
            messages_in: cell.handled.load(Ordering::Relaxed),
            messages_out: cell.sent.load(Ordering::Relaxed),
            turns: cell.turns.load(Ordering::Relaxed),
            mailbox_len: cell.mailbox.len(),
            suspended: crate::actor::sys::is_suspended(&cell),
        })
    }

    /// Start keeping the last `events` messages in and out of the actor
    /// (OTP's `sys:log(Pid, {true, N})`; at least one), or resize the ring if
    /// it is already traced. Read it with [`trace_log`](Self::trace_log).
    ///
    /// # Errors
    /// [`SysError::NoProc`].
    pub fn trace(&self, actor: &AnyActor, events: usize) -> Result<(), SysError> {
        let cell = self.live(actor)?;
        let mut ring = cell.trace.lock();
        match ring.as_mut() {
            Some(r) => r.resize(events),
            None => *ring = Some(Box::new(TraceRing::new(events))),
        }
        // ORDERING: a switch read per message; the ring's lock orders events.
        cell.tracing.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stop tracing the actor and drop its events (OTP's `sys:log(Pid,
    /// false)`); a no-op if it was not traced.
    ///
    /// # Errors
    /// [`SysError::NoProc`].
    pub fn untrace(&self, actor: &AnyActor) -> Result<(), SysError> {
        let cell = self.live(actor)?;
        let mut ring = cell.trace.lock();
        // ORDERING: as in `trace`.
        cell.tracing.store(false, Ordering::Relaxed);
        *ring = None;
        Ok(())
    }

    /// The traced events, oldest first, rendered as JSON by the actor's
    /// module on its own turn (OTP's `sys:log(Pid, get)`); `None` when it is
    /// not traced.
    ///
    /// # Errors
    /// [`SysError::NoProc`], [`SysError::Timeout`].
    pub fn trace_log(&self, actor: &AnyActor) -> Result<Option<Vec<TraceEvent>>, SysError> {
        match self.ask(actor, SysOp::GetTrace)? {
            SysAnswer::Trace(events) => Ok(events),
            other => unreachable!("trace_log answered {other:?}"),
        }
    }
}

fn parse(actor: ActorId, json: &str) -> Result<serde_json::Value, SysError> {
    serde_json::from_str(json).map_err(|source| SysError::NotJson { actor, source })
}
