//! The atomic upgrade (OTP's suspend / change_code / resume): every actor of
//! the modules migrates, or none does. The steps are in `mod.rs`.

use super::error::UpgradeError;
use super::migrate::{module_failure, on_version, parallel_map};
use super::options::UpgradeOptions;
use super::report::{ActorFailures, UpgradeReport};
use super::state::{Snapshots, Suspending};
use crate::actor::{ActorCell, Body, ExitReason, Instance, release};
use crate::code_server::{Prepared, Source, Version};
use crate::host::HostShared;
use parking_lot::MutexGuard;
use relive_codec::StateSnapshot;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

impl HostShared {
    /// Upgrade several modules as one unit (OTP's `atomic_load`).
    pub(crate) fn upgrade_atomic(
        &self,
        modules: Vec<(String, Source)>,
        opts: &UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        // 1. Validate everything.
        let mut prepared: Vec<Prepared> = Vec::with_capacity(modules.len());
        for (name, source) in modules {
            prepared.push(self.table.prepare(&name, source, opts.load())?);
        }
        if opts.purge {
            for p in &prepared {
                self.kill_others(p.name(), p.running.as_ref());
            }
        }
        // 2. Suspend every actor of every module being changed, in id order.
        let _suspending =
            Suspending::new(&self.upgrades, prepared.iter().map(|p| p.name().to_owned()).collect());
        let mut cells: Vec<(usize, Arc<ActorCell>)> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            if !p.unchanged {
                cells.extend(self.registry.actors_of(p.name()).into_iter().map(|c| (i, c)));
            }
        }
        cells.sort_by_key(|(_, c)| c.id);
        let deadline = Instant::now() + opts.suspend_timeout;
        let mut held: Vec<(usize, &Arc<ActorCell>, MutexGuard<'_, Body>, Instant)> =
            Vec::with_capacity(cells.len());
        for (i, cell) in &cells {
            match cell.suspend_until(deadline) {
                Some(g) => held.push((*i, cell, g, Instant::now())),
                None => {
                    for (_, c, g, _) in held {
                        release(self, c, g);
                    }
                    let e = UpgradeError::SuspendTimeout {
                        actor: cell.id,
                        module: prepared[*i].name().to_owned(),
                        timeout: opts.suspend_timeout,
                    };
                    for p in prepared {
                        self.table.abandon(p, &e);
                    }
                    return Err(e);
                }
            }
        }
        // 3. Migrate on every core, keeping every old instance: take each
        //    instance out of its (held) body, migrate, put it back.
        let mut work: Vec<(usize, Instance, Arc<Version>)> = Vec::new();
        for (k, (i, _, body, _)) in held.iter_mut().enumerate() {
            let p = &prepared[*i];
            if p.running.as_ref().is_some_and(|from| on_version(body, from).is_some()) {
                let Body::Module(old) =
                    std::mem::replace(&mut **body, Body::Exited(ExitReason::Normal))
                else {
                    unreachable!("checked by on_version")
                };
                work.push((k, old, Arc::clone(&p.new)));
            }
        }
        let extra = &opts.extra;
        let migrated = parallel_map(work, |(k, old, to)| {
            let result = old.migrate_to(&to, extra);
            opts.tick();
            (k, old, result)
        });
        let mut next: Vec<Option<(Instance, StateSnapshot)>> =
            (0..held.len()).map(|_| None).collect();
        let mut failed = Vec::new();
        for (k, old, result) in migrated {
            let (_, cell, body, _) = &mut held[k];
            **body = Body::Module(old);
            match result {
                Ok(done) => next[k] = Some(done),
                Err(e) => failed.push(module_failure(cell, e)),
            }
        }
        failed.sort_by_key(|f| f.actor);
        // 4./6. Abort on any failure: old instances untouched, resume all.
        if !failed.is_empty() {
            drop(next);
            for (_, c, g, _) in held {
                release(self, c, g);
            }
            let e = UpgradeError::MigrationFailed { failed: ActorFailures(failed) };
            for p in prepared {
                self.table.abandon(p, &e);
            }
            tracing::warn!(error = %e, "upgrade aborted, every actor restored");
            return Err(e);
        }
        // 5. Commit the slots, swap the instances, resume.
        let loaded = match self.table.commit_all(prepared) {
            Ok(r) => r,
            Err(e) => {
                for (_, c, g, _) in held {
                    release(self, c, g);
                }
                return Err(crate::code_server::LoadError::Concurrent { module: e.0 }.into());
            }
        };
        let mut report = UpgradeReport::new(loaded);
        let mut snapshots: Snapshots = HashMap::new();
        for ((i, cell, mut body, paused), done) in held.into_iter().zip(next) {
            if let Some((new, snap)) = done {
                self.set_instance(cell, &mut body, new);
                let module = &report.modules[i].module;
                if !snapshots.contains_key(module) {
                    snapshots.insert(module.clone(), HashMap::new());
                }
                snapshots.get_mut(module).expect("inserted").insert(cell.id, snap);
                report.migrated += 1;
            }
            report.longest_pause = report.longest_pause.max(paused.elapsed());
            release(self, cell, body);
        }
        // The snapshots of this upgrade replace those of the previous one.
        self.upgrades.snapshots.lock().extend(snapshots);
        report.duration = started.elapsed();
        Ok(report)
    }
}
