//! Reading a module declaration through host-side mirror types.
//!
//! The SDK's `ModuleDecl` and `VTable` are mirrored here with every function
//! pointer an `Option` and every enum an integer: whatever bytes a library
//! returns, reading them as these types is defined behaviour, and each field
//! is then checked before it is used. Strings and lists are copied into host
//! memory; after [`read`] returns, nothing but the function table and the
//! entry points of exported functions (issue 17) points into the library,
//! and both are kept only inside its `Version`.

use relive_codec::Fingerprint;
use relive_codec::variants::VariantList;
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

// issue 15: interfaces that grow
/// Mirror of `relive_sdk::abi::RVariants`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVariants {
    prefixes: *const [u8; 8],
    names: *const RawBytes,
    len: usize,
}

/// The declaration with the fields appended after ABI version 1's (read
/// only when the module's `decl_size` covers them).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclGrow {
    deps: RawDeclDeps,
    message_variants: RawVariants,
    reply_variants: RawVariants,
}
// end issue 15: interfaces that grow

// issue 17: functions
/// Mirror of `relive_sdk::abi::FunctionEntry`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawFunctionEntry {
    name: RawBytes,
    arg_schema: [u8; 8],
    result_schema: [u8; 8],
    call: Option<FunctionFn>,
}

/// The declaration with the function table appended (read only when the
/// module's `decl_size` covers it).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclFn {
    // issue 17: after the configuration section's schema (both issue 17).
    config: RawDeclConfig,
    functions_ptr: *const RawFunctionEntry,
    functions_len: usize,
}

// issue 17: the plain form (decision 0025)
/// Mirror of `relive_sdk::abi::PlainEntry`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawPlainEntry {
    format: u32,
    arg_size: u32,
    result_size: u32,
    call: Option<PlainFn>,
}

/// The declaration with the plain entries appended after the functions
/// (read only when the module's `decl_size` covers it).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclPlain {
    functions: RawDeclFn,
    plain_ptr: *const RawPlainEntry,
    plain_len: usize,
}

/// The plain entry point of an exported function (mirror of
/// `relive_sdk::abi::PlainFn`).
pub(crate) type PlainFn = unsafe extern "C" fn(
    arg: *const u8,
    arg_len: usize,
    out: *mut u8,
    out_cap: usize,
    sink: *const RawSink,
) -> i32;

/// The plain form of an exported function: the image sizes of its argument
/// and result (each at most `relive_codec::plain::MAX`) and its entry
/// point, valid only while the library is open (kept inside its `Version`,
/// as [`FunctionPtr`] is).
#[derive(Clone, Copy)]
pub(crate) struct PlainForm {
    pub(crate) arg_size: usize,
    pub(crate) result_size: usize,
    pub(crate) call: PlainFn,
}

impl std::fmt::Debug for PlainForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainForm")
            .field("arg_size", &self.arg_size)
            .field("result_size", &self.result_size)
            .finish_non_exhaustive()
    }
}
// end issue 17: the plain form

/// Largest function table accepted from a declaration.
const MAX_FUNCTIONS: usize = 1024;

/// The entry point of an exported function (mirror of
/// `relive_sdk::abi::FunctionFn`).
pub(crate) type FunctionFn = unsafe extern "C" fn(
    arg: RawBytes,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    sink: RawSink,
) -> i32;

/// One exported function, its name and types copied into host memory. Its
/// entry point is valid only while the library is open: like the
/// [`Table`], a declaration is kept only inside its `Version`.
#[derive(Clone, Copy)]
pub(crate) struct FunctionPtr(pub(crate) FunctionFn);

impl std::fmt::Debug for FunctionPtr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FunctionPtr")
    }
}

/// One exported function as the declaration names it.
#[derive(Debug, Clone)]
pub(crate) struct DeclaredFunction {
    pub(crate) name: String,
    pub(crate) arg_schema: Fingerprint,
    pub(crate) result_schema: Fingerprint,
    pub(crate) call: FunctionPtr,
    // issue 17: the plain form
    /// Its plain form, when its argument and result are plain and the
    /// module's image format is this host's.
    pub(crate) plain: Option<PlainForm>,
}
// end issue 17: functions

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
// issue 15: lifecycle
pub(crate) type OnLoadFn =
    unsafe extern "C" fn(version: RawBytes, previous: RawBytes, flags: u32, out: RawSink) -> i32;
pub(crate) type OnFreeFn = unsafe extern "C" fn(out: RawSink) -> i32;
// issue 17: typed configuration, hot-reloaded
pub(crate) type OnConfigFn =
    unsafe extern "C" fn(section: RawBytes, flags: u32, out: RawSink) -> i32;
// end issue 15: lifecycle

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

// issue 15: lifecycle
/// Mirror of the lifecycle entries appended after the `gen_server` ones;
/// each read only when the table's `size` covers it.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVTableLife {
    base: RawVTableGen,
    on_load: Option<OnLoadFn>,
    on_free: Option<OnFreeFn>,
}
// end issue 15: lifecycle

// issue 17: typed configuration, hot-reloaded
/// Mirror of the table with `on_config` appended after the lifecycle
/// entries; read only when the table's `size` covers it.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawVTableConfig {
    life: RawVTableLife,
    on_config: Option<OnConfigFn>,
}

