//! The upgrade state a host keeps between upgrades: one upgrade at a time,
//! the snapshots rollbacks fall back on, the gradual upgrades in progress.

use crate::actor::ActorId;
use parking_lot::Mutex;
use relive_codec::StateSnapshot;
use std::collections::HashMap;

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

/// Per-module snapshots taken when actors migrated, for rollbacks.
pub(crate) type Snapshots = HashMap<String, HashMap<ActorId, StateSnapshot>>;

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
