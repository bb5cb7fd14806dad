//! Reading a module declaration through host-side mirror types.
//!
//! The SDK's `ModuleDecl` and `VTable` are mirrored here with every function
//! pointer an `Option` and every enum an integer: whatever bytes a library
//! returns, reading them as these types is defined behaviour, and each field
//! is then checked before it is used. Strings and lists are copied into host
//! memory; after [`read`] returns, nothing but the function table points into
//! the library, and the table is kept only inside its `Version`.

use relive_codec::Fingerprint;
use std::ffi::c_void;

/// Largest string accepted from a declaration (a sanity bound, not a format limit).
const MAX_STR: usize = 4096;
/// Largest fingerprint list accepted from a declaration.
const MAX_LIST: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawBytes {
    ptr: *const u8,
    len: usize,
}

impl RawBytes {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        RawBytes { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    pub(crate) fn from_raw(ptr: *const u8, len: usize) -> Self {
        RawBytes { ptr, len }
    }

    /// # Safety
    /// `ptr` is valid for reads of `len` bytes for `'a` (or `len` is 0).
    pub(crate) unsafe fn as_slice<'a>(self) -> &'a [u8] {
        // SAFETY: the caller's contract; a null pointer is refused.
        unsafe { bytes_at(self.ptr, self.len, usize::MAX) }.unwrap_or(&[])
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct RawFingerprints {
    ptr: *const [u8; 8],
    len: usize,
}

/// The fixed header every ABI version starts with.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawHeader {
    magic: u64,
    abi_version: u32,
    decl_size: u32,
}

/// Mirror of `relive_sdk::abi::ModuleDecl`, ABI version 1.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclV1 {
    header: RawHeader,
    name: RawBytes,
    version: RawBytes,
    build_id: RawBytes,
    sdk_version: RawBytes,
    rustc_version: RawBytes,
    target: RawBytes,
    flags: u64,
    args_schema: [u8; 8],
    message_schema: [u8; 8],
    reply_schema: [u8; 8],
    state_schema: [u8; 8],
    reads_states: RawFingerprints,
    downgrades_to: RawFingerprints,
    vtable: *const c_void,
}

/// The sink a module writes its output through (mirror of `abi::Sink`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct RawSink {
    pub(crate) ctx: *mut c_void,
    pub(crate) write: unsafe extern "C" fn(ctx: *mut c_void, ptr: *const u8, len: usize),
    pub(crate) flags: u32,
}

pub(crate) type InstallHostFn =
    unsafe extern "C" fn(host: *const super::host::RawHostServices, flags: u32) -> i32;
pub(crate) type InitFn =
    unsafe extern "C" fn(args: RawBytes, state_out: *mut *mut c_void, out: RawSink) -> i32;
pub(crate) type HandleFn =
    unsafe extern "C" fn(state: *mut c_void, msg: RawBytes, out: RawSink) -> i32;
pub(crate) type ExportStateFn = unsafe extern "C" fn(state: *mut c_void, out: RawSink) -> i32;
pub(crate) type CodeChangeFn = unsafe extern "C" fn(
    from_version: RawBytes,
    from_schema: u64,
    old: RawBytes,
    extra: RawBytes,
    state_out: *mut *mut c_void,
    out: RawSink,
) -> i32;
pub(crate) type DowngradeFn = unsafe extern "C" fn(
    state: *mut c_void,
    to_version: RawBytes,
    to_schema: u64,
    out: RawSink,
) -> i32;
pub(crate) type DropStateFn = unsafe extern "C" fn(state: *mut c_void) -> i32;
// issue 14: sys
pub(crate) type StateJsonFn = unsafe extern "C" fn(state: *mut c_void, out: RawSink) -> i32;
pub(crate) type ReplaceStateJsonFn =
    unsafe extern "C" fn(state: *mut c_void, json: RawBytes, out: RawSink) -> i32;
pub(crate) type ToJsonFn = unsafe extern "C" fn(what: u32, bytes: RawBytes, out: RawSink) -> i32;
// end issue 14: sys
// issue 14: gen_server
pub(crate) type TerminateFn =
    unsafe extern "C" fn(state: *mut c_void, tag: u32, text: RawBytes, out: RawSink) -> i32;
