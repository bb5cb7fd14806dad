//! Typed views of a running host, for whoever shows it (the admin socket,
//! an observer). Taken without locking any actor's body: an actor's version
//! comes from the registry's index, its state from its scheduling state.

use super::HostHandle;
use crate::actor::ActorId;
use crate::code_server::BuildHash;
use std::collections::HashMap;
use std::sync::Arc;

/// What an actor is doing, as far as can be seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorState {
    /// No mail being handled.
    Idle,
    /// Queued to run, or running a turn.
    Running,
    /// Held at a message boundary by an upgrade of its module, or
    /// suspended by [`Sys::suspend`](super::Sys::suspend).
    Suspended,
    /// Gone.
    Exited,
}

/// One live actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorView {
    /// Its id.
    pub id: ActorId,
    /// Its module (`None`: host-native, e.g. a supervisor); shared with
    /// the actor (issue 16: no allocation per actor in a view).
    pub module: Option<Arc<str>>,
    /// The version its body runs (module actors).
    pub version: Option<semver::Version>,
    /// What it is doing.
    pub state: ActorState,
    /// Mail waiting.
    pub mailbox: usize,
    /// Messages handled.
    pub handled: u64,
    /// Registered name.
    pub name: Option<String>,
}

/// One child of a supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildView {
    /// The child's id in its supervisor.
    pub id: String,
    /// Its actor, when running.
    pub actor: Option<ActorId>,
    /// `worker` or `supervisor`.
    pub kind: String,
    /// The modules it runs.
    pub modules: Vec<String>,
    /// How often its supervisor restarted it.
    pub restarts: u32,
}

/// One supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeView {
    /// The supervisor's actor.
    pub actor: ActorId,
    /// Its strategy.
    pub strategy: String,
    /// Its children, in start order.
    pub children: Vec<ChildView>,
}

/// Something that can describe a supervision tree (a supervisor registers
/// one with [`HostHandle::register_tree`]).
pub trait TreeSource: Send + Sync {
    /// The tree now, or `None` once the supervisor is gone.
    fn view(&self) -> Option<TreeView>;
}

impl std::fmt::Debug for dyn TreeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TreeSource")
    }
}

impl HostHandle {
    /// Register a supervision tree for views; it is dropped from the list
    /// once its `view` returns `None`.
    pub fn register_tree(&self, source: Arc<dyn TreeSource>) {
        self.shared().trees.lock().push(source);
    }

    /// Every supervision tree still running.
    pub fn tree_views(&self) -> Vec<TreeView> {
        let mut trees = self.shared().trees.lock();
        let mut views = Vec::new();
        trees.retain(|t| match t.view() {
            Some(v) => {
                views.push(v);
                true
            }
            None => false,
        });
        views
    }

    /// Every live actor, in id order.
    ///
    /// Locks no actor's body or control: versions come from the index's
    /// serials, names from the registry's name table, states from the
    /// scheduling state (issue 16: 100k actors in a few milliseconds, see
    /// `relive status_ms_100k` in docs/benchmarks.md).
    pub fn actor_views(&self) -> Vec<ActorView> {
        let shared = self.shared();
        // issue 16: status at scale — one read of the name table, sorted by
        // id to be walked beside the actors (no hashing per actor).
        let mut names: Vec<(ActorId, String)> = shared.registry.names_by_id().into_iter().collect();
        names.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
        let suspending = shared.upgrades.suspending_modules();
        // The versions by serial, from the module table's slots.
        let mut versions: HashMap<u64, semver::Version> = HashMap::new();
        for m in shared.table.modules() {
            for v in [shared.table.current(&m), shared.table.old(&m)].into_iter().flatten() {
                versions.insert(v.serial(), v.version().clone());
            }
        }
        // Neighbours mostly run the same version: the last lookup is kept.
        let mut last: Option<(u64, Option<semver::Version>)> = None;
        shared
            .registry
            .all()
            .iter()
            .map(|c| {
                let serial = c.version_serial();
                let version = match &last {
                    Some((s, v)) if *s == serial => v.clone(),
                    _ => {
                        let v = versions.get(&serial).cloned();
                        last = Some((serial, v.clone()));
                        v
                    }
                };
                // `names` is in descending id order: its last entry is the
                // smallest id not passed yet.
                while names.last().is_some_and(|(id, _)| *id < c.id) {
                    names.pop();
                }
                let name = match names.last() {
                    Some((id, _)) if *id == c.id => names.pop().map(|(_, n)| n),
                    _ => None,
                };
                let suspended = crate::actor::sys::is_suspended(c)
                    || c.module.as_deref().is_some_and(|m| suspending.iter().any(|s| s == m));
                let state = if c.is_exited() {
                    ActorState::Exited
                } else if suspended {
                    ActorState::Suspended
                } else if c.sched.is_busy() {
                    ActorState::Running
                } else {
                    ActorState::Idle
                };
                ActorView {
                    id: c.id,
                    module: c.module.clone(),
                    version,
                    state,
                    mailbox: c.mailbox.depth(),
                    // ORDERING: a statistic.
                    handled: c.handled.load(std::sync::atomic::Ordering::Relaxed),
                    name,
                }
            })
            .collect()
    }

    // issue 20: cli
    /// How many actors run each build of `module` (its current and old
    /// versions), counted from the registry's index of actors by version:
    /// one lock, no actor's body or control lock taken, so it is cheap at
    /// any number of actors and answers while handlers run. A build no
    /// actor runs is absent.
    pub fn actors_by_build(&self, module: &str) -> HashMap<BuildHash, usize> {
        let shared = self.shared();
        let counts = shared.registry.counts_by_version(module);
        [shared.table.current(module), shared.table.old(module)]
            .into_iter()
            .flatten()
            .filter_map(|v| counts.get(&v.serial()).map(|n| (v.hash(), *n)))
            .collect()
    }

    /// The number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.shared().worker_count()
    }
}
