//! The `Module` trait and the types its methods see.

use crate::ExitReason;
use crate::abi::Sink;
use postcard_schema::Schema;
use relive_codec::{CodecError, Fingerprint};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// A relive module: ordinary safe Rust whose value *is* the actor's state.
///
/// The host keeps the value in its memory and calls the methods below through
/// the C ABI; everything that crosses (arguments, messages, replies, state
/// snapshots) is postcard-encoded, and the schema of each type is
/// fingerprinted into the module's declaration, so the host can refuse a
/// version whose types do not match before running it.
///
/// # Upgrade behaviour
/// When a new version of the module replaces a running one, the host asks the
/// running version to [`export_state`](Module::export_state), then hands the
/// bytes to the new version:
/// - if the new version's state type has the same schema, the bytes are
///   decoded as they are and `code_change` is not called;
/// - if the old schema is listed in [`READS`](Module::READS), the new
///   version's [`code_change`](Module::code_change) builds the new state;
/// - otherwise the upgrade is refused at load time, before anything changes.
///
/// Rolling back runs the other way: the newer version's
/// [`downgrade`](Module::downgrade) writes the state in an older schema listed
/// in [`DOWNGRADES_TO`](Module::DOWNGRADES_TO), and the older version decodes it.
pub trait Module: Serialize + DeserializeOwned + Schema + Send + Sized + 'static {
    /// The module name: every version of a module has the same name.
    const NAME: &'static str;

    /// Arguments of [`init`](Module::init).
    type Args: DeserializeOwned + Schema;
    /// The messages the module handles (`Serialize` too, so that a trace
    /// can show them: OTP's `sys:trace`).
    type Msg: Serialize + DeserializeOwned + Schema;
    /// What [`handle`](Module::handle) answers (`DeserializeOwned` too, so
    /// that a trace can show replies: OTP's `sys:trace`).
    type Reply: Serialize + DeserializeOwned + Schema;

    /// Older state schemas this version's `code_change` can read, as
    /// `Fingerprint::of::<OldState>()`.
    const READS: &'static [Fingerprint] = &[];

    /// Older state schemas this version's `downgrade` can write.
    const DOWNGRADES_TO: &'static [Fingerprint] = &[];

    /// Create the state of a new instance.
    ///
    /// # Errors
    /// An error fails the start of this instance; the host reports it.
    fn init(args: Self::Args, ctx: &mut Context<'_>) -> Result<Self, ModuleError>;

    /// Handle one message and answer it.
    fn handle(&mut self, msg: Self::Msg, ctx: &mut Context<'_>) -> Self::Reply;

    /// Write the state for a migration or a snapshot. The default encodes
    /// `self`, which is what almost every module wants.
    ///
    /// # Errors
    /// An error fails the migration; the instance keeps running this version.
    fn export_state(&self, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(self)
    }

    /// Build this version's state from the state of an older (or newer)
    /// version whose schema is in [`READS`](Module::READS). `extra` is an
    /// opaque argument given to the upgrade (OTP's `Extra`).
    ///
    /// # Errors
    /// An error (or a panic) fails the migration: the instance keeps its old
    /// state on the old version.
    fn code_change(old: OldState<'_>, extra: &[u8]) -> Result<Self, ModuleError> {
        let _ = extra;
        Err(ModuleError::new(format!(
            "{} has no code_change from state schema {} (version {})",
            Self::NAME,
            old.schema(),
            old.version()
        )))
    }

    /// Write this state in the older schema `out.schema()` (one of
    /// [`DOWNGRADES_TO`](Module::DOWNGRADES_TO)) so that the older version
    /// `to_version` can run it again (OTP's `{down, Vsn}`).
    ///
    /// # Errors
    /// An error fails the rollback of this instance through `downgrade`; the
    /// host then falls back to the snapshot taken at upgrade time.
    fn downgrade(&self, to_version: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        let _ = out;
        Err(ModuleError::new(format!("{} has no downgrade to {to_version}", Self::NAME)))
    }

    /// Check a state given from outside before it replaces this one
    /// (`replace_state`, OTP's `sys:replace_state`): `self` is the new
    /// state, decoded; an error refuses it and the old state stays. The
    /// default accepts every state that decodes.
    ///
    /// # Errors
    /// Why the state is refused (shown to whoever asked for the replace).
    fn validate(&self) -> Result<(), ModuleError> {
        Ok(())
    }

    // issue 14: gen_server

    /// The actor is stopping with `reason` (OTP's `terminate/2`): release
    /// what the state holds. Runs once, after the last message, on every
    /// stop but a kill: [`Context::stop`], a stop or shutdown by the host or
    /// a supervisor, a linked exit that takes the actor down, a panic in
    /// `handle`. A stop by someone else waits for it at most the host's kill
    /// timeout, then kills the actor. A panic here makes the panic the exit
    /// reason. The default does nothing.
    fn terminate(&mut self, reason: &ExitReason, ctx: &mut Context<'_>) {
        let _ = (reason, ctx);
    }

    /// A linked actor `from` exited with `reason`, and this actor traps exits
    /// ([`Context::trap_exit`]); OTP's `{'EXIT', From, Reason}` message.
    /// Without trapping, an abnormal exit of a linked actor takes this one
    /// down instead (and a normal one is ignored). The default does nothing.
    fn on_exit(&mut self, from: u64, reason: &ExitReason, ctx: &mut Context<'_>) {
        let _ = (from, reason, ctx);
    }

    /// The actor `who` watched by monitor `mref` ([`Context::monitor`])
    /// exited with `reason` (OTP's `{'DOWN', Ref, process, Who, Reason}`);
    /// `NoProc` when it did not exist when the monitor was made. The default
    /// does nothing.
    fn on_down(&mut self, mref: MonitorRef, who: u64, reason: &ExitReason, ctx: &mut Context<'_>) {
        let _ = (mref, who, reason, ctx);
    }

    /// The idle timeout a handler set ([`Context::idle_timeout`]) passed
    /// with no message (OTP's `handle_info(timeout, State)` after
    /// `{noreply, State, Timeout}`). The default does nothing.
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    // issue 15: lifecycle

    /// Runs once when the host loads this version, after every check of the
    /// loader has passed (file, ABI, name, semver, schemas, dependencies)
    /// and before the code server changes anything (OTP's `-on_load`). An
    /// error — or a panic — *vetoes* the load: the host refuses it with
    /// `LoadError::Vetoed` carrying this message, and the running version
    /// keeps serving. It runs on a host thread of its own, outside any
    /// actor (the context-dependent services answer `NotInActor`), for at
    /// most 5 s: past that the load is refused as timed out. It must not
    /// block on anything slow. The default accepts.
    ///
    /// ```
    /// use relive_sdk::{Context, LoadInfo, Module, ModuleError};
    /// # use serde::{Deserialize, Serialize};
    /// # use postcard_schema::Schema;
    /// # #[derive(Serialize, Deserialize, Schema)] pub struct Cache;
    /// impl Module for Cache {
    ///     const NAME: &'static str = "cache";
    ///     # type Args = (); type Msg = (); type Reply = ();
    ///     # fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Cache) }
    ///     # fn handle(&mut self, (): (), _: &mut Context<'_>) {}
    ///     fn on_load(info: &LoadInfo<'_>) -> Result<(), ModuleError> {
    ///         // Refuse to replace a 1.x directly: its state must go through 2.0 first.
    ///         match info.previous() {
    ///             Some(v) if v.starts_with("1.") => {
    ///                 Err(ModuleError::new(format!("upgrade {v} to 2.0 first")))
    ///             }
    ///             _ => Ok(()),
    ///         }
    ///     }
    /// }
    /// let info = relive_sdk::LoadInfo::new("3.0.0", Some("1.4.0"));
    /// assert!(Cache::on_load(&info).is_err());
    /// assert!(Cache::on_load(&relive_sdk::LoadInfo::new("3.0.0", None)).is_ok());
    /// ```
    ///
    /// # Errors
    /// Why this version must not be loaded (the host's refusal keeps it).
    fn on_load(info: &LoadInfo<'_>) -> Result<(), ModuleError> {
        let _ = info;
        Ok(())
    }

    /// Runs exactly once per loaded version, just before the host unloads
    /// its library: after the last instance of it ended and the code server
    /// let go of it (a purge, a replaced `old`, an upgrade that was rolled
    /// back, the host dropped). It runs on a host thread (`relive-unloader`),
    /// never on a worker in the middle of a turn, and never while any call
    /// into this version is in flight. A panic is caught and logged by the
    /// host. It runs for every version whose [`on_load`](Module::on_load)
    /// accepted it — also when a later module of the same `upgrade_all`
    /// unit vetoed and the unit was refused — and never for one whose
    /// `on_load` did not run or vetoed. The default does nothing.
    ///
    /// ```
    /// use relive_sdk::{Context, Module, ModuleError};
    /// # use serde::{Deserialize, Serialize};
    /// # use postcard_schema::Schema;
    /// # #[derive(Serialize, Deserialize, Schema)] pub struct Pool;
    /// impl Module for Pool {
    ///     const NAME: &'static str = "pool";
    ///     # type Args = (); type Msg = (); type Reply = ();
    ///     # fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Pool) }
    ///     # fn handle(&mut self, (): (), _: &mut Context<'_>) {}
    ///     fn on_free() {
    ///         relive_sdk::tracing::info!("pool code unloading: flush what this version cached");
    ///     }
    /// }
    /// Pool::on_free();
    /// ```
    fn on_free() {}

    // issue 15: port

    /// The port request `id` ([`Context::request`]) ended: `result` holds
    /// the port's response ([`PortResult::decode`](crate::PortResult::decode)
    /// it with the response type) or how it failed (timeout, error, panic).
    /// Called exactly once per request sent, on this actor's own turn, by
    /// whichever version the actor runs when the reply arrives. A call whose
    /// reply was deferred can be answered here ([`Context::reply`]). The
    /// default drops the reply.
    fn on_reply(
        &mut self,
        id: crate::RequestId,
        result: crate::PortResult<'_>,
        ctx: &mut Context<'_>,
    ) {
        let _ = (id, result, ctx);
    }

    // issue 15: dependencies

    /// The modules this one calls: for each, its name, a semver requirement
    /// on its version and the fingerprints of the message and reply types
    /// this module sends it ([`dep!`](crate::dep)). The host refuses to load
    /// this version while a dependency is not loaded, its version does not
    /// match, or its interface differs (`LoadError::Dependency`); and it
    /// refuses an upgrade of a dependency that would break this module
    /// (`LoadError::BreaksDependant`). Upgrade both together with
    /// `CodeServer::upgrade_all`, which orders them callee first.
    ///
    /// ```
    /// use relive_sdk::{Context, Dependency, Module, ModuleError, dep};
    /// # use serde::{Deserialize, Serialize};
    /// # use postcard_schema::Schema;
    /// # #[derive(Serialize, Deserialize, Schema)] pub enum StockMsg { Take(u32) }
    /// # #[derive(Serialize, Deserialize, Schema)] pub struct Cart;
    /// impl Module for Cart {
    ///     const NAME: &'static str = "cart";
    ///     # type Args = (); type Msg = (); type Reply = ();
    ///     # fn init((): (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Cart) }
    ///     # fn handle(&mut self, (): (), _: &mut Context<'_>) {}
    ///     // Cart sends `StockMsg` to any 1.x of `stock`, and reads `u32` replies.
    ///     const DEPENDS: &'static [Dependency] = &[dep!("stock", "^1", StockMsg, u32)];
    /// }
    /// assert_eq!(Cart::DEPENDS[0].name(), "stock");
    /// assert_eq!(Cart::DEPENDS[0].requirement(), "^1");
    /// ```
    const DEPENDS: &'static [crate::Dependency] = &[];
}

// issue 15: lifecycle
/// What [`Module::on_load`] is told about the load it may veto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadInfo<'a> {
    version: &'a str,
    previous: Option<&'a str>,
}

