//! The host-services table every module version receives at load.
//!
//! The `extern "C"` entry points here only convert the ABI's borrowed slices
//! and catch panics; what a service *does* is up to the layer above, which
//! hands this layer an implementation of [`Services`] once
//! ([`set_services`]). Until then every service answers `NOT_IN_ACTOR`.

use super::decl::RawBytes;
use relive_sdk::abi::service_status;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::Instant;

/// What the host services do, implemented above this layer. Each method
/// gets plain Rust values and returns a `service_status` code.
pub(crate) trait Services: Send + Sync {
    /// The running actor's id (0 outside one).
    fn self_id(&self) -> u64;
    /// Cast to an actor by id.
    fn send(&self, to: u64, schema: u64, msg: &[u8]) -> i32;
    /// Cast to an actor by registered name.
    fn send_named(&self, name: &str, schema: u64, msg: &[u8]) -> i32;
    /// Spawn an actor; its id on success.
    fn spawn(&self, module: &str, schema: u64, args: &[u8]) -> (i32, u64);
    /// Cast later.
    fn send_after(&self, delay_ms: u64, to: u64, schema: u64, msg: &[u8]) -> i32;
    /// Keep the current call's reply; a token, or 0.
    fn defer_reply(&self) -> u64;
    /// Answer a deferred call.
    fn reply(&self, token: u64, schema: u64, bytes: &[u8]) -> i32;
    // issue 14: gen_server
    /// Exit with this reason once the handler returns.
    fn stop_self(&self, tag: u32, text: &str) -> i32;
    /// Link (`on`) or unlink the running actor and `id`.
    fn link(&self, id: u64, on: bool) -> i32;
    /// Monitor an actor by id (`Ok`) or name (`Err`); the reference.
    fn monitor(&self, target: Result<u64, &str>) -> (i32, u64);
    /// Remove a monitor.
    fn demonitor(&self, mref: u64) -> i32;
    /// Set trap_exit; the previous setting.
    fn trap_exit(&self, on: bool) -> (i32, bool);
    /// Cast later to an actor (`Ok`) or a name resolved then (`Err`); the
    /// timer's reference.
    fn send_after_ref(
        &self,
        delay_ms: u64,
        to: Result<u64, &str>,
        schema: u64,
        msg: &[u8],
    ) -> (i32, u64);
    /// Cancel (`cancel`) or read a timer; the milliseconds it has left.
    fn timer(&self, tref: u64, cancel: bool) -> (i32, u64);
    /// Set the running actor's idle timeout (`u64::MAX`: none).
    fn idle_timeout(&self, ms: u64) -> i32;
    // issue 15: port
    /// Send a request to a port; its id.
    fn request(&self, port: &str, schemas: (u64, u64), req: &[u8], timeout_ms: u64) -> (i32, u64);
}

static SERVICES: OnceLock<&'static dyn Services> = OnceLock::new();

/// Install the implementation of the services (once per process; later
/// calls are ignored: there is one implementation, the host's).
pub(crate) fn set_services(services: &'static dyn Services) {
    let _ = SERVICES.set(services);
}

