//! `Supervisor`: a running supervisor and OTP's dynamic API on it
//! (`start_child`, `terminate_child`, `restart_child`, `delete_child`,
//! `which_children`, `count_children`).

use crate::child::Child;
use crate::child::ChildStart;
use crate::error::{AdoptError, ChildError, StartError};
use crate::report::CrashLoopRollback;
use crate::tree::{Shell, Tree};
use crate::view::View;
use crate::{ChildKind, ChildSpec, Flags, Restart, Strategy, validate};
use parking_lot::Mutex;
use relive_runtime::codec::{Fingerprint, Schema};
use relive_runtime::{ActorId, AnyActor, ExitReason, HostHandle, SpawnError, SpawnOptions};
use serde::Serialize;
use std::sync::Arc;

// issue 20: supervisors adopt
/// Serializes [`Supervisor::adopt`]: checking that no other supervisor of
/// the host has the actor and adding it to this one's tree must be one
/// step, or two supervisors could each check before the other added it. A
/// process-wide lock (adoptions are rare) rather than one per host, which
/// the runtime would have to carry for the supervisors.
static ADOPTION: Mutex<()> = Mutex::new(());

/// Whether a child runs (OTP's pid, `restarting` or `undefined` in
/// `which_children`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Running as this actor.
    Running(ActorId),
    /// Its restart failed and is being retried.
    Restarting,
    /// Not running (terminated, exited and not restarted, or its start
    /// returned `ignore`).
    NotRunning,
}

/// One line of [`Supervisor::which_children`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id (`None` for a `simple_one_for_one` child: its
    /// children are addressed by actor, as OTP's `undefined`).
    pub id: Option<String>,
    /// Whether it runs, and as which actor.
    pub state: ChildState,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// The modules it runs.
    pub modules: Vec<String>,
}

impl ChildInfo {
    /// Its actor, if running.
    pub fn actor(&self) -> Option<ActorId> {
        match self.state {
            ChildState::Running(a) => Some(a),
            _ => None,
        }
    }
}