impl<'a> LoadInfo<'a> {
    /// A load of `version`, replacing `previous` (the running version) if
    /// any. The host builds it; tests of `on_load` may too.
    pub fn new(version: &'a str, previous: Option<&'a str>) -> Self {
        LoadInfo { version, previous }
    }

    /// The version being loaded (this one), as semver text.
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The version running now, which this one would replace; `None` on a
    /// first load.
    pub fn previous(&self) -> Option<&'a str> {
        self.previous
    }

    /// Whether this load replaces a running version (an upgrade), rather
    /// than loading the module for the first time.
    pub fn is_upgrade(&self) -> bool {
        self.previous.is_some()
    }
}

/// What a module can ask of the host while it runs a callback.
///
/// The host's services (sending, spawning, timers) are reached through here.
#[derive(Debug)]
pub struct Context<'a> {
    _call: std::marker::PhantomData<&'a mut ()>,
}

impl Context<'_> {
    pub(crate) fn new() -> Self {
        Context { _call: std::marker::PhantomData }
    }

    /// The host's monotonic clock, in nanoseconds since the host started
    /// (0 when the host provides no clock).
    pub fn now_ns(&self) -> u64 {
        crate::abi::now_ns()
    }

    /// The id of the actor running this handler (`None` outside an actor:
    /// in `init`, or for an instance run without an actor).
    pub fn self_id(&self) -> Option<u64> {
        Some(crate::abi::self_id()).filter(|id| *id != 0)
    }

    /// Cast `msg` to actor `to`. Never blocks: the host queues it even past
    /// the target's mailbox bound, up to an overdraft allowance (by default
    /// as many messages again as the bound), and refuses it beyond.
    ///
    /// # Errors
    /// [`HostError`]: no such actor, `M` is not the target's message type,
    /// or [`HostError::MailboxFull`] — the message was not queued; retry it
    /// later (from another message), drop it or report it.
    pub fn send<M: Serialize + Schema>(&mut self, to: u64, msg: &M) -> Result<(), HostError> {
        let bytes = encode(msg)?;
        status(crate::abi::send(to, Fingerprint::of::<M>().to_u64(), &bytes))
    }

    /// Cast `msg` to the actor registered as `name`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_named<M: Serialize + Schema>(
        &mut self,
        name: &str,
        msg: &M,
    ) -> Result<(), HostError> {
        let bytes = encode(msg)?;
        status(crate::abi::send_named(name, Fingerprint::of::<M>().to_u64(), &bytes))
    }

    /// Cast `msg` to actor `to` after `delay` (OTP's `erlang:send_after/3`);
    /// the timer's reference, for [`cancel_timer`](Self::cancel_timer) and
    /// [`read_timer`](Self::read_timer). The timer dies with its target.
    /// On a host older than timer references the message is still sent
    /// later, and the reference is [`TimerRef::NONE`] (never armed).
    ///
    /// # Errors
    /// As [`send`](Self::send), checked now ([`HostError::MailboxFull`] if
    /// the target's mailbox is past its allowance now). A timer that finds
    /// the mailbox past its allowance when it fires is delivered once there
    /// is room, never dropped.
    pub fn send_after<M: Serialize + Schema>(
        &mut self,
        delay: std::time::Duration,
        to: u64,
        msg: &M,
    ) -> Result<TimerRef, HostError> {
        let bytes = encode(msg)?;
        let ms = millis(delay);
        let schema = Fingerprint::of::<M>().to_u64();
        let mut tref = 0;
        match status(crate::abi::send_after_ref(ms, to, schema, &bytes, &mut tref)) {
            Err(HostError::Unsupported) => {
                status(crate::abi::send_after(ms, to, schema, &bytes)).map(|()| TimerRef::NONE)
            }
            r => r.map(|()| TimerRef(tref)),
        }
    }

    /// Answer the call being handled later (OTP's `{noreply, State}` and
    /// `gen_server:reply/2`): the value `handle` returns is then not sent,
    /// and the caller waits for [`reply`](Self::reply) with this token —
    /// from a later message to this actor, or from another actor the token
    /// is handed to. `None` when the message is a cast.
    pub fn defer_reply(&mut self) -> Option<ReplyToken> {
        Some(crate::abi::defer_reply()).filter(|t| *t != 0).map(ReplyToken)
    }

    /// Answer a deferred call. `R` must be the reply type of the actor that
    /// received the call.
    ///
    /// # Errors
    /// [`HostError::NoCall`] when the call was already answered or its
    /// caller was told the actor exited; [`HostError::SchemaMismatch`].
    pub fn reply<R: Serialize + Schema>(
        &mut self,
        token: ReplyToken,
        reply: &R,
    ) -> Result<(), HostError> {
        let bytes = encode(reply)?;
        status(crate::abi::reply(token.0, Fingerprint::of::<R>().to_u64(), &bytes))
    }

    /// Spawn an actor of the loaded module `module` with init `args`; its
    /// `init` runs before this returns. Returns the new actor's id.
    ///
    /// # Errors
    /// [`HostError::SpawnFailed`]: not loaded, wrong argument type, or its
    /// `init` failed.
    pub fn spawn<A: Serialize + Schema>(
        &mut self,
        module: &str,
        args: &A,
    ) -> Result<u64, HostError> {
        let bytes = encode(args)?;
        let mut id = 0;
        status(crate::abi::spawn(module, Fingerprint::of::<A>().to_u64(), &bytes, &mut id))?;
        Ok(id)
    }
}

