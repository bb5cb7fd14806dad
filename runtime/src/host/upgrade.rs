//! Live upgrade of every actor of a module: the protocols.
//!
//! Suspending an actor means taking its body lock, which only happens
//! between two messages (a worker holds it for a whole turn, see
//! `actor/mod.rs`). Mail that arrives meanwhile waits in the mailbox, in
//! order, and is handled by whichever version the actor runs when it is
//! released: nothing is lost or reordered, and new code never sees old
//! state.
//!
//! # Atomic (the default; OTP's suspend / change_code / resume)
//! 1. Validate every new version completely (the loader chain, `not_purged`);
//!    a refusal changes nothing.
//! 2. Suspend every actor of the modules, in id order, each at its next
//!    message boundary. One that does not reach a boundary before the
//!    suspend timeout aborts the upgrade: step 6.
//! 3. Build each actor's new state with the new version's `code_change`,
//!    keeping the old instance untouched.
//! 4. If any migration failed or panicked: step 6.
//! 5. Commit every module's slots in one step, swap every actor's instance,
//!    resume them all. The pre-upgrade snapshots are kept for `rollback`.
//! 6. Abort: drop the new instances, resume every actor on its old instance
//!    — exactly the old state and version — and unload the new versions.
//!
//! # Gradual (canary)
//! The new version becomes current; a canary share of the actors migrates,
//! one at a time (each suspended only for its own migration); both versions
//! serve. `promote` migrates the rest the same way; `abort` sends the
//! canaries back (through `downgrade`, or from their upgrade snapshot), makes
//! the old version current again and unloads the new one.
//!
//! # Rollback
//! `old` becomes current again; each actor on the newer version migrates
//! back through that version's `downgrade` (OTP's `{down, Vsn}`), or, when it
//! cannot write the older state, through the older version's `code_change`
//! (which decodes a state of equal schema as it is); only when neither works
//! does it restart from the snapshot taken when it was upgraded — the report
//! counts those, since messages handled after the upgrade are lost.
//!
//! # Purge
//! Actors still on `old` are stopped (`killed`, as OTP's `purge` kills
//! processes running old code; supervisors restart them on current), then
//! `old` is dropped.

use super::{HostHandle, HostShared};
use crate::actor::{ActorCell, ActorId, Body, ExitReason};
use crate::code_server::{
    CallError as ModuleCallError, Instance, Prepared, RollbackError, Source, UpgradeError,
    UpgradeOptions as CodeOptions, UpgradeReport, Version,
};
use parking_lot::MutexGuard;
use relive_codec::StateSnapshot;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an upgrade moves the actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpgradeMode {
    /// All actors at once, or none (the default).
    #[default]
    Atomic,
    /// A canary share first; both versions serve until `promote` or `abort`.
    Gradual(Canary),
}

/// The canary share of a gradual upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canary {
    /// This many actors.
    Count(usize),
    /// This percentage of the actors (rounded up).
    Percent(u32),
}

/// Options of a host upgrade.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostUpgradeOptions {
    /// Atomic or gradual.
    pub mode: UpgradeMode,
    /// How long to wait for every actor to reach a message boundary.
    pub suspend_timeout: Duration,
    /// Passed to every `code_change` (OTP's `Extra`).
    pub extra: Vec<u8>,
    /// Load a build marked bad, or another build of the running version.
    pub force: bool,
    /// Stop actors still on `old` instead of refusing (`not_purged`).
    pub purge: bool,
    /// Counts actors as they migrate (for a progress display).
    pub progress: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl Default for HostUpgradeOptions {
    fn default() -> Self {
        HostUpgradeOptions {
            mode: UpgradeMode::Atomic,
            suspend_timeout: Duration::from_secs(5),
            extra: Vec::new(),
            force: false,
            purge: false,
            progress: None,
        }
    }
}

impl HostUpgradeOptions {
    /// Defaults: atomic, 5 s suspend timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the mode.
    pub fn mode(mut self, mode: UpgradeMode) -> Self {
        self.mode = mode;
        self
    }

    /// Set the suspend timeout.
    pub fn suspend_timeout(mut self, t: Duration) -> Self {
        self.suspend_timeout = t;
        self
    }

    /// Set the `extra` argument of `code_change`.
    pub fn extra(mut self, extra: Vec<u8>) -> Self {
        self.extra = extra;
        self
    }

