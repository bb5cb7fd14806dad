//! Rollback: `old` becomes current again and every actor on the newer
//! version moves back (see `mod.rs` for the order of what is tried).

use super::error::UpgradeError;
use super::migrate::{module_failure, on_version};
use super::report::RollbackReport;
use crate::actor::{ActorCell, Body, ExitReason, Instance, release, turn};
use crate::code_server::Version;
use crate::host::HostShared;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl HostShared {
    pub(crate) fn rollback(&self, module: &str) -> Result<RollbackReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        let (older, newer) = self.table.make_old_current(module)?;
        self.upgrades.gradual.lock().remove(module);
        let mut report = RollbackReport {
            module: module.to_owned(),
            from: newer.version().clone(),
            to: older.version().clone(),
            migrated: 0,
            restored_from_snapshot: 0,
            failed: Vec::new(),
            duration: Duration::ZERO,
            longest_pause: Duration::ZERO,
        };
        for cell in self.registry.actors_of_where(module, |s| s != newer.serial()) {
            self.roll_back_one(&cell, &newer, &older, &mut report);
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Move one actor on `newer` back to `older`: `downgrade`, else the
    /// older version's `code_change`, else the upgrade snapshot, else it
    /// exits (`failed to migrate`).
    fn roll_back_one(
        &self,
        cell: &Arc<ActorCell>,
        newer: &Arc<Version>,
        older: &Arc<Version>,
        report: &mut RollbackReport,
    ) {
        let mut body = cell.suspend();
        let paused = Instant::now();
        if on_version(&body, newer).is_some() {
            let Body::Module(inst) =
                std::mem::replace(&mut *body, Body::Exited(ExitReason::Normal))
            else {
                unreachable!("checked above")
            };
            let snapshot = self
                .upgrades
                .snapshots
                .lock()
                .get(cell.module.as_deref().unwrap_or(""))
                .and_then(|m| m.get(&cell.id).cloned());
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
                    self.set_instance(cell, &mut body, back);
                    report.migrated += 1;
                }
                Err(failed) => {
                    let from_snapshot = snapshot
                        .filter(|s| s.schema == older.schemas().state)
                        .map(|s| Instance::restore(older, &s, &[]));
                    match from_snapshot {
                        Some(Ok(back)) => {
                            self.set_instance(cell, &mut body, back);
                            report.restored_from_snapshot += 1;
                        }
                        _ => {
                            let reason = ExitReason::FailedToMigrate(failed.error.to_string());
                            report.failed.push(module_failure(cell, failed.error));
                            *body = Body::Module(failed.instance);
                            turn::exit(self, cell, &mut body, reason);
                        }
                    }
                }
            }
            report.longest_pause = report.longest_pause.max(paused.elapsed());
        }
        release(self, cell, body);
    }
}