// issue 14: gen_server
impl Context<'_> {
    /// Exit with `reason` once this handler returns (OTP's `{stop, Reason,
    /// Reply, State}` from a call, `{stop, Reason, State}` from a cast): the
    /// reply of a call is sent first, then [`Module::terminate`] runs and the
    /// actor exits; mail still queued is answered with the reason. `Normal`,
    /// `Shutdown` and `ShutdownWith` are clean stops (a `transient` child is
    /// not restarted); only `Normal` leaves linked actors that do not trap
    /// exits alone, as in OTP. `Custom` (and any other) is abnormal.
    /// `Killed` is a custom reason here (the actor still runs `terminate`).
    ///
    /// # Errors
    /// [`HostError::NotInActor`] outside a handler (in `init`, return an
    /// error or [`ModuleError::ignore`] instead), [`HostError::Unsupported`]
    /// on an older host.
    pub fn stop(&mut self, reason: ExitReason) -> Result<(), HostError> {
        let (tag, text) = reason.to_abi();
        status(crate::abi::stop_self(tag, text))
    }

    /// Link this actor to actor `id` (OTP's `link/1`): when either exits
    /// abnormally, the other exits too, or, trapping exits, is told through
    /// [`Module::on_exit`]. Linking to an actor that no longer exists makes
    /// a `NoProc` exit arrive.
    ///
    /// # Errors
    /// [`HostError::NotInActor`], [`HostError::Unsupported`].
    pub fn link(&mut self, id: u64) -> Result<(), HostError> {
        status(crate::abi::link(id))
    }

    /// Remove the link to actor `id` (OTP's `unlink/1`); no error if there
    /// is none.
    ///
    /// # Errors
    /// As [`link`](Self::link).
    pub fn unlink(&mut self, id: u64) -> Result<(), HostError> {
        status(crate::abi::unlink(id))
    }

    /// Monitor actor `id` (OTP's `monitor(process, Id)`): when it exits,
    /// [`Module::on_down`] is called with this reference. An actor that does
    /// not exist gives a `NoProc` down at once.
    ///
    /// # Errors
    /// As [`link`](Self::link).
    pub fn monitor(&mut self, id: u64) -> Result<MonitorRef, HostError> {
        let mut mref = 0;
        status(crate::abi::monitor(id, &mut mref))?;
        Ok(MonitorRef(mref))
    }

    /// Monitor the actor registered as `name` now; an unregistered name
    /// gives a `NoProc` down at once (`who` is then 0).
    ///
    /// # Errors
    /// As [`link`](Self::link).
    pub fn monitor_named(&mut self, name: &str) -> Result<MonitorRef, HostError> {
        let mut mref = 0;
        status(crate::abi::monitor_named(name, &mut mref))?;
        Ok(MonitorRef(mref))
    }

    /// Remove a monitor (OTP's `demonitor(Ref, [flush])`): its down is not
    /// delivered, even if the actor already exited and the down is queued.
    ///
    /// # Errors
    /// As [`link`](Self::link).
    pub fn demonitor(&mut self, mref: MonitorRef) -> Result<(), HostError> {
        status(crate::abi::demonitor(mref.0))
    }

    /// Set whether exits of linked actors arrive as [`Module::on_exit`]
    /// calls (OTP's `process_flag(trap_exit, On)`); returns the previous
    /// setting. `kill` is never trapped.
    ///
    /// # Errors
    /// As [`link`](Self::link).
    pub fn trap_exit(&mut self, on: bool) -> Result<bool, HostError> {
        let mut old = 0;
        status(crate::abi::trap_exit(on, &mut old))?;
        Ok(old != 0)
    }
}

