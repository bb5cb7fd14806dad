//! The atomic upgrade (OTP's suspend / change_code / resume): every actor of
//! the modules migrates, or none does. The steps are in `mod.rs`.
//!
//! "Every actor" is every actor of the module whose body does not run the
//! version the upgrade ends on — the running version's, and any still on
//! `old` (say, after a `load` that migrated nobody): upgrading to the build
//! that is already current migrates those, as OTP's `change_code` after a
//! load does ([`migrate`](HostShared::migrate) does only that).

use super::error::UpgradeError;
use super::migrate::{Job, Migrations, failure, module_failure, run_until};
use super::options::UpgradeOptions;
use super::report::{ActorFailure, ActorFailures, MigrateError, UpgradeReport};
use super::state::{Kept, KeptStates, SnapshotTag, Snapshots, Suspending};
use crate::actor::{ActorCell, Body, ExitReason, Instance, release, turn};
use crate::code_server::{LoadError, Prepared, Source, Version};
use crate::ffi::prefault::prefault;
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

/// An actor held at a message boundary: which step, its body (emptied
/// when its instance was taken out to migrate), and the version serial the
/// registry had recorded for it (whose index set it leaves). 32 bytes: 100 k
/// of them are faulted in before the pause.
struct Held<'a> {
    step: usize,
    cell: &'a Arc<ActorCell>,
    body: MutexGuard<'a, Body>,
    recorded: u64,
}

/// What suspending gathered for the migration: each moving actor's old
/// instance, taken out of its held body as soon as it was held (one visit
/// of each actor, not a second pass), the versions they run, and how many
/// actors leave each recorded (step, serial) — the index moves a set whole
/// when all of its actors leave it.
#[derive(Default)]
struct Taken {
    jobs: Vec<Job>,
    /// Since when each group of [`STAMP_EVERY`] held actors was held (read
    /// when the group's first actor was, so no actor's pause is
    /// understated).
    since: Vec<Instant>,
    sources: Vec<Arc<Version>>,
    leaving: Vec<((usize, u64), usize)>,
}

impl Taken {
    /// Take `body`'s instance out when it does not run `target` already.
    fn take(
        &mut self,
        k: usize,
        step: usize,
        recorded: u64,
        body: &mut Body,
        target: &Arc<Version>,
    ) {
        if !matches!(body, Body::Module(inst) if !Arc::ptr_eq(inst.version(), target)) {
            return;
        }
        let Body::Module(old) = std::mem::replace(body, Body::Exited(ExitReason::Normal)) else {
            unreachable!("checked above")
        };
        let from = match self.sources.iter().position(|v| Arc::ptr_eq(v, old.version())) {
            Some(from) => from,
            None => {
                self.sources.push(Arc::clone(old.version()));
                self.sources.len() - 1
            }
        };
        match self.leaving.iter_mut().find(|(key, _)| *key == (step, recorded)) {
            Some((_, n)) => *n += 1,
            None => self.leaving.push(((step, recorded), 1)),
        }
        self.jobs.push(Job::new(k, old, step, from));
    }

    /// The instances taken out, each with its held actor's index.
    fn olds(self) -> impl Iterator<Item = (usize, Instance)> {
        self.jobs.into_iter().filter_map(|mut j| match j.take_old() {
            (k, Some(old)) => Some((k, old)),
            (_, None) => None,
        })
    }
}

/// Make the memory of an upgrade's buffers present ([`prefault`]), as a
/// task that can run on another thread.
fn prefault_buffers<'b>(
    jobs: &'b mut Vec<Job>,
    snapshots: &'b mut [Vec<(crate::actor::ActorId, Kept)>],
    moved: &'b mut [Vec<u64>],
) -> impl FnOnce() + Send + 'b {
    move || {
        prefault(jobs);
        for s in snapshots.iter_mut() {
            prefault(s);
        }
        for m in moved.iter_mut() {
            prefault(m);
        }
    }
}

