//! The atomic upgrade (OTP's suspend / change_code / resume): every actor of
//! the modules migrates, or none does. The steps are in `mod.rs`.
//!
//! "Every actor" is every actor of the module whose body does not run the
//! version the upgrade ends on — the running version's, and any still on
//! `old` (say, after a `load` that migrated nobody): upgrading to the build
//! that is already current migrates those, as OTP's `change_code` after a
//! load does ([`migrate`](HostShared::migrate) does only that).

use super::error::UpgradeError;
use super::migrate::{Job, failure, module_failure, run_until};
use super::options::UpgradeOptions;
use super::report::{ActorFailure, ActorFailures, MigrateError, UpgradeReport};
use super::state::{Kept, SnapshotTag, Snapshots, Suspending};
use crate::actor::{ActorCell, Body, ExitReason, Instance, release, turn};
use crate::code_server::{LoadError, Prepared, Source, Version};
use crate::host::HostShared;
use parking_lot::MutexGuard;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// One module of an atomic upgrade: what it ends on, and the load to commit
/// (none for a migration to what is current already).
struct Step {
    name: String,
    target: Arc<Version>,
    load: Option<Prepared>,
}

/// An actor held at a message boundary: which step, its body, and since
/// when its group of [`STAMP_EVERY`] was held (read when the group's first
/// actor was, so no actor's pause is understated).
type Held<'a> = (usize, &'a Arc<ActorCell>, MutexGuard<'a, Body>, Instant);

/// Actors per reading of the clock while suspending and resuming. A clock
/// read costs ~40 ns of CPU on the benchmark VM (`perf stat`), so one per
/// actor each way was ~8 ms of a 100 k upgrade; one per group bounds each
/// actor's pause from above by its group's, a few µs more.
const STAMP_EVERY: usize = 256;

impl HostShared {
    /// Upgrade several modules as one unit (OTP's `atomic_load`).
    pub(crate) fn upgrade_atomic(
        &self,
        modules: Vec<(String, Source)>,
        opts: &UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        // 1. Validate everything: each module, then the unit (ordered
        //    callees first, dependencies checked together, `on_load`s).
        let prepared = self.table.prepare_unit(modules, opts.load())?;
        let mut steps = Vec::with_capacity(prepared.len());
        for p in prepared {
            let name = p.name.clone();
            // The build already current: its actors still on an older
            // version migrate to it; nothing is loaded.
            let target = match (&p.running, p.unchanged) {
                (Some(running), true) => Arc::clone(running),
                _ => Arc::clone(&p.new),
            };
            steps.push(Step { name, target, load: Some(p) });
        }
        if opts.purge {
            for s in &steps {
                let keep = s.load.as_ref().and_then(|p| p.running.as_ref());
                self.kill_others(&s.name, keep);
            }
        }
        self.migrate_steps(steps, opts, started)
    }

    /// Migrate every actor of `module` that is not on its current version to
    /// it, atomically (all or none), loading nothing.
    pub(crate) fn migrate(
        &self,
        module: &str,
        opts: &UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let started = Instant::now();
        let target = self
            .table
            .current(module)
            .ok_or_else(|| crate::code_server::RollbackError::NotLoaded(module.into()))?;
        let step = Step { name: module.to_owned(), target, load: None };
        self.migrate_steps(vec![step], opts, started)
    }

