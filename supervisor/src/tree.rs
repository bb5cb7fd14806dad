//! Running a supervisor on a relive host.
//!
//! A supervisor is a host-native actor that traps exits and is linked to each
//! of its children. Its state (the children, the intensity window) is shared
//! between that actor — which reacts to child exits — and the [`Supervisor`]
//! handle, whose dynamic API (`start_child`, …) runs on the caller's thread.
//!
//! - Start is synchronous and in order; if a child fails to start, those
//!   already started are stopped in reverse order and the start fails.
//! - A child that exits is restarted or not by its restart type; the
//!   strategy decides which others stop (reverse start order) and restart
//!   (start order). A module child restarts **in place**: same id, same
//!   mailbox, so references to it keep working.
//! - More restarts than the intensity allows: the supervisor stops every
//!   child (reverse order) and exits with `shutdown`; its parent sees that
//!   as a child exit (escalation).

use crate::probation::{Probation, RollbackReport, Window};
use crate::{
    ChildKind, ChildSpec, ChildSpecError, Exit, Intensity, Restart, Shutdown, Strategy, validate,
};
use parking_lot::Mutex;
use relive_runtime::codec::{Fingerprint, Schema};
use relive_runtime::{
    ActorId, AnyActor, ExitReason, HostHandle, NativeActor, NativeContext, SpawnError, SpawnOptions,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A function that starts a child on a host.
pub type StartFn = Arc<dyn Fn(&HostHandle) -> Result<AnyActor, SpawnError> + Send + Sync>;

/// How a child is started.
#[derive(Clone)]
pub enum ChildStart {
    /// An actor of a loaded module with these (encoded) init arguments.
    /// Restarted in place.
    Module {
        /// The module.
        module: String,
        /// Encoded init arguments.
        args: Vec<u8>,
        /// Their schema.
        args_schema: Fingerprint,
    },
    /// Any actor, started by this function (a host-native actor, or a
    /// nested supervisor). A restart calls it again (a new actor).
    Native(StartFn),
}

impl std::fmt::Debug for ChildStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChildStart::Module { module, .. } => {
                f.debug_struct("Module").field("module", module).finish()
            }
            ChildStart::Native(_) => f.write_str("Native"),
        }
    }
}

impl ChildStart {
    /// Start an actor of `module` with init `args`.
    ///
    /// # Panics
    /// When `args` cannot be encoded (a broken `Serialize` impl).
    pub fn module<A: Serialize + Schema>(module: &str, args: &A) -> Self {
        let mut bytes = Vec::new();
        relive_runtime::codec::encode_into(args, &mut bytes).expect("init arguments encode");
        ChildStart::Module {
            module: module.to_owned(),
            args: bytes,
            args_schema: Fingerprint::of::<A>(),
        }
    }

    /// Start a child with `f`.
    pub fn native(
        f: impl Fn(&HostHandle) -> Result<AnyActor, SpawnError> + Send + Sync + 'static,
    ) -> Self {
        ChildStart::Native(Arc::new(f))
    }
}

/// A child: its spec and how it starts.
#[derive(Debug, Clone)]
pub struct Child {
    /// OTP's child spec.
    pub spec: ChildSpec,
    /// How it starts.
    pub start: ChildStart,
}

impl Child {
    /// A child from its spec and start.
    pub fn new(spec: ChildSpec, start: ChildStart) -> Self {
        Child { spec, start }
    }
}

/// A supervisor's flags (OTP's `sup_flags`, plus the probation policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// The restart strategy.
    pub strategy: Strategy,
    /// OTP's `intensity`: restarts tolerated within `period`.
    pub intensity: u32,
    /// OTP's `period`.
    pub period: Duration,
    /// Crash-loop rollback after upgrades (`None`: OTP's behaviour only).
    pub probation: Option<Probation>,
}

impl Default for Flags {
    /// `one_for_one`, 1 restart in 5 s, as OTP; the default probation.
    fn default() -> Self {
        Flags {
            strategy: Strategy::OneForOne,
            intensity: 1,
            period: Duration::from_secs(5),
            probation: Some(Probation::default()),
        }
    }
}

impl Flags {
    /// Flags with this strategy and OTP's default intensity.
    pub fn new(strategy: Strategy) -> Self {
        Flags { strategy, ..Flags::default() }
    }

    /// Set the intensity.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = max_restarts;
        self.period = period;
        self
    }

    /// Set (or with `None`, turn off) the crash-loop probation.
    pub fn probation(mut self, probation: Option<Probation>) -> Self {
        self.probation = probation;
        self
    }
}

