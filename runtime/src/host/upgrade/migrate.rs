//! What the upgrade protocols share: finding an actor's instance on a
//! version, moving one actor (suspending only it), and running migrations on
//! every core with a deadline.

use super::report::{ActorFailure, MigrateError};
use crate::actor::{ActorCell, Body, Instance, NewState, release};
use crate::code_server::{ModuleCallError, Version};
use crate::ffi::calls::Ticket;
use crate::host::HostShared;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) fn failure(cell: &ActorCell, error: MigrateError) -> ActorFailure {
    ActorFailure { actor: cell.id, module: cell.module.as_deref().unwrap_or("").to_owned(), error }
}

pub(super) fn module_failure(cell: &ActorCell, e: ModuleCallError) -> ActorFailure {
    failure(cell, MigrateError::Module(Box::new(e)))
}

/// The instance in a body, if it runs `version`.
pub(super) fn on_version<'a>(body: &'a Body, version: &Arc<Version>) -> Option<&'a Instance> {
    match body {
        Body::Module(inst) if Arc::ptr_eq(inst.version(), version) => Some(inst),
        _ => None,
    }
}

impl HostShared {
    /// Put `instance` in `cell`'s held body and record the version it runs.
    pub(super) fn set_instance(&self, cell: &ActorCell, body: &mut Body, instance: Instance) {
        self.registry.moved(cell, instance.version().serial());
        *body = Body::Module(instance);
    }

    /// Move one actor from `from` to `to`, suspending only it. Returns its
    /// pause (`None`: it was not on `from`), or why it could not move (it
    /// then stays where it was).
    pub(super) fn migrate_one(
        &self,
        cell: &Arc<ActorCell>,
        from: &Arc<Version>,
        to: &Arc<Version>,
        extra: &[u8],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Option<Duration>, ActorFailure> {
        let Some(mut body) = cell.suspend_until(deadline) else {
            return Err(failure(cell, MigrateError::NoBoundary(timeout)));
        };
        let paused = Instant::now();
        let result = match on_version(&body, from) {
            None => Ok(None),
            Some(inst) => match inst.migrate_to(to, extra) {
                Ok((new, snap)) => {
                    self.set_instance(cell, &mut body, new);
                    self.remember(cell, snap);
                    Ok(Some(paused.elapsed()))
                }
                Err(e) => Err(module_failure(cell, e)),
            },
        };
        release(self, cell, body);
        result
    }

    /// Keep `cell`'s upgrade-time snapshot for a rollback without `downgrade`.
    pub(super) fn remember(&self, cell: &ActorCell, snap: relive_codec::StateSnapshot) {
        let module = cell.module.as_deref().unwrap_or("").to_owned();
        self.upgrades.snapshots.lock().entry(module).or_default().insert(cell.id, snap);
    }
}

/// One migration to run: the instance taken out of its (held) body, the
/// version it moves to (an index into the targets given with the jobs) and
/// the version it runs (an index into the sources given with them: the
/// threads then touch no per-job reference count). `k` identifies it to
/// the caller. The threads of [`run_until`] fill in its result in place:
/// at 100 k actors, copying the jobs into slots and the slots into results
/// was 20 ms of page faults and moves, more than the migrations themselves.
/// A job is 128 bytes, the new state only a [`NewState`] and a failure
/// boxed: 100 k of them are faulted in before the pause.
pub(super) struct Job(parking_lot::Mutex<Slot>);

impl Job {
    pub(super) fn new(k: usize, old: Instance, to: usize, from: usize) -> Self {
        let index = |i: usize| u32::try_from(i).expect("fewer than 2^32 actors and versions");
        let (k, to, from) = (index(k), index(to), index(from));
        Job(parking_lot::Mutex::new(Slot { k, old: Some(old), to, from, result: None }))
    }

    /// The old instance, when it is not being exported right now.
    pub(super) fn take_old(&mut self) -> (usize, Option<Instance>) {
        let s = self.0.get_mut();
        (s.k as usize, s.old.take())
    }
}

/// The new state and the state bytes it was made from (the snapshot's
/// tag is its source version's, shared).
pub(super) type Migrated = (NewState, Vec<u8>);

/// How a job ended, as far as the deadline let it.
pub(super) struct Finished {
    pub(super) k: usize,
    /// The source version, as in [`Job`].
    pub(super) from: usize,
    /// The old instance, unchanged, when its `export_state` returned in
    /// time; `None` when it overran the deadline inside the old version's
    /// code (the instance is lost to the caller: the actor cannot resume).
    pub(super) old: Option<Instance>,
    /// The new state and the bytes it was made from; `None` when the
    /// deadline passed first.
    pub(super) result: Option<Result<Migrated, Box<ModuleCallError>>>,
}

struct Slot {
    k: u32,
    to: u32,
    from: u32,
    old: Option<Instance>,
    result: Option<Result<Migrated, Box<ModuleCallError>>>,
}

/// The jobs [`run_until`] ran, in the order given, with how they ended.
pub(super) struct Migrations {
    jobs: Arc<Vec<Job>>,
    /// Every job succeeded before the deadline.
    all_ok: bool,
}

impl Migrations {
    /// Every job ended with a new instance, in time.
    pub(super) fn all_ok(&self) -> bool {
        self.all_ok
    }

