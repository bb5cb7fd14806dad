//! The C ABI between a host and a module library: the only place in the SDK
//! with `unsafe`.
//!
//! Nothing Rust-specific crosses this boundary: only `#[repr(C)]` structs of
//! integers, borrowed `(pointer, length)` pairs, an opaque state pointer and
//! `extern "C"` function pointers. See `docs/abi.md` for the declaration field
//! by field.
//!
//! The layouts here are append-only: a field is never removed or reordered;
//! a new one goes at the end and the host reads it only when the `size` the
//! module reports covers it.

mod catch_panic;
mod decl;
// issue 15: dependencies
mod dependency;
// issue 17: functions
mod function;
mod host_services;
mod record;
mod vtable;

pub use decl::{ModuleDecl, flags};
// issue 15: dependencies
pub use dependency::{Dependency, RDependencies};
// issue 15: interfaces that grow
pub use decl::{RVariants, VariantTable};
// issue 17: functions
pub use function::{FunctionEntry, FunctionFn, RESULT_IN_SINK, RFunctions};
// issue 17: the plain form
pub use function::{PlainEntry, PlainFn, RPlainFunctions};
#[doc(hidden)]
pub mod decl_build_info {
    pub use super::decl::BuildInfo;
}
pub use host_services::{
    DeferReplyFn, DemonitorFn, HostServices, IdleTimeoutFn, LinkFn, LogFn, MonitorFn,
    MonitorNamedFn, NowFn, ReplyFn, SelfIdFn, SendAfterFn, SendAfterNamedFn, SendAfterRefFn,
    SendFn, SendNamedFn, SpawnFn, StopSelfFn, TimerFn, TrapExitFn, install_flags, service_status,
};
// issue 15: port
pub use host_services::{RequestFn, port_outcome};
pub use vtable::{VTable, exports, json_kinds};
// issue 15: lifecycle
pub use vtable::load_flags;
// issue 17: typed configuration, hot-reloaded
pub use vtable::config_flags;

pub(crate) use host_services::{
    UNSUPPORTED, cancel_timer, defer_reply, demonitor, forward_log, idle_timeout, link,
    log_max_level, monitor, monitor_named, now_ns, read_timer, reply, self_id, send, send_after,
    send_after_named, send_after_ref, send_named, spawn, stop_self, trap_exit, unlink,
};
// issue 15: port
pub(crate) use host_services::request;

use std::ffi::c_void;

/// The first eight bytes of every declaration: `b"RELIVE\0\x01"` read as a
/// little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RELIVE\0\x01");

/// The ABI version this SDK speaks. A host refuses any other.
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol a module library exports: an
/// `extern "C" fn() -> *const ModuleDecl`.
pub const SYMBOL: &str = "relive_module_v1";

/// Status codes every exported function returns (an `i32`, never an enum, so
/// that an unknown value from a foreign build is not undefined behaviour).
pub mod status {
    /// Success; the sink holds the output, if any.
    pub const OK: i32 = 0;
    /// The module panicked; the sink holds the panic message.
    pub const PANICKED: i32 = 1;
    /// The module returned an error; the sink holds its message.
    pub const FAILED: i32 = 2;
    /// The input bytes could not be decoded; the sink holds the reason.
    pub const BAD_INPUT: i32 = 3;
    /// The operation is not implemented by this module (e.g. `downgrade`).
    pub const UNSUPPORTED: i32 = 4;
    // issue 14: gen_server
    /// `init` declined to start (OTP's `ignore`): no state was made, and
    /// that is not a failure. A host built before this code reports it as
    /// an unknown status (a failed start).
    pub const IGNORED: i32 = 5;
}

