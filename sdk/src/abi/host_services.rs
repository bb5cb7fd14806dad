//! The table of services the host gives every module version at load.

use super::RBytes;
use std::mem::offset_of;
use std::sync::atomic::{AtomicPtr, Ordering};

/// `log(level, target, message)`: level 1 = ERROR … 5 = TRACE.
pub type LogFn = unsafe extern "C" fn(level: u32, target: RBytes, message: RBytes);
/// Monotonic host time in nanoseconds since the host started.
pub type NowFn = unsafe extern "C" fn() -> u64;
/// The id of the actor whose handler is running (0 outside one).
pub type SelfIdFn = unsafe extern "C" fn() -> u64;
/// `send(to, message schema, message)`: cast to an actor by id.
pub type SendFn = unsafe extern "C" fn(to: u64, schema: u64, msg: RBytes) -> i32;
/// `send_named(name, message schema, message)`: cast to a registered name.
pub type SendNamedFn = unsafe extern "C" fn(name: RBytes, schema: u64, msg: RBytes) -> i32;
/// `spawn(module, args schema, args, *id_out)`: start an actor of a module.
pub type SpawnFn =
    unsafe extern "C" fn(module: RBytes, schema: u64, args: RBytes, id_out: *mut u64) -> i32;
/// `send_after(delay_ms, to, message schema, message)`: cast later.
pub type SendAfterFn =
    unsafe extern "C" fn(delay_ms: u64, to: u64, schema: u64, msg: RBytes) -> i32;

/// `defer_reply()`: keep the current call's reply for later; a token, or 0
/// when the message being handled is not a call.
pub type DeferReplyFn = unsafe extern "C" fn() -> u64;
/// `reply(token, reply schema, reply)`: answer a deferred call.
pub type ReplyFn = unsafe extern "C" fn(token: u64, schema: u64, reply: RBytes) -> i32;

// issue 14: gen_server
/// `stop_self(reason tag, reason text)`: the running actor exits with this
/// reason once its handler returns (the reply of a call is sent first).
pub type StopSelfFn = unsafe extern "C" fn(tag: u32, text: RBytes) -> i32;
/// `link(id)` / `unlink(id)`: link the running actor to actor `id`, or
/// remove that link.
pub type LinkFn = unsafe extern "C" fn(id: u64) -> i32;
/// `monitor(id, *ref_out)`: monitor actor `id`; the monitor's reference.
pub type MonitorFn = unsafe extern "C" fn(id: u64, ref_out: *mut u64) -> i32;
/// `monitor_named(name, *ref_out)`: monitor the actor registered as `name`.
pub type MonitorNamedFn = unsafe extern "C" fn(name: RBytes, ref_out: *mut u64) -> i32;
/// `demonitor(ref)`: remove a monitor, and its `DOWN` if not yet delivered.
pub type DemonitorFn = unsafe extern "C" fn(mref: u64) -> i32;
/// `trap_exit(on, *old_out)`: set whether linked exits arrive as `on_exit`
/// calls; the previous setting (0 or 1) is written to `old_out`.
pub type TrapExitFn = unsafe extern "C" fn(on: u32, old_out: *mut u32) -> i32;
/// `send_after_ref(delay_ms, to, schema, msg, *ref_out)`: `send_after` that
/// answers the timer's reference.
pub type SendAfterRefFn = unsafe extern "C" fn(
    delay_ms: u64,
    to: u64,
    schema: u64,
    msg: RBytes,
    ref_out: *mut u64,
) -> i32;
/// `send_after_named(delay_ms, name, schema, msg, *ref_out)`: a timer to a
/// registered name, resolved when it fires.
pub type SendAfterNamedFn = unsafe extern "C" fn(
    delay_ms: u64,
    name: RBytes,
    schema: u64,
    msg: RBytes,
    ref_out: *mut u64,
) -> i32;
/// `cancel_timer(ref, *left_ms_out)` / `read_timer(ref, *left_ms_out)`: the
/// time an armed timer has left; `NO_TIMER` when it fired, was cancelled or
/// is unknown.
pub type TimerFn = unsafe extern "C" fn(tref: u64, left_ms_out: *mut u64) -> i32;
/// `idle_timeout(ms)`: run `on_timeout` if no message arrives within `ms`
/// after this handler (`u64::MAX`: no idle timeout).
pub type IdleTimeoutFn = unsafe extern "C" fn(ms: u64) -> i32;