/// Mirror of the declaration with `config_schema` appended after the
/// variant tables; read only when `decl_size` covers it.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclConfig {
    grow: RawDeclGrow,
    config_schema: [u8; 8],
}
// end issue 17

// issue 15: dependencies
/// Mirror of `relive_sdk::abi::Dependency`.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDependency {
    name: RawBytes,
    requirement: RawBytes,
    message_schema: [u8; 8],
    reply_schema: [u8; 8],
}

/// Mirror of the declaration with the dependency list appended (read only
/// when `decl_size` covers it).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawDeclDeps {
    v1: RawDeclV1,
    depends_ptr: *const RawDependency,
    depends_len: usize,
}

/// Largest dependency list accepted from a declaration.
const MAX_DEPENDS: usize = 256;

/// One module a declaration says it calls, copied into host memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeclaredDependency {
    pub(crate) name: String,
    pub(crate) requirement: String,
    pub(crate) message_schema: Fingerprint,
    pub(crate) reply_schema: Fingerprint,
}
// end issue 15: dependencies

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
    // issue 15: lifecycle
    pub(crate) on_load: Option<OnLoadFn>,
    pub(crate) on_free: Option<OnFreeFn>,
    // issue 17: typed configuration, hot-reloaded
    pub(crate) on_config: Option<OnConfigFn>,
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
    // issue 15: dependencies
    pub(crate) depends: Vec<DeclaredDependency>,
    // issue 15: interfaces that grow
    /// The message type's variants (`None`: a declaration without them).
    pub(crate) message_variants: Option<VariantList>,
    /// The reply type's variants.
    pub(crate) reply_variants: Option<VariantList>,
    // issue 17: typed configuration, hot-reloaded
    /// The schema of the configuration section it receives (`None`: it
    /// receives none, or was built before sections).
    pub(crate) config_schema: Option<Fingerprint>,
    // issue 17: functions
    /// The exported stateless functions (none: a declaration without them).
    pub(crate) functions: Vec<DeclaredFunction>,
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
        on_load: None,
        on_free: None,
        on_config: None,
    };
    // issue 14: gen_server
    // SAFETY: each optional entry is read only when the module reports a
    // table at least that long; null is `None`.
    let table = unsafe { read_gen(vt.cast::<RawVTableGen>(), table_size as usize, table) };
    // issue 15: lifecycle
    // SAFETY: as for `read_gen`.
    let table = unsafe { read_life(vt.cast::<RawVTableLife>(), table_size as usize, table) };
    // issue 17: typed configuration, hot-reloaded
    let table = if (table_size as usize) >= size_of::<RawVTableConfig>() {
        // SAFETY: the module reports `table_size` readable bytes, which
        // cover a `RawVTableConfig` (checked just now); null is `None`.
        let on_config =
            unsafe { std::ptr::addr_of!((*vt.cast::<RawVTableConfig>()).on_config).read() };
        Table { on_config, ..table }
    } else {
        table
    };
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
        depends: Vec::new(),
        message_variants: None,
        reply_variants: None,
        config_schema: None,
        functions: Vec::new(),
    };
    // issue 15: dependencies
    let decl = if (header.decl_size as usize) >= size_of::<RawDeclDeps>() {
        // SAFETY: the module reports `decl_size` readable bytes, which cover
        // a `RawDeclDeps` (checked just now); the list is bounds-checked
        // before it is read, as the fingerprint lists are.
        let deps = unsafe { ptr.cast::<RawDeclDeps>().read() };
        // SAFETY: as for `items_at`: non-null and bounded before the read;
        // validity is the caller's contract.
        let items = unsafe { deps_at(deps.depends_ptr, deps.depends_len) }
            .ok_or_else(|| DeclError::Malformed("depends: bad pointer or length".into()))?;
        let mut depends = Vec::with_capacity(items.len());
        for d in items {
            depends.push(DeclaredDependency {
                name: string("depends.name", d.name)?,
                requirement: string("depends.requirement", d.requirement)?,
                message_schema: Fingerprint(d.message_schema),
                reply_schema: Fingerprint(d.reply_schema),
            });
        }
        Declaration { depends, ..decl }
    } else {
        decl
    };
    // issue 15: interfaces that grow
    let decl = if (header.decl_size as usize) >= size_of::<RawDeclGrow>() {
        // SAFETY: the module reports `decl_size` readable bytes, which cover
        // a `RawDeclGrow` (checked just above); its extra fields are raw
        // pointers and lengths, checked before use by `read_variants`.
        let grow = unsafe { ptr.cast::<RawDeclGrow>().read() };
        Declaration {
            // SAFETY: the caller's contract covers the tables a declaration
            // points to; lengths are bounded and null pointers refused.
            message_variants: unsafe {
                read_variants(
                    ("message_variants", "message_schema"),
                    grow.message_variants,
                    decl.message_schema,
                )
            }?,
            // SAFETY: as above.
            reply_variants: unsafe {
                read_variants(
                    ("reply_variants", "reply_schema"),
                    grow.reply_variants,
                    decl.reply_schema,
                )
            }?,
            ..decl
        }
    } else {
        decl
    };
    // issue 17: typed configuration, hot-reloaded
    let decl = if (header.decl_size as usize) >= size_of::<RawDeclConfig>()
        && decl.flags & relive_sdk::abi::flags::HAS_CONFIG != 0
    {
        // SAFETY: the module reports `decl_size` readable bytes, which cover
        // a `RawDeclConfig` (checked just now); the field is plain bytes.
        let config = unsafe { ptr.cast::<RawDeclConfig>().read() };
        if table.on_config.is_none() {
            return Err(DeclError::Malformed(
                "flags say it receives a configuration section, but its table has no on_config"
                    .into(),
            ));
        }
        Declaration { config_schema: Some(Fingerprint(config.config_schema)), ..decl }
    } else {
        decl
    };
    // issue 17: functions
    let decl = if (header.decl_size as usize) >= size_of::<RawDeclFn>() {
        // SAFETY: the module reports `decl_size` readable bytes, which cover
        // a `RawDeclFn` (checked just above); the table is bounds-checked
        // before it is read.
        let f = unsafe { ptr.cast::<RawDeclFn>().read() };
        // SAFETY: non-null, aligned and bounded before the read; validity
        // is the caller's contract.
        let items = unsafe { functions_at(f.functions_ptr, f.functions_len) }
            .ok_or_else(|| DeclError::Malformed("functions: bad pointer or length".into()))?;
        let mut functions: Vec<DeclaredFunction> = Vec::with_capacity(items.len());
        for e in items {
            let name = string("functions.name", e.name)?;
            let call = e.call.ok_or_else(|| {
                DeclError::Malformed(format!("functions: {name} has no entry point"))
            })?;
            if functions.iter().any(|g| g.name == name) {
                return Err(DeclError::Malformed(format!("functions: {name} exported twice")));
            }
            functions.push(DeclaredFunction {
                name,
                arg_schema: Fingerprint(e.arg_schema),
                result_schema: Fingerprint(e.result_schema),
                call: FunctionPtr(call),
                plain: None,
            });
        }
        // issue 17: the plain form (decision 0025)
        if (header.decl_size as usize) >= size_of::<RawDeclPlain>() {
            // SAFETY: the module reports `decl_size` readable bytes, which
            // cover a `RawDeclPlain` (checked just above); the table is
            // bounds-checked before it is read.
            let p = unsafe { ptr.cast::<RawDeclPlain>().read() };
            // SAFETY: non-null, aligned and bounded before the read;
            // validity is the caller's contract.
            let plain = unsafe { functions_at(p.plain_ptr, p.plain_len) }.ok_or_else(|| {
                DeclError::Malformed("plain_functions: bad pointer or length".into())
            })?;
            if !plain.is_empty() && plain.len() != functions.len() {
                return Err(DeclError::Malformed(format!(
                    "plain_functions: {} entries for {} functions",
                    plain.len(),
                    functions.len()
                )));
            }
            for (f, e) in functions.iter_mut().zip(plain) {
                f.plain = plain_form(&f.name, e)?;
            }
        }
        Declaration { functions, ..decl }
    } else {
        decl
    };
    Ok((decl, table))
}