fn with_services<T>(absent: T, f: impl FnOnce(&'static dyn Services) -> T) -> T {
    match SERVICES.get() {
        Some(s) => f(*s),
        None => absent,
    }
}

type LogFn = unsafe extern "C" fn(level: u32, target: RawBytes, message: RawBytes);
type NowFn = unsafe extern "C" fn() -> u64;
type SelfIdFn = unsafe extern "C" fn() -> u64;
type SendFn = unsafe extern "C" fn(to: u64, schema: u64, msg: RawBytes) -> i32;
type SendNamedFn = unsafe extern "C" fn(name: RawBytes, schema: u64, msg: RawBytes) -> i32;
type SpawnFn =
    unsafe extern "C" fn(module: RawBytes, schema: u64, args: RawBytes, id_out: *mut u64) -> i32;
type SendAfterFn = unsafe extern "C" fn(delay_ms: u64, to: u64, schema: u64, msg: RawBytes) -> i32;
type DeferReplyFn = unsafe extern "C" fn() -> u64;
type ReplyFn = unsafe extern "C" fn(token: u64, schema: u64, reply: RawBytes) -> i32;
// issue 14: gen_server
type StopSelfFn = unsafe extern "C" fn(tag: u32, text: RawBytes) -> i32;
type LinkFn = unsafe extern "C" fn(id: u64) -> i32;
type MonitorFn = unsafe extern "C" fn(id: u64, ref_out: *mut u64) -> i32;
type MonitorNamedFn = unsafe extern "C" fn(name: RawBytes, ref_out: *mut u64) -> i32;
type DemonitorFn = unsafe extern "C" fn(mref: u64) -> i32;
type TrapExitFn = unsafe extern "C" fn(on: u32, old_out: *mut u32) -> i32;
type SendAfterRefFn = unsafe extern "C" fn(
    delay_ms: u64,
    to: u64,
    schema: u64,
    msg: RawBytes,
    ref_out: *mut u64,
) -> i32;
type SendAfterNamedFn = unsafe extern "C" fn(
    delay_ms: u64,
    name: RawBytes,
    schema: u64,
    msg: RawBytes,
    ref_out: *mut u64,
) -> i32;
type TimerFn = unsafe extern "C" fn(tref: u64, left_ms_out: *mut u64) -> i32;
type IdleTimeoutFn = unsafe extern "C" fn(ms: u64) -> i32;
// issue 15: port
type RequestFn = unsafe extern "C" fn(
    port: RawBytes,
    req_schema: u64,
    resp_schema: u64,
    req: RawBytes,
    timeout_ms: u64,
    id_out: *mut u64,
) -> i32;

/// Mirror of `relive_sdk::abi::HostServices`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawHostServices {
    size: u32,
    abi_version: u32,
    log: Option<LogFn>,
    log_max_level: u32,
    now_ns: Option<NowFn>,
    self_id: Option<SelfIdFn>,
    send: Option<SendFn>,
    send_named: Option<SendNamedFn>,
    spawn: Option<SpawnFn>,
    send_after: Option<SendAfterFn>,
    defer_reply: Option<DeferReplyFn>,
    reply: Option<ReplyFn>,
    // issue 14: gen_server
    stop_self: Option<StopSelfFn>,
    link: Option<LinkFn>,
    unlink: Option<LinkFn>,
    monitor: Option<MonitorFn>,
    monitor_named: Option<MonitorNamedFn>,
    demonitor: Option<DemonitorFn>,
    trap_exit: Option<TrapExitFn>,
    send_after_ref: Option<SendAfterRefFn>,
    send_after_named: Option<SendAfterNamedFn>,
    cancel_timer: Option<TimerFn>,
    read_timer: Option<TimerFn>,
    idle_timeout: Option<IdleTimeoutFn>,
    // issue 15: port
    request: Option<RequestFn>,
}

const fn table(level: u32) -> RawHostServices {
    RawHostServices {
        size: size_of::<RawHostServices>() as u32,
        abi_version: relive_sdk::abi::ABI_VERSION,
        log: Some(host_log),
        log_max_level: level,
        now_ns: Some(host_now),
        self_id: Some(host_self_id),
        send: Some(host_send),
        send_named: Some(host_send_named),
        spawn: Some(host_spawn),
        send_after: Some(host_send_after),
        defer_reply: Some(host_defer_reply),
        reply: Some(host_reply),
        // issue 14: gen_server
        stop_self: Some(host_stop_self),
        link: Some(host_link),
        unlink: Some(host_unlink),
        monitor: Some(host_monitor),
        monitor_named: Some(host_monitor_named),
        demonitor: Some(host_demonitor),
        trap_exit: Some(host_trap_exit),
        send_after_ref: Some(host_send_after_ref),
        send_after_named: Some(host_send_after_named),
        cancel_timer: Some(host_cancel_timer),
        read_timer: Some(host_read_timer),
        idle_timeout: Some(host_idle_timeout),
        // issue 15: port
        request: Some(host_request),
    }
}

/// One `'static` table per maximum log level (off, error … trace): a module
/// keeps a pointer to its table, and a `'static` one can never dangle, even
/// when a library stays mapped after it is closed.
static TABLES: [RawHostServices; 6] = [table(0), table(1), table(2), table(3), table(4), table(5)];

/// The table for the host's current maximum `tracing` level.
pub(crate) fn services() -> &'static RawHostServices {
    use tracing::level_filters::LevelFilter;
    let level = match LevelFilter::current() {
        LevelFilter::OFF => 0,
        LevelFilter::ERROR => 1,
        LevelFilter::WARN => 2,
        LevelFilter::INFO => 3,
        LevelFilter::DEBUG => 4,
        _ => 5,
    };
    &TABLES[level]
}