/// [`Supervisor::count_children`], as OTP's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// All child specs (1 for a `simple_one_for_one`: its template).
    pub specs: usize,
    /// Running children.
    pub active: usize,
    /// Supervisor children (running or not).
    pub supervisors: usize,
    /// Worker children (running or not).
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
    /// Validate `flags` and `children`, start the supervisor and then each
    /// child in order. A child whose start returns `ignore` is not running
    /// (a temporary one is dropped); that is no failure.
    ///
    /// # Errors
    /// [`StartError`]: invalid flags or an invalid spec (nothing started),
    /// or a child that failed to start (those before it stopped in reverse
    /// order, the supervisor exited).
    pub fn start(
        host: &HostHandle,
        flags: Flags,
        children: Vec<Child>,
    ) -> Result<Self, StartError> {
        Self::start_with(host, flags, children, SpawnOptions::new())
    }

    /// [`start`](Self::start), with the supervisor's actor registered under
    /// `name` (OTP's `start_link({local, Name}, ...)`); the name is freed
    /// when the supervisor exits.
    ///
    /// # Errors
    /// As [`start`](Self::start); a name already taken is
    /// [`StartError::Supervisor`] with [`SpawnError::NameTaken`](relive_runtime::SpawnError::NameTaken).
    pub fn start_named(
        host: &HostHandle,
        name: &str,
        flags: Flags,
        children: Vec<Child>,
    ) -> Result<Self, StartError> {
        Self::start_with(host, flags, children, SpawnOptions::new().name(name))
    }

    fn start_with(
        host: &HostHandle,
        flags: Flags,
        children: Vec<Child>,
        opts: SpawnOptions,
    ) -> Result<Self, StartError> {
        flags.validate()?;
        let specs: Vec<ChildSpec> = children.iter().map(|c| c.spec.clone()).collect();
        if flags.strategy == Strategy::SimpleOneForOne && specs.len() != 1 {
            return Err(StartError::BadStartSpec(specs.len()));
        }
        validate(&specs)?;
        let tree = Arc::new(Mutex::new(Tree::new(host, flags, children)));
        let actor = host
            .spawn_native(Shell(Arc::clone(&tree)), opts.capacity(0))
            .map_err(|e| StartError::Supervisor(Box::new(e)))?
            .any();
        let mut t = tree.lock();
        t.set_me(&actor);
        let keys: Vec<u64> = t.children.keys().copied().collect();
        for (n, &k) in keys.iter().enumerate() {
            match t.start_slot(k) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    if t.slot(k).child.spec.restart == Restart::Temporary {
                        t.remove(k);
                    }
                }
                Err(source) => {
                    let id = t.slot(k).child.spec.id.clone();
                    for &j in keys[..n].iter().rev() {
                        if t.running(j) {
                            t.stop_slot(j);
                        }
                    }
                    t.exited = true;
                    drop(t);
                    let _ = host.terminate(&actor, ExitReason::Shutdown);
                    return Err(StartError::Child { id, source: Box::new(source) });
                }
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

    /// The tree, if the supervisor has not exited.
    fn live(&self) -> Option<parking_lot::MutexGuard<'_, Tree>> {
        let t = self.tree.lock();
        (!t.exited && !self.actor.is_exited()).then_some(t)
    }

    /// The tree and the key of child `id`, for the calls that name a child
    /// by id.
    ///
    /// # Errors
    /// [`ChildError::SupervisorExited`], [`ChildError::SimpleOneForOne`]
    /// (its children have no ids), [`ChildError::NotFound`].
    fn live_child(&self, id: &str) -> Result<(parking_lot::MutexGuard<'_, Tree>, u64), ChildError> {
        let t = self.live().ok_or(ChildError::SupervisorExited)?;
        if t.template.is_some() {
            return Err(ChildError::SimpleOneForOne);
        }
        let k = t.key_of(id).ok_or_else(|| ChildError::NotFound(id.into()))?;
        Ok((t, k))
    }

    /// The running actor of child `id` (none for `simple_one_for_one`
    /// children: they have no ids).
    pub fn child(&self, id: &str) -> Option<AnyActor> {
        let t = self.live()?;
        if t.template.is_some() {
            return None;
        }
        let k = t.key_of(id)?;
        t.slot(k).actor.clone().filter(|a| !a.is_exited())
    }

    /// Every child, in start order (OTP's `which_children`).
    ///
    /// # Errors
    /// [`ChildError::SupervisorExited`].
    pub fn which_children(&self) -> Result<Vec<ChildInfo>, ChildError> {
        let t = self.live().ok_or(ChildError::SupervisorExited)?;
        let simple = t.template.is_some();
        Ok(t.children
            .values()
            .map(|s| ChildInfo {
                id: (!simple).then(|| s.child.spec.id.clone()),
                state: match &s.actor {
                    Some(a) if !a.is_exited() => ChildState::Running(a.id()),
                    _ if s.restarting => ChildState::Restarting,
                    _ => ChildState::NotRunning,
                },
                kind: s.child.spec.kind,
                modules: s.child.spec.modules.clone(),
            })
            .collect())
    }

    /// OTP's `count_children`: a child being restarted counts as a spec and
    /// by its kind, not as active.
    ///
    /// # Errors
    /// [`ChildError::SupervisorExited`].
    pub fn count_children(&self) -> Result<Counts, ChildError> {
        let t = self.live().ok_or(ChildError::SupervisorExited)?;
        let specs = if t.template.is_some() { 1 } else { t.children.len() };
        let mut c = Counts { specs, ..Counts::default() };
        for s in t.children.values() {
            if s.running() {
                c.active += 1;
            }
            match s.child.spec.kind {
                ChildKind::Worker => c.workers += 1,
                ChildKind::Supervisor => c.supervisors += 1,
            }
        }
        Ok(c)
    }

    /// Add and start a child. `Ok(None)`: its start returned `ignore`
    /// (OTP's `{ok, undefined}`): the spec is kept, not running (a
    /// temporary child's spec is not kept).
    ///
    /// # Errors
    /// [`StartError`]: an invalid spec, an id already used
    /// ([`StartError::AlreadyStarted`] when that child runs,
    /// [`StartError::AlreadyPresent`] when not), its start failed (then it
    /// is not added), a `simple_one_for_one` supervisor
    /// ([`StartError::SimpleOneForOne`]: use
    /// [`start_simple_child`](Self::start_simple_child)), or the supervisor
    /// has exited.
    pub fn start_child(&self, child: Child) -> Result<Option<AnyActor>, StartError> {
        let mut t = self.live().ok_or(StartError::SupervisorExited)?;
        if t.template.is_some() {
            return Err(StartError::SimpleOneForOne);
        }
        validate(std::slice::from_ref(&child.spec))?;
        if let Some(k) = t.key_of(&child.spec.id) {
            let id = child.spec.id;
            return Err(match t.slot(k).actor.as_ref().filter(|a| !a.is_exited()) {
                Some(a) => StartError::AlreadyStarted { id, actor: a.id() },
                None => StartError::AlreadyPresent(id),
            });
        }
        let keep_ignored = child.spec.restart != Restart::Temporary;
        Self::add(&mut t, child, keep_ignored)
    }

    // issue 20: supervisors adopt
    /// Put a running `actor` under this supervisor as a new child (after
    /// the others), **without restarting it**: its state, mailbox and id
    /// stay as they are. The supervisor links to it and records `child`'s
    /// spec, so from now on it is a child like any other: an exit is
    /// handled by the spec's restart type and the strategy (a restart
    /// starts it from `child`'s start — for a module child, in place with
    /// the start's init arguments; the adopted incarnation's state lives
    /// until then), `terminate_child` stops it by the spec's shutdown, and
    /// `which_children` lists it. OTP has no exact counterpart (a process
    /// is a child only from its start function); see docs/otp-mapping.md.
    ///
    /// # Errors
    /// [`AdoptError`], and nothing changed: an invalid spec, an exited
    /// actor ([`AdoptError::NotAlive`]), an id taken here, an actor already
    /// a child here or of another supervisor of the host, a module child
    /// whose start runs another module than the actor, a
    /// `simple_one_for_one` supervisor, or an exited supervisor. An actor
    /// that exits while being adopted is no refusal: its exit reaches the
    /// supervisor as a child's (`noproc`) and is handled by the spec.
    ///
    /// Adoptions are serialized (one at a time in the process): the check
    /// against the other supervisors and the adding are one step, so of two
    /// supervisors adopting the same actor at once exactly one succeeds and
    /// the other is refused with [`AdoptError::Supervised`]. An adoption may
    /// therefore wait for another one, which waits at most for its own
    /// supervisor's lock (held, say, while a child shuts down within its
    /// `shutdown` bound).
    pub fn adopt(&self, actor: &AnyActor, mut child: Child) -> Result<(), AdoptError> {
        // Held from the check of the other trees until the actor is ours
        // (taken before any tree lock; no tree lock holder takes it).
        let _one_at_a_time = ADOPTION.lock();
        let id = actor.id();
        // Before our lock: our own view locks our tree.
        let host = self.live().ok_or(AdoptError::SupervisorExited)?.host.clone();
        let others = host.tree_views();
        // A supervisor (this one, or an ancestor) as its own descendant would
        // make two trees wait for each other's shutdown: supervisors join a
        // tree by being started in it.
        if others.iter().any(|t| t.actor == id) {
            return Err(AdoptError::IsSupervisor(id));
        }
        if let Some(other) = others
            .iter()
            .filter(|t| t.actor != self.actor.id())
            .find(|t| t.children.iter().any(|c| c.actor == Some(id)))
        {
            return Err(AdoptError::Supervised { actor: id, supervisor: other.actor });
        }
        let mut t = self.live().ok_or(AdoptError::SupervisorExited)?;
        if t.template.is_some() {
            return Err(AdoptError::SimpleOneForOne);
        }
        validate(std::slice::from_ref(&child.spec))?;
        if let Some(k) = t.key_of_actor(id) {
            return Err(AdoptError::AlreadyChild {
                actor: id,
                id: t.slot(k).child.spec.id.clone(),
            });
        }
        if t.key_of(&child.spec.id).is_some() {
            return Err(AdoptError::IdTaken(child.spec.id));
        }
        if actor.is_exited() {
            return Err(AdoptError::NotAlive(id));
        }
        if let ChildStart::Module { module, .. } = &child.start
            && actor.module() != Some(module.as_str())
        {
            return Err(AdoptError::OtherModule {
                actor: id,
                actual: actor.module().unwrap_or("host-native").to_owned(),
                start: module.clone(),
            });
        }
        // A module child keeps the name it runs under across restarts (a
        // restart in place registers the start's name again).
        if let ChildStart::Module { name: name @ None, .. } = &mut child.start {
            *name = actor.name();
        }
        t.adopt(child, actor);
        Ok(())
    }

    /// Start a child of a `simple_one_for_one` supervisor from its template
    /// with `extra` arguments (OTP's `start_child(Sup, ExtraArgs)`): a module
    /// template's child takes `extra` as its init arguments, a
    /// [`ChildStart::template`](crate::ChildStart::template) function is given them encoded. `Ok(None)`:
    /// its start returned `ignore`, and it is not added.
    ///
    /// # Errors
    /// [`StartError::NotSimpleOneForOne`] for other supervisors,
    /// [`StartError::Child`] when its start failed (or `extra` does not
    /// encode), [`StartError::SupervisorExited`].
    pub fn start_simple_child<A: Serialize + Schema>(
        &self,
        extra: &A,
    ) -> Result<Option<AnyActor>, StartError> {
        let mut t = self.live().ok_or(StartError::SupervisorExited)?;
        let template = t.template.clone().ok_or(StartError::NotSimpleOneForOne)?;
        t.next_dynamic += 1;
        let mut spec = template.spec.clone();
        spec.id = format!("child-{}", t.next_dynamic);
        let mut bytes = Vec::new();
        if let Err(e) = relive_runtime::codec::encode_into(extra, &mut bytes) {
            return Err(StartError::Child { id: spec.id, source: Box::new(SpawnError::Encode(e)) });
        }
        let start = template.start.with_extra(bytes, Fingerprint::of::<A>());
        Self::add(&mut t, Child::new(spec, start), false)
    }

    /// Add `child` and start it; an ignored start keeps its spec if
    /// `keep_ignored`.
    fn add(t: &mut Tree, child: Child, keep_ignored: bool) -> Result<Option<AnyActor>, StartError> {
        let k = t.insert(child);
        match t.start_slot(k) {
            Ok(Some(actor)) => Ok(Some(actor)),
            Ok(None) => {
                if !keep_ignored {
                    t.remove(k);
                }
                Ok(None)
            }
            Err(source) => {
                let id = t.remove(k).expect("just added").child.spec.id;
                // Its name is another actor's (OTP's `{already_started, P}`).
                if let SpawnError::NameTaken(name) = &source
                    && let Some(holder) = t.host.whereis_any(name)
                {
                    return Err(StartError::AlreadyStarted { id, actor: holder.id() });
                }
                Err(StartError::Child { id, source: Box::new(source) })
            }
        }
    }

    /// Stop child `id` (OTP's `terminate_child`). Its spec is kept, except
    /// a temporary child's and a `simple_one_for_one` child's, which go. A
    /// child being restarted is left plainly terminated; one not running is
    /// left as it is.
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::SimpleOneForOne`] (its
    /// children are terminated by actor), [`ChildError::SupervisorExited`].
    pub fn terminate_child(&self, id: &str) -> Result<(), ChildError> {
        let (mut t, k) = self.live_child(id)?;
        Self::terminate_key(&mut t, k);
        Ok(())
    }

    /// Stop the child running as `actor` (OTP's `terminate_child` by pid,
    /// the way to address a `simple_one_for_one` child).
    ///
    /// # Errors
    /// [`ChildError::NotFound`] when `actor` is no child of this supervisor,
    /// [`ChildError::SupervisorExited`].
    pub fn terminate_child_actor(&self, actor: ActorId) -> Result<(), ChildError> {
        let mut t = self.live().ok_or(ChildError::SupervisorExited)?;
        let k = t.key_of_actor(actor).ok_or_else(|| ChildError::NotFound(actor.to_string()))?;
        Self::terminate_key(&mut t, k);
        Ok(())
    }

    fn terminate_key(t: &mut Tree, k: u64) {
        t.stop_slot(k);
        if t.slot(k).child.spec.restart == Restart::Temporary
            || t.flags.strategy == Strategy::SimpleOneForOne
        {
            t.remove(k);
        }
    }

    /// Start a terminated child again (OTP's `restart_child`); `Ok(None)`
    /// when its start returned `ignore`.
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::Running`],
    /// [`ChildError::Restarting`], its start failed,
    /// [`ChildError::SimpleOneForOne`], or [`ChildError::SupervisorExited`].
    pub fn restart_child(&self, id: &str) -> Result<Option<AnyActor>, ChildError> {
        let (mut t, k) = self.live_child(id)?;
        if t.running(k) {
            return Err(ChildError::Running(id.into()));
        }
        if t.slot(k).restarting {
            return Err(ChildError::Restarting(id.into()));
        }
        t.start_slot(k).map_err(|e| ChildError::Restart { id: id.into(), source: Box::new(e) })
    }

    /// Remove a terminated child's spec (OTP's `delete_child`).
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::Running`],
    /// [`ChildError::Restarting`], [`ChildError::SimpleOneForOne`],
    /// [`ChildError::SupervisorExited`].
    pub fn delete_child(&self, id: &str) -> Result<(), ChildError> {
        let (mut t, k) = self.live_child(id)?;
        if t.running(k) {
            return Err(ChildError::Running(id.into()));
        }
        if t.slot(k).restarting {
            return Err(ChildError::Restarting(id.into()));
        }
        t.remove(k);
        Ok(())
    }

    /// The spec of child `id` (OTP's `get_childspec`); of a
    /// `simple_one_for_one` supervisor, use
    /// [`get_childspec_actor`](Self::get_childspec_actor).
    ///
    /// # Errors
    /// [`ChildError::NotFound`], [`ChildError::SimpleOneForOne`],
    /// [`ChildError::SupervisorExited`].
    pub fn get_childspec(&self, id: &str) -> Result<ChildSpec, ChildError> {
        let (t, k) = self.live_child(id)?;
        Ok(t.slot(k).child.spec.clone())
    }

    /// The spec of the child running as `actor` (OTP's `get_childspec` by
    /// pid; a `simple_one_for_one` child's is the template's).
    ///
    /// # Errors
    /// [`ChildError::NotFound`] when `actor` is no child of this
    /// supervisor, [`ChildError::SupervisorExited`].
    pub fn get_childspec_actor(&self, actor: ActorId) -> Result<ChildSpec, ChildError> {
        let t = self.live().ok_or(ChildError::SupervisorExited)?;
        let k = t.key_of_actor(actor).ok_or_else(|| ChildError::NotFound(actor.to_string()))?;
        Ok(match &t.template {
            Some(template) => template.spec.clone(),
            None => t.slot(k).child.spec.clone(),
        })
    }

    /// The crash-loop rollbacks this supervisor made, oldest first.
    pub fn rollbacks(&self) -> Vec<CrashLoopRollback> {
        self.tree.lock().rollbacks.clone()
    }

    /// Stop every child in reverse start order (each within its shutdown),
    /// then the supervisor.
    ///
    /// # Errors
    /// [`ChildError::SupervisorExited`] when it had exited already.
    pub fn stop(&self) -> Result<(), ChildError> {
        let host = self.tree.lock().host.clone();
        host.terminate(&self.actor, ExitReason::Shutdown)
            .map(|_| ())
            .map_err(|_| ChildError::SupervisorExited)
    }
}
