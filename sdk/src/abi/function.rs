//! issue 17: stateless functions — the declaration's table of exported
//! functions and the generic `extern "C"` entry that runs one.

use super::catch_panic::{Failure, guard};
use super::{RBytes, RFingerprint, Sink};
use crate::Function;
use relive_codec::Fingerprint;

/// Where an entry leaves a result that did not fit the host's buffer: in
/// the sink, and `*out_len` is this value.
pub const RESULT_IN_SINK: usize = usize::MAX;

/// The entry point of one exported function: decode `arg`, run the
/// function, encode its result into the host's buffer `out` (`out_cap`
/// bytes; `*out_len` is set to the length) or, when it does not fit, into
/// `sink` (`*out_len` is [`RESULT_IN_SINK`]). Returns a
/// [`status`](super::status): `OK`, `BAD_INPUT` or `PANICKED` (the sink then
/// holds the reason).
pub type FunctionFn = unsafe extern "C" fn(
    arg: RBytes,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    sink: Sink<'_>,
) -> i32;

/// One exported function in a declaration: its name, the fingerprints of
/// its argument and result types, and its entry point. Built at compile time
/// by [`FunctionEntry::of`]; the fields are private, so every entry points
/// to `'static` UTF-8 and an entry of this SDK.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct FunctionEntry {
    /// The function's name (UTF-8).
    name: RBytes,
    /// Fingerprint of the argument type.
    arg_schema: RFingerprint,
    /// Fingerprint of the result type.
    result_schema: RFingerprint,
    /// The entry point.
    call: FunctionFn,
}

// SAFETY: an entry points only to a `'static` string literal and a function,
// both immutable: sharing one between threads cannot race.
unsafe impl Sync for FunctionEntry {}

impl FunctionEntry {
    /// The entry of function `F`.
    pub const fn of<F: Function>() -> Self {
        FunctionEntry {
            name: RBytes::from_str(F::NAME),
            arg_schema: Fingerprint::of::<F::Arg>().0,
            result_schema: Fingerprint::of::<F::Output>().0,
            call: entry::<F>,
        }
    }

    /// The function's name.
    pub fn name(&self) -> &'static str {
        // SAFETY: built by `of` from a `&'static str`.
        unsafe { std::str::from_utf8_unchecked(self.name.as_slice()) }
    }

    /// The fingerprint of the argument type.
    pub fn arg_schema(&self) -> Fingerprint {
        Fingerprint(self.arg_schema)
    }

    /// The fingerprint of the result type.
    pub fn result_schema(&self) -> Fingerprint {
        Fingerprint(self.result_schema)
    }
}

/// The table of functions a declaration carries.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RFunctions {
    /// Start of the table; may be dangling when `len` is 0.
    pub ptr: *const FunctionEntry,
    /// Number of entries.
    pub len: usize,
}

impl RFunctions {
    /// No functions.
    pub const NONE: RFunctions = RFunctions { ptr: std::ptr::NonNull::dangling().as_ptr(), len: 0 };

    /// Borrow a `'static` table.
    pub const fn new(list: &'static [FunctionEntry]) -> Self {
        RFunctions { ptr: list.as_ptr(), len: list.len() }
    }
}

/// The entry point of `F` (see [`FunctionFn`]).
///
/// # Safety
/// `arg` is valid for reads for this call; `out` is valid for writes of
/// `out_cap` bytes and `out_len` for one write; `sink` is the host's, valid
/// for this call.
unsafe extern "C" fn entry<F: Function>(
    arg: RBytes,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    sink: Sink<'_>,
) -> i32 {
    guard(&sink, || {
        // SAFETY: the host keeps `arg` valid for this call.
        let bytes = unsafe { arg.as_slice() };
        let arg: F::Arg = relive_codec::decode(bytes)
            .map_err(|e| Failure::BadInput(format!("argument of {}: {e}", F::NAME)))?;
        let result = F::call(arg);
        let buf: &mut [u8] = if out.is_null() || out_cap == 0 {
            &mut []
        } else {
            // SAFETY: the host's contract: `out` is valid for writes of
            // `out_cap` bytes for this call, and nothing else reads it meanwhile.
            unsafe { std::slice::from_raw_parts_mut(out, out_cap) }
        };
        let len = match relive_codec::encode_to_slice(&result, buf) {
            Ok(Some(n)) => n,
            Ok(None) => {
                relive_codec::encode_to_sink(&result, |b| sink.write(b))
                    .map_err(|e| Failure::Failed(e.into()))?;
                RESULT_IN_SINK
            }
            Err(e) => return Err(Failure::Failed(e.into())),
        };
        // SAFETY: the host's contract: `out_len` is valid for one write.
        unsafe { out_len.write(len) };
        Ok(())
    })
}