    /// Set `force`.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Set `purge`.
    pub fn purge(mut self, purge: bool) -> Self {
        self.purge = purge;
        self
    }

    /// Count migrated actors into `counter` as the upgrade goes.
    pub fn progress(mut self, counter: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        self.progress = Some(counter);
        self
    }

    fn tick(&self) {
        if let Some(p) = &self.progress {
            // ORDERING: a display counter.
            p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn code(&self) -> CodeOptions {
        CodeOptions::new().force(self.force).purge(self.purge)
    }
}

/// An actor that could not be moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorFailure {
    /// The actor.
    pub actor: ActorId,
    /// Its module.
    pub module: String,
    /// Why (the module's error or panic message).
    pub reason: String,
}

/// What an upgrade, rollback, promote or abort did to the actors.
#[derive(Debug, Clone)]
pub struct MigrationReport {
    /// The code server's report per module (empty for promote).
    pub code: Vec<UpgradeReport>,
    /// Actors now on the new version.
    pub migrated: usize,
    /// Actors rolled back from their upgrade snapshot (losing what they
    /// handled since the upgrade), in a rollback or abort without `downgrade`.
    pub restored_from_snapshot: usize,
    /// Actors that could not be moved (gradual, rollback, promote), with why.
    pub failed: Vec<ActorFailure>,
    /// Actors still on the old version (a gradual upgrade's non-canaries).
    pub remaining: usize,
    /// From the call to the last actor resumed.
    pub duration: Duration,
    /// The longest time any actor was suspended.
    pub longest_pause: Duration,
}

/// Why a host upgrade did not happen. In every case nothing changed: every
/// actor runs its old version with its exact old state, no mail was lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostUpgradeError {
    /// A new version was refused by the loader or the code server.
    #[error(transparent)]
    Refused(#[from] UpgradeError),
    /// A migration failed or panicked; every actor was restored.
    #[error("upgrade aborted, {} actor(s) failed to migrate (first: {})", failed.len(),
        failed.first().map_or("", |f| f.reason.as_str()))]
    MigrationFailed {
        /// The actors whose `code_change` failed, with why.
        failed: Vec<ActorFailure>,
    },
    /// An actor did not reach a message boundary in time.
    #[error(
        "upgrade aborted: actor {actor} of `{module}` did not reach a message boundary within {timeout:?}"
    )]
    SuspendTimeout {
        /// The actor.
        actor: ActorId,
        /// Its module.
        module: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Another upgrade changed the module in between (through the code
    /// server directly).
    #[error("module `{0}` changed during the upgrade")]
    Concurrent(String),
    /// Rollback refused.
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    /// `promote` or `abort` without a gradual upgrade in progress.
    #[error("no gradual upgrade of `{0}` in progress")]
    NoGradualUpgrade(String),
}

/// A gradual upgrade in progress: the canaries that went first.
#[derive(Debug)]
pub(crate) struct Gradual {
    pub(crate) canaries: Vec<ActorId>,
}

/// Per-module snapshots taken when actors migrated, for rollbacks.
pub(crate) type Snapshots = HashMap<String, HashMap<ActorId, StateSnapshot>>;

fn failure(cell: &ActorCell, e: &ModuleCallError) -> ActorFailure {
    ActorFailure {
        actor: cell.id,
        module: cell.module.as_deref().unwrap_or("").to_owned(),
        reason: e.to_string(),
    }
}

/// The instance in a body, if it runs `version`.
fn on_version<'a>(body: &'a Body, version: &Arc<Version>) -> Option<&'a Instance> {
    match body {
        Body::Module(inst) if Arc::ptr_eq(inst.version(), version) => Some(inst),
        _ => None,
    }
}

impl HostShared {
    /// Stop (`killed`) every actor of `module` that does not run `keep`.
    fn kill_others(self: &Arc<Self>, module: &str, keep: Option<&Arc<Version>>) {
        for cell in self.actors_of(module) {
            let mut body = cell.suspend();
            let stale = matches!(&*body, Body::Module(i) if keep.is_none_or(|k| !Arc::ptr_eq(i.version(), k)));
            if stale {
                self.exit(&cell, &mut body, ExitReason::Killed);
            }
            // A turn that found the body locked meanwhile left it to us.
            self.release(&cell, body);
        }
    }

