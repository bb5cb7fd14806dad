//! The upgrade state a host keeps between upgrades: one upgrade at a time,
//! the snapshots rollbacks fall back on, the gradual upgrades in progress.

use crate::actor::ActorId;
use parking_lot::Mutex;
use relive_codec::StateSnapshot;
use std::collections::{BTreeMap, HashMap};

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
    pub(crate) newer: std::sync::Arc<crate::code_server::Version>,
    pub(crate) older: std::sync::Arc<crate::code_server::Version>,
}

/// Per-module snapshots taken when actors migrated, for rollbacks. Ordered
/// by id: an atomic upgrade builds a module's map from its actors in id
/// order in one pass (hashing 100 k ids was its costliest step after the
/// migration itself), a gradual one inserts one actor at a time.
pub(crate) type Snapshots = HashMap<String, BTreeMap<ActorId, Kept>>;

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
    pub(crate) fn of(version: &crate::code_server::Version) -> std::sync::Arc<Self> {
        std::sync::Arc::new(SnapshotTag {
            module: version.name().to_owned(),
            version: version.version_str().to_owned(),
            schema: version.schemas().state,
        })
    }
}

/// One actor's upgrade-time snapshot, kept for a rollback: its state's
/// bytes and the shared tag of the version that wrote them.
#[derive(Debug)]
pub(crate) struct Kept {
    pub(crate) tag: std::sync::Arc<SnapshotTag>,
    pub(crate) bytes: Vec<u8>,
}

impl Kept {
    /// Keep a snapshot taken on its own (one actor's move).
    pub(crate) fn from_snapshot(s: StateSnapshot) -> Self {
        let StateSnapshot { module, version, schema, bytes } = s;
        Kept { tag: std::sync::Arc::new(SnapshotTag { module, version, schema }), bytes }
    }

    /// The snapshot as a rollback restores it.
    pub(crate) fn to_snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            module: self.tag.module.clone(),
            version: self.tag.version.clone(),
            schema: self.tag.schema,
            bytes: self.bytes.clone(),
        }
    }
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