pub(crate) type OnExitFn = unsafe extern "C" fn(
    state: *mut c_void,
    from: u64,
    tag: u32,
    text: RawBytes,
    out: RawSink,
) -> i32;
pub(crate) type OnTimeoutFn = unsafe extern "C" fn(state: *mut c_void, out: RawSink) -> i32;
pub(crate) type OnDownFn = unsafe extern "C" fn(
    state: *mut c_void,
    mref: u64,
    who: u64,
    tag: u32,
    text: RawBytes,
    out: RawSink,
) -> i32;

// issue 15: port
pub(crate) type OnReplyFn = unsafe extern "C" fn(
    state: *mut c_void,
    id: u64,
    outcome: u32,
    schema: u64,
    bytes: RawBytes,
    out: RawSink,
) -> i32;

/// Mirror of `relive_sdk::abi::VTable`, ABI version 1.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVTableV1 {
    size: u32,
    install_host: Option<InstallHostFn>,
    init: Option<InitFn>,
    handle: Option<HandleFn>,
    export_state: Option<ExportStateFn>,
    code_change: Option<CodeChangeFn>,
    downgrade: Option<DowngradeFn>,
    drop_state: Option<DropStateFn>,
}

// issue 14: sys
/// The `sys` entries appended to the table after ABI version 1's first
/// eight (optional: read only when the module's table `size` covers them).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVTableSys {
    v1: RawVTableV1,
    state_json: Option<StateJsonFn>,
    replace_state_json: Option<ReplaceStateJsonFn>,
    to_json: Option<ToJsonFn>,
}

/// A module's `sys` functions (each `None` in a module built before them).
#[derive(Clone, Copy, Default)]
pub(crate) struct SysTable {
    pub(crate) state_json: Option<StateJsonFn>,
    pub(crate) replace_state_json: Option<ReplaceStateJsonFn>,
    pub(crate) to_json: Option<ToJsonFn>,
}
// end issue 14: sys

// issue 14: gen_server
/// Mirror of the optional entries a module built with a recent SDK appends
/// to its table after the `sys` ones; each is read only when the table's
/// `size` covers it (an older module has none of them).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVTableGen {
    sys: RawVTableSys,
    terminate: Option<TerminateFn>,
    on_exit: Option<OnExitFn>,
    on_down: Option<OnDownFn>,
    on_timeout: Option<OnTimeoutFn>,
    // issue 15: port
    on_reply: Option<OnReplyFn>,
}

/// The function table, checked: every required function is present.
///
/// Valid only while the library that owns these functions is open, which is
/// why it is stored only inside a `Version`, next to that library.
#[derive(Clone, Copy)]
pub(crate) struct Table {
    pub(crate) install_host: InstallHostFn,
    pub(crate) init: InitFn,
    pub(crate) handle: HandleFn,
    pub(crate) export_state: ExportStateFn,
    pub(crate) code_change: CodeChangeFn,
    pub(crate) downgrade: Option<DowngradeFn>,
    pub(crate) drop_state: DropStateFn,
    // issue 14: sys
    pub(crate) sys: SysTable,
    // issue 14: gen_server
    pub(crate) terminate: Option<TerminateFn>,
    pub(crate) on_exit: Option<OnExitFn>,
    pub(crate) on_down: Option<OnDownFn>,
    pub(crate) on_timeout: Option<OnTimeoutFn>,
    // issue 15: port
    pub(crate) on_reply: Option<OnReplyFn>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("downgrade", &self.downgrade.is_some())
            .finish_non_exhaustive()
    }
}

/// A declaration copied into host memory.
#[derive(Debug, Clone)]
pub(crate) struct Declaration {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) build_id: String,
    pub(crate) sdk_version: String,
    pub(crate) rustc_version: String,
    pub(crate) target: String,
    pub(crate) flags: u64,
    pub(crate) args_schema: Fingerprint,
    pub(crate) message_schema: Fingerprint,
    pub(crate) reply_schema: Fingerprint,
    pub(crate) state_schema: Fingerprint,
    pub(crate) reads_states: Vec<Fingerprint>,
    pub(crate) downgrades_to: Vec<Fingerprint>,
}