// issue 15: port
/// `request(port, request schema, response schema, request, timeout_ms,
/// *id_out)`: send an encoded request to the host's port named `port`; it
/// returns at once with the request's id in `id_out`, and the answer comes
/// later to the running actor through the table's `on_reply`.
pub type RequestFn = unsafe extern "C" fn(
    port: RBytes,
    req_schema: u64,
    resp_schema: u64,
    req: RBytes,
    timeout_ms: u64,
    id_out: *mut u64,
) -> i32;
// end issue 15: port

/// Status codes of the host's services.
pub mod service_status {
    /// Done.
    pub const OK: i32 = 0;
    /// No actor with that id or name.
    pub const NO_ACTOR: i32 = 1;
    /// The message (or init arguments) type is not the target's.
    pub const SCHEMA_MISMATCH: i32 = 2;
    /// The call was made outside an actor (e.g. from `init`, or a host
    /// thread), where the service has no meaning.
    pub const NOT_IN_ACTOR: i32 = 3;
    /// The module is not loaded, or its `init` failed.
    pub const SPAWN_FAILED: i32 = 4;
    /// No pending call with that reply token (already answered, or its
    /// actor exited and the caller was told).
    pub const NO_CALL: i32 = 5;
    /// The target's mailbox is past its bound and the overdraft allowance
    /// that sends from handlers may use: the message was not queued (it is
    /// the sender's to retry, drop or report). A module built before this
    /// code existed sees it as an unknown status.
    pub const MAILBOX_FULL: i32 = 6;
    // issue 14: gen_server
    /// No armed timer with that reference (it fired, was cancelled, its
    /// actor exited, or it never existed).
    pub const NO_TIMER: i32 = 7;
    // issue 15: port
    /// No port registered under that name.
    pub const NO_PORT: i32 = 8;
    /// The host has as many port requests in flight as it allows: the
    /// request was not sent (retry it later, or fail the work).
    pub const TOO_MANY_REQUESTS: i32 = 9;
    // end issue 15: port
}

// issue 15: port
/// How a port request ended, as `on_reply` receives it (a `u32`; the bytes
/// that come with it are said per code). Append-only.
pub mod port_outcome {
    /// The port answered: the bytes are its encoded response, the schema is
    /// the port's response fingerprint.
    pub const OK: u32 = 0;
    /// The port returned an error: the bytes are its message (UTF-8).
    pub const FAILED: u32 = 1;
    /// The port's future panicked: the bytes are the panic message.
    pub const PANICKED: u32 = 2;
    /// The port did not answer within the request's timeout.
    pub const TIMEOUT: u32 = 3;
    /// The port's task was dropped before it answered (its runtime shut
    /// down): the bytes say why.
    pub const CANCELLED: u32 = 4;
}
// end issue 15: port

