//! The host: a code server, a scheduler and the actors, in one handle.
//!
//! [`Host`] is what an application builds once. It spawns actors of loaded
//! modules (and host-native actors), looks them up by name, links and
//! monitors them, and upgrades modules with every actor migrated (see
//! `upgrade.rs`).

pub(crate) mod services;
mod timers;
mod upgrade;

pub use upgrade::{
    ActorFailure, Canary, HostUpgradeError, HostUpgradeOptions, MigrationReport, UpgradeMode,
};

use crate::actor::mailbox::Refused;
use crate::actor::native::{NativeActor, NativeHandler, Typed};
use crate::actor::{
    ActorCell, ActorId, ActorRef, AnyActor, Body, DEFAULT_CAPACITY, Envelope, ExitReason, Notified,
    ReplyError, SystemMsg,
};
use crate::code_server::{CallError as ModuleCallError, CodeServer, Instance, Interface};
use crate::scheduler::{BATCH, RunActor, Scheduler};
use parking_lot::{Mutex, MutexGuard, RwLock};
use relive_codec::Schema;
use serde::{Serialize, de::DeserializeOwned};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an actor could not be spawned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// No module of that name is loaded.
    #[error("module `{0}` is not loaded")]
    NotLoaded(String),
    /// The caller's message, reply or init-argument type is not the module's.
    #[error("{0}")]
    Schema(ModuleCallError),
    /// The module's `init` failed or panicked.
    #[error("init failed: {0}")]
    Init(ModuleCallError),
    /// The name is taken.
    #[error("the name `{0}` is already registered")]
    NameTaken(String),
    /// `respawn` of an actor that has not exited.
    #[error("actor {0} is running")]
    Running(ActorId),
}

/// Options of a spawn.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SpawnOptions {
    /// Mailbox capacity; `Some(0)` is unbounded. Default [`DEFAULT_CAPACITY`].
    pub capacity: Option<usize>,
    /// Register the actor under this name.
    pub name: Option<String>,
}