// issue 17: the plain form (decision 0025)
/// The plain form entry `e` of function `name` describes: none when it has
/// no entry point or was built for another image format (every call then
/// goes through postcard).
///
/// # Errors
/// [`DeclError::Malformed`] for an image larger than the plain form carries.
fn plain_form(name: &str, e: &RawPlainEntry) -> Result<Option<PlainForm>, DeclError> {
    let Some(call) = e.call else { return Ok(None) };
    if e.format != relive_codec::plain::FORMAT {
        return Ok(None);
    }
    let (arg_size, result_size) = (e.arg_size as usize, e.result_size as usize);
    if arg_size > relive_codec::plain::MAX || result_size > relive_codec::plain::MAX {
        return Err(DeclError::Malformed(format!(
            "plain_functions: {name} declares images of {arg_size} and {result_size} bytes, \
             past the {} the plain form carries",
            relive_codec::plain::MAX
        )));
    }
    Ok(Some(PlainForm { arg_size, result_size, call }))
}

// issue 17: functions
/// `len` function entries (or plain entries) at `ptr`, or `None` when the
/// pair is not plausible.
///
/// # Safety
/// When `ptr` is non-null, aligned and `len` bounded, it is valid for reads
/// of `len` entries for `'a`.
unsafe fn functions_at<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() || len > MAX_FUNCTIONS || !(ptr as usize).is_multiple_of(align_of::<T>()) {
        return None;
    }
    // SAFETY: non-null, aligned, bounded; validity is the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