/// How many actors ahead a pass over them asks for the next one's cell
/// ([`ActorCell::prefetch`]).
const AHEAD: usize = 8;

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
    ///
    /// At 100 k actors the cells (~600 B each, 60 MB) do not fit in the
    /// cache, so every pass over them costs a miss per actor (70–150 ns on
    /// the benchmark VM): the actors are visited three times, no more —
    /// listing them, suspending each (its instance taken out at once), and
    /// the commit (its index entry, its new instance, its release).
    fn migrate_steps(
        &self,
        steps: Vec<Step>,
        opts: &UpgradeOptions,
        started: Instant,
    ) -> Result<UpgradeReport, UpgradeError> {
        let _suspending =
            Suspending::new(&self.upgrades, steps.iter().map(|s| s.name.clone()).collect());
        let deadline = Instant::now() + opts.suspend_timeout;
        // 2. Suspend every actor not on its step's target, in id order,
        //    taking out the instance of each that moves (it comes back if
        //    the upgrade aborts).
        let inserts = self.registry.inserts();
        // The buffers the pause fills, sized by the index's counts, their
        // memory made present (`ffi::prefault`) on another core while this
        // one lists the actors: faulted in as they were written, they were
        // half of the suspension at 100 k actors.
        let per_step: Vec<usize> = steps.iter().map(|s| self.registry.count_of(&s.name)).collect();
        let mut taken =
            Taken { jobs: Vec::with_capacity(per_step.iter().sum()), ..Taken::default() };
        // Kept for a rollback, in the held actors' order (id order, the
        // late ones after), kept as collected (`KeptStates`).
        let mut snapshots: Vec<Vec<(crate::actor::ActorId, Kept)>> =
            per_step.iter().map(|&n| Vec::with_capacity(n)).collect();
        // issue 15: lifecycle — who moved where, for the event stream.
        let mut moved: Vec<Vec<u64>> = per_step.iter().map(|&n| Vec::with_capacity(n)).collect();
        let (first, beside) = std::thread::scope(|s| {
            let made_present = prefault_buffers(&mut taken.jobs, &mut snapshots, &mut moved);
            let beside = std::thread::Builder::new()
                .name("relive-prefault".into())
                .spawn_scoped(s, || {
                    // One of relive's threads, which runs no library's code:
                    // the unloader need not inspect it.
                    let _ours = crate::ffi::unload::OurThread::enter();
                    made_present();
                })
                .is_ok();
            (self.to_move(&steps, &HashSet::new()), beside)
        });
        if !beside {
            prefault_buffers(&mut taken.jobs, &mut snapshots, &mut moved)();
        }
        let first: Vec<(usize, Arc<ActorCell>)> = first;
        let late: Vec<(usize, Arc<ActorCell>)>;
        let mut held: Vec<Held<'_>> = Vec::with_capacity(first.len());
        prefault(&mut held);
        if let Err(e) = self.suspend_all(&first, &steps, deadline, opts, &mut held, &mut taken) {
            return Err(self.restore_all(held, taken.olds(), steps, e));
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
            return Err(self.restore_all(held, taken.olds(), steps, e));
        };
        // Actors registered meanwhile (rare: the registry counts insertions).
        late = if self.registry.inserts() == inserts {
            Vec::new()
        } else {
            let seen: HashSet<_> = first.iter().map(|(_, c)| c.id).collect();
            self.to_move(&steps, &seen)
        };
        if let Err(e) = self.suspend_all(&late, &steps, deadline, opts, &mut held, &mut taken) {
            return Err(self.restore_all(held, taken.olds(), steps, e));
        }
        // 3. Migrate on every core, with a deadline, keeping every old
        //    instance (each comes back with its job).
        let Taken { jobs, since, sources, leaving } = taken;
        let targets: Vec<Arc<Version>> = steps.iter().map(|s| Arc::clone(&s.target)).collect();
        let tags: Vec<Arc<SnapshotTag>> = sources.iter().map(|v| SnapshotTag::of(v)).collect();
        let deadline = Instant::now() + opts.migrate_timeout;
        let mut migrations =
            run_until(jobs, (&sources, &targets), &opts.extra, deadline, opts.progress.clone());
        // 4./6. Abort on any failure: old instances untouched, resume all.
        if !migrations.all_ok() {
            return Err(self.abort_migration(held, steps, &mut migrations, opts));
        }
        // 5. Commit the slots, swap the instances, resume.
        let steps_names: Vec<String> = steps.iter().map(|s| s.name.clone()).collect();
        let loads: Vec<Prepared> = steps.into_iter().filter_map(|s| s.load).collect();
        let loaded = match self.table.commit_all(loads) {
            Ok(r) => r,
            Err(e) => {
                let olds = migrations.finished().filter_map(|f| Some((f.k, f.old?)));
                return Err(self.restore_all(held, olds, Vec::new(), LoadError::from(e).into()));
            }
        };
        let mut report = UpgradeReport::new(loaded);
        // The index learns every move under one lock, held while the actors
        // are released: a version's set moves whole when every actor
        // recorded on it leaves (the usual atomic upgrade); then each actor
        // has only its recorded serial set as it is released.
        let mut index = self.registry.moves();
        let whole: Vec<((usize, u64), bool)> = leaving
            .iter()
            .map(|&((i, from), n)| {
                ((i, from), index.whole(&steps_names[i], from, targets[i].serial(), n))
            })
            .collect();
        let count = held.len();
        // The migrations in the held actors' order (each job's `k`), so
        // each actor finds its own, if any, at the front: no table by actor.
        let mut finished = migrations.finished().peekable();
        // The same cells as `held`, in its order, `AHEAD` of it.
        let mut ahead = first.iter().chain(&late).skip(AHEAD).map(|(_, c)| c);
        for (k, h) in held.into_iter().enumerate() {
            if let Some(c) = ahead.next() {
                c.prefetch();
            }
            let Held { step: i, cell, mut body, recorded } = h;
            // The instance replaced, dropped once the actor runs again.
            let mut replaced = None;
            if let Some(f) = finished.next_if(|f| f.k == k) {
                let (Some(Ok((new, bytes))), Some(old)) = (f.result, f.old) else {
                    unreachable!("every migration succeeded, every export returned")
                };
                let in_whole = whole.iter().any(|&(key, w)| w && key == (i, recorded));
                index.moved(cell, targets[i].serial(), in_whole);
                *body = Body::Module(Instance::from_new(new));
                replaced = Some(old);
                snapshots[i].push((cell.id, Kept { tag: f.from, bytes }));
                moved[i].push(cell.id.get());
                report.migrated += 1;
            }
            release(self, cell, body);
            drop(replaced);
            // The last of its group: the group's pause, the longest in it.
            if k % STAMP_EVERY == STAMP_EVERY - 1 || k + 1 == count {
                report.longest_pause = report.longest_pause.max(since[k / STAMP_EVERY].elapsed());
            }
        }
        drop(index);
        // issue 15: lifecycle
        for ((name, target), actors) in steps_names.iter().zip(&targets).zip(moved) {
            self.emit_migrated(name, target, actors);
        }
        let snapshots: Snapshots = steps_names
            .into_iter()
            .zip(snapshots)
            .filter(|(_, s)| !s.is_empty())
            .map(|(name, kept)| (name, KeptStates::new(tags.clone(), kept)))
            .collect();
        // The snapshots of this upgrade replace those of the previous one.
        self.upgrades.snapshots.lock().extend(snapshots);
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Step 6 after a failed migration: every old instance back in its
    /// body (an actor whose `export_state` overran the deadline cannot
    /// resume — the thread running it holds its state — and exits), the
    /// failures reported in id order.
    fn abort_migration(
        &self,
        mut held: Vec<Held<'_>>,
        steps: Vec<Step>,
        migrations: &mut Migrations,
        opts: &UpgradeOptions,
    ) -> UpgradeError {
        let mut failed: Vec<ActorFailure> = Vec::new();
        let mut lost = Vec::new();
        for f in migrations.finished() {
            let h = &mut held[f.k];
            match f.old {
                Some(old) => *h.body = Body::Module(old),
                None => lost.push(f.k),
            }
            match f.result {
                Some(Ok(_)) => {}
                Some(Err(e)) => failed.push(module_failure(h.cell, *e)),
                None => failed.push(failure(h.cell, MigrateError::Deadline(opts.migrate_timeout))),
            }
        }
        failed.sort_by_key(|f| f.actor);
        for k in lost {
            let h = &mut held[k];
            turn::exit_overrun(self, h.cell, ExitReason::Killed);
            *h.body = Body::Exited(ExitReason::Killed);
        }
        let e = UpgradeError::MigrationFailed { failed: ActorFailures(failed) };
        tracing::warn!(error = %e, "upgrade aborted, every actor restored");
        self.restore_all(held, [], steps, e)
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
        // Each module's actors come in id order; several modules' are
        // merged, each id read once (a comparison through the `Arc` would
        // be a cache miss per actor per comparison at 100 k actors).
        if steps.len() > 1 {
            cells.sort_by_cached_key(|(_, c)| c.id);
        }
        cells
    }

    /// Suspend each of `cells` (at its next message boundary) into `held`,
    /// taking out the instance of each that moves into `taken`.
    fn suspend_all<'a>(
        &self,
        cells: &'a [(usize, Arc<ActorCell>)],
        steps: &[Step],
        deadline: Instant,
        opts: &UpgradeOptions,
        held: &mut Vec<Held<'a>>,
        taken: &mut Taken,
    ) -> Result<(), UpgradeError> {
        for (n, (i, cell)) in cells.iter().enumerate() {
            if let Some((_, ahead)) = cells.get(n + AHEAD) {
                ahead.prefetch();
            }
            let Some(mut body) = cell.suspend_until(deadline) else {
                return Err(UpgradeError::SuspendTimeout {
                    actor: cell.id,
                    module: steps[*i].name.clone(),
                    timeout: opts.suspend_timeout,
                });
            };
            // The group's first actor reads the clock once it is held; the
            // others, held later, share its reading.
            if held.len().is_multiple_of(STAMP_EVERY) {
                taken.since.push(Instant::now());
            }
            let recorded = cell.version_serial();
            taken.take(held.len(), *i, recorded, &mut body, &steps[*i].target);
            held.push(Held { step: *i, cell, body, recorded });
        }
        Ok(())
    }

    /// Step 6: put each of `olds` back in the body of the held actor it
    /// names, resume every held actor on what it had, record the refusal,
    /// unload the new versions (dropping them); hand `e` back.
    fn restore_all(
        &self,
        mut held: Vec<Held<'_>>,
        olds: impl IntoIterator<Item = (usize, Instance)>,
        steps: Vec<Step>,
        e: UpgradeError,
    ) -> UpgradeError {
        for (k, old) in olds {
            *held[k].body = Body::Module(old);
        }
        for h in held {
            release(self, h.cell, h.body);
        }
        for s in steps {
            if let Some(p) = s.load {
                self.table.abandon(p, &e);
            }
        }
        e
    }
}