// issue 14: gen_server
impl Context<'_> {
    /// Cast `msg` after `delay` to the actor registered as `name` *when the
    /// timer fires* (OTP's `send_after` to a registered name): dropped if
    /// nobody has the name then, or if its holder takes another message
    /// type.
    ///
    /// # Errors
    /// [`HostError::NotInActor`], [`HostError::Unsupported`],
    /// [`HostError::Encode`].
    pub fn send_after_named<M: Serialize + Schema>(
        &mut self,
        delay: std::time::Duration,
        name: &str,
        msg: &M,
    ) -> Result<TimerRef, HostError> {
        let bytes = encode(msg)?;
        let schema = Fingerprint::of::<M>().to_u64();
        let mut tref = 0;
        status(crate::abi::send_after_named(millis(delay), name, schema, &bytes, &mut tref))?;
        Ok(TimerRef(tref))
    }

    /// Disarm a timer (OTP's `cancel_timer/1`): the time it had left, or
    /// `None` when it already fired, was cancelled, died with its target, or
    /// is unknown. A cancelled timer's message is never delivered.
    pub fn cancel_timer(&mut self, tref: TimerRef) -> Option<std::time::Duration> {
        let mut left = 0;
        let ok = crate::abi::cancel_timer(tref.0, &mut left) == crate::abi::service_status::OK;
        ok.then(|| std::time::Duration::from_millis(left))
    }

    /// The time a timer has left (OTP's `read_timer/1`); `None` as for
    /// [`cancel_timer`](Self::cancel_timer).
    pub fn read_timer(&self, tref: TimerRef) -> Option<std::time::Duration> {
        let mut left = 0;
        let ok = crate::abi::read_timer(tref.0, &mut left) == crate::abi::service_status::OK;
        ok.then(|| std::time::Duration::from_millis(left))
    }

    /// If no message arrives within `timeout` after this handler, run
    /// [`Module::on_timeout`] (gen_server's `{noreply, State, Timeout}`).
    /// Any message handled meanwhile cancels it; a later call replaces it;
    /// `None` clears it.
    ///
    /// # Errors
    /// [`HostError::NotInActor`], [`HostError::Unsupported`].
    pub fn idle_timeout(&mut self, timeout: Option<std::time::Duration>) -> Result<(), HostError> {
        status(crate::abi::idle_timeout(timeout.map_or(u64::MAX, millis)))
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1)
}