// issue 14: gen_server
/// Tags of an exit reason as it crosses the boundary (a `u32` tag and a
/// UTF-8 text); see [`crate::ExitReason`]. Append-only.
pub mod exit_tag {
    /// `normal`.
    pub const NORMAL: u32 = 0;
    /// `shutdown`.
    pub const SHUTDOWN: u32 = 1;
    /// `{shutdown, Info}`; the text is the info.
    pub const SHUTDOWN_WITH: u32 = 2;
    /// A module's own reason; the text is the reason.
    pub const CUSTOM: u32 = 3;
    /// A panic; the text is its message.
    pub const PANICKED: u32 = 4;
    /// `killed`.
    pub const KILLED: u32 = 5;
    /// `noproc`.
    pub const NO_PROC: u32 = 6;
    /// Any other reason of the host's; the text describes it.
    pub const OTHER: u32 = 7;
}

/// A borrowed byte slice (or UTF-8 string) crossing the boundary.
///
/// The borrower may read `len` bytes at `ptr` for the duration of the call
/// (or, in a declaration, for as long as the library is loaded).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RBytes {
    /// Start of the bytes; may be dangling when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl RBytes {
    /// Borrow a slice.
    pub const fn new(bytes: &[u8]) -> Self {
        RBytes { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// Borrow a string's bytes.
    pub const fn from_str(s: &str) -> Self {
        Self::new(s.as_bytes())
    }

    /// View the bytes as a slice.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes for the lifetime `'a`,
    /// and the bytes must not be written meanwhile.
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees `ptr` is valid for `len` bytes for 'a.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A schema fingerprint as the ABI carries it (see `relive_codec::Fingerprint`).
pub type RFingerprint = [u8; 8];

/// A borrowed list of fingerprints in a declaration.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RFingerprints {
    /// Start of the list; may be dangling when `len` is 0.
    pub ptr: *const RFingerprint,
    /// Number of entries.
    pub len: usize,
}

/// The opaque state of one live instance. Only the version whose `init` or
/// `code_change` created it may dereference or free it.
pub type StatePtr = *mut c_void;

/// Where a module writes its output: the host's buffer, through a callback.
///
/// The module may call `write` any number of times during the call it was
/// given to; the host appends each chunk. The sink is invalid after that
/// call, and its type says so: it borrows the call (`'call`), is neither
/// `Copy` nor `Clone`, and only the host can make one.
///
/// ```compile_fail
/// fn keep<T: Copy>() {}
/// keep::<relive_sdk::abi::Sink<'static>>(); // a sink cannot be copied out of its call
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Sink<'call> {
    /// Host context (the host's buffer).
    ctx: *mut c_void,
    /// Appends `len` bytes at `ptr` to the host's buffer.
    write: unsafe extern "C" fn(ctx: *mut c_void, ptr: *const u8, len: usize),
    /// [`sink_flags`] bits.
    flags: u32,
    /// The call this sink was given to (zero-sized: the layout is the C one).
    _call: std::marker::PhantomData<&'call ()>,
}

/// Bits of a sink's `flags`.
pub mod sink_flags {
    /// Nobody reads the successful output (the reply to a cast): the module
    /// may skip producing it. Error and panic messages are still written.
    pub const NO_REPLY: u32 = 1 << 0;
}

// The fields are private: a `Sink` is only ever built by the host (through
// its own mirror of this layout) and handed to an exported function, whose
// safety contract requires it to be valid for the call. Module code cannot
// forge one.
impl Sink<'_> {
    /// Whether the host discards this output (a reply to a cast, which
    /// nobody reads): the module may skip producing it.
    pub fn discards(&self) -> bool {
        self.flags & sink_flags::NO_REPLY != 0
    }

    /// Append `bytes` to the host's buffer.
    pub fn write(&self, bytes: &[u8]) {
        // SAFETY: a `Sink` is only ever constructed by the host for the
        // duration of one call, with a `write` that accepts any byte slice
        // and a `ctx` it owns; `bytes` is a valid slice for this call.
        unsafe { (self.write)(self.ctx, bytes.as_ptr(), bytes.len()) }
    }
}
