//! Stopping an actor within a bound, whatever its handler does.
//!
//! A Rust handler cannot be pre-empted. An actor is stopped at its next
//! message boundary; when its handler overruns the kill timeout
//! (`HostBuilder::kill_timeout`), the actor is marked killed and leaves the
//! registry at once, its queued callers get the exit reason, its links and
//! monitors are told, the handler's result is discarded when it returns, and
//! the worker it occupies is replaced so that the host keeps N runnable
//! workers (docs/semantics.md, "Handlers that never return").

use super::HostShared;
use crate::actor::{
    ActorCell, ActorId, Body, ExitReason, SystemMsg, link, release, send_system, turn,
};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Which actor each worker is running: one cell per worker, written by the
/// worker at the start and end of each turn, read by a kill that overran.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    by_worker: RwLock<HashMap<u64, Arc<AtomicU64>>>,
}

thread_local! {
    /// This worker's cell in its host's `Turns`, with the host it belongs to.
    static MINE: std::cell::RefCell<Option<(usize, Arc<AtomicU64>)>> =
        const { std::cell::RefCell::new(None) };
    /// This worker handed its place to a fresh one ([`HostShared::compensate`])
    /// and leaves after its turn.
    static HANDED_OVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling worker handed its place over and leaves after its
/// turn (its entry in `Turns` is then forgotten).
pub(crate) fn handed_over() -> bool {
    HANDED_OVER.with(std::cell::Cell::get)
}

impl Turns {
    /// The calling worker (`token`) now runs `actor` (0: none). `host` tells
    /// hosts apart (a process may run several).
    pub(crate) fn record(&self, host: usize, token: u64, actor: u64) {
        MINE.with(|m| {
            let mut m = m.borrow_mut();
            let cell = match &*m {
                Some((h, cell)) if *h == host => Arc::clone(cell),
                _ => {
                    let cell = Arc::clone(self.by_worker.write().entry(token).or_default());
                    *m = Some((host, Arc::clone(&cell)));
                    cell
                }
            };
            // ORDERING: Relaxed: a hint for a kill that waited past its
            // timeout; a stale value at worst replaces a worker needlessly
            // or misses one (the stuck one is then replaced on the next try).
            cell.store(actor, Ordering::Relaxed);
        });
    }

    /// The worker running `actor`, if any.
    pub(crate) fn worker_of(&self, actor: ActorId) -> Option<u64> {
        self.by_worker
            .read()
            .iter()
            // ORDERING: as in `record`.
            .find(|(_, a)| a.load(Ordering::Relaxed) == actor.get())
            .map(|(token, _)| *token)
    }

    /// Forget a worker that left.
    pub(crate) fn forget(&self, token: u64) {
        self.by_worker.write().remove(&token);
    }
}

/// How a kill went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Killed {
    /// At a message boundary.
    AtBoundary,
    /// With its handler still running, past the kill timeout.
    Overrun,
    /// Not at all: at its boundary it did not match what was to be killed.
    Spared,
}

impl HostShared {
    /// Make `cell` exit with `reason` at its next message boundary, waiting
    /// at most the kill timeout; past it, kill it with its handler running
    /// (see the module docs). True if it exited at a boundary.
    pub(crate) fn kill(&self, cell: &Arc<ActorCell>, reason: ExitReason) -> bool {
        self.kill_if(cell, reason, |_| true) == Killed::AtBoundary
    }

    /// [`kill`](Self::kill), if `doomed` says so of its body at the
    /// boundary (a body held past the timeout is taken as doomed: the
    /// caller found it through an index that said so).
    pub(crate) fn kill_if(
        &self,
        cell: &Arc<ActorCell>,
        reason: ExitReason,
        doomed: impl FnOnce(&Body) -> bool,
    ) -> Killed {
        let deadline = Instant::now() + self.kill_timeout;
        self.kill_by(cell, reason.clone(), deadline, reason, doomed)
    }

