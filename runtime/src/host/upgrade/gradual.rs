//! The gradual upgrade: the new version becomes current, a canary share of
//! the actors migrates one at a time, both versions serve until `promote`
//! (the rest migrate) or `abort` (the canaries go back).

use super::error::UpgradeError;
use super::options::{Canary, UpgradeOptions};
use super::report::{RollbackReport, UpgradeReport};
use super::state::Gradual;
use crate::code_server::Source;
use crate::host::HostShared;
use std::time::{Duration, Instant};

/// How long `promote` waits for each remaining actor to reach a boundary.
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(5);

impl HostShared {
    pub(crate) fn upgrade_gradual(
        &self,
        module: &str,
        source: Source,
        canary: Canary,
        opts: &UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        let prepared = self.table.prepare(module, source, opts.load())?;
        if opts.purge {
            self.kill_others(module, prepared.running.as_ref());
        }
        let (from, to) = (prepared.running.clone(), std::sync::Arc::clone(&prepared.new));
        let loaded = self.table.commit(prepared).map_err(crate::code_server::LoadError::from)?;
        let mut report = UpgradeReport::new(vec![loaded]);
        let Some(from) = from else {
            report.duration = started.elapsed();
            return Ok(report);
        };
        let actors = self.registry.actors_of(module);
        let n = match canary {
            Canary::Count(n) => n,
            Canary::Percent(p) => (actors.len() * p.min(100) as usize).div_ceil(100),
        }
        .min(actors.len());
        let mut canaries = Vec::with_capacity(n);
        let deadline = Instant::now() + opts.suspend_timeout;
        for cell in &actors[..n] {
            match self.migrate_one(cell, &from, &to, &opts.extra, deadline, opts.suspend_timeout) {
                Ok(Some(pause)) => {
                    opts.tick();
                    report.migrated += 1;
                    report.longest_pause = report.longest_pause.max(pause);
                    canaries.push(cell.id);
                }
                Ok(None) => {}
                Err(f) => report.failed.push(f),
            }
        }
        report.remaining = actors.len() - report.migrated;
        // issue 17: functions — `Percent` is also the share of calls;
        // `Count` gives calls the share of actors that moved.
        let function_share = match canary {
            Canary::Percent(p) => p.min(100),
            Canary::Count(_) if actors.is_empty() => 0,
            Canary::Count(_) => ((canaries.len() * 100).div_ceil(actors.len())) as u32,
        };
        // issue 15: lifecycle
        self.emit_migrated(module, &to, canaries.iter().map(|id| id.get()).collect());
        self.upgrades
            .gradual
            .lock()
            .insert(module.to_owned(), Gradual { canaries, function_share });
        report.duration = started.elapsed();
        Ok(report)
    }

    pub(crate) fn promote(&self, module: &str) -> Result<UpgradeReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        if self.upgrades.gradual.lock().remove(module).is_none() {
            return Err(UpgradeError::NoGradualUpgrade(module.to_owned()));
        }
        let (Some(to), Some(from)) = (self.table.current(module), self.table.old(module)) else {
            return Err(UpgradeError::NoGradualUpgrade(module.to_owned()));
        };
        let mut report = UpgradeReport::new(Vec::new());
        let deadline = Instant::now() + PROMOTE_TIMEOUT;
        let mut moved = Vec::new();
        for cell in self.registry.actors_of(module) {
            match self.migrate_one(&cell, &from, &to, &[], deadline, PROMOTE_TIMEOUT) {
                Ok(Some(pause)) => {
                    moved.push(cell.id.get());
                    report.migrated += 1;
                    report.longest_pause = report.longest_pause.max(pause);
                }
                Ok(None) => {}
                Err(f) => report.failed.push(f),
            }
        }
        report.remaining = report.failed.len();
        // issue 15: lifecycle
        self.emit_migrated(module, &to, moved);
        report.duration = started.elapsed();
        Ok(report)
    }

    // issue 15: lifecycle
    /// A `Migrated` event for `actors` (none: no event).
    pub(super) fn emit_migrated(
        &self,
        module: &str,
        to: &crate::code_server::Version,
        actors: Vec<u64>,
    ) {
        if !actors.is_empty() {
            self.table.event_bus().emit(crate::code_server::EventKind::Migrated {
                module: module.to_owned(),
                to: to.version().clone(),
                actors,
            });
        }
    }

    pub(crate) fn abort(&self, module: &str, force: bool) -> Result<RollbackReport, UpgradeError> {
        let Some(gradual) = self.upgrades.gradual.lock().remove(module) else {
            return Err(UpgradeError::NoGradualUpgrade(module.to_owned()));
        };
        // issue 15: a rollback refused (the canaries were handed a variant
        // the old version lacks, and no force) changes nothing: the gradual
        // upgrade goes on, and the refusal is in the history and the events
        // like any refused rollback.
        let report = match self.rollback(module, force) {
            Ok(report) => report,
            Err(e) => {
                self.upgrades.gradual.lock().insert(module.to_owned(), gradual);
                return Err(e);
            }
        };
        let _ = self.table.drop_old(module, false);
        Ok(report)
    }
}