    /// How each job ended, in the order given, each taken out as it is
    /// reached (a job still running past the deadline shows as far as it
    /// got; what it produces later is dropped with the jobs).
    ///
    /// Once every thread has let the jobs go — as they have, or are about
    /// to, when all of them ended — their locks are not taken: a lock and
    /// an unlock per job are two locked instructions, full barriers in the
    /// commit's pass over the actors.
    pub(super) fn finished(&mut self) -> impl Iterator<Item = Finished> + '_ {
        fn take(s: &mut Slot) -> Finished {
            Finished {
                k: s.k as usize,
                from: s.from as usize,
                old: s.old.take(),
                result: s.result.take(),
            }
        }
        let alone = Arc::get_mut(&mut self.jobs).is_some();
        let (mine, shared) = if alone {
            let jobs = Arc::get_mut(&mut self.jobs).expect("checked above");
            (Some(jobs.iter_mut().map(|job| take(job.0.get_mut()))), None)
        } else {
            (None, Some(self.jobs.iter().map(|job| take(&mut job.0.lock()))))
        };
        mine.into_iter().flatten().chain(shared.into_iter().flatten())
    }
}

/// Jobs each migration thread takes at a time.
const CHUNK: usize = 64;

/// Run `jobs` (export on the old version, `code_change` on the new) on up to
/// one thread per core, and wait for them until `deadline`. The threads are
/// not scoped: one stuck in module code past the deadline is left to end
/// whenever it does, and what it then produces is dropped with the
/// versions it belongs to (they stay loaded while it runs).
pub(super) fn run_until(
    jobs: Vec<Job>,
    (sources, targets): (&[Arc<Version>], &[Arc<Version>]),
    extra: &[u8],
    deadline: Instant,
    progress: Option<Arc<std::sync::atomic::AtomicUsize>>,
) -> Migrations {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = jobs.len();
    let slots: Arc<Vec<Job>> = Arc::new(jobs);
    if n == 0 {
        return Migrations { jobs: slots, all_ok: true };
    }
    let extra: Arc<[u8]> = Arc::from(extra);
    // Shared, not cloned per job: one reference count, touched once per thread.
    let targets: Arc<[Arc<Version>]> = Arc::from(targets);
    let sources: Arc<[Arc<Version>]> = Arc::from(sources);
    let next = Arc::new(AtomicUsize::new(0));
    // The jobs done, and how many of them failed.
    let done = Arc::new((parking_lot::Mutex::new((0usize, 0usize)), parking_lot::Condvar::new()));
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = n.div_ceil(CHUNK).clamp(1, cores);
    for _ in 0..threads {
        let (slots, extra, next, done, progress) = (
            Arc::clone(&slots),
            Arc::clone(&extra),
            Arc::clone(&next),
            Arc::clone(&done),
            progress.clone(),
        );
        let (targets, sources) = (Arc::clone(&targets), Arc::clone(&sources));
        let spawned = std::thread::Builder::new().name("relive-migrate".into()).spawn(move || {
            // The jobs, let go before the last chunk is counted: once the
            // caller sees every job counted, no thread that ran one holds
            // them any more (`Migrations::finished` then takes no lock).
            let mut holding = Some(slots);
            // Tickets for the instances this thread makes, per target,
            // taken a chunk's worth at a time ([`Ticket`]).
            let mut tickets: Vec<Vec<Ticket<Version>>> =
                targets.iter().map(|_| Vec::new()).collect();
            // ORDERING: only the partition of indexes matters.
            let mut start = next.fetch_add(CHUNK, Ordering::Relaxed);
            loop {
                let Some(slots) = holding.as_deref() else { return };
                let len = slots.len();
                if start >= len {
                    return;
                }
                let end = (start + CHUNK).min(len);
                let mut failed = 0;
                for job in &slots[start..end] {
                    let (old, t, from) = {
                        let mut s = job.0.lock();
                        let old = s.old.take().expect("each job is taken once");
                        (old, s.to as usize, &sources[s.from as usize])
                    };
                    let bytes = old.export_bytes();
                    // The old instance goes back before the new version's
                    // code runs: a `code_change` that never returns cannot
                    // take the actor's state with it.
                    job.0.lock().old = Some(old);
                    let written_by = (from.version_str(), from.schemas().state);
                    let result = bytes.and_then(|bytes| {
                        let to = &targets[t];
                        if tickets[t].is_empty() {
                            tickets[t] = Ticket::take(to, CHUNK);
                        }
                        let ticket = tickets[t].pop().expect("just taken");
                        NewState::restore(to, ticket, written_by, &bytes, &extra)
                            .map(|new| (new, bytes))
                    });
                    failed += usize::from(result.is_err());
                    job.0.lock().result = Some(result.map_err(Box::new));
                    if let Some(p) = &progress {
                        // ORDERING: a display counter.
                        p.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let ran = end - start;
                // ORDERING: as above.
                start = next.fetch_add(CHUNK, Ordering::Relaxed);
                if start >= len {
                    holding = None;
                    // Un-counted before the last chunk is: once every job
                    // is, each version's count is exact.
                    tickets.clear();
                }
                let (count, all_done) = &*done;
                let mut c = count.lock();
                c.0 += ran;
                c.1 += failed;
                if c.0 == n {
                    all_done.notify_all();
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a migration thread");
        }
    }
    let all_ok = {
        let (count, all_done) = &*done;
        let mut c = count.lock();
        while c.0 < n {
            if all_done.wait_until(&mut c, deadline).timed_out() {
                break;
            }
        }
        *c == (n, 0)
    };
    Migrations { jobs: slots, all_ok }
}