    /// Move one actor from `from` to `to`, suspending only it. Returns its
    /// pause, or why it could not move (it then stays where it was).
    fn migrate_one(
        &self,
        cell: &Arc<ActorCell>,
        from: &Arc<Version>,
        to: &Arc<Version>,
        extra: &[u8],
        deadline: Instant,
    ) -> Result<Option<Duration>, ActorFailure> {
        let Some(mut body) = cell.suspend_until(deadline) else {
            return Err(ActorFailure {
                actor: cell.id,
                module: cell.module.as_deref().unwrap_or("").to_owned(),
                reason: "did not reach a message boundary in time".into(),
            });
        };
        let paused = Instant::now();
        let result = match on_version(&body, from) {
            None => Ok(None),
            Some(inst) => match inst.migrate_to(to, extra) {
                Ok((new, snap)) => {
                    *body = Body::Module(new);
                    self.remember(cell, snap);
                    Ok(Some(paused.elapsed()))
                }
                Err(e) => Err(failure(cell, &e)),
            },
        };
        self.release(cell, body);
        result
    }

    fn remember(&self, cell: &ActorCell, snap: StateSnapshot) {
        let module = cell.module.as_deref().unwrap_or("").to_owned();
        self.snapshots.lock().entry(module).or_default().insert(cell.id, snap);
    }

    /// Move one actor on `newer` back to `older`: `downgrade`, else the
    /// upgrade snapshot, else it exits (`failed to migrate`).
    fn roll_back_one(
        self: &Arc<Self>,
        cell: &Arc<ActorCell>,
        newer: &Arc<Version>,
        older: &Arc<Version>,
        report: &mut MigrationReport,
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
                    *body = Body::Module(back);
                    report.migrated += 1;
                }
                Err(failed) => {
                    let from_snapshot = snapshot
                        .filter(|s| s.schema == older.schemas().state)
                        .map(|s| Instance::restore(older, &s, &[]));
                    match from_snapshot {
                        Some(Ok(back)) => {
                            *body = Body::Module(back);
                            report.restored_from_snapshot += 1;
                        }
                        _ => {
                            report.failed.push(failure(cell, &failed.error));
                            *body = Body::Module(failed.instance);
                            let reason = ExitReason::FailedToMigrate(failed.error.to_string());
                            self.exit(cell, &mut body, reason);
                        }
                    }
                }
            }
            report.longest_pause = report.longest_pause.max(paused.elapsed());
        }
        self.release(cell, body);
    }
}

/// Below this many items, `parallel_map` runs on the calling thread.
const PARALLEL_MIN: usize = 512;

/// Map `items` with `f` on every core (scoped threads), keeping no order.
fn parallel_map<T: Send, U: Send>(items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < PARALLEL_MIN || threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let c: Vec<T> = items.by_ref().take(chunk).collect();
        if c.is_empty() {
            break;
        }
        chunks.push(c);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| s.spawn(move || c.into_iter().map(f).collect::<Vec<U>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("migration thread")).collect()
    })
}

fn empty_report(code: Vec<UpgradeReport>) -> MigrationReport {
    MigrationReport {
        code,
        migrated: 0,
        restored_from_snapshot: 0,
        failed: Vec::new(),
        remaining: 0,
        duration: Duration::ZERO,
        longest_pause: Duration::ZERO,
    }
}

impl HostHandle {
    /// Upgrade `module` to the library at `source`, migrating every actor
    /// atomically (see the module docs for the protocol).
    ///
    /// # Errors
    /// [`HostUpgradeError`]; in every case nothing changed.
    ///
    /// # Upgrade behaviour
    /// Every actor pauses at its next message boundary until all have
    /// migrated; mail sent meanwhile waits and is handled by the new version.
    pub fn upgrade(
        &self,
        module: &str,
        source: impl Into<Source>,
    ) -> Result<MigrationReport, HostUpgradeError> {
        self.upgrade_with(module, source, HostUpgradeOptions::default())
    }

    /// [`upgrade`](Self::upgrade) with options (atomic or gradual).
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// Atomic: as [`upgrade`](Self::upgrade). Gradual: the new version is
    /// current at once (new actors start on it); the canaries pause one at a
    /// time for their own migration; the others keep running the old version
    /// until [`promote`](Self::promote).
    pub fn upgrade_with(
        &self,
        module: &str,
        source: impl Into<Source>,
        opts: HostUpgradeOptions,
    ) -> Result<MigrationReport, HostUpgradeError> {
        match opts.mode {
            UpgradeMode::Atomic => self.upgrade_all(vec![(module.to_owned(), source.into())], opts),
            UpgradeMode::Gradual(canary) => {
                self.upgrade_gradual(module, source.into(), canary, opts)
            }
        }
    }