/// Services the host offers a module, passed once per loaded version through
/// the table's `install_host`. The host keeps the table alive (it is a
/// `static` in the host) for as long as any version may call it.
///
/// Append-only: a module reads a field only when `size` covers it.
#[repr(C)]
#[derive(Debug)]
pub struct HostServices {
    /// `size_of::<HostServices>()` as the host was built.
    pub size: u32,
    /// The host's ABI version.
    pub abi_version: u32,
    /// Forward one log event to the host's `tracing` subscriber.
    pub log: Option<LogFn>,
    /// The most verbose level the host wants (0 = off, 5 = trace).
    pub log_max_level: u32,
    /// Host clock.
    pub now_ns: Option<NowFn>,
    /// The running actor's id.
    pub self_id: Option<SelfIdFn>,
    /// Cast to an actor by id.
    pub send: Option<SendFn>,
    /// Cast to an actor by registered name.
    pub send_named: Option<SendNamedFn>,
    /// Spawn an actor of a loaded module.
    pub spawn: Option<SpawnFn>,
    /// Cast to an actor after a delay.
    pub send_after: Option<SendAfterFn>,
    /// Keep the current call's reply for later.
    pub defer_reply: Option<DeferReplyFn>,
    /// Answer a deferred call.
    pub reply: Option<ReplyFn>,
    // issue 14: gen_server
    /// Exit with a reason once the handler returns.
    pub stop_self: Option<StopSelfFn>,
    /// Link the running actor to another.
    pub link: Option<LinkFn>,
    /// Remove a link of the running actor.
    pub unlink: Option<LinkFn>,
    /// Monitor an actor by id.
    pub monitor: Option<MonitorFn>,
    /// Monitor an actor by registered name.
    pub monitor_named: Option<MonitorNamedFn>,
    /// Remove a monitor (and its undelivered `DOWN`).
    pub demonitor: Option<DemonitorFn>,
    /// Set whether the running actor traps exits.
    pub trap_exit: Option<TrapExitFn>,
    /// Cast later, answering the timer's reference.
    pub send_after_ref: Option<SendAfterRefFn>,
    /// Cast later to a registered name, resolved when the timer fires.
    pub send_after_named: Option<SendAfterNamedFn>,
    /// Disarm a timer; the time it had left.
    pub cancel_timer: Option<TimerFn>,
    /// The time a timer has left.
    pub read_timer: Option<TimerFn>,
    /// Set the running actor's idle timeout.
    pub idle_timeout: Option<IdleTimeoutFn>,
    // issue 15: port
    /// Send a request to a host port; the answer comes through `on_reply`.
    pub request: Option<RequestFn>,
    // end issue 15: port
}

/// Bits of the `flags` argument of `install_host`.
pub mod install_flags {
    /// Install a `tracing` dispatcher in the module that forwards every event
    /// to the host. Set for dynamic libraries (each has its own copy of
    /// `tracing`'s globals); never for a module linked into the host, whose
    /// events already reach the host's subscriber.
    ///
    /// It implies [`QUIET_PANICS`]: by this contract it marks a dynamic
    /// library, and it is all that hosts built before `QUIET_PANICS` send.
    pub const FORWARD_LOGS: u32 = 1 << 0;
    /// Replace the library's panic hook with one that captures no backtrace
    /// and writes nothing to stderr, and that notes the panic's location so
    /// that the export's status text reads `<message> (at <file>:<line>:<col>)`.
    /// For dynamic libraries only (each has its own std, so its own hook);
    /// never for a module linked into the host, whose hook is the host's.
    pub const QUIET_PANICS: u32 = 1 << 1;
}

static HOST: AtomicPtr<HostServices> = AtomicPtr::new(std::ptr::null_mut());

/// Remember the host's table (called by the exported `install_host`).
pub(crate) fn set_host(table: *const HostServices) {
    // ORDERING: release pairs with the acquire in `host()`, so a thread that
    // sees the pointer also sees the table's fields.
    HOST.store(table.cast_mut(), Ordering::Release);
}

/// The host's table, if one was installed.
fn host() -> Option<&'static HostServices> {
    // ORDERING: acquire pairs with the release in `set_host`.
    let ptr = HOST.load(Ordering::Acquire);
    // SAFETY: the only non-null value ever stored is the pointer the host
    // passed to `install_host`, whose contract is that the table is valid and
    // immutable for as long as this library is loaded.
    unsafe { ptr.as_ref() }
}

/// The host's table, when it is recent enough to have the field that ends at
/// byte `end`.
fn host_with(end: usize) -> Option<&'static HostServices> {
    host().filter(|h| h.size as usize >= end)
}

/// The most verbose log level the host wants (0 when it takes no logs).
pub(crate) fn log_max_level() -> u32 {
    host_with(offset_of!(HostServices, log_max_level) + size_of::<u32>())
        .filter(|h| h.log.is_some())
        .map_or(0, |h| h.log_max_level)
}