/// A timer's reference ([`Context::send_after`]): plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Schema)]
pub struct TimerRef(pub u64);

impl TimerRef {
    /// No timer (what an older host's `send_after` gives).
    pub const NONE: TimerRef = TimerRef(0);
}

/// A monitor made by [`Context::monitor`]: plain data, unique in its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Schema)]
pub struct MonitorRef(pub u64);

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, HostError> {
    let mut bytes = Vec::new();
    relive_codec::encode_into(value, &mut bytes).map_err(|e| HostError::Encode(e.to_string()))?;
    Ok(bytes)
}

fn status(code: i32) -> Result<(), HostError> {
    use crate::abi::service_status as s;
    match code {
        s::OK => Ok(()),
        s::NO_ACTOR => Err(HostError::NoActor),
        s::SCHEMA_MISMATCH => Err(HostError::SchemaMismatch),
        s::NOT_IN_ACTOR => Err(HostError::NotInActor),
        s::SPAWN_FAILED => Err(HostError::SpawnFailed),
        s::NO_CALL => Err(HostError::NoCall),
        s::MAILBOX_FULL => Err(HostError::MailboxFull),
        s::NO_TIMER => Err(HostError::NoTimer),
        crate::abi::UNSUPPORTED => Err(HostError::Unsupported),
        other => Err(HostError::Unknown(other)),
    }
}