    /// Make `cell` exit with `reason` at its next message boundary if that
    /// comes before `deadline`; past it, kill it with its handler running,
    /// with `overrun` as its reason (a supervisor's shutdown timeout:
    /// `shutdown`, then `killed`).
    pub(crate) fn kill_within(
        &self,
        cell: &Arc<ActorCell>,
        reason: ExitReason,
        deadline: Instant,
        overrun: ExitReason,
    ) -> Killed {
        self.kill_by(cell, reason, deadline, overrun, |_| true)
    }

    fn kill_by(
        &self,
        cell: &Arc<ActorCell>,
        reason: ExitReason,
        deadline: Instant,
        overrun: ExitReason,
        doomed: impl FnOnce(&Body) -> bool,
    ) -> Killed {
        match cell.suspend_until(deadline) {
            Some(body) if !doomed(&body) => {
                release(self, cell, body);
                Killed::Spared
            }
            // issue 14: gen_server
            // A module with a `terminate` runs it on its own turn (a worker),
            // so that this wait keeps its bound: past it, the actor is
            // killed with `terminate` still running.
            Some(body) if has_terminate(&body, &reason) => {
                self.compensate();
                let exited = link::monitor(cell);
                send_system(self, cell, SystemMsg::Stop(reason));
                release(self, cell, body);
                match exited.recv_deadline(deadline) {
                    Ok(_) => Killed::AtBoundary,
                    // No turn took it up in time (every worker busy): its
                    // `terminate` never started, so it exits here, killed,
                    // and its state goes now.
                    Err(_) => match cell.suspend_until(Instant::now()) {
                        Some(body) => self.exit_here(cell, body, overrun),
                        None => self.overrun(cell, overrun),
                    },
                }
            }
            Some(body) => self.exit_here(cell, body, reason),
            None => self.overrun(cell, overrun),
        }
    }

    /// Make `cell`, whose body the caller holds, exit with `reason` now.
    fn exit_here(
        &self,
        cell: &Arc<ActorCell>,
        mut body: parking_lot::MutexGuard<'_, Body>,
        reason: ExitReason,
    ) -> Killed {
        turn::exit(self, cell, &mut body, reason);
        // A turn that found the body locked meanwhile left it to us.
        release(self, cell, body);
        Killed::AtBoundary
    }

    /// A worker about to wait for another actor's turn (its `terminate`)
    /// would leave one worker fewer to run it — none, when every worker
    /// waits so, or on a one-worker host. It hands its place to a fresh
    /// worker first and leaves once its own turn ends (what tokio's
    /// `block_in_place` does); a worker already leaving does not again.
    fn compensate(&self) {
        let scheduler = self.scheduler_shared();
        let token = scheduler.current_worker();
        if token != 0 && scheduler.replace(token) {
            HANDED_OVER.with(|h| h.set(true));
            tracing::debug!(worker = token, "a worker waiting on a stop handed its place over");
        }
    }

    /// Kill `cell` with its handler running (see the module docs).
    fn overrun(&self, cell: &Arc<ActorCell>, reason: ExitReason) -> Killed {
        turn::exit_overrun(self, cell, reason);
        if let Some(token) = self.turns.worker_of(cell.id)
            && self.scheduler_shared().replace(token)
        {
            self.turns.forget(token);
            tracing::warn!(actor = %cell.id, worker = token,
                "the worker stuck in that handler was replaced");
        }
        Killed::Overrun
    }
}

// issue 14: gen_server
/// Whether stopping `body` with `reason` runs a module's `terminate` (not
/// on a kill; not for a module built before `terminate` existed, which
/// keeps exiting at once on the stopper's thread).
pub(crate) fn has_terminate(body: &Body, reason: &ExitReason) -> bool {
    *reason != ExitReason::Killed && matches!(body, Body::Module(i) if i.has_terminate())
}
