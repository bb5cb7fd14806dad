//! The upgrade state a host keeps between upgrades: one upgrade at a time,
//! the snapshots rollbacks fall back on, the gradual upgrades in progress.

use crate::actor::ActorId;
use parking_lot::Mutex;
use relive_codec::StateSnapshot;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A gradual upgrade in progress: the canaries that went first.
#[derive(Debug)]
pub(crate) struct Gradual {
    pub(crate) canaries: Vec<ActorId>,
    // issue 17: functions
    /// The percentage of function calls the new version serves meanwhile.
    pub(crate) function_share: u32,
}

/// A rollback an actor makes at its next message boundary (it was busy in a
/// handler when the rollback ran).
#[derive(Debug)]
pub(crate) struct Deferred {
    pub(crate) newer: Arc<crate::code_server::Version>,
    pub(crate) older: Arc<crate::code_server::Version>,
}

/// Per-module snapshots taken when actors migrated, for rollbacks.
pub(crate) type Snapshots = HashMap<String, KeptStates>;

/// One module's snapshots, by actor: the ones an atomic upgrade collected,
/// kept as it collected them (a list in id order, searched by halving: no
/// map to build — building one for 100 k actors was 6 ms of the upgrade),
/// and the ones kept one at a time since (a gradual upgrade's moves).
/// An actor's snapshot is in one of the two. Each names the version that
/// wrote it by its place in `tags`: no reference count per actor (an
/// `Arc` clone is a locked instruction, a full barrier in the middle of
/// the commit's pass over the actors).
#[derive(Debug, Default)]
pub(crate) struct KeptStates {
    /// The versions the states were written by: a few.
    tags: Vec<Arc<SnapshotTag>>,
    sorted: Vec<(ActorId, Kept)>,
    later: BTreeMap<ActorId, Kept>,
}

impl KeptStates {
    /// The snapshots of one upgrade, one per actor, each [`Kept::tag`] an
    /// index into `tags` (sorted here unless they come in id order already,
    /// as they do but for actors that restarted while the upgrade suspended
    /// the rest).
    pub(crate) fn new(tags: Vec<Arc<SnapshotTag>>, mut all: Vec<(ActorId, Kept)>) -> Self {
        if !all.is_sorted_by_key(|(id, _)| *id) {
            all.sort_by_key(|(id, _)| *id);
        }
        debug_assert!(all.iter().all(|(_, k)| k.tag < tags.len()), "a tag out of the list");
        KeptStates { tags, sorted: all, later: BTreeMap::new() }
    }

    /// `actor`'s snapshot, as a rollback restores it.
    pub(crate) fn snapshot(&self, actor: ActorId) -> Option<StateSnapshot> {
        let kept = match self.sorted.binary_search_by_key(&actor, |(id, _)| *id) {
            Ok(i) => &self.sorted[i].1,
            Err(_) => self.later.get(&actor)?,
        };
        let tag = &self.tags[kept.tag];
        Some(StateSnapshot {
            module: tag.module.clone(),
            version: tag.version.clone(),
            schema: tag.schema,
            bytes: kept.bytes.clone(),
        })
    }

    /// Keep `snapshot`, taken on its own (one actor's move), as `actor`'s,
    /// in place of any before.
    pub(crate) fn insert(&mut self, actor: ActorId, snapshot: StateSnapshot) {
        let StateSnapshot { module, version, schema, bytes } = snapshot;
        let tag = match self
            .tags
            .iter()
            .position(|t| t.module == module && t.version == version && t.schema == schema)
        {
            Some(tag) => tag,
            None => {
                self.tags.push(Arc::new(SnapshotTag { module, version, schema }));
                self.tags.len() - 1
            }
        };
        let kept = Kept { tag, bytes };
        match self.sorted.binary_search_by_key(&actor, |(id, _)| *id) {
            Ok(i) => self.sorted[i].1 = kept,
            Err(_) => {
                self.later.insert(actor, kept);
            }
        }
    }
}

/// Who wrote a kept state: one per version an upgrade moved actors off,
/// shared by all of them (two strings per actor were 200 k allocations in
/// an upgrade of 100 k actors).
#[derive(Debug)]
pub(crate) struct SnapshotTag {
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) schema: relive_codec::Fingerprint,
}

