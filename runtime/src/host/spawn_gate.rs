//! The spawn gate: spawns wait while an atomic upgrade commits.
//!
//! An actor spawned (by a host thread, a module's `ctx.spawn`, or a
//! supervisor's restart) while an atomic upgrade of its module migrates
//! would start on the version being replaced, after the upgrade listed the
//! actors to migrate: it would be stranded on `old`. So every spawn of a
//! module actor holds the gate shared for as long as it runs (its `init`
//! included) and until the actor is in the registry; the atomic upgrade,
//! once the actors it listed are suspended, takes the gate exclusively —
//! which waits for the spawns in flight — lists the actors again, suspends
//! the newcomers too, and holds the gate until the new version is current
//! (or the upgrade aborted). Spawns that come meanwhile wait, then start on
//! whichever version is current.
//!
//! Every wait is bounded: the upgrade's by its suspend timeout (it aborts,
//! nothing changed), a spawn's by the upgrade's. A spawn inside a spawn (an
//! `init` that spawns) takes the gate again without waiting (a thread
//! counts its holds), so it cannot deadlock behind a waiting upgrade.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::cell::Cell;
use std::time::Instant;

thread_local! {
    /// How many spawn passes this thread holds (spawns within spawns).
    static HELD: Cell<usize> = const { Cell::new(0) };
}

#[derive(Debug, Default)]
pub(crate) struct SpawnGate {
    lock: RwLock<()>,
}

/// A spawn's hold on the gate.
pub(crate) struct Pass<'a> {
    _guard: RwLockReadGuard<'a, ()>,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get() - 1));
    }
}

impl SpawnGate {
    /// Hold the gate for one spawn: waits while an upgrade holds it, unless
    /// this thread holds it already.
    pub(crate) fn pass(&self) -> Pass<'_> {
        let nested = HELD.with(|h| {
            let n = h.get();
            h.set(n + 1);
            n > 0
        });
        let guard = if nested { self.lock.read_recursive() } else { self.lock.read() };
        Pass { _guard: guard }
    }

    /// Close the gate: wait until the spawns in flight are done (at most
    /// until `deadline`), then hold every new one back until the returned
    /// guard drops. `None` at the deadline.
    pub(crate) fn close_until(&self, deadline: Instant) -> Option<RwLockWriteGuard<'_, ()>> {
        self.lock.try_write_until(deadline)
    }
}
