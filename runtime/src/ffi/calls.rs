//! Calls into a version's function table, and the state they pass around.
//!
//! [`LiveState`] is the only owner of an opaque state pointer. It holds an
//! `Arc` to the [`Code`] (in the code server: the `Version`) whose `init` or
//! `code_change` created the state, so:
//! - the state is only ever passed to functions of the library that made it;
//! - the library stays open while the state exists;
//! - the state is freed exactly once, by that library's `drop_state`, when the
//!   `LiveState` drops.
//!
//! This layer knows nothing above it: the owner of a library is any type
//! implementing [`Code`].

use super::decl::{RawBytes, RawSink, Table};
use super::host::RawHostServices;
use relive_codec::Fingerprint;
use relive_sdk::abi::{install_flags, status};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

/// The sink's write callback: append to the host's `Vec<u8>`.
unsafe extern "C" fn write_to_vec(ctx: *mut c_void, ptr: *const u8, len: usize) {
    // SAFETY: `ctx` is the `&mut Vec<u8>` that `sink` borrowed for the call in
    // progress, and the module passes a slice valid for this call.
    let (buf, bytes) =
        unsafe { (&mut *ctx.cast::<Vec<u8>>(), RawBytes::from_raw(ptr, len).as_slice()) };
    buf.extend_from_slice(bytes);
}

/// A sink writing into `out` (cleared first). Valid for one call.
fn sink(out: &mut Vec<u8>) -> RawSink {
    out.clear();
    RawSink { ctx: (out as *mut Vec<u8>).cast(), write: write_to_vec, flags: 0 }
}

/// Like [`sink`], telling the module that nobody reads a successful output
/// (a cast's reply): it may skip producing it; errors still arrive.
fn sink_no_reply(out: &mut Vec<u8>) -> RawSink {
    RawSink { flags: relive_sdk::abi::sink_flags::NO_REPLY, ..sink(out) }
}

/// The owner of a loaded library's function table: whoever implements this
/// keeps the library open for as long as it lives, so a `&self` borrow (or an
/// `Arc<Self>`) proves the table's functions are callable.
pub(crate) trait Code: Send + Sync + 'static {
    /// The checked function table of the library this value keeps open.
    fn table(&self) -> &Table;
    /// `n` states made by this code's `init` or `code_change` now exist
    /// (or are about to: see [`Ticket`]).
    fn instances_started(&self, n: usize);
    /// A state made by this code was freed.
    fn instance_ended(&self);
    /// The module's name, for log lines.
    fn module_name(&self) -> &str;
}

/// Give a freshly loaded library the host's services.
pub(crate) fn install_host(table: &Table, host: &'static RawHostServices, forward_logs: bool) {
    let flags = if forward_logs { install_flags::FORWARD_LOGS } else { 0 };
    // SAFETY: the caller holds the table's owner (it borrowed the table from
    // it), so the library is open; `host` is `'static`, as the SDK requires.
    let _ = unsafe { (table.install_host)(host, flags) };
}

// issue 14: sys
/// Run `to_json(what, bytes)` of `table` (rendering a message or a reply);
/// the JSON (or the error message) is left in `out`; `None` when the module
/// has no `to_json`. The caller holds the table's owner, so the library is
/// open.
pub(crate) fn to_json(table: &Table, what: u32, bytes: &[u8], out: &mut Vec<u8>) -> Option<i32> {
    let f = table.sys.to_json?;
    // SAFETY: the caller borrowed `table` from its owner, so the library is
    // open; `bytes` and `out` are valid for the call; `to_json` touches no
    // state.
    Some(unsafe { f(what, RawBytes::new(bytes), sink(out)) })
}
// end issue 14: sys