    /// Steps 2 to 6 of the protocol, with the upgrade lock held.
    fn migrate_steps(
        &self,
        steps: Vec<Step>,
        opts: &UpgradeOptions,
        started: Instant,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _suspending =
            Suspending::new(&self.upgrades, steps.iter().map(|s| s.name.clone()).collect());
        let deadline = Instant::now() + opts.suspend_timeout;
        // 2. Suspend every actor not on its step's target, in id order.
        let inserts = self.registry.inserts();
        let first: Vec<(usize, Arc<ActorCell>)> = self.to_move(&steps, &HashSet::new());
        let late: Vec<(usize, Arc<ActorCell>)>;
        let mut held: Vec<Held<'_>> = Vec::with_capacity(first.len());
        if let Err(e) = self.suspend_all(&first, &steps, deadline, opts, &mut held) {
            return Err(self.restore_all(held, steps, e));
        }
        // 2b. Close the spawn gate (waiting for the spawns in flight), then
        //     take the actors they started too. Until the gate opens again,
        //     after the commit, spawns wait: none can start on a version
        //     that is being replaced.
        let Some(_gate) = self.spawn_gate.close_until(deadline) else {
            let e = UpgradeError::SpawnsInFlight {
                module: steps[0].name.clone(),
                timeout: opts.suspend_timeout,
            };
            return Err(self.restore_all(held, steps, e));
        };
        // Actors registered meanwhile (rare: the registry counts insertions).
        late = if self.registry.inserts() == inserts {
            Vec::new()
        } else {
            let seen: HashSet<_> = first.iter().map(|(_, c)| c.id).collect();
            self.to_move(&steps, &seen)
        };
        if let Err(e) = self.suspend_all(&late, &steps, deadline, opts, &mut held) {
            return Err(self.restore_all(held, steps, e));
        }
        // 3. Migrate on every core, with a deadline, keeping every old
        //    instance: take each out of its (held) body; it comes back.
        let mut jobs = Vec::with_capacity(held.len());
        // The versions the actors run (a few: current, maybe old), each
        // with the tag its snapshots share.
        let mut sources: Vec<Arc<Version>> = Vec::new();
        for (k, (i, _, body, _)) in held.iter_mut().enumerate() {
            let target = &steps[*i].target;
            let moves =
                matches!(&**body, Body::Module(inst) if !Arc::ptr_eq(inst.version(), target));
            if moves {
                let Body::Module(old) =
                    std::mem::replace(&mut **body, Body::Exited(ExitReason::Normal))
                else {
                    unreachable!("checked above")
                };
                let from = match sources.iter().position(|v| Arc::ptr_eq(v, old.version())) {
                    Some(from) => from,
                    None => {
                        sources.push(Arc::clone(old.version()));
                        sources.len() - 1
                    }
                };
                jobs.push(Job { k, old, to: *i, from });
            }
        }
        let targets: Vec<Arc<Version>> = steps.iter().map(|s| Arc::clone(&s.target)).collect();
        let tags: Vec<Arc<SnapshotTag>> = sources.iter().map(|v| SnapshotTag::of(v)).collect();
        let deadline = Instant::now() + opts.migrate_timeout;
        let finished =
            run_until(jobs, (&sources, &targets), &opts.extra, deadline, opts.progress.clone());
        let mut next: Vec<Option<(Instance, Kept)>> = (0..held.len()).map(|_| None).collect();
        let mut failed: Vec<ActorFailure> = Vec::new();
        let mut lost = Vec::new();
        for f in finished {
            let (_, cell, body, _) = &mut held[f.k];
            match f.old {
                Some(old) => **body = Body::Module(old),
                None => lost.push(f.k),
            }
            match f.result {
                Some(Ok((new, bytes))) => {
                    next[f.k] = Some((new, Kept { tag: Arc::clone(&tags[f.from]), bytes }));
                }
                Some(Err(e)) => failed.push(module_failure(cell, e)),
                None => failed.push(failure(cell, MigrateError::Deadline(opts.migrate_timeout))),
            }
        }
        failed.sort_by_key(|f| f.actor);
        // 4./6. Abort on any failure: old instances untouched, resume all.
        if !failed.is_empty() {
            drop(next);
            // An actor whose old version's `export_state` overran the
            // deadline cannot resume: the thread running it holds its state.
            for k in lost {
                let (_, cell, body, _) = &mut held[k];
                turn::exit_overrun(self, cell, ExitReason::Killed);
                **body = Body::Exited(ExitReason::Killed);
            }
            let e = UpgradeError::MigrationFailed { failed: ActorFailures(failed) };
            tracing::warn!(error = %e, "upgrade aborted, every actor restored");
            return Err(self.restore_all(held, steps, e));
        }
        // 5. Commit the slots, swap the instances, resume.
        let steps_names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
        let loads: Vec<Prepared> = steps.into_iter().filter_map(|s| s.load).collect();
        let loaded = match self.table.commit_all(loads) {
            Ok(r) => r,
            Err(e) => {
                for (_, c, g, _) in held {
                    release(self, c, g);
                }
                return Err(LoadError::from(e).into());
            }
        };
        let mut report = UpgradeReport::new(loaded);
        // Collected in id order (the held actors' order, the late ones
        // after), then built into each module's map in one pass.
        let mut snapshots: Vec<Vec<(crate::actor::ActorId, Kept)>> =
            targets.iter().map(|_| Vec::with_capacity(held.len() / targets.len())).collect();
        // The index learns every move under one lock.
        // issue 15: lifecycle — who moved where, for the event stream.
        let mut moved: Vec<Vec<u64>> = targets.iter().map(|_| Vec::new()).collect();
        for ((i, cell, _, _), done) in held.iter().zip(&next) {
            if done.is_some() {
                moved[*i].push(cell.id.get());
            }
        }
        let moves: Vec<(&ActorCell, u64)> = held
            .iter()
            .zip(&next)
            .filter(|(_, done)| done.is_some())
            .map(|((i, cell, _, _), _)| (&***cell, targets[*i].serial()))
            .collect();
        self.registry.moved_all(&moves);
        drop(moves);
        let count = held.len();
        for (k, ((i, cell, mut body, paused), done)) in held.into_iter().zip(next).enumerate() {
            if let Some((new, snap)) = done {
                *body = Body::Module(new);
                snapshots[i].push((cell.id, snap));
                report.migrated += 1;
            }
            release(self, cell, body);
            // The last of its group: the group's pause, the longest in it.
            if k % STAMP_EVERY == STAMP_EVERY - 1 || k + 1 == count {
                report.longest_pause = report.longest_pause.max(paused.elapsed());
            }
        }
        // issue 15: lifecycle
        for ((name, target), actors) in steps_names.iter().zip(&targets).zip(moved) {
            self.emit_migrated(name, target, actors);
        }
        let snapshots: Snapshots = steps_names
            .into_iter()
            .zip(snapshots)
            .filter(|(_, s)| !s.is_empty())
            .map(|(name, kept)| (name, kept.into_iter().collect()))
            .collect();
        // The snapshots of this upgrade replace those of the previous one.
        self.upgrades.snapshots.lock().extend(snapshots);
        report.duration = started.elapsed();
        Ok(report)
    }

