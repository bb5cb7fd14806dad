//! The registry: every live actor by id, the registered names, and an index
//! of each module's actors by the version they run.
//!
//! The index is what upgrades, purges and status read: finding the actors on
//! a module's `old` version, or counting the actors per version, takes one
//! lock and never touches an actor's body. Whoever changes the version an
//! actor's body runs (a spawn, a migration, a restart in place) records it
//! here through [`Registry::moved`], under the index lock, so the index and
//! each actor's recorded serial agree.
//!
//! Locks: `names`, then `index`, then `actors`, never the other way round;
//! no actor lock is taken under any of them. An atomic upgrade's commit
//! holds `index` ([`Moves`]) while it releases the actors it suspended
//! before taking it: letting a body go takes no lock, and whoever waits
//! for `index` meanwhile (an actor exiting) waits for that pass only.
//!
//! `actors` is the map every send by id reads (a module's `ctx.send`, a
//! port's reply): it is split into [`SHARDS`] maps by id, each behind its
//! own lock on its own cache line, so the workers' lookups do not all
//! write one lock word. Ids are sequential, so `id % SHARDS` spreads them
//! evenly and a shard's map hashes with Fx, not SipHash (ids are not
//! chosen by anyone who could aim at a bucket).

use super::SpawnError;
use crate::actor::{ActorCell, ActorId};
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// module → version serial → the actors whose body runs that version.
type Index = HashMap<Arc<str>, HashMap<u64, HashSet<ActorId>>>;

/// How many maps the live actors are split into.
const SHARDS: usize = 64;

/// How many cells [`Actors::get_all`] reads ahead of cloning them.
const BATCH: usize = 16;

/// One shard of [`Actors`].
type Shard = RwLock<FxHashMap<ActorId, Arc<ActorCell>>>;

/// Every live actor by id, in [`SHARDS`] maps.
#[derive(Debug)]
struct Actors {
    shards: Box<[CachePadded<Shard>]>,
}

impl Actors {
    fn new() -> Self {
        Actors { shards: (0..SHARDS).map(|_| CachePadded::new(RwLock::default())).collect() }
    }

    fn shard(&self, id: ActorId) -> &Shard {
        &self.shards[(id.0 % SHARDS as u64) as usize]
    }

    fn insert(&self, cell: &Arc<ActorCell>) {
        self.shard(cell.id).write().insert(cell.id, Arc::clone(cell));
    }

    fn remove(&self, id: ActorId) {
        self.shard(id).write().remove(&id);
    }

    fn get(&self, id: ActorId) -> Option<Arc<ActorCell>> {
        self.shard(id).read().get(&id).cloned()
    }

    /// The live cells of `ids`, in the order of `ids`: each shard's lock
    /// taken once for all of its ids, not three locked instructions per id
    /// (lock, clone, unlock).
    ///
    /// At 100 k actors the cells do not fit in the cache, and an `Arc`'s
    /// clone is a locked increment, a full barrier: cloning one cell after
    /// another waits for one miss at a time. So each shard's ids go in
    /// batches of [`BATCH`]: their cells are found and read first (plain
    /// loads, whose misses overlap), then cloned, by then in the cache.
    fn get_all(&self, ids: &[ActorId]) -> Vec<Arc<ActorCell>> {
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); SHARDS];
        for (at, id) in ids.iter().enumerate() {
            positions[(id.0 % SHARDS as u64) as usize].push(at);
        }
        let mut found: Vec<Option<Arc<ActorCell>>> = vec![None; ids.len()];
        for (shard, at) in self.shards.iter().zip(positions) {
            let map = shard.read();
            for batch in at.chunks(BATCH) {
                let cells: [Option<&Arc<ActorCell>>; BATCH] =
                    std::array::from_fn(|k| batch.get(k).and_then(|&at| map.get(&ids[at])));
                for cell in cells.iter().flatten() {
                    std::hint::black_box(Arc::strong_count(cell));
                }
                for (&at, cell) in batch.iter().zip(cells) {
                    found[at] = cell.cloned();
                }
            }
        }
        found.into_iter().flatten().collect()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Every actor, in no order (one shard locked at a time).
    fn all(&self) -> Vec<(ActorId, Arc<ActorCell>)> {
        let mut all = Vec::with_capacity(self.len());
        for s in self.shards.iter() {
            all.extend(s.read().iter().map(|(id, c)| (*id, Arc::clone(c))));
        }
        all
    }
}