/// The `log` service: re-emit a module's event in the host's `tracing`, under
/// the target `relive::module`, with the module's own target as a field.
unsafe extern "C" fn host_log(level: u32, target: RawBytes, message: RawBytes) {
    // Nothing may unwind out of an `extern "C"` function.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the SDK passes two slices valid for the duration of this call.
        let (target, message) = unsafe { (target.as_slice(), message.as_slice()) };
        let target = String::from_utf8_lossy(target);
        let message = String::from_utf8_lossy(message);
        match level {
            1 => tracing::error!(target: "relive::module", module_target = %target, "{message}"),
            2 => tracing::warn!(target: "relive::module", module_target = %target, "{message}"),
            3 => tracing::info!(target: "relive::module", module_target = %target, "{message}"),
            4 => tracing::debug!(target: "relive::module", module_target = %target, "{message}"),
            _ => tracing::trace!(target: "relive::module", module_target = %target, "{message}"),
        }
    }));
}

/// The `now` service: nanoseconds since the host first asked.
unsafe extern "C" fn host_now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Run a service body, turning a host panic into a status instead of an
/// unwind across the boundary.
fn guarded(f: impl FnOnce(&'static dyn Services) -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(|| with_services(service_status::NOT_IN_ACTOR, f)))
        .unwrap_or(service_status::NO_ACTOR)
}

unsafe extern "C" fn host_self_id() -> u64 {
    catch_unwind(|| with_services(0, |s| s.self_id())).unwrap_or(0)
}

unsafe extern "C" fn host_send(to: u64, schema: u64, msg: RawBytes) -> i32 {
    // SAFETY: the SDK passes a slice valid for this call; it is copied.
    let msg = unsafe { msg.as_slice() };
    guarded(|s| s.send(to, schema, msg))
}

unsafe extern "C" fn host_send_named(name: RawBytes, schema: u64, msg: RawBytes) -> i32 {
    // SAFETY: as in `host_send`, for both slices.
    let (name, msg) = unsafe { (name.as_slice(), msg.as_slice()) };
    guarded(|s| s.send_named(&String::from_utf8_lossy(name), schema, msg))
}

unsafe extern "C" fn host_spawn(
    module: RawBytes,
    schema: u64,
    args: RawBytes,
    id_out: *mut u64,
) -> i32 {
    // SAFETY: as in `host_send`, for both slices.
    let (module, args) = unsafe { (module.as_slice(), args.as_slice()) };
    guarded(|s| {
        let (status, id) = s.spawn(&String::from_utf8_lossy(module), schema, args);
        if !id_out.is_null() {
            // SAFETY: the SDK passes a pointer to a local `u64`, valid for one write.
            unsafe { id_out.write(id) };
        }
        status
    })
}

unsafe extern "C" fn host_send_after(delay_ms: u64, to: u64, schema: u64, msg: RawBytes) -> i32 {
    // SAFETY: as in `host_send`.
    let msg = unsafe { msg.as_slice() };
    guarded(|s| s.send_after(delay_ms, to, schema, msg))
}

unsafe extern "C" fn host_defer_reply() -> u64 {
    catch_unwind(|| with_services(0, |s| s.defer_reply())).unwrap_or(0)
}

unsafe extern "C" fn host_reply(token: u64, schema: u64, reply: RawBytes) -> i32 {
    // SAFETY: as in `host_send`.
    let reply = unsafe { reply.as_slice() };
    guarded(|s| s.reply(token, schema, reply))
}

// issue 14: gen_server

unsafe extern "C" fn host_stop_self(tag: u32, text: RawBytes) -> i32 {
    // SAFETY: as in `host_send`.
    let text = unsafe { text.as_slice() };
    guarded(|s| s.stop_self(tag, &String::from_utf8_lossy(text)))
}

unsafe extern "C" fn host_link(id: u64) -> i32 {
    guarded(|s| s.link(id, true))
}

unsafe extern "C" fn host_unlink(id: u64) -> i32 {
    guarded(|s| s.link(id, false))
}

/// Write `value` through a pointer the SDK passes (a local, valid for one
/// write), unless it is null.
///
/// # Safety
/// `out` is null or valid for one write.
unsafe fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: the caller's contract.
        unsafe { out.write(value) };
    }
}