impl SnapshotTag {
    /// The tag of the states `version` writes.
    pub(crate) fn of(version: &crate::code_server::Version) -> Arc<Self> {
        Arc::new(SnapshotTag {
            module: version.name().to_owned(),
            version: version.version_str().to_owned(),
            schema: version.schemas().state,
        })
    }
}

/// One actor's upgrade-time snapshot, kept for a rollback: its state's
/// bytes and which of its [`KeptStates`]' tags names the version that
/// wrote them.
#[derive(Debug)]
pub(crate) struct Kept {
    pub(crate) tag: usize,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct UpgradeState {
    /// Serialises upgrades, rollbacks and purges (the module table is the
    /// single writer of slots; this keeps the actor migrations of one from
    /// interleaving with another's).
    pub(crate) lock: Mutex<()>,
    /// Snapshots taken when actors migrated, for rollbacks without `downgrade`.
    pub(crate) snapshots: Mutex<Snapshots>,
    /// Gradual upgrades in progress.
    pub(crate) gradual: Mutex<HashMap<String, Gradual>>,
    /// Moves actors make at their next message boundary.
    pub(crate) deferred: Mutex<HashMap<ActorId, Deferred>>,
    /// The modules whose actors an upgrade holds suspended right now.
    pub(crate) suspending: Mutex<Vec<String>>,
}

impl UpgradeState {
    /// An actor exited: no deferred move of it remains.
    pub(crate) fn forget(&self, actor: ActorId) {
        let mut deferred = self.deferred.lock();
        if !deferred.is_empty() {
            deferred.remove(&actor);
        }
    }

    // issue 16: status at scale
    /// The modules an upgrade holds suspended right now (one lock, for a
    /// view of every actor).
    pub(crate) fn suspending_modules(&self) -> Vec<String> {
        self.suspending.lock().clone()
    }
}

/// Marks modules as suspended by an upgrade until dropped.
pub(crate) struct Suspending<'a> {
    state: &'a UpgradeState,
    modules: Vec<String>,
}

impl<'a> Suspending<'a> {
    pub(crate) fn new(state: &'a UpgradeState, modules: Vec<String>) -> Self {
        state.suspending.lock().extend(modules.iter().cloned());
        Suspending { state, modules }
    }
}

impl Drop for Suspending<'_> {
    fn drop(&mut self) {
        let mut s = self.state.suspending.lock();
        for m in &self.modules {
            if let Some(i) = s.iter().position(|x| x == m) {
                s.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(version: &str) -> SnapshotTag {
        SnapshotTag {
            module: "m".into(),
            version: version.into(),
            schema: relive_codec::Fingerprint([0; 8]),
        }
    }

    fn snapshot(version: &str, byte: u8) -> StateSnapshot {
        let SnapshotTag { module, version, schema } = tag(version);
        StateSnapshot { module, version, schema, bytes: vec![byte] }
    }

    fn kept(byte: u8) -> Kept {
        Kept { tag: 0, bytes: vec![byte] }
    }

    fn found(states: &KeptStates, id: u64) -> Option<(String, Vec<u8>)> {
        states.snapshot(ActorId(id)).map(|s| (s.version, s.bytes))
    }

    /// An upgrade's list, out of order when actors restarted meanwhile,
    /// is found by id; a later snapshot replaces an actor's, or is added.
    #[test]
    fn kept_states_find_each_actor_and_take_later_ones() {
        let tags = vec![Arc::new(tag("1.0.0"))];
        let mut states = KeptStates::new(tags, vec![(ActorId(5), kept(5)), (ActorId(2), kept(2))]);
        let v1 = |b: u8| Some(("1.0.0".to_owned(), vec![b]));
        assert_eq!(found(&states, 2), v1(2));
        assert_eq!(found(&states, 5), v1(5));
        assert_eq!(found(&states, 3), None);
        states.insert(ActorId(5), snapshot("1.0.0", 50));
        states.insert(ActorId(3), snapshot("2.0.0", 3));
        states.insert(ActorId(7), snapshot("2.0.0", 7));
        assert_eq!(found(&states, 5), v1(50));
        assert_eq!(found(&states, 3), Some(("2.0.0".to_owned(), vec![3])));
        assert_eq!(found(&states, 7), Some(("2.0.0".to_owned(), vec![7])));
        assert_eq!(found(&states, 2), v1(2));
        assert_eq!(states.tags.len(), 2, "a version's tag is kept once");
    }
}
