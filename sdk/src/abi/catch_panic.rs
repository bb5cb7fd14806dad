//! Nothing unwinds across the boundary: every export runs its body here.
//!
//! In a module library (not in a module linked into the host) the host asks,
//! at load, for the [quiet hook](install_quiet_hook): the library's own copy
//! of std would otherwise print every panic and its backtrace to stderr, and
//! with `RUST_BACKTRACE` set it would symbolise that backtrace into caches
//! that are never freed when the library is closed (tens of MiB per
//! version that panics once). The quiet hook only notes where the panic happened; [`guard`]
//! adds that to the message the host reports.

use super::{Sink, forward_log, status};
use crate::ModuleError;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};

/// How an export's body ended, before it becomes a status code.
pub(crate) enum Failure {
    /// The module's own code returned an error.
    Failed(ModuleError),
    /// The input did not decode.
    BadInput(String),
    /// The operation is not provided by this module.
    Unsupported(String),
}

impl From<ModuleError> for Failure {
    fn from(e: ModuleError) -> Self {
        Failure::Failed(e)
    }
}

/// Run `body`, catching any panic, and turn the result into a status code.
/// Error and panic messages are written to `out`.
///
/// The body runs inside one access to this thread's [`GUARDS`] (issue 17:
/// in a library every thread-local access is a `__tls_get_addr` call; one
/// per export instead of two).
#[inline]
pub(crate) fn guard(out: &Sink<'_>, body: impl FnOnce() -> Result<(), Failure>) -> i32 {
    let mut body = Some(body);
    let caught = GUARDS.try_with(|g| {
        let s = g.get();
        g.set(GuardState { depth: s.depth + 1, has_panic: false });
        // A panic caught by the module's own code before this export began
        // is none of its business.
        if s.has_panic {
            let _ = LAST_PANIC.try_with(|l| l.set(None));
        }
        let caught = body.take().map(|body| catch_unwind(AssertUnwindSafe(body)));
        let s = g.get();
        g.set(GuardState { depth: s.depth.saturating_sub(1), ..s });
        caught
    });
    // The thread-locals are gone (a thread-exit destructor calls in): run
    // the body without them, as a module linked into the host would.
    let caught = match caught {
        Ok(Some(caught)) => caught,
        _ => match body.take() {
            Some(body) => catch_unwind(AssertUnwindSafe(body)),
            None => return status::OK,
        },
    };
    // AssertUnwindSafe: after a panic the host treats the instance as crashed
    // and only ever drops its state, which is memory-safe for any Rust value
    // left in whatever state the panic interrupted.
    match caught {
        Ok(Ok(())) => status::OK,
        Ok(Err(failure)) => failed(out, failure),
        Err(payload) => panicked(out, payload),
    }
}

/// The status and message of a body that returned an error.
#[cold]
fn failed(out: &Sink<'_>, failure: Failure) -> i32 {
    match failure {
        Failure::Failed(e) if e.is_ignore() => status::IGNORED,
        Failure::Failed(e) => {
            out.write(e.message().as_bytes());
            status::FAILED
        }
        Failure::BadInput(reason) => {
            out.write(reason.as_bytes());
            status::BAD_INPUT
        }
        Failure::Unsupported(reason) => {
            out.write(reason.as_bytes());
            status::UNSUPPORTED
        }
    }
}

/// The status and message of a body that panicked.
#[cold]
fn panicked(out: &Sink<'_>, payload: Box<dyn std::any::Any + Send>) -> i32 {
    let mut msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        NON_STRING.to_owned()
    };
    if let Some(at) = take_location() {
        msg.push_str(&format!(" (at {at})"));
    }
    // Formatting the message cannot panic in a way that matters, but
    // dropping a hostile payload could: never let that unwind out.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    out.write(msg.as_bytes());
    status::PANICKED
}

/// The text of a panic whose payload is not a string.
const NON_STRING: &str = "panic with a non-string payload";

/// The longest file name a [`Location`] keeps, in bytes (longer ones keep
/// their end, after `…`).
const FILE_MAX: usize = 240;

/// Where a panic happened, copied out of the hook's borrowed `Location`.
///
/// Plain bytes, so the thread-locals below have no destructor: a
/// thread-local with one would register a thread-exit destructor in this
/// library, which keeps the library mapped (glibc defers the unmap) until
/// the thread ends — for a host's worker, never.
#[derive(Debug, Clone, Copy)]
struct Location {
    file: [u8; FILE_MAX],
    file_len: usize,
    line: u32,
    col: u32,
}

