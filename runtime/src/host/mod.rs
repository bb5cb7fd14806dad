//! The host: the module table, a scheduler and the actors, in one handle.
//!
//! [`Host`] is what an application builds once. It spawns actors of loaded
//! modules (and host-native actors), looks them up by name, links and
//! monitors them; its [`CodeServer`] upgrades modules with every actor
//! migrated (see `upgrade/`).
//!
//! This layer composes the ones below it: `code_server` (versions), `actor`
//! (mailboxes, turns, links) and `scheduler` (workers). Where a lower layer
//! needs something from here, it asks through a trait this layer implements
//! (`actor::System`, `scheduler::Run`, `ffi::host::Services`).

mod code_server;
// issue 17: typed configuration, hot-reloaded
pub mod config;
// issue 15: lifecycle
mod events;
// issue 17: functions
mod function;
mod kill;
// issue 16: metrics
mod metrics;
mod native;
mod no_proc;
// issue 20: async forms
mod off_thread;
// issue 15: port
mod port;
mod registry;
mod services;
mod shared;
mod spawn;
mod spawn_gate;
mod sys;
mod timers;
pub(crate) mod upgrade;
pub mod views;

pub use code_server::CodeServer;
// issue 17: typed configuration, hot-reloaded
pub use config::{Config, ConfigError, ConfigFormat, ConfigRefusal, ConfigStatus};
// issue 15: lifecycle
pub use events::NotASupervisorEvent;
// issue 17: functions
pub use function::{Function, FunctionError, FunctionInfo, INLINE_BYTES};
pub use native::{NativeActor, NativeContext};
pub use no_proc::NoProc;
// issue 20: async forms
pub use off_thread::OffThread;
// issue 15: port
pub use port::{DEFAULT_MAX_PORT_REQUESTS, RegisterPortError};
pub use spawn::{SpawnError, SpawnOptions};
pub use sys::{DEFAULT_TRACE_EVENTS, Statistics, Sys, SysError};
pub use upgrade::{
    ActorFailure, ActorFailures, Canary, MigrateError, PurgeReport, RollbackReport, UpgradeError,
    UpgradeMode, UpgradeOptions, UpgradeReport,
};

pub(crate) use shared::HostShared;