    /// Upgrade several modules as one unit (OTP's `atomic_load`): every
    /// actor of every module migrates, or none does.
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// Every actor of every module named pauses until all have migrated;
    /// the modules' slots change in one step.
    pub fn upgrade_all(
        &self,
        modules: Vec<(String, Source)>,
        opts: HostUpgradeOptions,
    ) -> Result<MigrationReport, HostUpgradeError> {
        let shared = &self.shared;
        let _one_at_a_time = shared.upgrading.lock();
        let started = Instant::now();
        // 1. Validate everything.
        let mut prepared: Vec<Prepared> = Vec::with_capacity(modules.len());
        for (name, source) in modules {
            prepared.push(shared.code.prepare(&name, source, opts.code())?);
        }
        if opts.purge {
            for p in &prepared {
                shared.kill_others(p.name(), p.running.as_ref());
            }
        }
        // 2. Suspend every actor of every module being changed, in id order.
        let mut cells: Vec<(usize, Arc<ActorCell>)> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            if !p.unchanged {
                cells.extend(shared.actors_of(p.name()).into_iter().map(|c| (i, c)));
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
                        shared.release(c, g);
                    }
                    let e = HostUpgradeError::SuspendTimeout {
                        actor: cell.id,
                        module: prepared[*i].name().to_owned(),
                        timeout: opts.suspend_timeout,
                    };
                    for p in prepared {
                        shared.code.abandon(p, &e);
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
        let opts_ref = &opts;
        let migrated = parallel_map(work, |(k, old, to)| {
            let result = old.migrate_to(&to, extra);
            opts_ref.tick();
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
                Err(e) => failed.push(failure(cell, &e)),
            }
        }
        failed.sort_by_key(|f| f.actor);
        // 4./6. Abort on any failure: old instances untouched, resume all.
        if !failed.is_empty() {
            drop(next);
            for (_, c, g, _) in held {
                shared.release(c, g);
            }
            let e = HostUpgradeError::MigrationFailed { failed };
            for p in prepared {
                shared.code.abandon(p, &e);
            }
            tracing::warn!(error = %e, "upgrade aborted, every actor restored");
            return Err(e);
        }
        // 5. Commit the slots, swap the instances, resume.
        let code = match shared.code.commit_all(prepared) {
            Ok(r) => r,
            Err(e) => {
                for (_, c, g, _) in held {
                    shared.release(c, g);
                }
                return Err(HostUpgradeError::Concurrent(e.0));
            }
        };
        let mut report = empty_report(code);
        let mut snapshots: Snapshots = HashMap::new();
        for ((i, cell, mut body, paused), done) in held.into_iter().zip(next) {
            if let Some((new, snap)) = done {
                *body = Body::Module(new);
                let module = &report.code[i].module;
                if !snapshots.contains_key(module) {
                    snapshots.insert(module.clone(), HashMap::new());
                }
                snapshots.get_mut(module).expect("inserted").insert(cell.id, snap);
                report.migrated += 1;
            }
            report.longest_pause = report.longest_pause.max(paused.elapsed());
            shared.release(cell, body);
        }
        // The snapshots of this upgrade replace those of the previous one.
        shared.snapshots.lock().extend(snapshots);
        report.duration = started.elapsed();
        Ok(report)
    }

    fn upgrade_gradual(
        &self,
        module: &str,
        source: Source,
        canary: Canary,
        opts: HostUpgradeOptions,
    ) -> Result<MigrationReport, HostUpgradeError> {
        let shared = &self.shared;
        let _one_at_a_time = shared.upgrading.lock();
        let started = Instant::now();
        let prepared = shared.code.prepare(module, source, opts.code())?;
        if opts.purge {
            shared.kill_others(module, prepared.running.as_ref());
        }
        let (from, to) = (prepared.running.clone(), Arc::clone(&prepared.new));
        let code = shared.code.commit(prepared).map_err(|e| HostUpgradeError::Concurrent(e.0))?;
        let mut report = empty_report(vec![code]);
        let Some(from) = from else {
            report.duration = started.elapsed();
            return Ok(report);
        };
        let actors = shared.actors_of(module);
        let n = match canary {
            Canary::Count(n) => n,
            Canary::Percent(p) => (actors.len() * p.min(100) as usize).div_ceil(100),
        }
        .min(actors.len());
        let mut canaries = Vec::with_capacity(n);
        let deadline = Instant::now() + opts.suspend_timeout;
        for cell in &actors[..n] {
            match shared.migrate_one(cell, &from, &to, &opts.extra, deadline) {
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
        shared.gradual.lock().insert(module.to_owned(), Gradual { canaries });
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Finish a gradual upgrade: migrate every actor still on the old version.
    ///
    /// # Errors
    /// [`HostUpgradeError::NoGradualUpgrade`].
    ///
    /// # Upgrade behaviour
    /// Each remaining actor pauses only for its own migration.
    pub fn promote(&self, module: &str) -> Result<MigrationReport, HostUpgradeError> {
        let shared = &self.shared;
        let _one_at_a_time = shared.upgrading.lock();
        let started = Instant::now();
        if shared.gradual.lock().remove(module).is_none() {
            return Err(HostUpgradeError::NoGradualUpgrade(module.to_owned()));
        }
        let (Some(to), Some(from)) = (shared.code.current(module), shared.code.old(module)) else {
            return Err(HostUpgradeError::NoGradualUpgrade(module.to_owned()));
        };
        let mut report = empty_report(Vec::new());
        let deadline = Instant::now() + Duration::from_secs(5);
        for cell in shared.actors_of(module) {
            match shared.migrate_one(&cell, &from, &to, &[], deadline) {
                Ok(Some(pause)) => {
                    report.migrated += 1;
                    report.longest_pause = report.longest_pause.max(pause);
                }
                Ok(None) => {}
                Err(f) => report.failed.push(f),
            }
        }
        report.remaining = report.failed.len();
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Cancel a gradual upgrade: the canaries go back, the old version is
    /// current again, the new one is unloaded.
    ///
    /// # Errors
    /// [`HostUpgradeError::NoGradualUpgrade`].
    ///
    /// # Upgrade behaviour
    /// As [`rollback`](Self::rollback), for the canaries (and any actor
    /// spawned on the new version meanwhile).
    pub fn abort(&self, module: &str) -> Result<MigrationReport, HostUpgradeError> {
        if self.shared.gradual.lock().remove(module).is_none() {
            return Err(HostUpgradeError::NoGradualUpgrade(module.to_owned()));
        }
        let report = self.rollback(module)?;
        self.shared.code.purge(module).ok();
        Ok(report)
    }

    /// Make `old` current again and move every actor back to it (see the
    /// module docs).
    ///
    /// # Errors
    /// [`HostUpgradeError::Rollback`]: not loaded, or no old version.
    ///
    /// # Upgrade behaviour
    /// Each actor pauses only for its own migration back.
    pub fn rollback(&self, module: &str) -> Result<MigrationReport, HostUpgradeError> {
        let shared = &self.shared;
        let _one_at_a_time = shared.upgrading.lock();
        let started = Instant::now();
        shared.code.rollback(module)?;
        shared.gradual.lock().remove(module);
        let (Some(older), Some(newer)) = (shared.code.current(module), shared.code.old(module))
        else {
            // Only a purge through the code server directly, between the two
            // calls above, can empty a slot.
            return Err(HostUpgradeError::Concurrent(module.to_owned()));
        };
        let mut report = empty_report(Vec::new());
        for cell in shared.actors_of(module) {
            shared.roll_back_one(&cell, &newer, &older, &mut report);
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Stop the actors still on `old` (`killed`) and drop `old`.
    ///
    /// # Errors
    /// The module is not loaded.
    ///
    /// # Upgrade behaviour
    /// Mail queued to the killed actors is answered with the exit reason
    /// (calls) or counted as dead letters (casts).
    pub fn purge(
        &self,
        module: &str,
    ) -> Result<crate::code_server::PurgeReport, crate::code_server::PurgeError> {
        let _one_at_a_time = self.shared.upgrading.lock();
        let current = self.shared.code.current(module);
        self.shared.kill_others(module, current.as_ref());
        self.shared.snapshots.lock().remove(module);
        self.shared.code.purge(module)
    }
}