/// Forward one log event to the host, if it takes logs.
pub(crate) fn forward_log(level: u32, target: &str, message: &str) {
    let Some(log) = host().and_then(|h| h.log) else { return };
    // SAFETY: the host's `log` accepts any level and any two byte slices that
    // are valid for the call; both borrow data that outlives the call.
    unsafe { log(level, RBytes::from_str(target), RBytes::from_str(message)) }
}

/// The host's clock in nanoseconds (0 when the host has none).
pub(crate) fn now_ns() -> u64 {
    let Some(now) = host_with(offset_of!(HostServices, now_ns) + size_of::<Option<NowFn>>())
        .and_then(|h| h.now_ns)
    else {
        return 0;
    };
    // SAFETY: the host's `now_ns` takes no arguments and may be called at
    // any time while the library is loaded.
    unsafe { now() }
}

/// A host service the module's host is too old to offer.
pub(crate) const UNSUPPORTED: i32 = -1;

/// The host's service `field`, when its table is recent enough to have it.
macro_rules! service {
    ($field:ident) => {
        host_with(offset_of!(HostServices, $field) + size_of::<Option<fn()>>())
            .and_then(|h| h.$field)
    };
}

/// The running actor's id (0 outside an actor or with an older host).
pub(crate) fn self_id() -> u64 {
    // SAFETY: the host's `self_id` takes no arguments and may be called at
    // any time while the library is loaded.
    service!(self_id).map_or(0, |f| unsafe { f() })
}

/// Cast `msg` (encoded, with its schema) to actor `to`.
pub(crate) fn send(to: u64, schema: u64, msg: &[u8]) -> i32 {
    // SAFETY: `msg` is valid for the call; the host copies it.
    service!(send).map_or(UNSUPPORTED, |f| unsafe { f(to, schema, RBytes::new(msg)) })
}

/// Cast `msg` to the actor registered as `name`.
pub(crate) fn send_named(name: &str, schema: u64, msg: &[u8]) -> i32 {
    // SAFETY: both slices are valid for the call; the host copies them.
    service!(send_named)
        .map_or(UNSUPPORTED, |f| unsafe { f(RBytes::from_str(name), schema, RBytes::new(msg)) })
}

/// Spawn an actor of `module` with encoded `args`; its id goes to `id`.
pub(crate) fn spawn(module: &str, schema: u64, args: &[u8], id: &mut u64) -> i32 {
    // SAFETY: the slices are valid for the call and `id` for one write.
    service!(spawn).map_or(UNSUPPORTED, |f| unsafe {
        f(RBytes::from_str(module), schema, RBytes::new(args), id)
    })
}

/// Cast `msg` to actor `to` after `delay_ms`.
pub(crate) fn send_after(delay_ms: u64, to: u64, schema: u64, msg: &[u8]) -> i32 {
    // SAFETY: `msg` is valid for the call; the host copies it.
    service!(send_after)
        .map_or(UNSUPPORTED, |f| unsafe { f(delay_ms, to, schema, RBytes::new(msg)) })
}

/// Keep the current call's reply; its token, or 0.
pub(crate) fn defer_reply() -> u64 {
    // SAFETY: the host's `defer_reply` takes no arguments.
    service!(defer_reply).map_or(0, |f| unsafe { f() })
}

/// Answer the deferred call `token` with an encoded reply.
pub(crate) fn reply(token: u64, schema: u64, bytes: &[u8]) -> i32 {
    // SAFETY: `bytes` is valid for the call; the host copies it.
    service!(reply).map_or(UNSUPPORTED, |f| unsafe { f(token, schema, RBytes::new(bytes)) })
}

// issue 14: gen_server

/// Exit with `tag`/`text` once the running handler returns.
pub(crate) fn stop_self(tag: u32, text: &str) -> i32 {
    // SAFETY: `text` is valid for the call; the host copies it.
    service!(stop_self).map_or(UNSUPPORTED, |f| unsafe { f(tag, RBytes::from_str(text)) })
}

/// Link the running actor to `id`.
pub(crate) fn link(id: u64) -> i32 {
    // SAFETY: the host's `link` takes plain integers.
    service!(link).map_or(UNSUPPORTED, |f| unsafe { f(id) })
}