use crate::actor::{
    ActorCell, ActorRef, AnyActor, ExitReason, System, SystemMsg, check_types, link, release,
    send_system, turn,
};
use crate::code_server::{Interface, ModuleTable, ModuleTableBuilder, StateError, TypeMismatch};
use crate::scheduler::Scheduler;
use parking_lot::Mutex;
use relive_codec::Schema;
use serde::{Serialize, de::DeserializeOwned};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Why a host did not start ([`HostBuilder::build`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostStartError {
    /// Its module table could not start: the private directory, or the state
    /// directory (locked by another host, not private, a state file corrupt…).
    #[error(transparent)]
    State(#[from] StateError),
    /// A worker thread could not be started.
    #[error("cannot start the host's worker threads: {0}")]
    Threads(#[source] std::io::Error),
}

impl From<HostStartError> for std::io::Error {
    /// For callers that propagate I/O errors (see `From<StateError>`).
    fn from(e: HostStartError) -> Self {
        match e {
            HostStartError::State(e) => e.into(),
            HostStartError::Threads(e) => e,
        }
    }
}

/// The running host: module table, scheduler, actors. Owns the worker
/// threads (dropping it shuts them down); everything else is on
/// [`HostHandle`], which it derefs to.
#[derive(Debug)]
pub struct Host {
    handle: HostHandle,
    scheduler: Mutex<Scheduler<Arc<ActorCell>>>,
}

/// A cheap, cloneable handle to a running host: spawn, look up, link, stop;
/// upgrades through its [`code_server`](HostHandle::code_server).
/// Host-native actors (supervisors) keep one.
#[derive(Debug, Clone)]
pub struct HostHandle {
    code: CodeServer,
}

impl std::ops::Deref for Host {
    type Target = HostHandle;

    fn deref(&self) -> &HostHandle {
        &self.handle
    }
}

/// How long a stop waits for a handler to return unless told otherwise
/// (OTP's default shutdown time for a worker).
pub const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a [`Host`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    workers: Option<usize>,
    table: ModuleTableBuilder,
    no_inline_calls: bool,
    kill_timeout: Option<Duration>,
    // issue 15: port
    port_runtime: Option<tokio::runtime::Handle>,
    max_port_requests: Option<usize>,
    // issue 16: metrics
    no_metrics: bool,
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
    /// [`CallError::Timeout`](crate::CallError::Timeout) and the reply is
    /// dropped). Turn it off if callers must get control back at the
    /// deadline even from a stuck handler.
    pub fn inline_calls(mut self, on: bool) -> Self {
        self.no_inline_calls = !on;
        self
    }

    /// How long stopping an actor (`terminate`, a purge, a supervisor's stop,
    /// shutdown) waits for its running handler to return (default
    /// [`DEFAULT_KILL_TIMEOUT`]). A handler that overruns it cannot be
    /// pre-empted: the actor is killed with it still running (it leaves the
    /// registry, its callers get the exit reason, the handler's result is
    /// discarded when it returns) and the worker it occupies is replaced.
    pub fn kill_timeout(mut self, t: Duration) -> Self {
        self.kill_timeout = Some(t);
        self
    }

    /// Keep private copies of loaded libraries in `dir` (see
    /// [`ModuleTableBuilder::private_dir`]).
    pub fn private_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.table = self.table.private_dir(dir);
        self
    }

    /// Keep the host's state in `dir` (see [`ModuleTableBuilder::state_dir`]):
    /// the bad-build marks and the upgrade history survive a restart, the
    /// private copies live in `<dir>/lib` and are cleaned up after a crash,
    /// and a second host on the same directory refuses to start. Production
    /// hosts should set it; without it, a build a supervisor rolled back
    /// loads again after a restart.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.table = self.table.state_dir(dir);
        self
    }

    /// Require every library to be signed by one of the trusted keys (see
    /// [`ModuleTableBuilder::trust_key`]; may be called several times).
    pub fn trust_key(mut self, key: ed25519_dalek::VerifyingKey) -> Self {
        self.table = self.table.trust_key(key);
        self
    }

    /// Refuse libraries larger than `bytes` (see
    /// [`ModuleTableBuilder::max_library_size`]).
    pub fn max_library_size(mut self, bytes: u64) -> Self {
        self.table = self.table.max_library_size(bytes);
        self
    }

    // issue 15: port
    /// Run the ports registered without a runtime of their own
    /// ([`HostHandle::port`]) on this tokio runtime instead of one the host
    /// creates. It must have its timer enabled (`enable_time`, or
    /// `enable_all`): a request's timeout runs on it.
    pub fn port_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.port_runtime = Some(handle);
        self
    }

    /// At most `n` port requests in flight in this host at once (default
    /// [`DEFAULT_MAX_PORT_REQUESTS`]); a request beyond is refused with
    /// `RequestError::TooManyRequests`, never queued without bound.
    pub fn max_port_requests(mut self, n: usize) -> Self {
        self.max_port_requests = Some(n);
        self
    }

    /// Start the host.
    ///
    /// # Errors
    /// [`HostStartError`]: the module table could not start (its private
    /// directory, or its state directory: see [`ModuleTableBuilder::build`])
    /// or a worker thread could not be created.
    pub fn build(self) -> Result<Host, HostStartError> {
        let table = self.table.build()?;
        let kill = self.kill_timeout.unwrap_or(DEFAULT_KILL_TIMEOUT);
        let max = self.max_port_requests.unwrap_or(DEFAULT_MAX_PORT_REQUESTS);
        let ports = port::Ports::new(self.port_runtime, max);
        let metrics = !self.no_metrics;
        Host::start(table, self.workers, !self.no_inline_calls, kill, ports, metrics)
            .map_err(HostStartError::Threads)
    }
}

impl Host {
    /// A host with default settings.
    ///
    /// # Errors
    /// As [`HostBuilder::build`].
    pub fn new() -> Result<Self, HostStartError> {
        HostBuilder::default().build()
    }

    /// Configure a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    fn start(
        table: ModuleTable,
        workers: Option<usize>,
        inline: bool,
        kill: Duration,
        ports: port::Ports,
        metrics: bool,
    ) -> std::io::Result<Self> {
        let metrics = metrics::Metrics::new(metrics);
        let shared = Arc::new_cyclic(|me| {
            HostShared::new(table, inline, kill, me.clone(), (ports, metrics))
        });
        // A load straight through the table swaps the function handles too.
        let me = Arc::downgrade(&shared);
        shared.table.tell_loads(Box::new(move |module| {
            if let Some(shared) = me.upgrade() {
                shared.refresh_functions(module);
            }
        }));
        let workers =
            workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let runner = Arc::new(shared::Runner(Arc::clone(&shared)));
        let scheduler = Scheduler::start(workers, runner)?;
        let _ = shared.sched.set(Arc::clone(scheduler.shared()));
        let retirer: std::sync::Weak<dyn crate::code_server::RetireThreads> =
            Arc::downgrade(&shared) as std::sync::Weak<dyn crate::code_server::RetireThreads>;
        crate::code_server::on_pinned(retirer);
        let handle = HostHandle::from_shared(shared);
        Ok(Host { handle, scheduler: Mutex::new(scheduler) })
    }

    /// A handle to this host (cheap to clone, `Send + Sync`).
    pub fn handle(&self) -> HostHandle {
        self.handle.clone()
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.scheduler.lock().workers()
    }

    /// Stop every actor (`shutdown`) and the workers. Each actor gets the
    /// kill timeout to reach a message boundary, all at once; an actor whose
    /// handler overruns it is killed with the handler running (see
    /// [`HostBuilder::kill_timeout`]), and a worker stuck in one is left
    /// behind rather than waited for.
    pub fn shutdown(&self) {
        let shared = self.shared();
        let deadline = Instant::now() + shared.kill_timeout;
        let mut terminating = Vec::new();
        for cell in shared.registry.all() {
            match cell.suspend_until(deadline) {
                // issue 14: gen_server
                // `terminate` runs on the actor's own turn, all of them at
                // once, within the same deadline.
                Some(body) if kill::has_terminate(&body, &ExitReason::Shutdown) => {
                    let exited = link::monitor(&cell);
                    send_system(&**shared, &cell, SystemMsg::Stop(ExitReason::Shutdown));
                    release(&**shared, &cell, body);
                    terminating.push((Arc::clone(&cell), exited));
                }
                Some(mut body) => turn::exit(&**shared, &cell, &mut body, ExitReason::Shutdown),
                None => turn::exit_overrun(&**shared, &cell, ExitReason::Shutdown),
            }
        }
        for (cell, exited) in terminating {
            if exited.recv_deadline(deadline).is_err() {
                turn::exit_overrun(&**shared, &cell, ExitReason::Shutdown);
            }
        }
        shared.timers.shutdown();
        // issue 15: port — the actors are gone; so is what would answer them.
        shared.ports.shutdown();
        self.scheduler.lock().shutdown(shared.kill_timeout);
        // A tree's view holds a reference to its supervisor, which holds the
        // host: let go of them, or the host (its module table, the lock of
        // its state directory) would outlive the `Host`.
        shared.trees.lock().clear();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl HostHandle {
    pub(crate) fn from_shared(shared: Arc<HostShared>) -> Self {
        HostHandle { code: CodeServer { shared } }
    }

    pub(crate) fn shared(&self) -> &Arc<HostShared> {
        &self.code.shared
    }

    fn system(&self) -> Arc<dyn System> {
        Arc::clone(self.shared()) as Arc<dyn System>
    }

    fn any(&self, cell: Arc<ActorCell>) -> AnyActor {
        AnyActor { cell, system: self.system() }
    }

    // issue 15: port
    /// Register a port: a named async service that modules do I/O through
    /// (`ctx.request(name, &req)` in a module; the answer comes back to the
    /// asking actor's `on_reply`). `call` runs on the runtime given to
    /// [`HostBuilder::port_runtime`], else on a small tokio runtime the host
    /// creates for its ports (threads named `relive-port`) and shuts down
    /// with it. `Req` and `Resp` are checked against the types a module's
    /// request names; `call`'s error is sent to the module as its message
    /// (`PortError::Failed`), a panic in it as `PortError::Panicked`, and a
    /// request that outlives its timeout is cancelled (`PortError::Timeout`)
    /// — never a crash of the host.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let host = relive_runtime::Host::new()?;
    /// host.port("double", |n: u64| async move { Ok::<u64, String>(n * 2) })?;
    /// assert_eq!(host.port_names(), ["double"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RegisterPortError::Exists`] when `name` is taken (ports are never
    /// replaced behind a module's back: [`remove_port`](Self::remove_port)
    /// first); [`RegisterPortError::Runtime`] when the host's own runtime
    /// cannot start.
    pub fn port<Req, Resp, E, F, Fut>(&self, name: &str, call: F) -> Result<(), RegisterPortError>
    where
        Req: DeserializeOwned + Schema + Send + 'static,
        Resp: Serialize + Schema + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Resp, E>> + Send + 'static,
    {
        self.shared().ports.register(name, None, call)
    }

    /// [`port`](Self::port) on the tokio runtime `handle` (which must have
    /// its timer enabled); the caller keeps the runtime alive.
    ///
    /// # Errors
    /// As [`port`](Self::port).
    pub fn port_on<Req, Resp, E, F, Fut>(
        &self,
        handle: tokio::runtime::Handle,
        name: &str,
        call: F,
    ) -> Result<(), RegisterPortError>
    where
        Req: DeserializeOwned + Schema + Send + 'static,
        Resp: Serialize + Schema + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Resp, E>> + Send + 'static,
    {
        self.shared().ports.register(name, Some(handle), call)
    }

    /// Take port `name` away: later requests to it are refused
    /// (`RequestError::NoSuchPort`), requests already sent run to their end
    /// and are answered. Whether there was such a port.
    pub fn remove_port(&self, name: &str) -> bool {
        self.shared().ports.remove(name)
    }

    /// The names of the registered ports, sorted.
    pub fn port_names(&self) -> Vec<String> {
        self.shared().ports.names()
    }

    /// How many port requests are in flight (sent, not yet answered) now.
    pub fn port_requests_in_flight(&self) -> usize {
        self.shared().ports.in_flight()
    }

    /// The code server: upgrade, roll back, purge, and what is loaded.
    pub fn code_server(&self) -> &CodeServer {
        &self.code
    }

    // issue 17: functions
    /// A typed handle to the stateless function `name` that `module`
    /// exports (`#[relive_sdk::function]`): [`Function::call`] runs the
    /// version serving it now, inline on the calling thread. Every handle
    /// follows upgrades, rollbacks and gradual upgrades made through the
    /// [`code_server`](Self::code_server) at once.
    ///
    /// ```
    /// use relive_sdk::prelude::*;
    ///
    /// #[data]
    /// pub struct Req { pub qty: u32 }
    ///
    /// #[relive_sdk::function]
    /// pub fn price(req: Req) -> u64 { u64::from(req.qty) * 7 }
    ///
    /// #[data]
    /// pub struct Shop;
    /// impl Module for Shop {
    ///     const NAME: &'static str = "shop";
    ///     type Args = ();
    ///     type Msg = ();
    ///     type Reply = ();
    ///     fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Shop) }
    ///     fn handle(&mut self, _: (), _: &mut Context<'_>) {}
    /// }
    ///
    /// let host = relive_runtime::Host::new()?;
    /// host.code_server().load("shop", relive_sdk::declaration!(Shop, functions = [price]))?;
    /// let price = host.function::<Req, u64>("shop", "price")?;
    /// assert_eq!(price.call(&Req { qty: 3 })?, 21);
    /// // Wrong types are refused when the handle is made.
    /// assert!(matches!(
    ///     host.function::<Req, String>("shop", "price"),
    ///     Err(relive_runtime::FunctionError::SchemaMismatch { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`FunctionError::NotLoaded`], [`FunctionError::NoSuchFunction`], and
    /// [`FunctionError::SchemaMismatch`] when `A` or `R` is not the
    /// function's type.
    pub fn function<A: Serialize + Schema, R: DeserializeOwned + Schema>(
        &self,
        module: &str,
        name: &str,
    ) -> Result<Function<A, R>, FunctionError> {
        let shared = self.shared();
        shared.functions.handle(&shared.table, module, name, &|| shared.serve_of(module))
    }

    /// Every function the loaded modules export: the version serving it and
    /// the calls made through this host's handles.
    pub fn functions(&self) -> Vec<FunctionInfo> {
        let shared = self.shared();
        shared.functions.infos(&shared.table, &|m| shared.serve_of(m))
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
        relive_codec::encode_into(args, &mut bytes).map_err(SpawnError::Encode)?;
        let cell = self.shared().spawn_module(
            module,
            &bytes,
            interface.args,
            Some(interface),
            Some(opts),
        )?;
        Ok(ActorRef::new_unchecked(cell, self.system()))
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
        let cell = self.shared().spawn_module(module, args, args_schema, None, Some(opts))?;
        Ok(self.any(cell))
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
        let cell = self.shared().spawn_native(actor, opts)?;
        Ok(ActorRef::new_unchecked(cell, self.system()))
    }

    /// Start an exited module actor again *in place*: same id, same mailbox
    /// (reopened), so every reference to it works again. Its `init` runs
    /// with `args` on the module's current version before this returns.
    ///
    /// # Errors
    /// [`SpawnError::Running`] if it has not exited,
    /// [`SpawnError::NotRespawnable`] for a host-native actor; otherwise as
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
        self.shared().respawn_linked(&actor.cell, args, args_schema, None, None)
    }

    /// [`respawn`](Self::respawn), linked to `link` before the actor can
    /// run again (OTP's `spawn_link`): a supervisor restarting a child this
    /// way hears of its next exit even if it crashes on the very first
    /// message, which linking after the restart could miss. With `name`,
    /// it is registered under that name again before it can run (names are
    /// freed when an actor exits).
    ///
    /// # Errors
    /// As [`respawn`](Self::respawn); [`SpawnError::NameTaken`] (nothing
    /// restarted) when another actor took the name meanwhile.
    pub fn respawn_linked(
        &self,
        actor: &AnyActor,
        args: &[u8],
        args_schema: relive_codec::Fingerprint,
        link: Option<&AnyActor>,
        name: Option<&str>,
    ) -> Result<(), SpawnError> {
        self.shared().respawn_linked(&actor.cell, args, args_schema, link.map(|l| &l.cell), name)
    }

    /// A reference to the actor with this id, untyped.
    pub fn actor_any(&self, id: crate::actor::ActorId) -> Option<AnyActor> {
        Some(self.any(self.shared().registry.lookup(id)?))
    }

    /// A reference to the actor with this id (say, one a module spawned),
    /// once `M` and `R` are checked against its types; `None` if it is gone.
    ///
    /// # Errors
    /// [`TypeMismatch`] when `M` or `R` is not the actor's type.
    pub fn actor_ref<M: Schema, R: Schema>(
        &self,
        id: crate::actor::ActorId,
    ) -> Result<Option<ActorRef<M, R>>, TypeMismatch> {
        let Some(cell) = self.shared().registry.lookup(id) else { return Ok(None) };
        check_types::<M, R>(&*self.system(), &cell)?;
        Ok(Some(ActorRef::new_unchecked(cell, self.system())))
    }

    /// The actor registered under `name`, once `M` and `R` are checked
    /// against its types; `None` if no actor has that name.
    ///
    /// # Errors
    /// [`TypeMismatch`] when `M` or `R` is not the actor's type.
    pub fn whereis<M: Schema, R: Schema>(
        &self,
        name: &str,
    ) -> Result<Option<ActorRef<M, R>>, TypeMismatch> {
        match self.shared().registry.whereis(name) {
            Some(id) => self.actor_ref(id),
            None => Ok(None),
        }
    }

    /// The actor registered under `name`, untyped; `None` if no actor has
    /// that name.
    pub fn whereis_any(&self, name: &str) -> Option<AnyActor> {
        self.actor_any(self.shared().registry.whereis(name)?)
    }

    /// Link two actors: when one exits abnormally, the other exits too
    /// (or, trapping exits, is told). Linking to an actor that has exited
    /// sends the live one a `noproc` exit, as in OTP.
    pub fn link<M1, R1, M2, R2>(&self, a: &ActorRef<M1, R1>, b: &ActorRef<M2, R2>) {
        link::link(&**self.shared(), a.cell(), b.cell());
    }

    /// Link two actors (see [`link`](Self::link)), untyped.
    pub fn link_any(&self, a: &AnyActor, b: &AnyActor) {
        link::link(&**self.shared(), &a.cell, &b.cell);
    }

    /// Remove a link between two actors.
    pub fn unlink_any(&self, a: &AnyActor, b: &AnyActor) {
        link::unlink(&a.cell, &b.cell);
    }

    /// Ask the actor to exit with `reason` (a system message: it overtakes
    /// queued mail, which is then answered with the exit reason).
    ///
    /// # Upgrade behaviour
    /// An actor suspended by an upgrade applies it when it resumes.
    ///
    /// # Errors
    /// [`NoProc`] when the actor had already exited (nothing is sent).
    pub fn stop<M, R>(&self, actor: &ActorRef<M, R>, reason: ExitReason) -> Result<(), NoProc> {
        let cell = actor.cell();
        if cell.is_exited() {
            return Err(NoProc(cell.id));
        }
        send_system(&**self.shared(), cell, SystemMsg::Stop(reason));
        Ok(())
    }

    /// [`stop`](Self::stop), untyped.
    ///
    /// # Errors
    /// [`NoProc`] when the actor had already exited (nothing is sent).
    pub fn stop_any(&self, actor: &AnyActor, reason: ExitReason) -> Result<(), NoProc> {
        if actor.cell.is_exited() {
            return Err(NoProc(actor.cell.id));
        }
        send_system(&**self.shared(), &actor.cell, SystemMsg::Stop(reason));
        Ok(())
    }

    /// Make the actor exit with `reason` now: it is suspended at its next
    /// message boundary and exits before this returns (its queued mail is
    /// answered with the reason).
    ///
    /// Waits at most the kill timeout for the running handler (see
    /// [`HostBuilder::kill_timeout`]); `Ok(false)` if it had to kill the
    /// actor with its handler still running.
    ///
    /// # Errors
    /// [`NoProc`] when the actor had already exited (nothing is done).
    pub fn terminate(&self, actor: &AnyActor, reason: ExitReason) -> Result<bool, NoProc> {
        if actor.cell.is_exited() {
            return Err(NoProc(actor.cell.id));
        }
        Ok(self.shared().kill(&actor.cell, reason))
    }

    /// [`terminate`](Self::terminate) within `timeout` instead of the kill
    /// timeout, and past it with reason `Killed` (OTP's shutdown of a
    /// supervisor's child: `exit(Child, shutdown)`, then `kill` after the
    /// child's shutdown time). A handler still running past `timeout` is
    /// treated as one that overran the kill timeout: the actor leaves at
    /// once and the handler's result is discarded when it returns.
    ///
    /// # Errors
    /// [`NoProc`] when the actor had already exited (nothing is done).
    pub fn terminate_within(
        &self,
        actor: &AnyActor,
        reason: ExitReason,
        timeout: Duration,
    ) -> Result<bool, NoProc> {
        if actor.cell.is_exited() {
            return Err(NoProc(actor.cell.id));
        }
        let deadline = Instant::now() + timeout;
        let killed = self.shared().kill_within(&actor.cell, reason, deadline, ExitReason::Killed);
        Ok(killed == kill::Killed::AtBoundary)
    }

    /// Messages cast to actors that exited before handling them.
    pub fn dead_letters(&self) -> u64 {
        // ORDERING: a statistic.
        self.shared().dead_letters.load(Ordering::Relaxed)
    }

    /// Live actors.
    pub fn actor_count(&self) -> usize {
        self.shared().registry.count()
    }

    /// Live actors of `module`.
    pub fn actors_of(&self, module: &str) -> usize {
        self.shared().registry.count_of(module)
    }
}