impl SpawnOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the mailbox capacity (0: unbounded).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Register under `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The state every part of the host shares.
#[derive(Debug)]
pub(crate) struct HostShared {
    pub(crate) code: CodeServer,
    actors: RwLock<HashMap<ActorId, Arc<ActorCell>>>,
    by_module: Mutex<HashMap<Arc<str>, HashSet<ActorId>>>,
    names: RwLock<HashMap<String, ActorId>>,
    next_id: AtomicU64,
    dead_letters: AtomicU64,
    sched: std::sync::OnceLock<Arc<crate::scheduler::Shared>>,
    /// Serialises upgrades (the code server is the single writer of slots;
    /// this keeps actor migrations of one upgrade from interleaving with
    /// another's).
    pub(crate) upgrading: Mutex<()>,
    /// Snapshots taken when actors migrated, for rollbacks without `downgrade`.
    pub(crate) snapshots: Mutex<upgrade::Snapshots>,
    /// Gradual upgrades in progress.
    pub(crate) gradual: Mutex<HashMap<String, upgrade::Gradual>>,
    /// `send_after` timers.
    pub(crate) timers: timers::Timers,
    /// Worker threads.
    pub(crate) workers: std::sync::atomic::AtomicUsize,
    /// Supervision trees, for the admin `status`.
    pub(crate) trees: Mutex<Vec<Arc<dyn crate::admin::protocol::TreeSource>>>,
    /// Calls whose replies a handler deferred, by token.
    pub(crate) pending_replies: Mutex<HashMap<u64, services::Pending>>,
    pub(crate) next_token: AtomicU64,
    /// Whether a blocking call from a host thread to an idle module actor
    /// runs the actor's turn on the calling thread ([`HostBuilder::inline_calls`]).
    inline_calls: bool,
}

impl HostShared {
    fn sched(&self) -> &crate::scheduler::Shared {
        self.sched.get().expect("scheduler started")
    }

    pub(crate) fn on_worker(&self) -> bool {
        self.sched().on_worker()
    }

    /// Push a blocking call's envelope from a host thread. If that made the
    /// actor runnable (it was idle) and inline calls are on, this thread runs
    /// the actor's turn itself instead of waking a worker: the caller would
    /// only wait for the reply, and a hand-off to a worker and back costs
    /// two thread wake-ups. The turn is exactly a worker's (same state
    /// machine, same body lock, same batch), so order, exclusivity and
    /// upgrade suspension hold as on a worker.
    pub(crate) fn push_call(
        self: &Arc<Self>,
        cell: &Arc<ActorCell>,
        env: Envelope,
        wait: crate::actor::mailbox::Wait,
    ) -> Result<(), Refused> {
        let first = cell.mailbox.push(env, wait)?;
        if first && cell.notify() == Notified::Schedule {
            // Host-native actors (supervisors) always run on workers.
            if self.inline_calls && cell.module.is_some() {
                if run_one(self, cell) {
                    self.sched().schedule(Arc::clone(cell));
                }
            } else {
                self.sched().schedule(Arc::clone(cell));
            }
        }
        Ok(())
    }

    /// Schedule `cell` if `notify` says so.
    pub(crate) fn wake(&self, cell: &Arc<ActorCell>) {
        if cell.notify() == Notified::Schedule {
            self.sched().schedule(Arc::clone(cell));
        }
    }

    /// Hand back a body locked with `suspend`, rescheduling the actor if mail
    /// or a system message arrived meanwhile.
    pub(crate) fn release(&self, cell: &Arc<ActorCell>, guard: MutexGuard<'_, Body>) {
        drop(guard);
        // ORDERING: Acquire pairs with `send_system`'s Release.
        if !cell.mailbox.is_empty() || cell.system_pending.load(Ordering::Acquire) {
            self.wake(cell);
        }
    }

    pub(crate) fn cell(&self, id: ActorId) -> Option<Arc<ActorCell>> {
        self.actors.read().get(&id).cloned()
    }

    /// The actors running `module`, in id order.
    pub(crate) fn actors_of(&self, module: &str) -> Vec<Arc<ActorCell>> {
        let ids: Vec<ActorId> = {
            let idx = self.by_module.lock();
            let mut ids: Vec<ActorId> =
                idx.get(module).map(|s| s.iter().copied().collect()).unwrap_or_default();
            ids.sort();
            ids
        };
        let actors = self.actors.read();
        ids.iter().filter_map(|id| actors.get(id).cloned()).collect()
    }

    fn insert(&self, cell: Arc<ActorCell>, name: Option<String>) -> Result<(), SpawnError> {
        if let Some(name) = name {
            let mut names = self.names.write();
            if names.contains_key(&name) {
                return Err(SpawnError::NameTaken(name));
            }
            names.insert(name.clone(), cell.id);
            cell.control.lock().name = Some(name);
        }
        if let Some(m) = &cell.module {
            self.by_module.lock().entry(Arc::clone(m)).or_default().insert(cell.id);
        }
        self.actors.write().insert(cell.id, cell);
        Ok(())
    }

    pub(crate) fn worker_count(&self) -> usize {
        // ORDERING: a statistic.
        self.workers.load(Ordering::Relaxed)
    }

    /// A view of every live actor (for the admin `status`). An actor whose
    /// body is held is reported `suspended` while an upgrade runs and
    /// `running` otherwise (a worker holds it for a turn).
    pub(crate) fn actor_views(&self) -> Vec<crate::admin::protocol::ActorView> {
        let upgrading = self.upgrading.try_lock().is_none();
        let mut cells: Vec<Arc<ActorCell>> = self.actors.read().values().cloned().collect();
        cells.sort_by_key(|c| c.id);
        cells
            .iter()
            .map(|c| {
                let (state, version) = match c.body.try_lock() {
                    Some(b) => {
                        let seen = match &*b {
                            Body::Module(i) => ("idle", Some(i.version().version().to_string())),
                            Body::Native(_) => ("idle", None),
                            Body::Exited(_) => ("exited", None),
                        };
                        // A turn that found the body locked left it to us.
                        self.release(c, b);
                        seen
                    }
                    None if upgrading => ("suspended", None),
                    None => ("running", None),
                };
                crate::admin::protocol::ActorView {
                    id: c.id.get(),
                    module: c.module.as_deref().map(str::to_owned),
                    version,
                    state: state.to_owned(),
                    mailbox: c.mailbox.len(),
                    // ORDERING: a statistic.
                    handled: c.handled.load(Ordering::Relaxed),
                    name: c.control.lock().name.clone(),
                }
            })
            .collect()
    }

    pub(crate) fn whereis_id(&self, name: &str) -> Option<ActorId> {
        self.names.read().get(name).copied()
    }

    /// Start an actor of `module` (current version) with encoded `args`
    /// whose schema is `args_schema`; with `interface`, also check and pin
    /// the caller's message and reply types.
    pub(crate) fn spawn_module(
        &self,
        module: &str,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
        interface: Option<Interface>,
    ) -> Result<Arc<ActorCell>, SpawnError> {
        self.spawn_module_with(module, args, args_schema, interface, SpawnOptions::default())
    }

    fn spawn_module_with(
        &self,
        module: &str,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
        interface: Option<Interface>,
        opts: SpawnOptions,
    ) -> Result<Arc<ActorCell>, SpawnError> {
        let version =
            self.code.current(module).ok_or_else(|| SpawnError::NotLoaded(module.into()))?;
        let schemas = version.schemas();
        let wanted = interface.unwrap_or(Interface {
            args: args_schema,
            message: schemas.message,
            reply: schemas.reply,
        });
        check_interface(&version, wanted).map_err(SpawnError::Schema)?;
        if interface.is_some() {
            self.code.pin_interface(module, wanted);
        }
        let instance = Instance::start(&version, args).map_err(SpawnError::Init)?;
        let cell = Arc::new(ActorCell::new(
            self.new_id(),
            Some(version.shared_name()),
            (schemas.message, schemas.reply),
            Body::Module(instance),
            opts.capacity.unwrap_or(DEFAULT_CAPACITY),
        ));
        self.insert(Arc::clone(&cell), opts.name)?;
        Ok(cell)
    }

    fn new_id(&self) -> ActorId {
        // ORDERING: only uniqueness matters.
        ActorId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Queue a system message and make sure the actor runs to apply it.
    pub(crate) fn send_system(&self, cell: &Arc<ActorCell>, msg: SystemMsg) {
        if cell.is_exited() {
            return;
        }
        cell.control.lock().system.push_back(msg);
        // ORDERING: Release after the push (under the control lock); the
        // worker's Acquire swap then finds the message.
        cell.system_pending.store(true, Ordering::Release);
        self.wake(cell);
    }

    /// Push mail to `cell`: from a worker thread (a handler) without
    /// waiting, past the bound if need be; from a host thread as `wait` says.
    pub(crate) fn push(
        &self,
        cell: &Arc<ActorCell>,
        env: Envelope,
        wait: crate::actor::mailbox::Wait,
    ) -> Result<(), Refused> {
        let first = if self.on_worker() {
            cell.mailbox.push_overdraft(env)
        } else {
            cell.mailbox.push(env, wait)
        }?;
        if first {
            self.wake(cell);
        }
        Ok(())
    }

    /// The actor exits: its body goes, its mailbox is answered, its links
    /// and monitors are told, it leaves the registry.
    pub(crate) fn exit(
        self: &Arc<Self>,
        cell: &Arc<ActorCell>,
        body: &mut Body,
        reason: ExitReason,
    ) {
        if matches!(body, Body::Exited(_)) {
            return;
        }
        if let Body::Native(h) = body {
            h.on_stop(&reason, &HostHandle::from_shared(Arc::clone(self)));
        }
        // Dropping the instance frees its state with its own library.
        *body = Body::Exited(reason.clone());
        cell.mark_exited();
        self.answer_undelivered(cell.mailbox.close(), &reason);
        services::fail_pending(self, cell.id, &reason);
        let (links, monitors, name) = {
            let mut c = cell.control.lock();
            c.system.clear();
            (std::mem::take(&mut c.links), std::mem::take(&mut c.monitors), c.name.take())
        };
        // Leave the registry before anyone hears of the exit: whoever is
        // told (a monitor, a linked actor) must not still find it by name.
        if let Some(name) = name {
            self.names.write().remove(&name);
        }
        if let Some(m) = &cell.module
            && let Some(set) = self.by_module.lock().get_mut(m)
        {
            set.remove(&cell.id);
        }
        self.actors.write().remove(&cell.id);
        for m in monitors {
            let _ = m.send(reason.clone());
        }
        for id in links {
            if let Some(other) = self.cell(id) {
                other.control.lock().links.remove(&cell.id);
                self.send_system(
                    &other,
                    SystemMsg::LinkExit { from: cell.id, reason: reason.clone() },
                );
            }
        }
        if !reason.is_normal() {
            tracing::warn!(actor = %cell.id, module = cell.module.as_deref(), %reason, "actor exited");
        }
    }

    /// Answer mail that will never be handled: calls get the exit reason,
    /// casts are counted as dead letters.
    fn answer_undelivered(&self, msgs: impl IntoIterator<Item = Envelope>, reason: &ExitReason) {
        for env in msgs {
            match env.reply {
                Some(tx) => {
                    let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
                }
                None => {
                    // ORDERING: a statistic.
                    self.dead_letters.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Apply pending system messages; true if the actor exited.
    fn apply_system(self: &Arc<Self>, cell: &Arc<ActorCell>, body: &mut Body) -> bool {
        // ORDERING: Acquire pairs with `send_system`'s Release.
        if !cell.system_pending.swap(false, Ordering::Acquire) {
            return false;
        }
        loop {
            let (msg, trap) = {
                let mut c = cell.control.lock();
                (c.system.pop_front(), c.trap_exit)
            };
            let Some(msg) = msg else { return false };
            match msg {
                SystemMsg::Stop(reason) => {
                    self.exit(cell, body, reason);
                    return true;
                }
                SystemMsg::LinkExit { from, reason } => {
                    if trap {
                        if let Body::Native(h) = body {
                            h.on_exit(from, &reason, &mut native_ctx(self, cell));
                        }
                    } else if !reason.is_normal() {
                        self.exit(
                            cell,
                            body,
                            ExitReason::Linked { from, reason: Box::new(reason) },
                        );
                        return true;
                    }
                }
            }
        }
    }

    /// One turn of an actor on a worker.
    fn run_turn(self: &Arc<Self>, cell: &Arc<ActorCell>, batch: &mut VecDeque<Envelope>) -> bool {
        if !cell.start_running() {
            return false;
        }
        let Some(mut body) = cell.body.try_lock() else {
            // Suspended by an upgrade or a debug call: the holder
            // reschedules the actor when it lets go.
            return cell.finish_running(false);
        };
        if matches!(*body, Body::Exited(_)) {
            // It exited (killed from outside) after this worker picked it up.
            return false;
        }
        if self.apply_system(cell, &mut body) {
            return false;
        }
        cell.mailbox.take_batch(batch, BATCH);
        let mut reply = Vec::new();
        while let Some(env) = batch.pop_front() {
            let Envelope { bytes, reply: reply_to } = env;
            let is_call = reply_to.is_some();
            let (handled, reply_to) =
                services::with_call(reply_to, cell.reply_schema, || match &mut *body {
                    Body::Module(inst) if is_call => inst.handle(&bytes).map(|r| {
                        reply.clear();
                        reply.extend_from_slice(r);
                    }),
                    Body::Module(inst) => inst.handle_cast(&bytes),
                    Body::Native(h) => h.handle(&bytes, &mut reply, &mut native_ctx(self, cell)),
                    Body::Exited(_) => unreachable!("an exited actor is never run"),
                });
            let env = Envelope { bytes, reply: reply_to };
            // ORDERING: a statistic.
            cell.handled.fetch_add(1, Ordering::Relaxed);
            match handled {
                Ok(()) => {
                    if let Some(tx) = env.reply {
                        let _ = tx.send(Ok(std::mem::take(&mut reply)));
                    }
                }
                Err(ModuleCallError::Panicked { message, .. }) => {
                    let reason = ExitReason::Panicked(message);
                    if let Some(tx) = env.reply {
                        let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
                    }
                    let rest: Vec<Envelope> = batch.drain(..).collect();
                    self.exit(cell, &mut body, reason.clone());
                    self.answer_undelivered(rest, &reason);
                    return false;
                }
                Err(e) => {
                    if let Some(tx) = env.reply {
                        let _ = tx.send(Err(ReplyError::Handler(e)));
                    }
                }
            }
            // ORDERING: Acquire pairs with `send_system`'s Release.
            if cell.system_pending.load(Ordering::Acquire) {
                // A system message overtakes the rest of the batch.
                cell.mailbox.unshift(batch);
                if self.apply_system(cell, &mut body) {
                    return false;
                }
            }
        }
        drop(body);
        cell.finish_running(!cell.mailbox.is_empty())
    }
}

/// Link `a` and `b` under both control locks (taken in id order), so that
/// an exit, which marks the actor exited and then takes its links under the
/// same lock, either finds the link or happened before it was made. False,
/// and nothing linked, if `a` (or, with `check_b`, `b`) has exited.
fn link_cells(a: &ActorCell, b: &ActorCell, check_b: bool) -> bool {
    if a.id == b.id {
        return !a.is_exited();
    }
    let (first, second) = if a.id < b.id { (a, b) } else { (b, a) };
    let mut c1 = first.control.lock();
    let mut c2 = second.control.lock();
    if a.is_exited() || (check_b && b.is_exited()) {
        return false;
    }
    c1.links.insert(second.id);
    c2.links.insert(first.id);
    true
}

fn native_ctx<'a>(
    host: &'a Arc<HostShared>,
    cell: &'a Arc<ActorCell>,
) -> crate::actor::NativeContext<'a> {
    crate::actor::NativeContext { id: cell.id, host }
}

/// Runs actor turns for the scheduler; owns the per-worker batch buffer.
struct Runner(Arc<HostShared>);

thread_local! {
    static BATCH_BUF: std::cell::RefCell<VecDeque<Envelope>> = const { std::cell::RefCell::new(VecDeque::new()) };
}

impl RunActor for Runner {
    fn run(&self, cell: &Arc<ActorCell>) -> bool {
        run_one(&self.0, cell)
    }
}

/// Run one turn of `cell` (which this thread moved to `SCHEDULED`) on this
/// thread, a worker or an inline caller; true if it must be requeued.
fn run_one(host: &Arc<HostShared>, cell: &Arc<ActorCell>) -> bool {
    let _turn = services::Turn::enter(host, cell.id);
    BATCH_BUF.with(|b| {
        let mut batch = std::mem::take(&mut *b.borrow_mut());
        let again = host.run_turn(cell, &mut batch);
        *b.borrow_mut() = batch;
        again
    })
}

/// The running host: code server, scheduler, actors. Owns the worker
/// threads (dropping it shuts them down); everything else is on
/// [`HostHandle`], which it derefs to.
#[derive(Debug)]
pub struct Host {
    handle: HostHandle,
    scheduler: Mutex<Scheduler>,
}

/// A cheap, cloneable handle to a running host: spawn, look up, link, stop,
/// upgrade. Host-native actors (supervisors) keep one.
#[derive(Debug, Clone)]
pub struct HostHandle {
    pub(crate) shared: Arc<HostShared>,
}

impl std::ops::Deref for Host {
    type Target = HostHandle;

    fn deref(&self) -> &HostHandle {
        &self.handle
    }
}

/// Builds a [`Host`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    workers: Option<usize>,
    code: Option<CodeServer>,
    no_inline_calls: bool,
}

impl HostBuilder {
    /// Number of worker threads (default: the number of cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Whether a blocking [`call`](crate::ActorRef::call) from a host thread
    /// to an idle module actor runs the actor's turn on the calling thread
    /// (default: on). The caller would only wait for the reply; running the
    /// turn itself saves the hand-off to a worker and back (two thread
    /// wake-ups), which is most of a round trip's cost. The turn is a
    /// worker's turn in every respect (order, one thread at a time, the
    /// upgrade boundary). What changes: a handler slower than the call's
    /// timeout delays the caller until it ends (the call then returns
    /// [`CallError::Timeout`](crate::actor::CallError::Timeout) and the reply is
    /// dropped). Turn it off if callers must get control back at the
    /// deadline even from a stuck handler.
    pub fn inline_calls(mut self, on: bool) -> Self {
        self.no_inline_calls = !on;
        self
    }

    /// Use this code server (for a private directory or trusted keys).
    pub fn code_server(mut self, code: CodeServer) -> Self {
        self.code = Some(code);
        self
    }

    /// Start the host.
    ///
    /// # Errors
    /// The code server's private directory or a worker thread could not be
    /// created.
    pub fn build(self) -> std::io::Result<Host> {
        let code = match self.code {
            Some(c) => c,
            None => CodeServer::new()?,
        };
        let shared = Arc::new(HostShared {
            code,
            actors: RwLock::new(HashMap::new()),
            by_module: Mutex::new(HashMap::new()),
            names: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            dead_letters: AtomicU64::new(0),
            sched: std::sync::OnceLock::new(),
            upgrading: Mutex::new(()),
            snapshots: Mutex::new(HashMap::new()),
            gradual: Mutex::new(HashMap::new()),
            timers: timers::Timers::default(),
            pending_replies: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            workers: std::sync::atomic::AtomicUsize::new(0),
            trees: Mutex::new(Vec::new()),
            inline_calls: !self.no_inline_calls,
        });
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let scheduler = Scheduler::start(workers, Arc::new(Runner(Arc::clone(&shared))))?;
        // ORDERING: a statistic, written once before the host is shared.
        shared.workers.store(scheduler.workers(), Ordering::Relaxed);
        let _ = shared.sched.set(Arc::clone(scheduler.shared()));
        Ok(Host { handle: HostHandle { shared }, scheduler: Mutex::new(scheduler) })
    }
}

impl Host {
    /// A host with default settings.
    ///
    /// # Errors
    /// As [`HostBuilder::build`].
    pub fn new() -> std::io::Result<Self> {
        HostBuilder::default().build()
    }

    /// Configure a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// A handle to this host (cheap to clone, `Send + Sync`).
    pub fn handle(&self) -> HostHandle {
        self.handle.clone()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.scheduler.lock().workers()
    }

    /// Stop every actor (`shutdown`) and the workers.
    pub fn shutdown(&self) {
        let shared = &self.handle.shared;
        let actors: Vec<Arc<ActorCell>> = shared.actors.read().values().cloned().collect();
        for cell in actors {
            let mut body = cell.suspend();
            shared.exit(&cell, &mut body, ExitReason::Shutdown);
        }
        shared.timers.shutdown();
        self.scheduler.lock().shutdown();
    }
}

impl HostHandle {
    pub(crate) fn from_shared(shared: Arc<HostShared>) -> Self {
        HostHandle { shared }
    }

    /// Spawn an actor of `module` with init arguments already encoded
    /// (`args`, whose schema is `args_schema`); the message types are the
    /// module's own. Supervisors start their module children this way.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn spawn_encoded(
        &self,
        module: &str,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
        opts: SpawnOptions,
    ) -> Result<AnyActor, SpawnError> {
        let cell = self.shared.spawn_module_with(module, args, args_schema, None, opts)?;
        Ok(AnyActor { cell, host: Arc::clone(&self.shared) })
    }

    /// Start an exited module actor again *in place*: same id, same mailbox
    /// (reopened), so every reference to it works again. Its `init` runs
    /// with `args` on the module's current version before this returns.
    ///
    /// # Errors
    /// [`SpawnError::Running`] if it has not exited; otherwise as
    /// [`spawn`](Self::spawn).
    ///
    /// # Upgrade behaviour
    /// The actor restarts on the module's current version.
    pub fn respawn(
        &self,
        actor: &AnyActor,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
    ) -> Result<(), SpawnError> {
        self.respawn_linked(actor, args, args_schema, None)
    }

    /// [`respawn`](Self::respawn), linked to `link` before the actor can
    /// run again (OTP's `spawn_link`): a supervisor restarting a child this
    /// way hears of its next exit even if it crashes on the very first
    /// message, which linking after the restart could miss.
    ///
    /// # Errors
    /// As [`respawn`](Self::respawn).
    pub fn respawn_linked(
        &self,
        actor: &AnyActor,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
        link: Option<&AnyActor>,
    ) -> Result<(), SpawnError> {
        let cell = &actor.cell;
        let Some(module) = cell.module.clone() else {
            return Err(SpawnError::NotLoaded("(a native actor cannot be respawned)".into()));
        };
        let mut body = cell.suspend();
        if !matches!(*body, Body::Exited(_)) {
            return Err(SpawnError::Running(cell.id));
        }
        let version = self
            .shared
            .code
            .current(&module)
            .ok_or_else(|| SpawnError::NotLoaded(module.to_string()))?;
        let s = version.schemas();
        if s.message != cell.msg_schema || s.reply != cell.reply_schema {
            return Err(SpawnError::Schema(ModuleCallError::SchemaMismatch {
                module: module.to_string(),
                version: version.version().to_string(),
                what: "message",
                expected: cell.msg_schema,
                found: s.message,
            }));
        }
        let wanted = Interface { args: args_schema, message: s.message, reply: s.reply };
        check_interface(&version, wanted).map_err(SpawnError::Schema)?;
        let instance = Instance::start(&version, args).map_err(SpawnError::Init)?;
        *body = Body::Module(instance);
        // The body is held, so this actor cannot exit meanwhile; only the
        // other side is checked.
        let dead_link = link.filter(|other| !link_cells(&other.cell, cell, false));
        cell.mailbox.reopen();
        cell.revive();
        if let Some(other) = dead_link {
            // OTP: linking to a dead process delivers a `noproc` exit.
            self.shared.send_system(
                cell,
                SystemMsg::LinkExit { from: other.cell.id, reason: ExitReason::Killed },
            );
        }
        self.shared.by_module.lock().entry(Arc::clone(&module)).or_default().insert(cell.id);
        self.shared.actors.write().insert(cell.id, Arc::clone(cell));
        // Mail may have come in since the mailbox reopened, and a turn that
        // found the body locked has left it to us: reschedule.
        self.shared.release(cell, body);
        Ok(())
    }

    /// Link two actors (see [`link`](Self::link)), untyped.
    pub fn link_any(&self, a: &AnyActor, b: &AnyActor) {
        self.link(&a.typed::<(), ()>(), &b.typed::<(), ()>());
    }

    /// Remove a link between two actors.
    pub fn unlink_any(&self, a: &AnyActor, b: &AnyActor) {
        a.cell.control.lock().links.remove(&b.cell.id);
        b.cell.control.lock().links.remove(&a.cell.id);
    }

    /// Make the actor exit with `reason` now: it is suspended at its next
    /// message boundary and exits before this returns (its queued mail is
    /// answered with the reason). A no-op if it already exited.
    pub fn terminate(&self, actor: &AnyActor, reason: ExitReason) {
        let mut body = actor.cell.suspend();
        self.shared.exit(&actor.cell, &mut body, reason);
    }

    /// A reference to the actor with this id, untyped.
    pub fn actor_any(&self, id: ActorId) -> Option<AnyActor> {
        let cell = self.shared.cell(id)?;
        Some(AnyActor { cell, host: Arc::clone(&self.shared) })
    }

    /// The code server.
    pub fn code(&self) -> &CodeServer {
        &self.shared.code
    }

    /// Spawn an actor of `module` (its current version) with init `args`;
    /// `init` runs on the calling thread before this returns.
    ///
    /// The types are checked against the module's schemas here, so a
    /// mismatch is an error at spawn, never garbage at decode; the first
    /// spawn also pins them as the module's interface, so later versions
    /// that change them are refused at load.
    ///
    /// # Errors
    /// [`SpawnError`]: not loaded, wrong types, `init` failed.
    ///
    /// # Upgrade behaviour
    /// The actor starts on the module's current version (during a gradual
    /// upgrade, the new one).
    pub fn spawn<M, R, A>(&self, module: &str, args: &A) -> Result<ActorRef<M, R>, SpawnError>
    where
        M: Serialize + Schema,
        R: DeserializeOwned + Schema,
        A: Serialize + Schema,
    {
        self.spawn_with(module, args, SpawnOptions::default())
    }

    /// [`spawn`](Self::spawn) with options.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn); [`SpawnError::NameTaken`].
    pub fn spawn_with<M, R, A>(
        &self,
        module: &str,
        args: &A,
        opts: SpawnOptions,
    ) -> Result<ActorRef<M, R>, SpawnError>
    where
        M: Serialize + Schema,
        R: DeserializeOwned + Schema,
        A: Serialize + Schema,
    {
        let interface = const { Interface::of::<A, M, R>() };
        let mut bytes = Vec::new();
        relive_codec::encode_into(args, &mut bytes)
            .map_err(|e| SpawnError::Init(ModuleCallError::Codec(e)))?;
        let cell =
            self.shared.spawn_module_with(module, &bytes, interface.args, Some(interface), opts)?;
        Ok(ActorRef::new(cell, Arc::clone(&self.shared)))
    }

    /// Spawn a host-native actor (implemented in the host, not reloadable).
    ///
    /// # Errors
    /// [`SpawnError::NameTaken`].
    pub fn spawn_native<N: NativeActor>(
        &self,
        actor: N,
        opts: SpawnOptions,
    ) -> Result<ActorRef<N::Msg, N::Reply>, SpawnError> {
        let trap = actor.trap_exit();
        let handler: Box<dyn NativeHandler> = Box::new(Typed(actor));
        let cell = Arc::new(ActorCell::new(
            self.shared.new_id(),
            None,
            (
                relive_codec::Fingerprint::of::<N::Msg>(),
                relive_codec::Fingerprint::of::<N::Reply>(),
            ),
            Body::Native(handler),
            opts.capacity.unwrap_or(DEFAULT_CAPACITY),
        ));
        cell.control.lock().trap_exit = trap;
        self.shared.insert(Arc::clone(&cell), opts.name)?;
        Ok(ActorRef::new(cell, Arc::clone(&self.shared)))
    }

    /// A reference to the actor with this id (say, one a module spawned),
    /// typed as the caller expects; `None` if it is gone.
    pub fn actor_ref<M, R>(&self, id: ActorId) -> Option<ActorRef<M, R>> {
        let cell = self.shared.cell(id)?;
        Some(ActorRef::new(cell, Arc::clone(&self.shared)))
    }

    /// The actor registered under `name`, typed as the caller expects.
    pub fn whereis<M, R>(&self, name: &str) -> Option<ActorRef<M, R>> {
        let id = *self.shared.names.read().get(name)?;
        let cell = self.shared.cell(id)?;
        Some(ActorRef::new(cell, Arc::clone(&self.shared)))
    }

    /// Link two actors: when one exits abnormally, the other exits too
    /// (or, trapping exits, is told).
    pub fn link<M1, R1, M2, R2>(&self, a: &ActorRef<M1, R1>, b: &ActorRef<M2, R2>) {
        let (ca, cb) = (a.cell(), b.cell());
        if !link_cells(ca, cb, true) {
            // OTP: linking to a dead process delivers a `noproc` exit.
            let dead = if ca.is_exited() { ca } else { cb };
            let alive = if ca.is_exited() { cb } else { ca };
            self.shared.send_system(
                alive,
                SystemMsg::LinkExit { from: dead.id, reason: ExitReason::Killed },
            );
        }
    }

    /// Ask the actor to exit with `reason` (a system message: it overtakes
    /// queued mail, which is then answered with the exit reason).
    ///
    /// # Upgrade behaviour
    /// An actor suspended by an upgrade applies it when it resumes.
    pub fn stop<M, R>(&self, actor: &ActorRef<M, R>, reason: ExitReason) {
        self.shared.send_system(actor.cell(), SystemMsg::Stop(reason));
    }

    /// Messages cast to actors that exited before handling them.
    pub fn dead_letters(&self) -> u64 {
        // ORDERING: a statistic.
        self.shared.dead_letters.load(Ordering::Relaxed)
    }

    /// Live actors.
    pub fn actor_count(&self) -> usize {
        self.shared.actors.read().len()
    }

    /// The canaries of a gradual upgrade of `module` in progress.
    pub fn canaries(&self, module: &str) -> Option<Vec<ActorId>> {
        self.shared.gradual.lock().get(module).map(|g| g.canaries.clone())
    }

    /// Live actors of `module`.
    pub fn actors_of(&self, module: &str) -> usize {
        self.shared.by_module.lock().get(module).map_or(0, HashSet::len)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn check_interface(version: &crate::Version, wanted: Interface) -> Result<(), ModuleCallError> {
    let s = version.schemas();
    for (what, expected, found) in [
        ("message", s.message, wanted.message),
        ("reply", s.reply, wanted.reply),
        ("init args", s.args, wanted.args),
    ] {
        if expected != found {
            return Err(ModuleCallError::SchemaMismatch {
                module: version.name().to_owned(),
                version: version.version().to_string(),
                what,
                expected,
                found,
            });
        }
    }
    Ok(())
}