// issue 15: lifecycle
/// Run `on_load` of `table` for the load of `version` replacing `previous`;
/// `None` when the module has none. The reason of a veto (or the panic
/// message) is left in `out`. The caller holds the table's owner, so the
/// library is open.
pub(crate) fn on_load(
    table: &Table,
    version: &str,
    previous: Option<&str>,
    out: &mut Vec<u8>,
) -> Option<i32> {
    let f = table.on_load?;
    let flags = if previous.is_some() { relive_sdk::abi::load_flags::UPGRADE } else { 0 };
    let previous = previous.unwrap_or("");
    // SAFETY: the caller borrowed `table` from its owner, so the library is
    // open; both strings and `out` are valid for the call; `on_load`
    // touches no state.
    Some(unsafe {
        f(RawBytes::new(version.as_bytes()), RawBytes::new(previous.as_bytes()), flags, sink(out))
    })
}

// issue 17: typed configuration, hot-reloaded
/// Run `on_config` of `table` with an encoded configuration section and
/// [`config_flags`](relive_sdk::abi::config_flags); `None` when the module
/// has no such entry.
pub(crate) fn on_config(
    table: &Table,
    section: &[u8],
    flags: u32,
    out: &mut Vec<u8>,
) -> Option<i32> {
    let f = table.on_config?;
    // SAFETY: the caller borrowed `table` from its owner, so the library is
    // open; `section` and `out` are valid for the call; `on_config` touches
    // no state.
    Some(unsafe { f(RawBytes::new(section), flags, sink(out)) })
}

/// A version's `on_free`, taken out of its table when the version's last
/// `Arc` drops, to be run once on the unloader thread before its library
/// closes.
#[derive(Clone, Copy)]
pub(crate) struct FreeHook(super::decl::OnFreeFn);

impl std::fmt::Debug for FreeHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FreeHook")
    }
}

impl FreeHook {
    /// The hook of `table`, if the module has one.
    pub(crate) fn of(table: &Table) -> Option<Self> {
        table.on_free.map(FreeHook)
    }

    /// Run the hook; a panic's message is left in `out`. `library` is the
    /// library the hook came from, still open (`None`: a module linked into
    /// the host, whose code is never unmapped). Consumes the hook: it runs
    /// at most once.
    pub(crate) fn run(
        self,
        library: Option<&libloading::os::unix::Library>,
        out: &mut Vec<u8>,
    ) -> i32 {
        let _open = library;
        // SAFETY: the function belongs to `library`, which the caller keeps
        // open for the call (it holds it), or to the host's own binary;
        // `on_free` takes no state and `out` is valid for the call.
        unsafe { (self.0)(sink(out)) }
    }
}
// end issue 15: lifecycle

/// One instance of `C` counted before it is made, with the reference to its
/// code it will hold ([`LiveState::code_change`] takes one).
///
/// Where many instances of one version are made at once — an upgrade's
/// migration threads, one per core — taking a ticket per instance would
/// write the version's instance count and reference count once per
/// instance on every core, bouncing their cache lines between the cores
/// (a third of a migration's time at 100 k actors when the threads ran in
/// step). [`take`](Self::take) writes the count once for a batch and its
/// reference count in one burst. A ticket not used un-counts itself.
pub(crate) struct Ticket<C: Code>(Option<Arc<C>>);

impl<C: Code> Ticket<C> {
    /// `n` tickets for instances of `version`.
    pub(crate) fn take(version: &Arc<C>, n: usize) -> Vec<Self> {
        version.instances_started(n);
        (0..n).map(|_| Ticket(Some(Arc::clone(version)))).collect()
    }

    /// One ticket.
    pub(crate) fn one(version: &Arc<C>) -> Self {
        version.instances_started(1);
        Ticket(Some(Arc::clone(version)))
    }

    fn code(&self) -> &Arc<C> {
        self.0.as_ref().expect("a ticket holds its code until used")
    }

    /// Whether this ticket was taken for `code`.
    pub(crate) fn is_for(&self, code: &Arc<C>) -> bool {
        Arc::ptr_eq(self.code(), code)
    }

    /// The reference, for an instance that now exists (still counted).
    fn into_code(mut self) -> Arc<C> {
        self.0.take().expect("a ticket holds its code until used")
    }
}