// issue 17: the plain form (decision 0025)
/// The entry point of one exported function in the plain form: read the
/// argument's image (`arg`, `arg_len` bytes: `relive_codec::plain`), run
/// the function, and write the result's image into `out` (`out_cap`
/// bytes). Returns a [`status`](super::status): `OK`, `BAD_INPUT` or
/// `PANICKED` (the sink then holds the reason). The sink is passed by
/// pointer (unlike [`FunctionFn`]): a 24-byte struct by value is copied
/// through the stack on every call.
pub type PlainFn = unsafe extern "C" fn(
    arg: *const u8,
    arg_len: usize,
    out: *mut u8,
    out_cap: usize,
    sink: &Sink<'_>,
) -> i32;

/// The plain form of one exported function, entry `i` of the table beside
/// the declaration's [`RFunctions`] (same length, same order): the image
/// format, the image sizes of its argument and result, and the entry point
/// — null when either type is not plain (`relive_codec::plain::size`), and
/// then the host calls the function through its [`FunctionEntry`] only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PlainEntry {
    /// `relive_codec::plain::FORMAT` as the module was built.
    format: u32,
    /// The argument's image size in bytes.
    arg_size: u32,
    /// The result's image size in bytes.
    result_size: u32,
    /// The entry point, or null.
    call: Option<PlainFn>,
}

impl PlainEntry {
    /// The plain entry of function `F`.
    pub const fn of<F: Function>() -> Self {
        match (relive_codec::plain::size::<F::Arg>(), relive_codec::plain::size::<F::Output>()) {
            (Some(arg), Some(result)) => PlainEntry {
                format: relive_codec::plain::FORMAT,
                arg_size: arg as u32,
                result_size: result as u32,
                call: Some(plain_entry::<F>),
            },
            _ => PlainEntry {
                format: relive_codec::plain::FORMAT,
                arg_size: 0,
                result_size: 0,
                call: None,
            },
        }
    }

    /// Whether the function has a plain form.
    pub fn is_plain(&self) -> bool {
        self.call.is_some()
    }
}

/// The table of plain entries a declaration carries beside its functions.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RPlainFunctions {
    /// Start of the table; may be dangling when `len` is 0.
    pub ptr: *const PlainEntry,
    /// Number of entries (that of the functions table).
    pub len: usize,
}

impl RPlainFunctions {
    /// No table.
    pub const NONE: RPlainFunctions =
        RPlainFunctions { ptr: std::ptr::NonNull::dangling().as_ptr(), len: 0 };

    /// Borrow a `'static` table.
    pub const fn new(list: &'static [PlainEntry]) -> Self {
        RPlainFunctions { ptr: list.as_ptr(), len: list.len() }
    }
}