/// A deferred call's reply token: plain data, so a module can keep it in
/// its state (across upgrades, too) or send it to another actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, Schema)]
pub struct ReplyToken(pub u64);

/// Why a host service refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// No actor with that id or name (it may have exited).
    NoActor,
    /// The message (or arguments) type is not the target's.
    SchemaMismatch,
    /// Called outside an actor's handler.
    NotInActor,
    /// The module is not loaded, the arguments have the wrong type, or its
    /// `init` failed.
    SpawnFailed,
    /// No pending call with that token.
    NoCall,
    /// The target's mailbox is past its bound and its overdraft allowance:
    /// the message was not queued (a send from a handler never waits).
    MailboxFull,
    /// The host is too old to offer this service.
    Unsupported,
    /// No armed timer with that reference.
    NoTimer,
    /// The value could not be encoded.
    Encode(String),
    /// A status this SDK does not know.
    Unknown(i32),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::NoActor => f.write_str("no such actor"),
            HostError::SchemaMismatch => f.write_str("the message type is not the target's"),
            HostError::NotInActor => f.write_str("not inside an actor"),
            HostError::SpawnFailed => f.write_str("spawn failed"),
            HostError::NoCall => f.write_str("no pending call with that token"),
            HostError::MailboxFull => f.write_str("the target's mailbox is full"),
            HostError::Unsupported => f.write_str("the host does not offer this service"),
            HostError::NoTimer => f.write_str("no armed timer with that reference"),
            HostError::Encode(e) => write!(f, "encode failed: {e}"),
            HostError::Unknown(c) => write!(f, "unknown host status {c}"),
        }
    }
}

