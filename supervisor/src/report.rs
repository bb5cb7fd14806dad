//! Supervisor reports (OTP's CRASH and SUPERVISOR REPORTs): collected while
//! a supervisor recovers from a child's exit and emitted as structured
//! tracing events once recovery is done, so logging never slows it.

use crate::GiveUp;
use relive_runtime::{ActorId, EventKind, ExitReason, RollbackReport, UpgradeError};
use std::fmt;
use std::time::Duration;

/// A crash-loop rollback a supervisor made: the host's report of the
/// rollback, and what tripped it.
#[derive(Debug, Clone)]
pub struct CrashLoopRollback {
    /// Crashes counted when the probation policy tripped.
    pub crashes: usize,
    /// The window they fell in.
    pub within: Duration,
    /// What the rollback did (the version that crash-looped is `from`, now
    /// marked bad; `to` runs again).
    pub rollback: RollbackReport,
}

impl fmt::Display for CrashLoopRollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.rollback;
        write!(
            f,
            "{} crashes of children running {} {} within {:?} of probation after its upgrade: \
             rolled back to {}",
            self.crashes, r.module, r.from, self.within, r.to
        )
    }
}

/// What happened during one child exit, reported once recovery is done.
pub(crate) enum Event {
    Crash { child: String, actor: ActorId, reason: ExitReason },
    Restarted { child: String, actor: ActorId },
    Ignored { child: String },
    RestartFailed { child: String, error: relive_runtime::SpawnError },
    GiveUp { child: String, why: GiveUp },
    Rollback(CrashLoopRollback),
    RollbackFailed { module: String, error: UpgradeError },
}

impl Event {
    /// Put a crash, a restart or an escalation on the host's event stream
    /// (issue 15) as supervisor `me`'s, at once: the stream keeps the order
    /// of what happened (a rollback the crash trips comes after it).
    pub(crate) fn emit(&self, host: &relive_runtime::HostHandle, me: Option<ActorId>) {
        let supervisor = me.map_or(0, ActorId::get);
        let kind = match self {
            Event::Crash { child, actor, reason } => EventKind::Crashed {
                supervisor,
                child: child.clone(),
                actor: actor.get(),
                reason: reason.to_string(),
            },
            Event::Restarted { child, actor } => {
                EventKind::Restarted { supervisor, child: child.clone(), actor: actor.get() }
            }
            Event::GiveUp { child, why } => {
                EventKind::Escalated { supervisor, child: child.clone(), reason: why.to_string() }
            }
            _ => return,
        };
        // Only supervisor kinds are built above: this cannot be refused.
        let _ = host.emit_supervisor_event(kind);
    }
}

pub(crate) fn report(events: Vec<Event>) {
    for e in events {
        match e {
            Event::Crash { child, actor, reason } => {
                tracing::warn!(target: "relive::supervisor", child, %actor, %reason, "child crashed");
            }
            Event::Restarted { child, .. } => {
                tracing::info!(target: "relive::supervisor", child, "child restarted");
            }
            Event::Ignored { child } => {
                tracing::info!(target: "relive::supervisor", child, "child start returned ignore");
            }
            Event::RestartFailed { child, error } => {
                tracing::error!(target: "relive::supervisor", child, %error, "restart failed");
            }
            Event::GiveUp { child, why } => {
                tracing::error!(target: "relive::supervisor", child, %why, "supervisor giving up: shutdown");
            }
            Event::Rollback(c) => {
                let r = &c.rollback;
                tracing::error!(
                    target: "relive::supervisor", module = r.module, from = %r.from, to = %r.to,
                    crashes = c.crashes, migrated = r.migrated,
                    restored_from_snapshot = r.restored_from_snapshot, reason = %c,
                    "crash-loop rollback"
                );
            }
            Event::RollbackFailed { module, error } => {
                tracing::error!(target: "relive::supervisor", module, %error, "crash-loop rollback failed");
            }
        }
    }
}