/// Why a supervisor or a child did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A child spec is invalid; nothing was started.
    #[error(transparent)]
    Spec(#[from] ChildSpecError),
    /// Child `id` failed to start; the children started before it were
    /// stopped in reverse order.
    #[error("child `{id}` failed to start: {source}")]
    Child {
        /// The child.
        id: String,
        /// Why.
        source: Box<SpawnError>,
    },
    /// The supervisor's own actor could not be spawned (or it has exited).
    #[error("the supervisor could not start: {0}")]
    Supervisor(Box<SpawnError>),
}

/// Why a dynamic call on a supervisor failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildError {
    /// No child with that id.
    #[error("no child `{0}`")]
    NotFound(String),
    /// `delete_child` or `restart_child` of a running child.
    #[error("child `{0}` is running")]
    Running(String),
    /// `restart_child` failed to start it.
    #[error("child `{id}` failed to restart: {reason}")]
    Restart {
        /// The child.
        id: String,
        /// Why.
        reason: String,
    },
    /// The supervisor has exited.
    #[error("the supervisor has exited")]
    SupervisorExited,
}

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

#[derive(Debug)]
struct Slot {
    child: Child,
    actor: Option<AnyActor>,
    /// Whether it was ever started.
    started: bool,
    /// Times this child was started again after its first start.
    restarts: u32,
}

struct Tree {
    host: HostHandle,
    flags: Flags,
    intensity: Intensity,
    children: Vec<Slot>,
    me: Option<AnyActor>,
    exited: bool,
    next_dynamic: u64,
    probation: HashMap<String, Window>,
    rollbacks: Vec<RollbackReport>,
    ids: std::collections::HashSet<String>,
}

/// What happened during one child exit, reported once recovery is done.
enum Event {
    Crash { child: String, actor: ActorId, reason: String },
    Restarted { child: String },
    RestartFailed { child: String, error: String },
    GiveUp { child: String, why: String },
    Rollback(RollbackReport),
    RollbackFailed { module: String, error: String },
}

fn report(events: Vec<Event>) {
    for e in events {
        match e {
            Event::Crash { child, actor, reason } => {
                tracing::warn!(target: "relive::supervisor", child, %actor, reason, "child crashed");
            }
            Event::Restarted { child } => {
                tracing::info!(target: "relive::supervisor", child, "child restarted");
            }
            Event::RestartFailed { child, error } => {
                tracing::error!(target: "relive::supervisor", child, error, "restart failed");
            }
            Event::GiveUp { child, why } => {
                tracing::error!(target: "relive::supervisor", child, why, "supervisor giving up: shutdown");
            }
            Event::Rollback(r) => tracing::error!(
                target: "relive::supervisor", module = r.module, from = r.from, to = r.to,
                crashes = r.crashes, migrated = r.migrated,
                restored_from_snapshot = r.restored_from_snapshot, reason = r.reason,
                "crash-loop rollback"
            ),
            Event::RollbackFailed { module, error } => {
                tracing::error!(target: "relive::supervisor", module, error, "crash-loop rollback failed");
            }
        }
    }
}

/// Whether `module` is on probation: its current version became current
/// through an upgrade (not a first load, not a rollback) less than
/// `after_upgrade` ago, and the version it replaced is still loaded.
fn on_probation(host: &HostHandle, module: &str, policy: &Probation) -> bool {
    use relive_runtime::code_server::Action;
    let code = host.code();
    if code.old(module).is_none() {
        return false;
    }
    let last = code.history(Some(module)).into_iter().rev().find(|h| {
        h.refused.is_none() && matches!(h.action, Action::Load | Action::Upgrade | Action::Rollback)
    });
    last.is_some_and(|h| {
        h.action == Action::Upgrade && h.at.elapsed().is_ok_and(|age| age < policy.after_upgrade)
    })
}

fn classify(reason: &ExitReason) -> Exit {
    match reason {
        ExitReason::Normal => Exit::Normal,
        ExitReason::Shutdown => Exit::Shutdown,
        _ => Exit::Abnormal,
    }
}