    /// The actors of the steps' modules not on their step's target (and not
    /// in `seen`), with their step, in id order.
    fn to_move(
        &self,
        steps: &[Step],
        seen: &HashSet<crate::actor::ActorId>,
    ) -> Vec<(usize, Arc<ActorCell>)> {
        let mut cells: Vec<(usize, Arc<ActorCell>)> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            let target = s.target.serial();
            cells.extend(
                self.registry
                    .actors_of_where(&s.name, |serial| serial == target)
                    .into_iter()
                    .filter(|c| !seen.contains(&c.id))
                    .map(|c| (i, c)),
            );
        }
        cells.sort_by_key(|(_, c)| c.id);
        cells
    }

    /// Suspend each of `cells` (at its next message boundary) into `held`.
    fn suspend_all<'a>(
        &self,
        cells: &'a [(usize, Arc<ActorCell>)],
        steps: &[Step],
        deadline: Instant,
        opts: &UpgradeOptions,
        held: &mut Vec<Held<'a>>,
    ) -> Result<(), UpgradeError> {
        for (i, cell) in cells {
            match cell.suspend_until(deadline) {
                Some(g) => {
                    // The group's first actor reads the clock once it is
                    // held; the others, held later, reuse its reading.
                    let since = match held.last() {
                        Some((_, _, _, since)) if !held.len().is_multiple_of(STAMP_EVERY) => *since,
                        _ => Instant::now(),
                    };
                    held.push((*i, cell, g, since));
                }
                None => {
                    return Err(UpgradeError::SuspendTimeout {
                        actor: cell.id,
                        module: steps[*i].name.clone(),
                        timeout: opts.suspend_timeout,
                    });
                }
            }
        }
        Ok(())
    }

    /// Step 6: resume every held actor on what it had, record the refusal,
    /// unload the new versions (dropping them); hand `e` back.
    fn restore_all(&self, held: Vec<Held<'_>>, steps: Vec<Step>, e: UpgradeError) -> UpgradeError {
        for (_, c, g, _) in held {
            release(self, c, g);
        }
        for s in steps {
            if let Some(p) = s.load {
                self.table.abandon(p, &e);
            }
        }
        e
    }
}
