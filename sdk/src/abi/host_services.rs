//! The table of services the host gives every module version at load.

use super::RBytes;
use std::mem::offset_of;
use std::sync::atomic::{AtomicPtr, Ordering};

/// `log(level, target, message)`: level 1 = ERROR … 5 = TRACE.
pub type LogFn = unsafe extern "C" fn(level: u32, target: RBytes, message: RBytes);
/// Monotonic host time in nanoseconds since the host started.
pub type NowFn = unsafe extern "C" fn() -> u64;

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
}

/// Bits of the `flags` argument of `install_host`.
pub mod install_flags {
    /// Install a `tracing` dispatcher in the module that forwards every event
    /// to the host. Set for dynamic libraries (each has its own copy of
    /// `tracing`'s globals); never for a module linked into the host, whose
    /// events already reach the host's subscriber.
    pub const FORWARD_LOGS: u32 = 1 << 0;
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