impl Tree {
    fn start_slot(&mut self, i: usize) -> Result<(), SpawnError> {
        let slot = &mut self.children[i];
        if slot.started {
            slot.restarts += 1;
        }
        slot.started = true;
        let actor = match (&slot.child.start, slot.actor.take()) {
            // A module child that ran before restarts in place, linked before
            // it can run: it may crash on its first message.
            (ChildStart::Module { args, args_schema, .. }, Some(old)) if old.is_exited() => {
                self.host.respawn_linked(&old, args, *args_schema, self.me.as_ref())?;
                self.children[i].actor = Some(old);
                return Ok(());
            }
            (ChildStart::Module { module, args, args_schema }, _) => {
                self.host.spawn_encoded(module, args, *args_schema, SpawnOptions::new())?
            }
            (ChildStart::Native(f), _) => f(&self.host)?,
        };
        if let Some(me) = &self.me {
            self.host.link_any(me, &actor);
        }
        self.children[i].actor = Some(actor);
        Ok(())
    }

    fn stop_slot(&mut self, i: usize) {
        let slot = &mut self.children[i];
        let Some(actor) = slot.actor.as_ref() else { return };
        if let Some(me) = &self.me {
            self.host.unlink_any(me, actor);
        }
        let reason = match slot.child.spec.shutdown {
            Shutdown::BrutalKill => ExitReason::Killed,
            Shutdown::Timeout(_) | Shutdown::Infinity => ExitReason::Shutdown,
        };
        self.host.terminate(actor, reason);
        // Keep the reference: a module child restarts in place.
        if !matches!(slot.child.start, ChildStart::Module { .. }) {
            slot.actor = None;
        }
    }

    fn running(&self, i: usize) -> bool {
        self.children[i].actor.as_ref().is_some_and(|a| !a.is_exited())
    }

    fn stop_all(&mut self) {
        for i in (0..self.children.len()).rev() {
            if self.running(i) {
                self.stop_slot(i);
            }
        }
    }

    fn child_exited(&mut self, from: ActorId, reason: &ExitReason, ctx: &mut NativeContext<'_>) {
        let mut events = Vec::new();
        self.handle_exit(from, reason, ctx, &mut events);
        // Reports are formatted only now, after recovery.
        report(events);
    }

    fn handle_exit(
        &mut self,
        from: ActorId,
        reason: &ExitReason,
        ctx: &mut NativeContext<'_>,
        events: &mut Vec<Event>,
    ) {
        if self.exited {
            return;
        }
        let Some(i) =
            self.children.iter().position(|s| s.actor.as_ref().map(AnyActor::id) == Some(from))
        else {
            return;
        };
        let spec = self.children[i].child.spec.clone();
        let exit = classify(reason);
        events.push(Event::Crash {
            child: spec.id.clone(),
            actor: from,
            reason: reason.to_string(),
        });
        if !spec.restart.should_restart(exit) {
            if spec.restart == Restart::Temporary {
                self.ids.remove(&spec.id);
                self.children.remove(i);
            } else if !matches!(self.children[i].child.start, ChildStart::Module { .. }) {
                self.children[i].actor = None;
            }
            return;
        }
        // Crashes of a module on probation count against the probation
        // policy instead of the intensity: a bad upgrade is rolled back
        // before ordinary escalation can take the tree down.
        let mut on_probation_for = None;
        if exit == Exit::Abnormal
            && let Some(policy) = self.flags.probation
        {
            for m in &spec.modules {
                if on_probation(&self.host, m, &policy) {
                    let window = self.probation.entry(m.clone()).or_default();
                    if window.crash(&policy, Instant::now()) {
                        let crashes = policy.max_crashes as usize + 1;
                        self.probation.remove(m);
                        self.crash_loop_rollback(m, crashes, events);
                    }
                    on_probation_for = Some(m.clone());
                    break;
                }
            }
        }
        if on_probation_for.is_none()
            && let Err(give_up) = self.intensity.add_restart(Instant::now())
        {
            events.push(Event::GiveUp { child: spec.id.clone(), why: give_up.to_string() });
            self.exited = true;
            self.stop_all();
            ctx.stop_self(ExitReason::Shutdown);
            return;
        }
        let plan = self.flags.strategy.plan(self.children.len(), i);
        for &j in &plan.stop {
            if self.running(j) {
                self.stop_slot(j);
            }
        }
        // Temporary children are not restarted by a sibling's failure.
        let mut restart: Vec<usize> = plan.restart;
        restart.retain(|&j| j == i || self.children[j].child.spec.restart != Restart::Temporary);
        for &j in &restart {
            let child = self.children[j].child.spec.id.clone();
            match self.start_slot(j) {
                Ok(()) => events.push(Event::Restarted { child }),
                Err(e) => events.push(Event::RestartFailed { child, error: e.to_string() }),
            }
        }
        let temporary: Vec<usize> = (0..self.children.len())
            .filter(|&j| {
                plan.stop.contains(&j) && self.children[j].child.spec.restart == Restart::Temporary
            })
            .collect();
        for j in temporary.into_iter().rev() {
            let removed = self.children.remove(j);
            self.ids.remove(&removed.child.spec.id);
        }
    }