impl<C: Code> Drop for Ticket<C> {
    fn drop(&mut self) {
        if let Some(code) = self.0.take() {
            code.instance_ended();
        }
    }
}

/// The state of one live instance, owned together with the code that made it.
#[derive(Debug)]
pub(crate) struct LiveState<C: Code> {
    version: Arc<C>,
    ptr: NonNull<c_void>,
}

// SAFETY: `Module: Send` in the SDK, so the value behind `ptr` may move to
// another thread; `LiveState` is not `Sync` (raw pointer), so `&self` calls
// such as `export_state` never run on two threads at once. `C: Send + Sync`.
unsafe impl<C: Code> Send for LiveState<C> {}

impl<C: Code> LiveState<C> {
    /// Run `init(args)` of `version`. On failure, returns the status and
    /// leaves the message in `out`.
    pub(crate) fn init(version: &Arc<C>, args: &[u8], out: &mut Vec<u8>) -> Result<Self, i32> {
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: `args` and `out` are valid for the call; `&mut ptr` is valid
        // for one write; the table belongs to `version`, which is open.
        let code = unsafe { (version.table().init)(RawBytes::new(args), &mut ptr, sink(out)) };
        Self::adopt(Ticket::one(version), code, ptr)
    }

    /// Run `code_change` of `to`'s code on state bytes written by
    /// `from_version` with schema `from_schema`, creating a state owned by
    /// that code (the ticket is used up either way).
    pub(crate) fn code_change(
        to: Ticket<C>,
        from_version: &str,
        from_schema: Fingerprint,
        old: &[u8],
        extra: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Self, i32> {
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: every slice is valid for the call; `&mut ptr` is valid for
        // one write; the table belongs to `to`, which is open.
        let code = unsafe {
            (to.code().table().code_change)(
                RawBytes::new(from_version.as_bytes()),
                from_schema.to_u64(),
                RawBytes::new(old),
                RawBytes::new(extra),
                &mut ptr,
                sink(out),
            )
        };
        Self::adopt(to, code, ptr)
    }

    /// The state a call made, if any, owned with `ticket`'s code (a ticket
    /// not used un-counts itself as it drops).
    fn adopt(ticket: Ticket<C>, code: i32, ptr: *mut c_void) -> Result<Self, i32> {
        match (code, NonNull::new(ptr)) {
            (status::OK, Some(ptr)) => Ok(LiveState { version: ticket.into_code(), ptr }),
            (status::OK, None) => Err(status::FAILED),
            // A failed call must not have produced a state; if a foreign build
            // did anyway, adopt it just to free it with its own library.
            (code, Some(ptr)) => {
                drop(LiveState { version: ticket.into_code(), ptr });
                Err(code)
            }
            (code, None) => Err(code),
        }
    }

    /// Run `handle(msg)`; the reply (or the error message) is left in `out`.
    pub(crate) fn handle(&mut self, msg: &[u8], out: &mut Vec<u8>) -> i32 {
        // SAFETY: `ptr` was made by this version's library (invariant of
        // `LiveState`), `&mut self` gives the call exclusive access, the
        // library is open while `self.version` lives.
        unsafe { (self.version.table().handle)(self.ptr.as_ptr(), RawBytes::new(msg), sink(out)) }
    }

    /// Run `handle(msg)` for a cast: no reply is produced; an error or
    /// panic message is still left in `out`.
    pub(crate) fn handle_cast(&mut self, msg: &[u8], out: &mut Vec<u8>) -> i32 {
        // SAFETY: as in `handle`.
        unsafe {
            (self.version.table().handle)(self.ptr.as_ptr(), RawBytes::new(msg), sink_no_reply(out))
        }
    }

    /// Run `export_state`; the bytes (or the error message) are left in `out`.
    pub(crate) fn export_state(&self, out: &mut Vec<u8>) -> i32 {
        // SAFETY: as in `handle`; `LiveState: !Sync`, so no other call on this
        // state runs meanwhile.
        unsafe { (self.version.table().export_state)(self.ptr.as_ptr(), sink(out)) }
    }

    /// Run `downgrade` towards `to_version` / `to_schema`, or `None` when the
    /// version has no `downgrade`.
    pub(crate) fn downgrade(
        &self,
        to_version: &str,
        to_schema: Fingerprint,
        out: &mut Vec<u8>,
    ) -> Option<i32> {
        let downgrade = self.version.table().downgrade?;
        // SAFETY: as in `export_state`.
        Some(unsafe {
            downgrade(
                self.ptr.as_ptr(),
                RawBytes::new(to_version.as_bytes()),
                to_schema.to_u64(),
                sink(out),
            )
        })
    }

    // issue 14: sys
    /// Run `state_json`: the state as JSON (or the error message) is left
    /// in `out`; `None` when the module has no `state_json`.
    pub(crate) fn state_json(&self, out: &mut Vec<u8>) -> Option<i32> {
        let f = self.version.table().sys.state_json?;
        // SAFETY: as in `export_state`.
        Some(unsafe { f(self.ptr.as_ptr(), sink(out)) })
    }

    /// Run `replace_state_json(json)`: the module replaces the state in
    /// place, or leaves it unchanged and the reason in `out`; `None` when
    /// the module has no `replace_state_json`.
    pub(crate) fn replace_state_json(&mut self, json: &[u8], out: &mut Vec<u8>) -> Option<i32> {
        let f = self.version.table().sys.replace_state_json?;
        // SAFETY: as in `handle`; the state pointer stays the same (the
        // module replaces the value behind it).
        Some(unsafe { f(self.ptr.as_ptr(), RawBytes::new(json), sink(out)) })
    }
    // end issue 14: sys

    // issue 14: gen_server

    /// Whether this version has a `terminate` (modules built before it
    /// existed have none).
    pub(crate) fn has_terminate(&self) -> bool {
        self.version.table().terminate.is_some()
    }

    /// Run `terminate(reason)`, or `None` when the version has none. A
    /// panic's message is left in `out`.
    pub(crate) fn terminate(&mut self, tag: u32, text: &str, out: &mut Vec<u8>) -> Option<i32> {
        let f = self.version.table().terminate?;
        // SAFETY: as in `handle`; `text` is valid for the call.
        Some(unsafe { f(self.ptr.as_ptr(), tag, RawBytes::new(text.as_bytes()), sink(out)) })
    }

    /// Run `on_exit(from, reason)`, or `None` when the version has none.
    pub(crate) fn on_exit(
        &mut self,
        from: u64,
        tag: u32,
        text: &str,
        out: &mut Vec<u8>,
    ) -> Option<i32> {
        let f = self.version.table().on_exit?;
        // SAFETY: as in `terminate`.
        Some(unsafe { f(self.ptr.as_ptr(), from, tag, RawBytes::new(text.as_bytes()), sink(out)) })
    }

    /// Run `on_down(mref, who, reason)`, or `None` when the version has none.
    pub(crate) fn on_down(
        &mut self,
        mref: u64,
        who: u64,
        (tag, text): (u32, &str),
        out: &mut Vec<u8>,
    ) -> Option<i32> {
        let f = self.version.table().on_down?;
        // SAFETY: as in `terminate`.
        Some(unsafe {
            f(self.ptr.as_ptr(), mref, who, tag, RawBytes::new(text.as_bytes()), sink(out))
        })
    }

    /// Run `on_timeout()`, or `None` when the version has none.
    pub(crate) fn on_timeout(&mut self, out: &mut Vec<u8>) -> Option<i32> {
        let f = self.version.table().on_timeout?;
        // SAFETY: as in `terminate`.
        Some(unsafe { f(self.ptr.as_ptr(), sink(out)) })
    }

    // issue 15: port
    /// Run `on_reply(id, outcome, schema, bytes)`, or `None` when the
    /// version has none (a module built before ports).
    pub(crate) fn on_reply(
        &mut self,
        id: u64,
        (outcome, schema): (u32, u64),
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<i32> {
        let f = self.version.table().on_reply?;
        // SAFETY: as in `terminate`; `bytes` is valid for the call.
        Some(unsafe { f(self.ptr.as_ptr(), id, outcome, schema, RawBytes::new(bytes), sink(out)) })
    }

    /// The code that owns this state.
    pub(crate) fn version(&self) -> &Arc<C> {
        &self.version
    }
}

impl<C: Code> Drop for LiveState<C> {
    fn drop(&mut self) {
        // SAFETY: `ptr` was made by this version's library and is never used
        // again; the library is open because we still hold `self.version`.
        let code = unsafe { (self.version.table().drop_state)(self.ptr.as_ptr()) };
        self.version.instance_ended();
        if code != status::OK {
            tracing::warn!(module = %self.version.module_name(), code, "drop_state failed");
        }
    }
}

// issue 17: functions
/// How a call of an exported function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FunctionOutcome {
    /// The result is the first `n` bytes of the caller's buffer.
    InBuffer(usize),
    /// The result did not fit: it is in the spill vector.
    Spilled,
    /// The function did not return: this status, and its message is in the
    /// spill vector.
    Status(i32),
}

/// Run the exported function `call` on `arg`, on this thread. The result
/// goes into `out` when it fits (no allocation), else into `spill`, which
/// also receives the message of a failure.
///
/// The caller holds the `Version` the entry point came from (an `Arc`), so
/// its library is open for the whole call.
pub(crate) fn call_function(
    call: super::decl::FunctionPtr,
    arg: &[u8],
    out: &mut [u8],
    spill: &mut Vec<u8>,
) -> FunctionOutcome {
    let mut len = 0usize;
    // SAFETY: the caller holds the entry point's owner, so the library is
    // open; `arg` is valid for reads and `out` for writes of its length for
    // the call; `len` is valid for one write; the sink appends to `spill`,
    // which outlives the call. The SDK's entry catches every panic.
    let code =
        unsafe { (call.0)(RawBytes::new(arg), out.as_mut_ptr(), out.len(), &mut len, sink(spill)) };
    if code != status::OK {
        FunctionOutcome::Status(code)
    } else if len == relive_sdk::abi::RESULT_IN_SINK {
        FunctionOutcome::Spilled
    } else if len <= out.len() {
        FunctionOutcome::InBuffer(len)
    } else {
        // A length past the buffer: the module broke the contract.
        spill.clear();
        spill.extend_from_slice(b"the function reported a result longer than the buffer");
        FunctionOutcome::Status(status::FAILED)
    }
}

// issue 17: the plain form (decision 0025)
/// Run the plain form `form` of an exported function on the image `arg`
/// (`form.arg_size` bytes), on this thread; the result's image is written
/// into `out` (`form.result_size` bytes). `spill` receives the message of
/// a failure (the only time it allocates). Returns the module's status.
///
/// The caller holds the `Version` the entry point came from (an `Arc`), so
/// its library is open for the whole call.
#[inline(always)]
pub(crate) fn call_plain(
    form: &super::decl::PlainForm,
    arg: &[u8],
    out: &mut [u8],
    spill: &mut Vec<u8>,
) -> i32 {
    if arg.len() != form.arg_size || out.len() != form.result_size {
        spill.clear();
        spill.extend_from_slice(b"the plain image sizes are not the function's");
        return status::FAILED;
    }
    let sink = sink(spill);
    // SAFETY: the caller holds the entry point's owner, so the library is
    // open; `arg` is valid for reads of `arg.len()` bytes and `out` for
    // writes of `out.len()` bytes for the call, which are the sizes the
    // entry was declared with (checked just above); the sink appends to
    // `spill`, which outlives the call, and is itself valid for the call
    // (a local). The SDK's entry catches every panic.
    unsafe { (form.call)(arg.as_ptr(), arg.len(), out.as_mut_ptr(), out.len(), &sink) }
}