/// Remove the running actor's link to `id`.
pub(crate) fn unlink(id: u64) -> i32 {
    // SAFETY: as in `link`.
    service!(unlink).map_or(UNSUPPORTED, |f| unsafe { f(id) })
}

/// Monitor actor `id`; the reference goes to `mref`.
pub(crate) fn monitor(id: u64, mref: &mut u64) -> i32 {
    // SAFETY: `mref` is valid for one write.
    service!(monitor).map_or(UNSUPPORTED, |f| unsafe { f(id, mref) })
}

/// Monitor the actor registered as `name`; the reference goes to `mref`.
pub(crate) fn monitor_named(name: &str, mref: &mut u64) -> i32 {
    // SAFETY: `name` is valid for the call and `mref` for one write.
    service!(monitor_named).map_or(UNSUPPORTED, |f| unsafe { f(RBytes::from_str(name), mref) })
}

/// Remove monitor `mref`.
pub(crate) fn demonitor(mref: u64) -> i32 {
    // SAFETY: the host's `demonitor` takes a plain integer.
    service!(demonitor).map_or(UNSUPPORTED, |f| unsafe { f(mref) })
}

/// Set trap_exit; the previous setting goes to `old`.
pub(crate) fn trap_exit(on: bool, old: &mut u32) -> i32 {
    // SAFETY: `old` is valid for one write.
    service!(trap_exit).map_or(UNSUPPORTED, |f| unsafe { f(u32::from(on), old) })
}

/// `send_after` answering the timer's reference in `tref`.
pub(crate) fn send_after_ref(
    delay_ms: u64,
    to: u64,
    schema: u64,
    msg: &[u8],
    tref: &mut u64,
) -> i32 {
    // SAFETY: `msg` is valid for the call, `tref` for one write.
    service!(send_after_ref)
        .map_or(UNSUPPORTED, |f| unsafe { f(delay_ms, to, schema, RBytes::new(msg), tref) })
}

/// A timer to the registered `name`; its reference in `tref`.
pub(crate) fn send_after_named(
    delay_ms: u64,
    name: &str,
    schema: u64,
    msg: &[u8],
    tref: &mut u64,
) -> i32 {
    // SAFETY: both slices are valid for the call, `tref` for one write.
    service!(send_after_named).map_or(UNSUPPORTED, |f| unsafe {
        f(delay_ms, RBytes::from_str(name), schema, RBytes::new(msg), tref)
    })
}

/// Disarm timer `tref`; the milliseconds it had left in `left`.
pub(crate) fn cancel_timer(tref: u64, left: &mut u64) -> i32 {
    // SAFETY: `left` is valid for one write.
    service!(cancel_timer).map_or(UNSUPPORTED, |f| unsafe { f(tref, left) })
}

/// The milliseconds timer `tref` has left, in `left`.
pub(crate) fn read_timer(tref: u64, left: &mut u64) -> i32 {
    // SAFETY: `left` is valid for one write.
    service!(read_timer).map_or(UNSUPPORTED, |f| unsafe { f(tref, left) })
}

/// Set the running actor's idle timeout (`u64::MAX`: none).
pub(crate) fn idle_timeout(ms: u64) -> i32 {
    // SAFETY: the host's `idle_timeout` takes a plain integer.
    service!(idle_timeout).map_or(UNSUPPORTED, |f| unsafe { f(ms) })
}

// issue 15: port
/// Send an encoded request to port `port`; its id goes to `id`.
pub(crate) fn request(
    port: &str,
    (req_schema, resp_schema): (u64, u64),
    req: &[u8],
    timeout_ms: u64,
    id: &mut u64,
) -> i32 {
    // SAFETY: both slices are valid for the call (the host copies them) and
    // `id` for one write.
    service!(request).map_or(UNSUPPORTED, |f| unsafe {
        f(RBytes::from_str(port), req_schema, resp_schema, RBytes::new(req), timeout_ms, id)
    })
}
// end issue 15: port
