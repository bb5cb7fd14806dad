//! `Supervisor`: a running supervisor and OTP's dynamic API on it
//! (`start_child`, `terminate_child`, `restart_child`, `delete_child`,
//! `which_children`, `count_children`).

use crate::child::Child;
use crate::error::{ChildError, StartError};
use crate::report::CrashLoopRollback;
use crate::tree::{Shell, Slot, Tree};
use crate::view::View;
use crate::{ChildKind, ChildSpec, ChildSpecError, Flags, validate};
use parking_lot::Mutex;
use relive_runtime::{ActorId, AnyActor, ExitReason, HostHandle, SpawnOptions};
use std::sync::Arc;

/// One line of [`Supervisor::which_children`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: String,
    /// Its actor, if running.
    pub actor: Option<ActorId>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// The modules it runs.
    pub modules: Vec<String>,
}

/// [`Supervisor::count_children`], as OTP's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// All child specs.
    pub specs: usize,
    /// Running children.
    pub active: usize,
    /// Supervisor children.
    pub supervisors: usize,
    /// Worker children.
    pub workers: usize,
}

/// A running supervisor.
#[derive(Clone)]
pub struct Supervisor {
    tree: Arc<Mutex<Tree>>,
    actor: AnyActor,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("actor", &self.actor.id()).finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Validate `children`, start the supervisor and then each child in
    /// order.
    ///
    /// # Errors
    /// [`StartError`]: an invalid spec (nothing started), or a child that
    /// failed to start (those before it stopped in reverse order, the
    /// supervisor exited).
    pub fn start(
        host: &HostHandle,
        flags: Flags,
        children: Vec<Child>,
    ) -> Result<Self, StartError> {
        let specs: Vec<ChildSpec> = children.iter().map(|c| c.spec.clone()).collect();
        validate(&specs)?;
        let tree = Arc::new(Mutex::new(Tree::new(host, flags, children)));
        let actor = host
            .spawn_native(Shell(Arc::clone(&tree)), SpawnOptions::new().capacity(0))
            .map_err(|e| StartError::Supervisor(Box::new(e)))?
            .any();
        let mut t = tree.lock();
        t.me = Some(actor.clone());
        for i in 0..t.children.len() {
            if let Err(source) = t.start_slot(i) {
                let id = t.children[i].child.spec.id.clone();
                for j in (0..i).rev() {
                    t.stop_slot(j);
                }
                t.exited = true;
                drop(t);
                host.terminate(&actor, ExitReason::Shutdown);
                return Err(StartError::Child { id, source: Box::new(source) });
            }
        }
        drop(t);
        host.register_tree(Arc::new(View(Arc::downgrade(&tree), actor.clone())));
        Ok(Supervisor { tree, actor })
    }

    /// The supervisor's own actor (link it to a parent, monitor it).
    pub fn actor(&self) -> &AnyActor {
        &self.actor
    }

    /// The running actor of child `id`.
    pub fn child(&self, id: &str) -> Option<AnyActor> {
        let t = self.tree.lock();
        t.children
            .iter()
            .find(|s| s.child.spec.id == id)
            .and_then(|s| s.actor.clone())
            .filter(|a| !a.is_exited())
    }

    /// Every child, in start order (OTP's `which_children`).
    pub fn which_children(&self) -> Vec<ChildInfo> {
        let t = self.tree.lock();
        t.children
            .iter()
            .map(|s| ChildInfo {
                id: s.child.spec.id.clone(),
                actor: s.actor.as_ref().filter(|a| !a.is_exited()).map(AnyActor::id),
                kind: s.child.spec.kind,
                modules: s.child.spec.modules.clone(),
            })
            .collect()
    }

    /// OTP's `count_children`.
    pub fn count_children(&self) -> Counts {
        let t = self.tree.lock();
        let mut c = Counts { specs: t.children.len(), ..Counts::default() };
        for (i, s) in t.children.iter().enumerate() {
            if t.running(i) {
                c.active += 1;
            }
            match s.child.spec.kind {
                ChildKind::Worker => c.workers += 1,
                ChildKind::Supervisor => c.supervisors += 1,
            }
        }
        c
    }

    /// Add and start a child (for `simple_one_for_one`, its id may be empty:
    /// one is generated).
    ///
    /// # Errors
    /// [`StartError`]: invalid or duplicate spec, or its start failed (then
    /// it is not added), or the supervisor has exited.
    pub fn start_child(&self, mut child: Child) -> Result<AnyActor, StartError> {
        let mut t = self.tree.lock();
        if t.exited {
            return Err(StartError::SupervisorExited);
        }
        if child.spec.id.is_empty() {
            t.next_dynamic += 1;
            child.spec.id = format!("child-{}", t.next_dynamic);
        }
        // The new spec alone, then its id against the others (a set, so
        // that 100 k dynamic children start in linear time).
        validate(std::slice::from_ref(&child.spec))?;
        if t.ids.contains(&child.spec.id) {
            return Err(ChildSpecError::DuplicateId(child.spec.id).into());
        }
        t.ids.insert(child.spec.id.clone());
        t.children.push(Slot::new(child));
        let i = t.children.len() - 1;
        match t.start_slot(i) {
            Ok(()) => Ok(t.children[i].actor.clone().expect("just started")),
            Err(source) => {
                let removed = t.children.remove(i);
                t.ids.remove(&removed.child.spec.id);
                Err(StartError::Child { id: removed.child.spec.id, source: Box::new(source) })
            }
        }
    }

    fn index(t: &Tree, id: &str) -> Result<usize, ChildError> {
        t.children
            .iter()
            .position(|s| s.child.spec.id == id)
            .ok_or_else(|| ChildError::NotFound(id.into()))
    }

    /// Stop child `id`, keeping its spec (OTP's `terminate_child`).
    ///
    /// # Errors
    /// [`ChildError::NotFound`].
    pub fn terminate_child(&self, id: &str) -> Result<(), ChildError> {
        let mut t = self.tree.lock();
        let i = Self::index(&t, id)?;
        if t.running(i) {
            t.stop_slot(i);
        }
        Ok(())
    }

    /// Start a terminated child again (OTP's `restart_child`).
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::Running`], or its start failed.
    pub fn restart_child(&self, id: &str) -> Result<AnyActor, ChildError> {
        let mut t = self.tree.lock();
        let i = Self::index(&t, id)?;
        if t.running(i) {
            return Err(ChildError::Running(id.into()));
        }
        t.start_slot(i).map_err(|e| ChildError::Restart { id: id.into(), source: Box::new(e) })?;
        Ok(t.children[i].actor.clone().expect("just started"))
    }

    /// Remove a terminated child's spec (OTP's `delete_child`).
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::Running`].
    pub fn delete_child(&self, id: &str) -> Result<(), ChildError> {
        let mut t = self.tree.lock();
        let i = Self::index(&t, id)?;
        if t.running(i) {
            return Err(ChildError::Running(id.into()));
        }
        t.children.remove(i);
        t.ids.remove(id);
        Ok(())
    }

    /// The crash-loop rollbacks this supervisor made, oldest first.
    pub fn rollbacks(&self) -> Vec<CrashLoopRollback> {
        self.tree.lock().rollbacks.clone()
    }

    /// Stop every child in reverse start order, then the supervisor.
    pub fn stop(&self) {
        let host = self.tree.lock().host.clone();
        host.terminate(&self.actor, ExitReason::Shutdown);
    }
}