/// The plain entry point of `F` (see [`PlainFn`]).
///
/// # Safety
/// `arg` is valid for reads of `arg_len` bytes and `out` for writes of
/// `out_cap` bytes for this call; `sink` is the host's, valid for this
/// call.
unsafe extern "C" fn plain_entry<F: Function>(
    arg: *const u8,
    arg_len: usize,
    out: *mut u8,
    out_cap: usize,
    sink: &Sink<'_>,
) -> i32 {
    // issue 17: the image sizes as constants (what `PlainEntry::of` put in
    // the entry, which the host checks its buffers against), so that the
    // image's length checks fold away.
    let (arg_size, result_size) = const {
        match (relive_codec::plain::size::<F::Arg>(), relive_codec::plain::size::<F::Output>()) {
            (Some(arg), Some(result)) => (arg, result),
            // `PlainEntry::of` makes no entry for such a function.
            _ => (0, 0),
        }
    };
    guard(sink, || {
        if arg_len != arg_size || out_cap != result_size {
            return Err(Failure::BadInput(format!(
                "the images of {}: {arg_len} and {out_cap} bytes, not {arg_size} and {result_size}",
                F::NAME
            )));
        }
        // SAFETY: the host's contract: `arg` is valid for reads of
        // `arg_len` bytes for this call (never null: it points into the
        // host's stack buffer), and `arg_len` is `arg_size`.
        let bytes = unsafe { std::slice::from_raw_parts(arg, arg_size) };
        let arg: F::Arg = relive_codec::plain::decode(bytes)
            .map_err(|e| Failure::BadInput(format!("argument of {}: {e}", F::NAME)))?;
        let result = F::call(arg);
        // SAFETY: the host's contract: `out` is valid for writes of
        // `out_cap` bytes for this call, and nothing else reads it
        // meanwhile; `out_cap` is `result_size`.
        let buf = unsafe { std::slice::from_raw_parts_mut(out, result_size) };
        match relive_codec::plain::encode(&result, buf) {
            Ok(n) if n == result_size => Ok(()),
            Ok(n) => Err(Failure::Failed(crate::ModuleError::new(format!(
                "result of {}: an image of {n} bytes, not {result_size}",
                F::NAME
            )))),
            Err(e) => Err(Failure::Failed(e.into())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::status;
    use std::cell::RefCell;
    use std::ffi::c_void;

    /// `(n, double)` → `n * 2` when `double`, else `n`.
    struct Twice;

    impl Function for Twice {
        const NAME: &'static str = "twice";
        type Arg = (u32, bool);
        type Output = u64;
        fn call((n, double): (u32, bool)) -> u64 {
            if double { u64::from(n) * 2 } else { u64::from(n) }
        }
    }

    /// The host's sink callback, appending to a `RefCell<Vec<u8>>`.
    unsafe extern "C" fn append(ctx: *mut c_void, ptr: *const u8, len: usize) {
        // SAFETY: `ctx` is the test's `RefCell<Vec<u8>>`, which outlives
        // the calls, and the entry passes a slice valid for the call.
        let (buf, bytes) =
            unsafe { (&*ctx.cast::<RefCell<Vec<u8>>>(), std::slice::from_raw_parts(ptr, len)) };
        buf.borrow_mut().extend_from_slice(bytes);
    }

    // issue 17: the plain entry checks the lengths once against its
    // constant sizes, then reads and writes the images at those sizes.
    #[test]
    fn the_plain_entry_runs_on_images_of_its_declared_sizes_only() {
        let call = PlainEntry::of::<Twice>().call.expect("(u32, bool) -> u64 is plain");
        let message = RefCell::new(Vec::new());
        let sink = Sink {
            ctx: (&message as *const RefCell<Vec<u8>>).cast_mut().cast(),
            write: append,
            flags: 0,
            _call: std::marker::PhantomData,
        };
        let arg = [21, 0, 0, 0, 1];
        let mut out = [0u8; 16];
        // SAFETY: `arg` and `out` are valid for the lengths passed (never
        // past their ends), `sink` for the call.
        let code = unsafe { call(arg.as_ptr(), 5, out.as_mut_ptr(), 8, &sink) };
        assert_eq!(code, status::OK);
        assert_eq!(out[..8], 42u64.to_le_bytes());
        assert!(message.borrow().is_empty());
        for (arg_len, out_cap) in [(4, 8), (5, 16), (5, 7)] {
            message.borrow_mut().clear();
            // SAFETY: as above.
            let code = unsafe { call(arg.as_ptr(), arg_len, out.as_mut_ptr(), out_cap, &sink) };
            assert_eq!(code, status::BAD_INPUT, "{arg_len} and {out_cap}");
            let text = String::from_utf8_lossy(&message.borrow()).into_owned();
            assert!(text.contains("the images of twice"), "{text}");
        }
    }
}