/// Why a declaration could not be read (loader step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeclError {
    Null,
    Misaligned,
    BadMagic { found: u64 },
    AbiMismatch { found: u32 },
    DeclTooSmall { size: u32 },
    TableTooSmall { size: u32 },
    MissingFunction(&'static str),
    Malformed(String),
}

/// Read a statically linked module's declaration.
pub(crate) fn read_static(
    decl: &'static relive_sdk::abi::ModuleDecl,
) -> Result<(Declaration, Table), DeclError> {
    // SAFETY: a `&'static ModuleDecl` built by `declaration!` lives for the
    // whole program, and so does everything it points to (string literals,
    // constant slices, a `static` table of functions linked into the host).
    unsafe { read((decl as *const relive_sdk::abi::ModuleDecl).cast()) }
}

/// Read the declaration at `ptr`, which a library's `relive_module_v1` (or a
/// statically linked `declaration!`) returned.
///
/// # Safety
/// `ptr` is null, or it points to memory that stays readable and unchanged
/// for as long as the library that returned it is open, and that holds at
/// least the fixed header; every further read is bounded by the sizes that
/// header reports (the contract of the `relive_module_v1` symbol). Pointers
/// inside the declaration are dereferenced only after their lengths pass the
/// bounds above.
pub(crate) unsafe fn read(ptr: *const c_void) -> Result<(Declaration, Table), DeclError> {
    use relive_sdk::abi::{ABI_VERSION, MAGIC};
    if ptr.is_null() {
        return Err(DeclError::Null);
    }
    if !(ptr as usize).is_multiple_of(align_of::<RawDeclV1>()) {
        return Err(DeclError::Misaligned);
    }
    // SAFETY: non-null and aligned (checked above); the caller guarantees the
    // header is readable. All fields are integers: any bits are valid.
    let header = unsafe { ptr.cast::<RawHeader>().read() };
    if header.magic != MAGIC {
        return Err(DeclError::BadMagic { found: header.magic });
    }
    if header.abi_version != ABI_VERSION {
        return Err(DeclError::AbiMismatch { found: header.abi_version });
    }
    if (header.decl_size as usize) < size_of::<RawDeclV1>() {
        return Err(DeclError::DeclTooSmall { size: header.decl_size });
    }
    // SAFETY: the module reports `decl_size` readable bytes, at least a full
    // `RawDeclV1`, whose fields are integers, raw pointers and `Option`s of
    // function pointers: every bit pattern but a non-null dangling pointer is
    // valid, and pointers are checked before use below.
    let raw = unsafe { ptr.cast::<RawDeclV1>().read() };
    let vt = raw.vtable;
    if vt.is_null() || !(vt as usize).is_multiple_of(align_of::<RawVTableV1>()) {
        return Err(DeclError::Malformed("function table pointer is null or misaligned".into()));
    }
    // SAFETY: non-null and aligned; the declaration's contract makes the
    // table's leading `size` field readable.
    let table_size = unsafe { vt.cast::<u32>().read() };
    if (table_size as usize) < size_of::<RawVTableV1>() {
        return Err(DeclError::TableTooSmall { size: table_size });
    }
    // SAFETY: the module reports `table_size` readable bytes, at least a full
    // `RawVTableV1`; every field is an integer or an `Option<fn>`, for which
    // null is `None`.
    let vtable = unsafe { vt.cast::<RawVTableV1>().read() };
    let table = Table {
        install_host: vtable.install_host.ok_or(DeclError::MissingFunction("install_host"))?,
        init: vtable.init.ok_or(DeclError::MissingFunction("init"))?,
        handle: vtable.handle.ok_or(DeclError::MissingFunction("handle"))?,
        export_state: vtable.export_state.ok_or(DeclError::MissingFunction("export_state"))?,
        code_change: vtable.code_change.ok_or(DeclError::MissingFunction("code_change"))?,
        downgrade: vtable.downgrade,
        drop_state: vtable.drop_state.ok_or(DeclError::MissingFunction("drop_state"))?,
        // issue 14: sys
        sys: if (table_size as usize) >= size_of::<RawVTableSys>() {
            // SAFETY: the module reports `table_size` readable bytes, which
            // cover a `RawVTableSys` (checked just above); its extra fields
            // are `Option<fn>`s, for which null is `None`.
            let sys = unsafe { vt.cast::<RawVTableSys>().read() };
            SysTable {
                state_json: sys.state_json,
                replace_state_json: sys.replace_state_json,
                to_json: sys.to_json,
            }
        } else {
            SysTable::default()
        },
        terminate: None,
        on_exit: None,
        on_down: None,
        on_timeout: None,
        on_reply: None,
    };
    // issue 14: gen_server
    // SAFETY: each optional entry is read only when the module reports a
    // table at least that long; null is `None`.
    let table = unsafe { read_gen(vt.cast::<RawVTableGen>(), table_size as usize, table) };
    let string = |field: &str, b: RawBytes| -> Result<String, DeclError> {
        // SAFETY: the caller's contract covers the strings a declaration
        // points to; the length is bounded and a null pointer refused first.
        let bytes = unsafe { bytes_at(b.ptr, b.len, MAX_STR) }
            .ok_or_else(|| DeclError::Malformed(format!("{field}: bad pointer or length")))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| DeclError::Malformed(format!("{field}: not UTF-8")))
    };
    let list = |field: &str, l: RawFingerprints| -> Result<Vec<Fingerprint>, DeclError> {
        // SAFETY: as for strings, for the fingerprint lists.
        let items = unsafe { items_at(l.ptr, l.len, MAX_LIST) }
            .ok_or_else(|| DeclError::Malformed(format!("{field}: bad pointer or length")))?;
        Ok(items.iter().map(|b| Fingerprint(*b)).collect())
    };
    let decl = Declaration {
        name: string("name", raw.name)?,
        version: string("version", raw.version)?,
        build_id: string("build_id", raw.build_id)?,
        sdk_version: string("sdk_version", raw.sdk_version)?,
        rustc_version: string("rustc_version", raw.rustc_version)?,
        target: string("target", raw.target)?,
        flags: raw.flags,
        args_schema: Fingerprint(raw.args_schema),
        message_schema: Fingerprint(raw.message_schema),
        reply_schema: Fingerprint(raw.reply_schema),
        state_schema: Fingerprint(raw.state_schema),
        reads_states: list("reads_states", raw.reads_states)?,
        downgrades_to: list("downgrades_to", raw.downgrades_to)?,
    };
    Ok((decl, table))
}