unsafe extern "C" fn host_monitor(id: u64, ref_out: *mut u64) -> i32 {
    guarded(|s| {
        let (status, mref) = s.monitor(Ok(id));
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(ref_out, mref) };
        status
    })
}

unsafe extern "C" fn host_monitor_named(name: RawBytes, ref_out: *mut u64) -> i32 {
    // SAFETY: as in `host_send`.
    let name = unsafe { name.as_slice() };
    guarded(|s| {
        let (status, mref) = s.monitor(Err(&String::from_utf8_lossy(name)));
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(ref_out, mref) };
        status
    })
}

unsafe extern "C" fn host_demonitor(mref: u64) -> i32 {
    guarded(|s| s.demonitor(mref))
}

unsafe extern "C" fn host_trap_exit(on: u32, old_out: *mut u32) -> i32 {
    guarded(|s| {
        let (status, old) = s.trap_exit(on != 0);
        // SAFETY: the SDK passes a pointer to a local `u32`.
        unsafe { write_out(old_out, u32::from(old)) };
        status
    })
}

unsafe extern "C" fn host_send_after_ref(
    delay_ms: u64,
    to: u64,
    schema: u64,
    msg: RawBytes,
    ref_out: *mut u64,
) -> i32 {
    // SAFETY: as in `host_send`.
    let msg = unsafe { msg.as_slice() };
    guarded(|s| {
        let (status, tref) = s.send_after_ref(delay_ms, Ok(to), schema, msg);
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(ref_out, tref) };
        status
    })
}

unsafe extern "C" fn host_send_after_named(
    delay_ms: u64,
    name: RawBytes,
    schema: u64,
    msg: RawBytes,
    ref_out: *mut u64,
) -> i32 {
    // SAFETY: as in `host_send`, for both slices.
    let (name, msg) = unsafe { (name.as_slice(), msg.as_slice()) };
    guarded(|s| {
        let name = String::from_utf8_lossy(name);
        let (status, tref) = s.send_after_ref(delay_ms, Err(&name), schema, msg);
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(ref_out, tref) };
        status
    })
}

unsafe extern "C" fn host_cancel_timer(tref: u64, left_ms_out: *mut u64) -> i32 {
    guarded(|s| {
        let (status, left) = s.timer(tref, true);
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(left_ms_out, left) };
        status
    })
}

unsafe extern "C" fn host_read_timer(tref: u64, left_ms_out: *mut u64) -> i32 {
    guarded(|s| {
        let (status, left) = s.timer(tref, false);
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(left_ms_out, left) };
        status
    })
}

unsafe extern "C" fn host_idle_timeout(ms: u64) -> i32 {
    guarded(|s| s.idle_timeout(ms))
}

// issue 15: port
unsafe extern "C" fn host_request(
    port: RawBytes,
    req_schema: u64,
    resp_schema: u64,
    req: RawBytes,
    timeout_ms: u64,
    id_out: *mut u64,
) -> i32 {
    // SAFETY: as in `host_send`, for both slices.
    let (port, req) = unsafe { (port.as_slice(), req.as_slice()) };
    guarded(|s| {
        let port = String::from_utf8_lossy(port);
        let (status, id) = s.request(&port, (req_schema, resp_schema), req, timeout_ms);
        // SAFETY: the SDK passes a pointer to a local `u64`.
        unsafe { write_out(id_out, id) };
        status
    })
}

#[cfg(test)]
mod tests {
    use super::RawHostServices;
    use relive_sdk::abi::HostServices as Sdk;
    use std::mem::{offset_of, size_of};

    #[test]
    fn the_mirror_has_the_sdks_layout_field_by_field() {
        macro_rules! same {
            ($($field:ident),+ $(,)?) => {$(
                assert_eq!(
                    offset_of!(Sdk, $field),
                    offset_of!(RawHostServices, $field),
                    stringify!($field)
                );
            )+};
        }
        same!(
            size,
            abi_version,
            log,
            log_max_level,
            now_ns,
            self_id,
            send,
            send_named,
            spawn,
            send_after,
            defer_reply,
            reply,
            stop_self,
            link,
            unlink,
            monitor,
            monitor_named,
            demonitor,
            trap_exit,
            send_after_ref,
            send_after_named,
            cancel_timer,
            read_timer,
            idle_timeout,
            request,
        );
        assert_eq!(size_of::<Sdk>(), size_of::<RawHostServices>());
    }
}