impl Location {
    fn of(at: &std::panic::Location<'_>) -> Self {
        Self::new(at.file(), at.line(), at.column())
    }

    fn new(mut name: &str, line: u32, col: u32) -> Self {
        let mut file = [0; FILE_MAX];
        let mut len = 0;
        if name.len() > FILE_MAX {
            let ellipsis = "…";
            file[..ellipsis.len()].copy_from_slice(ellipsis.as_bytes());
            len = ellipsis.len();
            let mut start = name.len() - (FILE_MAX - len);
            while !name.is_char_boundary(start) {
                start += 1;
            }
            name = &name[start..];
        }
        file[len..len + name.len()].copy_from_slice(name.as_bytes());
        Location { file, file_len: len + name.len(), line, col }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = std::str::from_utf8(&self.file[..self.file_len]).unwrap_or("?");
        write!(f, "{file}:{}:{}", self.line, self.col)
    }
}

/// This thread's exports and whether a panic location waits (one
/// thread-local, which [`guard`] accesses once per export: in a library
/// every access is a `__tls_get_addr` call, issue 17's plain form).
#[derive(Clone, Copy)]
struct GuardState {
    /// Exports of this library running on this thread: more than one when a
    /// handler's host call runs another export here (`spawn` runs the new
    /// actor's `init`, which may be of this library).
    depth: u32,
    // issue 17: functions — whether `LAST_PANIC` holds a location, so that
    // entering an export clears it only then (the location is ~260 bytes:
    // copying it on every call cost more than the rest of a small call).
    has_panic: bool,
}

thread_local! {
    static GUARDS: Cell<GuardState> = const { Cell::new(GuardState { depth: 0, has_panic: false }) };
    /// Where the last panic on this thread happened, as the quiet hook saw it.
    static LAST_PANIC: Cell<Option<Location>> = const { Cell::new(None) };
}

/// The location the quiet hook noted for the panic just caught, if any (none
/// when the hook is not installed: a module linked into the host).
fn take_location() -> Option<Location> {
    let had_panic = GUARDS
        .try_with(|g| {
            let s = g.get();
            g.set(GuardState { has_panic: false, ..s });
            s.has_panic
        })
        .unwrap_or(false);
    if !had_panic {
        return None;
    }
    LAST_PANIC.try_with(|l| l.take()).ok().flatten()
}

/// The quiet hook: no backtrace, nothing written to stderr.
///
/// In an export, it notes the location for [`guard`], which reports it with
/// the message. Anywhere else — a thread the module spawned, or a value's
/// `drop` run by `drop_state` — nothing would report the panic, so the hook
/// sends it to the host's log (an ERROR event; dropped if the host takes no
/// logs).
fn quiet_hook(info: &PanicHookInfo<'_>) {
    let at = info.location().map(Location::of);
    if GUARDS.try_with(|g| g.get().depth).unwrap_or(0) > 0 {
        let _ = LAST_PANIC.try_with(|l| l.set(at));
        let _ = GUARDS.try_with(|g| g.set(GuardState { has_panic: true, ..g.get() }));
        return;
    }
    let msg = info.payload_as_str().unwrap_or(NON_STRING);
    let text = match at {
        Some(at) => format!("module panicked outside a handler: {msg} (at {at})"),
        None => format!("module panicked outside a handler: {msg}"),
    };
    forward_log(1, "relive_sdk::panic", &text);
}

/// Replace this library's panic hook with the quiet hook (once; later calls
/// do nothing). The previous hook is the library's own std default, and is
/// dropped: nothing is chained to it.
///
/// Only for a module library: in a module linked into the host, std is the
/// host's, and so would be the hook.
pub(crate) fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(quiet_hook)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_file_name_keeps_its_end_on_a_char_boundary() {
        // The tail that fits (FILE_MAX less the ellipsis) starts inside `é`
        // for the first name and on a plain byte for the second.
        let tail = "b".repeat(FILE_MAX - 4);
        for name in [format!("xxxé{tail}"), format!("éxxxx{tail}")] {
            let text = Location::new(&name, 7, 9).to_string();
            let file = text.strip_suffix(":7:9").unwrap();
            assert!(file.len() <= FILE_MAX, "{}", file.len());
            let kept = file.strip_prefix('…').unwrap();
            assert!(name.ends_with(kept) && kept.ends_with(&tail), "{file}");
        }
        let short = Location::new("src/lib.rs", 1, 2).to_string();
        assert_eq!(short, "src/lib.rs:1:2");
    }
}