impl std::error::Error for HostError {}

/// The state of another version, as `code_change` receives it.
#[derive(Debug, Clone, Copy)]
pub struct OldState<'a> {
    version: &'a str,
    schema: Fingerprint,
    bytes: &'a [u8],
}

impl<'a> OldState<'a> {
    pub(crate) fn new(version: &'a str, schema: Fingerprint, bytes: &'a [u8]) -> Self {
        OldState { version, schema, bytes }
    }

    /// The semver version that exported the state.
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The schema the state was written with.
    pub fn schema(&self) -> Fingerprint {
        self.schema
    }

    /// The raw postcard bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decode the old state as `T` (a copy of the old version's state type
    /// kept in the new version's code).
    ///
    /// # Errors
    /// [`CodecError::SchemaMismatch`] when `T` is not the schema the state
    /// was written with, or a decode error.
    pub fn decode<T: DeserializeOwned + Schema>(&self) -> Result<T, CodecError> {
        let expected = Fingerprint::of::<T>();
        if expected != self.schema {
            return Err(CodecError::SchemaMismatch { expected, found: self.schema });
        }
        relive_codec::decode(self.bytes)
    }
}

/// Where `export_state` and `downgrade` write a state: straight into the
/// host's buffer, checked against the schema the host expects.
#[derive(Debug)]
pub struct StateWriter<'a> {
    out: &'a Sink<'a>,
    schema: Fingerprint,
    written: bool,
}

impl<'a> StateWriter<'a> {
    pub(crate) fn new(out: &'a Sink<'a>, schema: Fingerprint) -> Self {
        StateWriter { out, schema, written: false }
    }

    /// The schema the host expects.
    pub fn schema(&self) -> Fingerprint {
        self.schema
    }

    /// Encode `state` into the host's buffer. Call once.
    ///
    /// # Errors
    /// When `T`'s schema is not [`schema`](Self::schema), when a state was
    /// already written, or when encoding fails.
    pub fn write<T: Serialize + Schema>(&mut self, state: &T) -> Result<(), ModuleError> {
        let found = Fingerprint::of::<T>();
        if found != self.schema {
            return Err(CodecError::SchemaMismatch { expected: self.schema, found }.into());
        }
        if self.written {
            return Err(ModuleError::new("state written twice"));
        }
        self.written = true;
        relive_codec::encode_to_sink(state, |b| self.out.write(b)).map_err(Into::into)
    }
}

/// An error a module returns from `init`, `export_state`, `code_change` or
/// `downgrade`; the host receives its message.
#[derive(Clone, PartialEq, Eq)]
pub struct ModuleError {
    message: String,
    /// `init` declines to start (OTP's `ignore`).
    ignore: bool,
}

impl ModuleError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ModuleError { message: message.into(), ignore: false }
    }

    /// From `init`: do not start, and that is not a failure (OTP's `ignore`).
    /// The host's spawn answers `SpawnError::Ignored`; nothing is registered.
    /// Elsewhere it is an error like any other.
    pub fn ignore() -> Self {
        ModuleError { message: "ignore".into(), ignore: true }
    }

    /// Whether this is [`ignore`](Self::ignore).
    pub fn is_ignore(&self) -> bool {
        self.ignore
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleError({:?})", self.message)
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ModuleError {}

impl From<CodecError> for ModuleError {
    fn from(e: CodecError) -> Self {
        ModuleError::new(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::{HostError, status};
    use crate::abi::service_status as s;

    #[test]
    fn a_full_mailbox_is_its_own_error_and_later_codes_stay_unknown() {
        assert_eq!(status(s::MAILBOX_FULL), Err(HostError::MailboxFull));
        assert_eq!(HostError::MailboxFull.to_string(), "the target's mailbox is full");
        // What this one sees of a code appended after the last it knows.
        assert_eq!(status(s::NO_TIMER + 1), Err(HostError::Unknown(s::NO_TIMER + 1)));
    }
}