// issue 14: gen_server
/// `table` with the optional entries of [`RawVTableGen`] the module's table
/// (of `size` bytes) covers.
///
/// # Safety
/// `vt` is aligned and valid for reads of `size` bytes.
unsafe fn read_gen(vt: *const RawVTableGen, size: usize, mut table: Table) -> Table {
    use std::mem::offset_of;
    macro_rules! entry {
        ($field:ident) => {
            if size >= offset_of!(RawVTableGen, $field) + size_of::<Option<fn()>>() {
                // SAFETY: covered by `size` (checked just now), aligned as
                // the table is; any bits of an `Option<fn>` field the module
                // wrote are null or a function of its own.
                table.$field = unsafe { std::ptr::addr_of!((*vt).$field).read() };
            }
        };
    }
    entry!(terminate);
    entry!(on_exit);
    entry!(on_down);
    entry!(on_timeout);
    // issue 15: port
    entry!(on_reply);
    table
}

/// `len` bytes at `ptr`, or `None` when the pair is not plausible.
///
/// # Safety
/// When `ptr` is non-null and `len <= max`, `ptr` must be valid for reads of
/// `len` bytes for `'a`.
unsafe fn bytes_at<'a>(ptr: *const u8, len: usize, max: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() || len > max {
        return None;
    }
    // SAFETY: non-null, bounded; validity is the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `len` fingerprints at `ptr`, or `None` when the pair is not plausible.
