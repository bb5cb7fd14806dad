//! A module declaration built from arbitrary field values, read by the
//! loader through the static path (`ModuleTable::inspect`): steps 3 to 5a —
//! magic, ABI version, sizes, the function table, every string and list,
//! the semver version, the flags, the dependencies, the configuration
//! schema, the functions and their plain table. The declaration keeps its side of the
//! ABI contract (every pointer it hands over is null or valid for the
//! length it states, and no size exceeds what is really there); within that
//! contract every value must end in `Ok` or a typed `LoadError`.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use relive_runtime::ModuleTable;
use relive_sdk::abi::{
    ModuleDecl, RBytes, RDependencies, RFingerprint, RFingerprints, RFunctions, RPlainFunctions,
    VTable,
};
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
enum Str {
    Real,
    Null { len: u8 },
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    magic: Option<u64>,
    abi_version: Option<u32>,
    decl_size: Option<u32>,
    strings: [Str; 6],
    flags: Option<u64>,
    schemas: [Option<RFingerprint>; 4],
    reads_states: Option<Vec<RFingerprint>>,
    downgrades_to: Option<Vec<RFingerprint>>,
    /// `None`: a null table pointer.
    table_size: Option<Option<u32>>,
    config_schema: Option<RFingerprint>,
    /// Lengths of the real lists, cut short (never longer: the contract):
    /// dependencies, functions, the plain table (whose length must be the
    /// functions table's, or the declaration is refused).
    depends_len: Option<u8>,
    functions_len: Option<u8>,
    plain_len: Option<u8>,
}

/// `real`'s length, or `cut` if shorter.
fn shorter(cut: Option<u8>, real: usize) -> usize {
    cut.map_or(real, |n| usize::from(n).min(real))
}

fn real() -> &'static ModuleDecl {
    relive_sdk::declaration!(counter_v1::Counter)
}

fn code() -> &'static ModuleTable {
    static CODE: OnceLock<ModuleTable> = OnceLock::new();
    CODE.get_or_init(|| ModuleTable::new().expect("module table"))
}

fn bytes(choice: &Str, real: RBytes) -> RBytes {
    match choice {
        Str::Real => real,
        Str::Null { len } => RBytes { ptr: std::ptr::null(), len: usize::from(*len) },
        Str::Bytes(b) => RBytes::new(b),
    }
}

fn list(choice: &Option<Vec<RFingerprint>>, real: RFingerprints) -> RFingerprints {
    match choice {
        None => real,
        Some(v) => RFingerprints { ptr: v.as_ptr(), len: v.len() },
    }
}

fuzz_target!(|input: Input| {
    let r = real();
    // SAFETY: `r.vtable` points to the `static` table `declaration!` made.
    let real_table = unsafe { &*r.vtable };
    let real_size = real_table.size;
    let table = VTable {
        // Never more than the table really holds (the contract).
        size: input.table_size.flatten().map_or(real_size, |s| s.min(real_size)),
        ..*real_table
    };
    let [name, version, build_id, sdk_version, rustc_version, target] = &input.strings;
    let decl = ModuleDecl {
        magic: input.magic.unwrap_or(r.magic),
        abi_version: input.abi_version.unwrap_or(r.abi_version),
        decl_size: input.decl_size.map_or(r.decl_size, |s| s.min(r.decl_size)),
        name: bytes(name, r.name),
        version: bytes(version, r.version),
        build_id: bytes(build_id, r.build_id),
        sdk_version: bytes(sdk_version, r.sdk_version),
        rustc_version: bytes(rustc_version, r.rustc_version),
        target: bytes(target, r.target),
        flags: input.flags.unwrap_or(r.flags),
        args_schema: input.schemas[0].unwrap_or(r.args_schema),
        message_schema: input.schemas[1].unwrap_or(r.message_schema),
        reply_schema: input.schemas[2].unwrap_or(r.reply_schema),
        state_schema: input.schemas[3].unwrap_or(r.state_schema),
        reads_states: list(&input.reads_states, r.reads_states),
        downgrades_to: list(&input.downgrades_to, r.downgrades_to),
        vtable: if input.table_size.is_some() { &table } else { std::ptr::null() },
        // issue 15: interfaces that grow (the real tables; `decl_size`
        // above decides whether the host reads them)
        message_variants: r.message_variants,
        reply_variants: r.reply_variants,
        // issue 15: dependencies (the real list, perhaps cut short)
        depends: RDependencies { len: shorter(input.depends_len, r.depends.len), ..r.depends },
        // issue 17: configuration, functions and their plain table (the
        // real tables, perhaps cut short; `decl_size` decides)
        config_schema: input.config_schema.unwrap_or(r.config_schema),
        functions: RFunctions { len: shorter(input.functions_len, r.functions.len), ..r.functions },
        plain_functions: RPlainFunctions {
            len: shorter(input.plain_len, r.plain_functions.len),
            ..r.plain_functions
        },
    };
    // SAFETY: `inspect` reads the declaration (and copies what it keeps)
    // before it returns and keeps no reference to it, so `decl`, `table` and
    // the input's buffers, which outlive the call, are as good as 'static
    // for it. Loading a static source runs no module code.
    let decl: &'static ModuleDecl = unsafe { &*(&raw const decl) };
    let _ = code().inspect(decl);
});