#[derive(Debug)]
pub(crate) struct Registry {
    actors: Actors,
    names: RwLock<HashMap<String, ActorId>>,
    index: Mutex<Index>,
    next_id: AtomicU64,
    /// Insertions into the index so far (an upgrade's cheap check that no
    /// actor came in since it listed them).
    inserts: AtomicU64,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            actors: Actors::new(),
            names: RwLock::new(HashMap::new()),
            index: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            inserts: AtomicU64::new(0),
        }
    }

    /// A fresh id, never used before in this host.
    pub(crate) fn new_id(&self) -> ActorId {
        // ORDERING: only uniqueness matters.
        ActorId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Register a new (or restarted) actor, under `name` if given.
    ///
    /// # Errors
    /// [`SpawnError::NameTaken`]; nothing is registered then.
    pub(crate) fn insert(
        &self,
        cell: &Arc<ActorCell>,
        name: Option<String>,
    ) -> Result<(), SpawnError> {
        if let Some(name) = name {
            let mut names = self.names.write();
            if names.contains_key(&name) {
                return Err(SpawnError::NameTaken(name));
            }
            names.insert(name.clone(), cell.id);
            cell.control.lock().name = Some(name);
        }
        // The cell first, then the index: a listing (`actors_of_where`)
        // takes ids from the index and looks each cell up, so an id that is
        // in the index must find its cell. The other order let an atomic
        // upgrade list an id whose cell was not there yet, skip it, and —
        // the insertion having been counted before the upgrade read
        // `inserts` — not list again once the spawn gate closed: the actor
        // stayed on the version being replaced (a flake of
        // `upgrade_holes::spawns_racing_atomic_upgrades_all_end_on_the_current_version`).
        self.actors.insert(cell);
        if let Some(m) = &cell.module {
            let mut index = self.index.lock();
            let serial = cell.version_serial();
            index.entry(Arc::clone(m)).or_default().entry(serial).or_default().insert(cell.id);
            // ORDERING: Relaxed under the index lock, which orders it with
            // the listings that read it (`inserts` is read with the lock
            // released, after a listing took it: a later insertion shows).
            self.inserts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Register `name` for `id` ahead of its restart in place (which then
    /// inserts it without a name).
    ///
    /// # Errors
    /// [`SpawnError::NameTaken`]; nothing is registered then.
    pub(crate) fn claim(&self, name: &str, id: ActorId) -> Result<(), SpawnError> {
        let mut names = self.names.write();
        if names.contains_key(name) {
            return Err(SpawnError::NameTaken(name.to_owned()));
        }
        names.insert(name.to_owned(), id);
        Ok(())
    }

    /// Undo a [`claim`](Self::claim) whose restart failed.
    pub(crate) fn unclaim(&self, name: &str) {
        self.names.write().remove(name);
    }

    /// Take an exiting actor out of every map.
    pub(crate) fn remove(&self, cell: &ActorCell, name: Option<String>) {
        if let Some(name) = name {
            self.names.write().remove(&name);
        }
        if let Some(m) = &cell.module {
            let mut index = self.index.lock();
            if let Some(versions) = index.get_mut(m) {
                let serial = cell.version_serial();
                if let Some(ids) = versions.get_mut(&serial) {
                    ids.remove(&cell.id);
                    if ids.is_empty() {
                        versions.remove(&serial);
                    }
                }
            }
        }
        self.actors.remove(cell.id);
    }

    /// How many actors were put in the index so far.
    pub(crate) fn inserts(&self) -> u64 {
        let _index = self.index.lock();
        // ORDERING: read under the index lock, as written.
        self.inserts.load(Ordering::Relaxed)
    }

    /// The index, locked for the moves of an atomic upgrade's commit,
    /// until the [`Moves`] is dropped.
    pub(crate) fn moves(&self) -> Moves<'_> {
        Moves { index: self.index.lock() }
    }

    fn move_locked(index: &mut Index, cell: &ActorCell, to: u64) {
        let Some(m) = &cell.module else { return };
        let versions = index.entry(Arc::clone(m)).or_default();
        let from = cell.version_serial();
        if from == to {
            return;
        }
        if let Some(ids) = versions.get_mut(&from) {
            ids.remove(&cell.id);
            if ids.is_empty() {
                versions.remove(&from);
            }
        }
        versions.entry(to).or_default().insert(cell.id);
        cell.set_version_serial(to);
    }

    /// `cell`'s body now runs the version with serial `to`.
    pub(crate) fn moved(&self, cell: &ActorCell, to: u64) {
        Self::move_locked(&mut self.index.lock(), cell, to);
    }

    pub(crate) fn lookup(&self, id: ActorId) -> Option<Arc<ActorCell>> {
        self.actors.get(id)
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<ActorId> {
        self.names.read().get(name).copied()
    }

    fn cells(&self, mut ids: Vec<ActorId>) -> Vec<Arc<ActorCell>> {
        ids.sort_unstable();
        self.actors.get_all(&ids)
    }

    /// The actors of `module`, whatever version they run, in id order.
    pub(crate) fn actors_of(&self, module: &str) -> Vec<Arc<ActorCell>> {
        let ids: Vec<ActorId> = self
            .index
            .lock()
            .get(module)
            .map(|v| v.values().flatten().copied().collect())
            .unwrap_or_default();
        self.cells(ids)
    }

    /// The actors of `module` whose body runs a version `keep` does not
    /// accept, in id order.
    pub(crate) fn actors_of_where(
        &self,
        module: &str,
        keep: impl Fn(u64) -> bool,
    ) -> Vec<Arc<ActorCell>> {
        let ids: Vec<ActorId> = self
            .index
            .lock()
            .get(module)
            .map(|v| {
                v.iter()
                    .filter(|(serial, _)| !keep(**serial))
                    .flat_map(|(_, ids)| ids)
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        self.cells(ids)
    }

    /// Live actors of `module`.
    pub(crate) fn count_of(&self, module: &str) -> usize {
        self.index.lock().get(module).map_or(0, |v| v.values().map(HashSet::len).sum())
    }

    // issue 20: cli
    /// How many actors of `module` run each version (by serial), from the
    /// index alone: one lock, no actor touched.
    pub(crate) fn counts_by_version(&self, module: &str) -> HashMap<u64, usize> {
        self.index
            .lock()
            .get(module)
            .map(|v| v.iter().map(|(serial, ids)| (*serial, ids.len())).collect())
            .unwrap_or_default()
    }

    // issue 16: status at scale
    /// Every registered name by the actor holding it: one lock, no actor's
    /// control lock (views read names from here).
    pub(crate) fn names_by_id(&self) -> HashMap<ActorId, String> {
        self.names.read().iter().map(|(n, id)| (*id, n.clone())).collect()
    }

    /// Live actors.
    pub(crate) fn count(&self) -> usize {
        self.actors.len()
    }

    /// Every live actor, in id order.
    pub(crate) fn all(&self) -> Vec<Arc<ActorCell>> {
        // issue 16: status at scale — sorted by the map's own keys: sorting
        // by `c.id` read every cell's memory about 17 times (at 100 k).
        let mut cells = self.actors.all();
        cells.sort_unstable_by_key(|(id, _)| *id);
        cells.into_iter().map(|(_, c)| c).collect()
    }
}

/// The index locked for a batch of moves (an atomic upgrade's commit).
///
/// A version's set of actors can move to another in one step
/// ([`whole`](Moves::whole)); each of its actors then has only its recorded
/// serial set ([`moved`](Moves::moved)), as the caller reaches it. Until
/// then the set and those actors' serials disagree, which nobody sees:
/// wherever the two must agree (an exit's removal, a listing) the index
/// is locked, and the actors' bodies are held by the caller.
pub(crate) struct Moves<'a> {
    index: parking_lot::MutexGuard<'a, Index>,
}

impl Moves<'_> {
    /// Move `module`'s set of actors recorded on serial `from` to `to`
    /// whole, if it holds exactly `count` actors (the caller's: every actor
    /// it moves off `from`); false (nothing done) otherwise.
    pub(crate) fn whole(&mut self, module: &str, from: u64, to: u64, count: usize) -> bool {
        let Some(versions) = self.index.get_mut(module) else { return false };
        if from == to || versions.get(&from).is_none_or(|ids| ids.len() != count) {
            return false;
        }
        let ids = versions.remove(&from).unwrap_or_default();
        match versions.get_mut(&to) {
            Some(existing) => existing.extend(ids),
            None => {
                versions.insert(to, ids);
            }
        }
        true
    }

    /// `cell`'s body now runs serial `to`; `in_whole`: its set moved whole
    /// there already.
    pub(crate) fn moved(&mut self, cell: &ActorCell, to: u64, in_whole: bool) {
        if in_whole {
            cell.set_version_serial(to);
        } else {
            Registry::move_locked(&mut self.index, cell, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::{Body, ExitReason};
    use relive_codec::Fingerprint;

    fn cell(registry: &Registry, module: &Arc<str>) -> Arc<ActorCell> {
        let schemas = (Fingerprint([0; 8]), Fingerprint([0; 8]));
        let body = Body::Exited(ExitReason::Normal);
        Arc::new(ActorCell::new(
            registry.new_id(),
            Some(Arc::clone(module)),
            schemas,
            body,
            4,
            false,
        ))
    }

    /// What an atomic upgrade relies on to list the actors spawned while it
    /// suspends (`host/upgrade/atomic.rs`): an id the index lists has its
    /// cell. With the index filled before the cell map, a listing could see
    /// an id whose cell was not there yet and skip it, while `inserts`
    /// already counted it, so the upgrade did not list again (the flake of
    /// `upgrade_holes::spawns_racing_atomic_upgrades_all_end_on_the_current_version`).
    /// Four actors per module keep each listing short, so it looks its ids
    /// up at once, inside the window an insertion leaves.
    #[test]
    fn an_id_in_the_index_has_its_cell() {
        const PER_MODULE: u64 = 4;
        const N: u64 = if cfg!(miri) { 50 } else { 40_000 };
        let registry = Arc::new(Registry::new());
        let modules: Arc<Vec<Arc<str>>> =
            Arc::new((0..N / PER_MODULE).map(|k| Arc::from(format!("m{k}"))).collect());
        let inserter = {
            let (registry, modules) = (Arc::clone(&registry), Arc::clone(&modules));
            std::thread::spawn(move || {
                for i in 0..N {
                    let m = &modules[(i / PER_MODULE) as usize];
                    registry.insert(&cell(&registry, m), None).unwrap();
                }
            })
        };
        let mut missed = 0u64;
        loop {
            let n = registry.inserts();
            let m = &modules[(n.saturating_sub(1) / PER_MODULE) as usize];
            let ids: Vec<ActorId> = registry
                .index
                .lock()
                .get(m)
                .map(|v| v.values().flatten().copied().collect())
                .unwrap_or_default();
            missed += ids.iter().filter(|id| registry.actors.get(**id).is_none()).count() as u64;
            if n == N {
                break;
            }
        }
        inserter.join().unwrap();
        assert_eq!(missed, 0, "listings found ids in the index without their cell");
    }

    /// An upgrade's listing (`Actors::get_all`): every live cell of the ids
    /// given, in their order, across shards and batches; a gone id is
    /// skipped; each cell found is the one registered under its id.
    #[test]
    fn a_listing_gives_the_live_cells_of_its_ids_in_their_order() {
        let registry = Registry::new();
        let m: Arc<str> = Arc::from("m");
        let n = SHARDS * BATCH * 2 + 7;
        let cells: Vec<Arc<ActorCell>> = (0..n).map(|_| cell(&registry, &m)).collect();
        for c in &cells {
            registry.insert(c, None).unwrap();
        }
        let gone: HashSet<ActorId> = cells.iter().step_by(5).map(|c| c.id).collect();
        for c in cells.iter().step_by(5) {
            registry.remove(c, None);
        }
        // Not in id order, and with an id never registered.
        let mut ids: Vec<ActorId> = cells.iter().rev().map(|c| c.id).collect();
        ids.insert(ids.len() / 2, ActorId(u64::MAX));
        let found = registry.actors.get_all(&ids);
        let live: Vec<&Arc<ActorCell>> =
            cells.iter().rev().filter(|c| !gone.contains(&c.id)).collect();
        assert_eq!(found.len(), live.len());
        assert!(found.iter().zip(live).all(|(f, c)| Arc::ptr_eq(f, c)));
        assert!(registry.actors.get_all(&[]).is_empty());
    }

    /// An atomic upgrade's commit (`host/upgrade/atomic.rs`): a version's
    /// set moves whole only when the caller moves all of its actors; an
    /// actor moved alone leaves its set; either way the index and the
    /// actors' serials agree afterwards.
    #[test]
    fn moves_take_a_set_whole_only_when_all_of_it_leaves() {
        let registry = Registry::new();
        let m: Arc<str> = Arc::from("m");
        let on = |serial: u64| {
            let c = cell(&registry, &m);
            c.set_version_serial(serial);
            registry.insert(&c, None).unwrap();
            c
        };
        let (a, b) = (on(1), on(1));
        let (c, d) = (on(2), on(2));
        {
            let mut moves = registry.moves();
            assert!(!moves.whole("m", 1, 3, 1), "a set of two is not moved for one actor");
            assert!(!moves.whole("m", 1, 1, 2), "a set does not move onto itself");
            assert!(!moves.whole("other", 1, 3, 2), "nor a module's that is not there");
            assert!(moves.whole("m", 2, 3, 2));
            moves.moved(&c, 3, true);
            moves.moved(&d, 3, true);
            moves.moved(&a, 3, false);
        }
        let by_version = registry.counts_by_version("m");
        assert_eq!(by_version, HashMap::from([(1, 1), (3, 3)]));
        let serials: Vec<u64> = [&a, &b, &c, &d].iter().map(|x| x.version_serial()).collect();
        assert_eq!(serials, [3, 1, 3, 3]);
        for x in [&a, &b, &c, &d] {
            registry.remove(x, None);
        }
        assert!(registry.counts_by_version("m").is_empty(), "every actor left its set");
    }
}
