//! Starting actors: of a module (on its current version), host-native ones,
//! and module actors restarted in place.

use super::HostShared;
use super::native::{NativeActor, Typed};
use crate::actor::{
    ActorCell, ActorId, AnyActor, Body, DEFAULT_CAPACITY, ExitReason, Instance, NativeBody,
    SystemMsg,
    link::{self, link_cells},
    release, send_system,
};
use crate::code_server::{Interface, ModuleCallError, Part, TypeMismatch};
use relive_codec::Fingerprint;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a restart in place waits for the actor's body (held only by a
/// turn ending, or by a handler that overran a kill).
const RESPAWN_WAIT: Duration = Duration::from_millis(100);

/// Why an actor could not be spawned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// No module of that name is loaded.
    #[error("module `{0}` is not loaded")]
    NotLoaded(String),
    /// The caller's message, reply or init-argument type is not the module's.
    #[error(transparent)]
    Types(#[from] TypeMismatch),
    /// The init arguments could not be encoded.
    #[error("the init arguments could not be encoded: {0}")]
    Encode(#[source] relive_codec::CodecError),
    /// The module's `init` failed or panicked.
    #[error("init failed: {0}")]
    Init(#[source] ModuleCallError),
    /// The name is taken.
    #[error("the name `{0}` is already registered")]
    NameTaken(String),
    /// A restart in place of an actor that has not exited.
    #[error("actor {0} is running")]
    Running(ActorId),
    /// A restart in place of an actor killed while its handler overran the
    /// kill: the handler still runs (and holds the actor's body).
    #[error("actor {0} cannot restart in place: a handler that overran its kill still runs")]
    Busy(ActorId),
    /// A restart in place of a host-native actor (only module actors restart
    /// in place; a native actor is started anew by its start function).
    #[error("actor {0} is host-native and cannot be restarted in place")]
    NotRespawnable(ActorId),
    /// The actor's `init` declined to start (OTP's `ignore`): nothing was
    /// started, and that is not a failure.
    #[error("init returned ignore: nothing was started")]
    Ignored,
}

/// Options of a spawn.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SpawnOptions {
    /// Mailbox capacity; `Some(0)` is unbounded. Default [`DEFAULT_CAPACITY`].
    pub capacity: Option<usize>,
    /// Register the actor under this name.
    pub name: Option<String>,
    /// How many messages sends from inside handlers may queue past the
    /// capacity before they are refused; default as many as the capacity
    /// (2 × capacity in all). No effect on an unbounded mailbox.
    pub overdraft: Option<usize>,
    /// Link the new actor to this one before anyone can reach it (OTP's
    /// `spawn_link`: no window in which it could exit unheard).
    pub link: Option<AnyActor>,
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

    /// Set the overdraft allowance of sends from handlers (0: the bound is
    /// exact for them too; they are refused rather than wait).
    pub fn overdraft(mut self, allowance: usize) -> Self {
        self.overdraft = Some(allowance);
        self
    }

    /// Register under `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Link the new actor to `to` as it starts (OTP's `spawn_link`; a
    /// supervisor starts its module children this way).
    pub fn link(mut self, to: &AnyActor) -> Self {
        self.link = Some(to.clone());
        self
    }
}

impl HostShared {
    /// Start an actor of `module` (current version) with encoded `args`
    /// whose schema is `args_schema`. With `interface` (a typed spawn), the
    /// caller's message and reply types are checked too and pinned for the
    /// module; without, the actor takes the module's own types.
    pub(crate) fn spawn_module(
        &self,
        module: &str,
        args: &[u8],
        args_schema: Fingerprint,
        interface: Option<Interface>,
        opts: Option<SpawnOptions>,
    ) -> Result<Arc<ActorCell>, SpawnError> {
        let opts = opts.unwrap_or_default();
        // Held until the actor is in the registry: an atomic upgrade of the
        // module either waits for this spawn or this spawn for it.
        let _gate = self.spawn_gate.pass();
        let version =
            self.table.current(module).ok_or_else(|| SpawnError::NotLoaded(module.into()))?;
        let schemas = version.schemas();
        match interface {
            Some(wanted) => {
                wanted.check(&version)?;
                self.table.pin_interface(module, wanted)?;
            }
            None => Interface::check_part(&version, Part::Args, args_schema)?,
        }
        let instance = Instance::start(&version, args).map_err(init_error)?;
        let cell = Arc::new(ActorCell::new(
            self.registry.new_id(),
            Some(version.shared_name()),
            (schemas.message, schemas.reply),
            Body::Module(instance),
            opts.capacity.unwrap_or(DEFAULT_CAPACITY),
            // issue 16: metrics
            self.metrics.enabled(),
        ));
        if let Some(allowance) = opts.overdraft {
            cell.mailbox.set_allowance(allowance);
        }
        self.register(&cell, opts)?;
        Ok(cell)
    }

    /// Start a host-native actor.
    pub(crate) fn spawn_native<N: NativeActor>(
        self: &Arc<Self>,
        actor: N,
        opts: SpawnOptions,
    ) -> Result<Arc<ActorCell>, SpawnError> {
        let trap = actor.trap_exit();
        let body: Box<dyn NativeBody> = Box::new(Typed::new(actor, self));
        let cell = Arc::new(ActorCell::new(
            self.registry.new_id(),
            None,
            (Fingerprint::of::<N::Msg>(), Fingerprint::of::<N::Reply>()),
            Body::Native(body),
            opts.capacity.unwrap_or(DEFAULT_CAPACITY),
            // issue 16: metrics — a native actor runs no version to count on.
            false,
        ));
        if let Some(allowance) = opts.overdraft {
            cell.mailbox.set_allowance(allowance);
        }
        cell.control.lock().trap_exit = trap;
        self.register(&cell, opts)?;
        Ok(cell)
    }

    /// Make a new actor reachable: linked first (while nobody knows its id,
    /// so it cannot exit unheard), then in the registry under its name.
    fn register(&self, cell: &Arc<ActorCell>, opts: SpawnOptions) -> Result<(), SpawnError> {
        if let Some(to) = &opts.link {
            link::link(self, cell, &to.cell);
        }
        if let Err(e) = self.registry.insert(cell, opts.name) {
            if let Some(to) = &opts.link {
                link::unlink(cell, &to.cell);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Start an exited module actor again in place (same id, same mailbox,
    /// reopened) on its module's current version, linked to `link` before
    /// it can run (ARCHITECTURE.md, invariant 16), and registered under
    /// `name` before it can run (a name taken: nothing restarts).
    pub(crate) fn respawn_linked(
        &self,
        cell: &Arc<ActorCell>,
        args: &[u8],
        args_schema: Fingerprint,
        link: Option<&Arc<ActorCell>>,
        name: Option<&str>,
    ) -> Result<(), SpawnError> {
        let Some(module) = cell.module.clone() else {
            return Err(SpawnError::NotRespawnable(cell.id));
        };
        let _gate = self.spawn_gate.pass();
        // A handler that overran a kill still holds the body: the actor
        // cannot restart in place until it returns.
        let Some(mut body) = cell.suspend_until(Instant::now() + RESPAWN_WAIT) else {
            return Err(SpawnError::Busy(cell.id));
        };
        if !matches!(*body, Body::Exited(_)) {
            return Err(SpawnError::Running(cell.id));
        }
        let version =
            self.table.current(&module).ok_or_else(|| SpawnError::NotLoaded(module.to_string()))?;
        // The actor keeps its message and reply types for life.
        // issue 15: or types compatible with its module's current version,
        // a type newer than it (after a forced rollback) included: resolved
        // against the widest lists the module has had.
        let widest = self.table.widest(&module);
        Interface::check_kept(
            &version,
            widest.as_ref(),
            (args_schema, cell.msg_schema, cell.reply_schema),
        )?;
        if let Some(name) = name {
            self.registry.claim(name, cell.id)?;
        }
        let instance = match Instance::start(&version, args) {
            Ok(instance) => instance,
            Err(e) => {
                if let Some(name) = name {
                    self.registry.unclaim(name);
                }
                return Err(init_error(e));
            }
        };
        cell.control.lock().name = name.map(str::to_owned);
        cell.set_version_serial(version.serial());
        *body = Body::Module(instance);
        // The body is held, so this actor cannot exit meanwhile; only the
        // other side is checked.
        let dead_link = link.filter(|other| !link_cells(other, cell, false));
        // issue 15: port — replies meant for the incarnation that exited
        // are not this one's (ORDERING: read by the port's delivery and the
        // actor's own turn, which the respawn's locks order after this).
        cell.incarnation.fetch_add(1, crate::sync::Ordering::Relaxed);
        cell.control.lock().exit_reason = None;
        // issue 14: sys — a restart is a new process in OTP: not suspended.
        // ORDERING: the body is held, which orders this with the next turn.
        cell.suspended.store(false, std::sync::atomic::Ordering::Relaxed);
        cell.mailbox.reopen();
        cell.sched.revive();
        if let Some(other) = dead_link {
            send_system(
                self,
                cell,
                SystemMsg::LinkExit { from: other.id, reason: ExitReason::NoProc },
            );
        }
        self.registry.insert(cell, None)?;
        // Mail may have come in since the mailbox reopened, and a turn that
        // found the body locked has left it to us: reschedule.
        release(self, cell, body);
        Ok(())
    }
}

// issue 14: gen_server
/// A failed `init` as a spawn error: `ignore` is its own answer.
fn init_error(e: ModuleCallError) -> SpawnError {
    match e {
        ModuleCallError::Ignored { .. } => SpawnError::Ignored,
        e => SpawnError::Init(e),
    }
}