    /// Roll `module` back on the host, mark the crash-looping build bad and
    /// drop it; the caller then restarts the crashed child on the old version.
    fn crash_loop_rollback(&mut self, module: &str, crashes: usize, events: &mut Vec<Event>) {
        let code = self.host.code();
        let Some(bad) = code.current(module) else { return };
        let (from, hash) = (bad.version().to_string(), bad.hash());
        drop(bad);
        match self.host.rollback(module) {
            Ok(r) => {
                code.mark_bad(module, hash);
                let _ = self.host.purge(module);
                let to = code.current(module).map(|v| v.version().to_string()).unwrap_or_default();
                let report = RollbackReport {
                    module: module.to_owned(),
                    reason: format!(
                        "{crashes} crashes of children running {module} {from} within the probation \
                         window after its upgrade"
                    ),
                    from,
                    to,
                    crashes,
                    migrated: r.migrated,
                    restored_from_snapshot: r.restored_from_snapshot,
                };
                self.rollbacks.push(report.clone());
                events.push(Event::Rollback(report));
            }
            Err(e) => events
                .push(Event::RollbackFailed { module: module.to_owned(), error: e.to_string() }),
        }
    }
}

/// The supervisor's actor: traps its children's exits.
struct Shell(Arc<Mutex<Tree>>);

impl NativeActor for Shell {
    type Msg = ();
    type Reply = ();

    fn handle(&mut self, (): (), _: &mut NativeContext<'_>) {}

    fn trap_exit(&self) -> bool {
        true
    }

    fn on_exit(&mut self, from: ActorId, reason: &ExitReason, ctx: &mut NativeContext<'_>) {
        self.0.lock().child_exited(from, reason, ctx);
    }

    fn on_stop(&mut self, _reason: &ExitReason, _host: &HostHandle) {
        let mut tree = self.0.lock();
        tree.exited = true;
        tree.stop_all();
    }
}

/// Describes a supervisor for the admin `status` (held weakly: it goes
/// away with the supervisor).
struct TreeSource(std::sync::Weak<Mutex<Tree>>, AnyActor);

impl relive_runtime::admin::protocol::TreeSource for TreeSource {
    fn view(&self) -> Option<relive_runtime::admin::protocol::TreeView> {
        use relive_runtime::admin::protocol::{ChildView, TreeView};
        let tree = self.0.upgrade()?;
        if self.1.is_exited() {
            return None;
        }
        let t = tree.lock();
        Some(TreeView {
            actor: self.1.id().get(),
            strategy: format!("{:?}", t.flags.strategy),
            children: t
                .children
                .iter()
                .map(|s| ChildView {
                    id: s.child.spec.id.clone(),
                    actor: s.actor.as_ref().filter(|a| !a.is_exited()).map(|a| a.id().get()),
                    kind: format!("{:?}", s.child.spec.kind).to_lowercase(),
                    modules: s.child.spec.modules.clone(),
                    restarts: s.restarts,
                })
                .collect(),
        })
    }
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
        let tree = Arc::new(Mutex::new(Tree {
            host: host.clone(),
            flags,
            intensity: Intensity::new(flags.intensity, flags.period),
            children: children
                .into_iter()
                .map(|child| Slot { child, actor: None, started: false, restarts: 0 })
                .collect(),
            me: None,
            exited: false,
            next_dynamic: 0,
            probation: HashMap::new(),
            rollbacks: Vec::new(),
            ids: specs.iter().map(|s| s.id.clone()).collect(),
        }));
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
        host.register_tree(Arc::new(TreeSource(Arc::downgrade(&tree), actor.clone())));
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
    /// it is not added).
    pub fn start_child(&self, mut child: Child) -> Result<AnyActor, StartError> {
        let mut t = self.tree.lock();
        if t.exited {
            return Err(StartError::Supervisor(Box::new(SpawnError::Running(self.actor.id()))));
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
        t.children.push(Slot { child, actor: None, started: false, restarts: 0 });
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
        t.start_slot(i)
            .map_err(|e| ChildError::Restart { id: id.into(), reason: e.to_string() })?;
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
    pub fn rollbacks(&self) -> Vec<RollbackReport> {
        self.tree.lock().rollbacks.clone()
    }

    /// Stop every child in reverse start order, then the supervisor.
    pub fn stop(&self) {
        let host = self.tree.lock().host.clone();
        host.terminate(&self.actor, ExitReason::Shutdown);
    }
}
