//! Rollback: `old` becomes current again and every actor on the newer
//! version moves back (see `mod.rs` for the order of what is tried).
//!
//! Bounded: a rollback (a crash-loop rollback runs on its supervisor's
//! worker) never waits for a slow handler of a healthy actor. Idle actors
//! move at once; the actors busy in a turn are then waited for at most
//! [`ROLLBACK_WAIT`] in all; one still in a handler gets a `Move` system
//! message and moves back at its next message boundary (the report counts it
//! as `deferred`).

use super::error::UpgradeError;
use super::migrate::{module_failure, on_version};
use super::report::RollbackReport;
use super::state::Deferred;
use crate::actor::{ActorCell, Body, ExitReason, Instance, SystemMsg, release, send_system, turn};
use crate::code_server::Version;
use crate::host::HostShared;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a rollback waits, in all, for actors busy in a handler before it
/// defers their move to their next message boundary.
pub(crate) const ROLLBACK_WAIT: Duration = Duration::from_millis(100);

/// How long a rollback waits for spawns in flight before it changes the slots.
const SPAWN_WAIT: Duration = Duration::from_secs(5);

impl HostShared {
    pub(crate) fn rollback(
        &self,
        module: &str,
        force: bool,
    ) -> Result<RollbackReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        // No spawn may start on the newer version after the actors on it are
        // listed: hold spawns back while the slots change.
        let gate = self.spawn_gate.close_until(Instant::now() + SPAWN_WAIT).ok_or_else(|| {
            UpgradeError::SpawnsInFlight { module: module.to_owned(), timeout: SPAWN_WAIT }
        })?;
        let (older, newer) = self.table.make_old_current(module, force)?;
        self.upgrades.gradual.lock().remove(module);
        let actors = self.registry.actors_of_where(module, |s| s != newer.serial());
        drop(gate);
        let mut report = RollbackReport::start(module, newer.version(), older.version());
        // Idle actors first, without waiting; then the busy ones, all within
        // one short wait; whoever is still in a handler moves later.
        let mut busy = Vec::new();
        for cell in actors {
            let Some(mut body) = cell.body.try_lock() else {
                busy.push(cell);
                continue;
            };
            let paused = Instant::now();
            self.roll_back_held(&cell, &mut body, &newer, &older, &mut report);
            report.longest_pause = report.longest_pause.max(paused.elapsed());
            release(self, &cell, body);
        }
        let deadline = Instant::now() + ROLLBACK_WAIT;
        for cell in busy {
            match cell.suspend_until(deadline) {
                Some(mut body) => {
                    let paused = Instant::now();
                    self.roll_back_held(&cell, &mut body, &newer, &older, &mut report);
                    report.longest_pause = report.longest_pause.max(paused.elapsed());
                    release(self, &cell, body);
                }
                None => {
                    let to = Deferred { newer: Arc::clone(&newer), older: Arc::clone(&older) };
                    self.upgrades.deferred.lock().insert(cell.id, to);
                    send_system(self, &cell, SystemMsg::Move);
                    report.deferred += 1;
                }
            }
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// A deferred move, at the actor's first message boundary after it was
    /// asked for (`body` is its locked body).
    pub(crate) fn apply_deferred_move(&self, cell: &Arc<ActorCell>, body: &mut Body) {
        let Some(to) = self.upgrades.deferred.lock().remove(&cell.id) else { return };
        let module = cell.module.as_deref().unwrap_or("");
        let mut report = RollbackReport::start(module, to.newer.version(), to.older.version());
        self.roll_back_held(cell, body, &to.newer, &to.older, &mut report);
        tracing::info!(actor = %cell.id, module = report.module, to = %report.to,
            migrated = report.migrated, restored_from_snapshot = report.restored_from_snapshot,
            failed = report.failed.len(), "deferred rollback of one actor done");
    }

    /// Move one actor, whose body is held, from `newer` back to `older`:
    /// `downgrade`, else the older version's `code_change`, else the upgrade
    /// snapshot, else it exits (`failed to migrate`).
    fn roll_back_held(
        &self,
        cell: &Arc<ActorCell>,
        body: &mut Body,
        newer: &Arc<Version>,
        older: &Arc<Version>,
        report: &mut RollbackReport,
    ) {
        if on_version(body, newer).is_none() {
            return;
        }
        let Body::Module(inst) = std::mem::replace(body, Body::Exited(ExitReason::Normal)) else {
            unreachable!("checked above")
        };
        let snapshot = self
            .upgrades
            .snapshots
            .lock()
            .get(cell.module.as_deref().unwrap_or(""))
            .and_then(|m| m.snapshot(cell.id));
        // The newer version writes the older state (`downgrade`), or the
        // older version reads the newer state as it is (equal schemas, or
        // listed in its `READS`); only when neither works does the actor
        // lose what it did since the upgrade, restored from its snapshot.
        let back = if inst.version().can_downgrade_to(older.schemas().state) {
            inst.downgrade(older)
        } else {
            inst.code_change(older, &[])
        };
        match back {
            Ok(back) => {
                self.set_instance(cell, body, back);
                report.migrated += 1;
            }
            Err(failed) => {
                let from_snapshot = snapshot
                    .filter(|s| s.schema == older.schemas().state)
                    .map(|s| Instance::restore(older, &s, &[]));
                match from_snapshot {
                    Some(Ok(back)) => {
                        self.set_instance(cell, body, back);
                        report.restored_from_snapshot += 1;
                    }
                    _ => {
                        let reason = ExitReason::FailedToMigrate(failed.error.to_string());
                        report.failed.push(module_failure(cell, failed.error));
                        *body = Body::Module(failed.instance);
                        turn::exit(self, cell, body, reason);
                    }
                }
            }
        }
    }
}