// issue 15: interfaces that grow
/// A variant table copied into host memory; `None` when it is empty (a
/// declaration built without one). Checked as strictly as the rest of the
/// declaration: its last prefix must be the type's declared fingerprint
/// `whole` (the field named `fields.1`: a table of another type would make
/// every growth check answer for the wrong type), and its names UTF-8.
///
/// # Safety
/// When `v.len` is at most [`MAX_LIST`] and its pointers are non-null, they
/// are valid for reads of `v.len` entries, and each name for its length.
unsafe fn read_variants(
    (field, schema_field): (&str, &str),
    v: RawVariants,
    whole: Fingerprint,
) -> Result<Option<VariantList>, DeclError> {
    if v.len == 0 {
        return Ok(None);
    }
    let bad = || DeclError::Malformed(format!("{field}: bad pointer or length"));
    // SAFETY: bounded, null refused; validity is the caller's contract.
    let prefixes = unsafe { items_at(v.prefixes, v.len, MAX_LIST) }.ok_or_else(bad)?;
    if prefixes.last().map(|b| Fingerprint(*b)) != Some(whole) {
        return Err(DeclError::Malformed(format!(
            "{field}: the last prefix is not the declared {schema_field} {whole}"
        )));
    }
    if v.names.is_null() || !(v.names as usize).is_multiple_of(align_of::<RawBytes>()) {
        return Err(bad());
    }
    // SAFETY: non-null, aligned, `len` bounded above; the caller's contract.
    let names = unsafe { std::slice::from_raw_parts(v.names, v.len) };
    let mut owned = Vec::with_capacity(v.len);
    for (i, n) in names.iter().enumerate() {
        // SAFETY: as for the declaration's strings.
        let bytes = unsafe { bytes_at(n.ptr, n.len, MAX_STR) }.ok_or_else(bad)?;
        let name = String::from_utf8(bytes.to_vec())
            .map_err(|_| DeclError::Malformed(format!("{field}: name {i} is not UTF-8")))?;
        owned.push(name);
    }
    Ok(VariantList::new(prefixes.iter().map(|b| Fingerprint(*b)).collect(), owned))
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

// issue 15: lifecycle
/// `table` with the lifecycle entries of [`RawVTableLife`] the module's
/// table (of `size` bytes) covers.
///
/// # Safety
/// `vt` is aligned and valid for reads of `size` bytes.
unsafe fn read_life(vt: *const RawVTableLife, size: usize, mut table: Table) -> Table {
    use std::mem::offset_of;
    macro_rules! entry {
        ($field:ident) => {
            if size >= offset_of!(RawVTableLife, $field) + size_of::<Option<fn()>>() {
                // SAFETY: covered by `size` (checked just now), aligned as
                // the table is; null is `None`.
                table.$field = unsafe { std::ptr::addr_of!((*vt).$field).read() };
            }
        };
    }
    entry!(on_load);
    entry!(on_free);
    table
}

// issue 15: dependencies
/// `len` dependencies at `ptr`, or `None` when the pair is not plausible.
///
/// # Safety
/// As [`bytes_at`], for `len` items of [`RawDependency`].
unsafe fn deps_at<'a>(ptr: *const RawDependency, len: usize) -> Option<&'a [RawDependency]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null()
        || len > MAX_DEPENDS
        || !(ptr as usize).is_multiple_of(align_of::<RawDependency>())
    {
        return None;
    }
    // SAFETY: non-null, aligned, bounded; validity is the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
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
        // issue 15: lifecycle
        assert_eq!(offset_of!(Sdk, on_load), offset_of!(super::RawVTableLife, on_load));
        assert_eq!(offset_of!(Sdk, on_free), offset_of!(super::RawVTableLife, on_free));
        // issue 17: typed configuration, hot-reloaded
        assert_eq!(offset_of!(Sdk, on_config), offset_of!(super::RawVTableConfig, on_config));
        assert_eq!(size_of::<Sdk>(), size_of::<super::RawVTableConfig>());
    }

    // issue 15: dependencies
    #[test]
    fn the_declaration_mirror_has_the_sdks_layout_with_dependencies() {
        use relive_sdk::abi::{Dependency, ModuleDecl};
        assert_eq!(offset_of!(ModuleDecl, vtable), offset_of!(super::RawDeclV1, vtable));
        assert_eq!(offset_of!(ModuleDecl, depends), offset_of!(super::RawDeclDeps, depends_ptr));
        // issue 17: functions
        assert_eq!(offset_of!(ModuleDecl, functions), offset_of!(super::RawDeclFn, functions_ptr));
        // issue 17: the plain form
        assert_eq!(
            offset_of!(ModuleDecl, plain_functions),
            offset_of!(super::RawDeclPlain, plain_ptr)
        );
        assert_eq!(size_of::<ModuleDecl>(), size_of::<super::RawDeclPlain>());
        {
            use super::RawPlainEntry as R;
            use relive_sdk::abi::PlainEntry as E;
            assert_eq!(size_of::<E>(), size_of::<R>());
            assert_eq!(align_of::<E>(), align_of::<R>());
            assert_eq!(offset_of!(R, call), size_of::<E>() - size_of::<usize>());
        }
        {
            use super::RawFunctionEntry as R;
            use relive_sdk::abi::FunctionEntry as E;
            assert_eq!(size_of::<E>(), size_of::<R>());
            assert_eq!(offset_of!(R, call), size_of::<E>() - size_of::<usize>());
        }
        assert_eq!(size_of::<Dependency>(), size_of::<super::RawDependency>());
        assert_eq!(align_of::<Dependency>(), align_of::<super::RawDependency>());
    }

    // issue 15: dependencies
    #[test]
    fn dependencies_are_read_and_a_declaration_built_before_them_has_none() {
        use relive_sdk::abi::ModuleDecl;
        use relive_sdk::{Dependency, dep};
        #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
        struct Caller;
        impl relive_sdk::Module for Caller {
            const NAME: &'static str = "caller";
            type Args = ();
            type Msg = ();
            type Reply = ();
            const DEPENDS: &'static [Dependency] = &[dep!("callee", "^2", u32, bool)];
            fn init(
                (): (),
                _: &mut relive_sdk::Context<'_>,
            ) -> Result<Self, relive_sdk::ModuleError> {
                Ok(Caller)
            }
            fn handle(&mut self, (): (), _: &mut relive_sdk::Context<'_>) {}
        }
        let decl = relive_sdk::declaration!(Caller);
        let (d, _) = read_static(decl).unwrap();
        assert_eq!(d.depends.len(), 1);
        assert_eq!(
            (d.depends[0].name.as_str(), d.depends[0].requirement.as_str()),
            ("callee", "^2")
        );
        assert_eq!(d.depends[0].message_schema, relive_codec::Fingerprint::of::<u32>());
        assert_eq!(d.depends[0].reply_schema, relive_codec::Fingerprint::of::<bool>());
        // What a module built before issue 15 reports: a declaration that
        // ends at `vtable`, whatever lies after it.
        let older = ModuleDecl { decl_size: size_of::<super::RawDeclV1>() as u32, ..*decl };
        // SAFETY: `older` lives for the call and holds at least the
        // `decl_size` bytes it reports; its pointers are the static ones.
        let (d, _) = unsafe { super::read((&older as *const ModuleDecl).cast()) }.unwrap();
        assert!(d.depends.is_empty());
    }

    // issue 15: lifecycle
    #[test]
    fn a_table_built_before_the_lifecycle_entries_has_no_hooks() {
        let decl = relive_sdk::declaration!(Plain);
        let (d, full) = read_static(decl).unwrap();
        assert!(full.on_load.is_some() && full.on_free.is_some());
        assert!(d.depends.is_empty());
        let mut bare = full;
        (bare.on_load, bare.on_free) = (None, None);
        let vt = decl.vtable.cast::<super::RawVTableLife>();
        // What a module built before issue 15 reports: up to `on_timeout`.
        let old_size = size_of::<RawVTableGen>();
        // SAFETY: the table is this static declaration's, longer than asked.
        let old = unsafe { super::read_life(vt, old_size, bare) };
        assert!(old.on_load.is_none() && old.on_free.is_none());
    }

    // issue 15: interfaces that grow
    #[test]
    fn the_declaration_mirror_has_the_sdks_layout_field_by_field() {
        use super::RawDeclGrow;
        use relive_sdk::abi::ModuleDecl as Sdk;
        macro_rules! same {
            ($($sdk:ident => $($raw:ident).+),+ $(,)?) => {$(
                assert_eq!(
                    offset_of!(Sdk, $sdk),
                    offset_of!(RawDeclGrow, $($raw).+),
                    stringify!($sdk)
                );
            )+};
        }
        same!(
            magic => deps.v1.header.magic,
            abi_version => deps.v1.header.abi_version,
            decl_size => deps.v1.header.decl_size,
            name => deps.v1.name,
            target => deps.v1.target,
            flags => deps.v1.flags,
            args_schema => deps.v1.args_schema,
            message_schema => deps.v1.message_schema,
            reply_schema => deps.v1.reply_schema,
            state_schema => deps.v1.state_schema,
            reads_states => deps.v1.reads_states,
            downgrades_to => deps.v1.downgrades_to,
            vtable => deps.v1.vtable,
            depends => deps.depends_ptr,
            message_variants => message_variants,
            reply_variants => reply_variants,
        );
        // issue 17: typed configuration, hot-reloaded
        assert_eq!(offset_of!(Sdk, config_schema), offset_of!(super::RawDeclConfig, config_schema));
        // issue 17: functions — appended after the section's schema.
        assert_eq!(offset_of!(Sdk, functions), size_of::<super::RawDeclConfig>());
        // issue 17: the plain form — appended after the functions.
        assert_eq!(offset_of!(Sdk, plain_functions), size_of::<super::RawDeclFn>());
        assert_eq!(size_of::<Sdk>(), size_of::<super::RawDeclPlain>());
    }

    // issue 17: functions
    #[test]
    fn a_declaration_carries_its_functions_and_an_older_one_has_none() {
        use super::{RawDeclGrow, read};
        #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
        struct Req(u32);
        struct Double;
        impl relive_sdk::Function for Double {
            const NAME: &'static str = "double";
            type Arg = Req;
            type Output = u64;
            fn call(arg: Req) -> u64 {
                u64::from(arg.0) * 2
            }
        }
        static FUNCTIONS: [relive_sdk::abi::FunctionEntry; 1] =
            [relive_sdk::abi::FunctionEntry::of::<Double>()];
        static VT: relive_sdk::abi::VTable = relive_sdk::abi::VTable::new::<Plain>();
        static DECL: relive_sdk::abi::ModuleDecl = relive_sdk::abi::ModuleDecl::new::<Plain>(
            &VT,
            relive_sdk::BuildInfo { version: "1.0.0", build_id: "", panic_unwind: true },
        )
        .with_functions(relive_sdk::abi::RFunctions::new(&FUNCTIONS));
        let (d, _) = read_static(&DECL).unwrap();
        assert_eq!(d.functions.len(), 1);
        let f = &d.functions[0];
        assert_eq!(f.name, "double");
        assert_eq!(f.arg_schema, relive_codec::Fingerprint::of::<Req>());
        assert_eq!(f.result_schema, relive_codec::Fingerprint::of::<u64>());
        // The entry point runs the function, result in the caller's buffer.
        let (mut out, mut spill) = ([0u8; 16], Vec::new());
        let mut arg = Vec::new();
        relive_codec::encode_into(&Req(21), &mut arg).unwrap();
        let outcome = crate::ffi::calls::call_function(f.call, &arg, &mut out, &mut spill);
        let crate::ffi::calls::FunctionOutcome::InBuffer(n) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(relive_codec::decode::<u64>(&out[..n]).unwrap(), 42);
        // Too small a buffer: the result comes through the sink.
        let outcome = crate::ffi::calls::call_function(f.call, &arg, &mut [], &mut spill);
        assert_eq!(outcome, crate::ffi::calls::FunctionOutcome::Spilled);
        assert_eq!(relive_codec::decode::<u64>(&spill).unwrap(), 42);
        // Bytes that are not a `Req`: BAD_INPUT, with the reason.
        let outcome = crate::ffi::calls::call_function(f.call, &[], &mut out, &mut spill);
        assert_eq!(
            outcome,
            crate::ffi::calls::FunctionOutcome::Status(relive_sdk::abi::status::BAD_INPUT)
        );
        assert!(String::from_utf8_lossy(&spill).contains("argument of double"));

        // A module built before issue 17 reports a declaration that ends
        // before the table: it exports none.
        let older = relive_sdk::abi::ModuleDecl {
            decl_size: size_of::<RawDeclGrow>() as u32,
            ..relive_sdk::abi::ModuleDecl::new::<Plain>(
                &VT,
                relive_sdk::BuildInfo { version: "1.0.0", build_id: "", panic_unwind: true },
            )
            .with_functions(relive_sdk::abi::RFunctions::new(&FUNCTIONS))
        };
        // SAFETY: a live declaration whose pointers are the statics above.
        let (d, _) =
            unsafe { read((&older as *const relive_sdk::abi::ModuleDecl).cast()) }.unwrap();
        assert!(d.functions.is_empty());
    }

    // issue 17: the plain form (decision 0025)
    #[test]
    fn the_plain_table_is_read_checked_and_absent_from_an_older_declaration() {
        use super::{DeclError, RawDeclFn, read};
        use relive_sdk::abi::{FunctionEntry, ModuleDecl, PlainEntry, RFunctions, RPlainFunctions};
        #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
        struct Req(u32, bool);
        struct Halve;
        impl relive_sdk::Function for Halve {
            const NAME: &'static str = "halve";
            type Arg = Req;
            type Output = u64;
            fn call(arg: Req) -> u64 {
                assert!(arg.1, "halve: not asked");
                u64::from(arg.0) / 2
            }
        }
        struct Names;
        impl relive_sdk::Function for Names {
            const NAME: &'static str = "names";
            type Arg = u8;
            type Output = Vec<String>;
            fn call(n: u8) -> Vec<String> {
                (0..n).map(|i| i.to_string()).collect()
            }
        }
        static FUNCTIONS: [FunctionEntry; 2] =
            [FunctionEntry::of::<Halve>(), FunctionEntry::of::<Names>()];
        static PLAIN: [PlainEntry; 2] = [PlainEntry::of::<Halve>(), PlainEntry::of::<Names>()];
        static VT: relive_sdk::abi::VTable = relive_sdk::abi::VTable::new::<Plain>();
        let build = relive_sdk::BuildInfo { version: "1.0.0", build_id: "", panic_unwind: true };
        let decl = |plain: &'static [PlainEntry]| {
            ModuleDecl::new::<Plain>(&VT, build)
                .with_functions(RFunctions::new(&FUNCTIONS))
                .with_plain_functions(RPlainFunctions::new(plain))
        };
        let read_decl = |d: &ModuleDecl| {
            // SAFETY: a live declaration whose pointers are the statics above.
            unsafe { read((d as *const ModuleDecl).cast()) }.map(|(d, _)| d)
        };
        let d = read_decl(&decl(&PLAIN)).unwrap();
        let form = d.functions[0].plain.expect("(u32, bool) -> u64 is plain");
        assert_eq!((form.arg_size, form.result_size), (5, 8));
        assert!(d.functions[1].plain.is_none(), "a Vec<String> is not plain");
        // The plain entry runs the function on the image; a panic in it is
        // PANICKED with the message, as in the postcard entry.
        let (mut out, mut spill) = ([0u8; 8], Vec::new());
        let mut image = [0u8; relive_codec::plain::MAX];
        let n = relive_codec::plain::encode(&Req(84, true), &mut image).unwrap();
        let code = crate::ffi::calls::call_plain(&form, &image[..n], &mut out, &mut spill);
        assert_eq!(code, relive_sdk::abi::status::OK);
        assert_eq!(relive_codec::plain::decode::<u64>(&out).unwrap(), 42);
        let n = relive_codec::plain::encode(&Req(84, false), &mut image).unwrap();
        let code = crate::ffi::calls::call_plain(&form, &image[..n], &mut out, &mut spill);
        assert_eq!(code, relive_sdk::abi::status::PANICKED);
        assert!(String::from_utf8_lossy(&spill).contains("halve: not asked"));
        // Images of other sizes than declared never reach the module.
        let code = crate::ffi::calls::call_plain(&form, &image[..4], &mut out, &mut spill);
        assert_eq!(code, relive_sdk::abi::status::FAILED);

        // A table as long as neither 0 nor the functions: refused at load.
        static SHORT: [PlainEntry; 1] = [PlainEntry::of::<Halve>()];
        match read_decl(&decl(&SHORT)) {
            Err(DeclError::Malformed(why)) => assert!(why.contains("1 entries for 2"), "{why}"),
            other => panic!("expected a malformed declaration, got {:?}", other.map(|_| ())),
        }
        // A declaration that ends before the table: postcard only.
        let older = ModuleDecl { decl_size: size_of::<RawDeclFn>() as u32, ..decl(&PLAIN) };
        let d = read_decl(&older).unwrap();
        assert_eq!(d.functions.len(), 2);
        assert!(d.functions.iter().all(|f| f.plain.is_none()));
    }

    #[test]
    fn a_declaration_carries_its_variants_and_an_older_one_has_none() {
        use super::{RawDeclV1, read};
        #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
        enum Msg {
            Add(u64),
            Reset,
        }
        #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
        struct Grows;
        impl relive_sdk::Module for Grows {
            const NAME: &'static str = "grows";
            type Args = ();
            type Msg = Msg;
            type Reply = u64;
            fn init(
                (): (),
                _: &mut relive_sdk::Context<'_>,
            ) -> Result<Self, relive_sdk::ModuleError> {
                Ok(Grows)
            }
            fn handle(&mut self, _: Msg, _: &mut relive_sdk::Context<'_>) -> u64 {
                0
            }
        }
        let decl = relive_sdk::declaration!(Grows);
        let (full, _) = read_static(decl).unwrap();
        let msg = full.message_variants.unwrap();
        assert_eq!(msg, relive_codec::variants::VariantList::of::<Msg>());
        assert_eq!((msg.len(), msg.name(1)), (2, Some("Reset")));
        assert_eq!(full.reply_variants.unwrap().name(0), Some("u64"));
        // What an older module reports: a version-1 declaration only.
        let mut older = std::mem::ManuallyDrop::new(
            // SAFETY: a bitwise copy of a `'static` declaration of plain data.
            unsafe { std::ptr::read(decl) },
        );
        older.decl_size = size_of::<RawDeclV1>() as u32;
        // SAFETY: the copy lives on this stack frame for the call, and
        // everything it points to is `'static`.
        let (old, _) =
            unsafe { read((&*older as *const relive_sdk::abi::ModuleDecl).cast()) }.unwrap();
        assert!(old.message_variants.is_none() && old.reply_variants.is_none());
    }

    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    enum GrowMsg {
        Add(u64),
        Reset,
    }
    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    enum OtherMsg {
        Add(u64),
        Clear,
    }
    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    struct Grower;
    impl relive_sdk::Module for Grower {
        const NAME: &'static str = "grower";
        type Args = ();
        type Msg = GrowMsg;
        type Reply = u64;
        fn init((): (), _: &mut relive_sdk::Context<'_>) -> Result<Self, relive_sdk::ModuleError> {
            Ok(Grower)
        }
        fn handle(&mut self, _: GrowMsg, _: &mut relive_sdk::Context<'_>) -> u64 {
            0
        }
    }

    /// Read `Grower`'s declaration with its variant tables replaced.
    fn read_with(
        message: relive_sdk::abi::RVariants,
        reply: relive_sdk::abi::RVariants,
    ) -> Result<super::Declaration, super::DeclError> {
        let decl = relive_sdk::declaration!(Grower);
        let mut bad = std::mem::ManuallyDrop::new(
            // SAFETY: a bitwise copy of a `'static` declaration of plain data.
            unsafe { std::ptr::read(decl) },
        );
        (bad.message_variants, bad.reply_variants) = (message, reply);
        // SAFETY: the copy lives on this stack frame for the call; the
        // tables it points to outlive it (the callers' locals or statics).
        unsafe { super::read((&*bad as *const relive_sdk::abi::ModuleDecl).cast()) }.map(|(d, _)| d)
    }

    #[test]
    fn a_variant_table_of_another_type_than_the_declared_one_is_malformed() {
        use relive_sdk::abi::{RVariants, VariantTable};
        static GROW: VariantTable<2> = VariantTable::of::<GrowMsg>();
        static OTHER: VariantTable<2> = VariantTable::of::<OtherMsg>();
        static REPLY: VariantTable<1> = VariantTable::of::<u64>();
        // The tables the SDK builds pass.
        let good = read_with(GROW.as_variants(), REPLY.as_variants()).unwrap();
        assert_eq!(good.message_variants.unwrap().name(1), Some("Reset"));
        // A message table whose last prefix is not `message_schema`.
        let Err(super::DeclError::Malformed(why)) =
            read_with(OTHER.as_variants(), REPLY.as_variants())
        else {
            panic!("a table of another type was accepted")
        };
        assert!(why.contains("message_variants") && why.contains("message_schema"), "{why}");
        // Likewise the reply table (here: the message type's, for `u64`).
        let Err(super::DeclError::Malformed(why)) =
            read_with(GROW.as_variants(), GROW.as_variants())
        else {
            panic!("a reply table of another type was accepted")
        };
        assert!(why.contains("reply_variants") && why.contains("reply_schema"), "{why}");
        // A table cut short (its last entry is only a prefix) is refused too.
        let cut = RVariants { len: 1, ..GROW.as_variants() };
        assert!(matches!(
            read_with(cut, REPLY.as_variants()),
            Err(super::DeclError::Malformed(why)) if why.contains("message_variants")
        ));
    }

    #[test]
    fn a_variant_name_that_is_not_utf8_is_malformed() {
        use relive_sdk::abi::{RBytes, RVariants, VariantTable};
        static REPLY: VariantTable<1> = VariantTable::of::<u64>();
        let prefixes: Vec<[u8; 8]> = relive_codec::variants::VariantList::of::<GrowMsg>()
            .prefixes()
            .iter()
            .map(|f| f.0)
            .collect();
        let (add, reset) = (b"Add", b"Res\xffet");
        let names = [
            RBytes { ptr: add.as_ptr(), len: add.len() },
            RBytes { ptr: reset.as_ptr(), len: reset.len() },
        ];
        let table = RVariants { prefixes: prefixes.as_ptr(), names: names.as_ptr(), len: 2 };
        let Err(super::DeclError::Malformed(why)) = read_with(table, REPLY.as_variants()) else {
            panic!("a name that is not UTF-8 was accepted")
        };
        assert!(why.contains("message_variants") && why.contains("name 1"), "{why}");
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

    // issue 17: typed configuration, hot-reloaded
    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    struct Tuned;

    #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    struct TunedSection {
        limit: u32,
    }

    impl relive_sdk::Module for Tuned {
        const NAME: &'static str = "tuned";
        type Args = ();
        type Msg = ();
        type Reply = ();
        fn init((): (), _: &mut relive_sdk::Context<'_>) -> Result<Self, relive_sdk::ModuleError> {
            Ok(Tuned)
        }
        fn handle(&mut self, (): (), _: &mut relive_sdk::Context<'_>) {}
    }

    impl relive_sdk::Configured for Tuned {
        type Section = TunedSection;
    }

    #[test]
    fn a_configured_declaration_carries_its_section_schema_and_an_older_one_none() {
        use relive_sdk::abi::ModuleDecl;
        let decl = relive_sdk::declaration!(Tuned, configured);
        let (d, table) = read_static(decl).unwrap();
        assert_eq!(d.config_schema, Some(relive_codec::Fingerprint::of::<TunedSection>()));
        assert!(table.on_config.is_some());
        // A module that receives no section declares none.
        let (d, table) = read_static(relive_sdk::declaration!(Plain)).unwrap();
        assert!(d.config_schema.is_none() && table.on_config.is_none());
        // A declaration built before issue 17 ends at the variant tables:
        // whatever its flags say, it receives no section.
        let older = ModuleDecl { decl_size: size_of::<super::RawDeclGrow>() as u32, ..*decl };
        // SAFETY: `older` lives for the call and holds at least the
        // `decl_size` bytes it reports; its pointers are the static ones.
        let (d, _) = unsafe { super::read((&older as *const ModuleDecl).cast()) }.unwrap();
        assert!(d.config_schema.is_none());
    }

    #[test]
    fn a_table_built_before_on_config_has_none_and_a_flag_without_it_is_malformed() {
        use relive_sdk::abi::{ModuleDecl, VTable};
        let decl = relive_sdk::declaration!(Tuned, configured);
        // SAFETY: `decl.vtable` is the static table `declaration!` built.
        let full = unsafe { &*decl.vtable };
        static OLD: std::sync::OnceLock<VTable> = std::sync::OnceLock::new();
        let old = OLD.get_or_init(|| VTable {
            size: size_of::<super::RawVTableLife>() as u32,
            on_config: full.on_config,
            ..VTable::new::<Tuned>()
        });
        let with_old = ModuleDecl { vtable: old, ..*decl };
        // SAFETY: `with_old` lives for the call; its table is a static.
        let e = unsafe { super::read((&with_old as *const ModuleDecl).cast()) }.unwrap_err();
        assert!(
            matches!(&e, super::DeclError::Malformed(m) if m.contains("no on_config")),
            "a HAS_CONFIG flag with a table too short for on_config: {e:?}"
        );
        let plain = ModuleDecl {
            flags: decl.flags & !relive_sdk::abi::flags::HAS_CONFIG,
            vtable: old,
            ..*decl
        };
        // SAFETY: as above.
        let (d, table) = unsafe { super::read((&plain as *const ModuleDecl).cast()) }.unwrap();
        assert!(d.config_schema.is_none() && table.on_config.is_none(), "the entry was not read");
    }
}