///
/// # Safety
/// As [`bytes_at`], for `len` eight-byte items.
unsafe fn items_at<'a>(ptr: *const [u8; 8], len: usize, max: usize) -> Option<&'a [[u8; 8]]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() || len > max {
        return None;
    }
    // SAFETY: non-null, bounded, and `[u8; 8]` has alignment 1; validity is
    // the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[cfg(test)]
mod tests {
    // issue 14: gen_server
    use super::{RawVTableGen, RawVTableV1, read_gen, read_static};
    use std::mem::offset_of;

    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    struct Plain;

    impl relive_sdk::Module for Plain {
        const NAME: &'static str = "plain";
        type Args = ();
        type Msg = ();
        type Reply = ();
        fn init((): (), _: &mut relive_sdk::Context<'_>) -> Result<Self, relive_sdk::ModuleError> {
            Ok(Plain)
        }
        fn handle(&mut self, (): (), _: &mut relive_sdk::Context<'_>) {}
    }

    #[test]
    fn the_mirror_has_the_sdks_layout_field_by_field() {
        use relive_sdk::abi::VTable as Sdk;
        macro_rules! same {
            ($($sdk:ident => $($raw:ident).+),+ $(,)?) => {$(
                assert_eq!(
                    offset_of!(Sdk, $sdk),
                    offset_of!(RawVTableGen, $($raw).+),
                    stringify!($sdk)
                );
            )+};
        }
        same!(
            size => sys.v1.size,
            install_host => sys.v1.install_host,
            init => sys.v1.init,
            handle => sys.v1.handle,
            export_state => sys.v1.export_state,
            code_change => sys.v1.code_change,
            downgrade => sys.v1.downgrade,
            drop_state => sys.v1.drop_state,
            state_json => sys.state_json,
            replace_state_json => sys.replace_state_json,
            to_json => sys.to_json,
            terminate => terminate,
            on_exit => on_exit,
            on_down => on_down,
            on_timeout => on_timeout,
            on_reply => on_reply,
        );
        assert_eq!(size_of::<Sdk>(), size_of::<RawVTableGen>());
    }

    #[test]
    fn a_table_built_before_the_gen_server_entries_has_none_of_them() {
        let decl = relive_sdk::declaration!(Plain);
        let (_, full) = read_static(decl).unwrap();
        assert!(full.terminate.is_some() && full.on_exit.is_some());
        assert!(full.on_down.is_some() && full.on_timeout.is_some());
        let mut bare = full;
        (bare.terminate, bare.on_exit, bare.on_down, bare.on_timeout) = (None, None, None, None);
        let vt = decl.vtable.cast::<RawVTableGen>();
        // What an older module reports: the version-1 table only.
        // SAFETY: the table is this static declaration's, longer than asked.
        let old = unsafe { read_gen(vt, size_of::<RawVTableV1>(), bare) };
        assert!(old.terminate.is_none() && old.on_exit.is_none());
        assert!(old.on_down.is_none() && old.on_timeout.is_none());
        // A table that ends after `terminate` has that one only.
        let end = offset_of!(RawVTableGen, terminate) + size_of::<Option<fn()>>();
        // SAFETY: as above.
        let partial = unsafe { read_gen(vt, end, bare) };
        assert!(partial.terminate.is_some() && partial.on_exit.is_none());
    }

    // issue 15: port
    #[test]
    fn a_table_built_before_ports_has_no_on_reply() {
        let decl = relive_sdk::declaration!(Plain);
        let (_, full) = read_static(decl).unwrap();
        assert!(full.on_reply.is_some());
        let mut bare = full;
        bare.on_reply = None;
        let vt = decl.vtable.cast::<RawVTableGen>();
        // What a module built with the issue 14 SDK reports: up to `on_timeout`.
        let end = offset_of!(RawVTableGen, on_timeout) + size_of::<Option<fn()>>();
        // SAFETY: the table is this static declaration's, longer than asked.
        let old = unsafe { read_gen(vt, end, bare) };
        assert!(old.on_timeout.is_some() && old.on_reply.is_none());
    }
}
