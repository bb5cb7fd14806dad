//! What the upgrade protocols share: finding an actor's instance on a
//! version, moving one actor (suspending only it), and running migrations on
//! every core.

use super::report::{ActorFailure, MigrateError};
use crate::actor::{ActorCell, Body, Instance, release};
use crate::code_server::{ModuleCallError, Version};
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

/// Below this many items, `parallel_map` runs on the calling thread.
const PARALLEL_MIN: usize = 512;

/// Map `items` with `f` on every core (scoped threads), keeping no order.
pub(super) fn parallel_map<T: Send, U: Send>(items: Vec<T>, f: impl Fn(T) -> U + Sync) -> Vec<U> {
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
