//! The module declaration: the `&'static` struct the exported symbol returns.

use super::{ABI_VERSION, MAGIC, RBytes, RDependencies, RFingerprint, RFingerprints, VTable};
use crate::Module;
use relive_codec::Fingerprint;

/// Bits of [`ModuleDecl::flags`].
pub mod flags {
    /// The module was built with `panic = "unwind"`, so its exports can catch
    /// panics. A module without this bit is refused by the host.
    pub const PANIC_UNWIND: u64 = 1 << 0;
    /// The module provides `downgrade` (its table's `downgrade` is non-null).
    pub const HAS_DOWNGRADE: u64 = 1 << 1;
}

/// Everything a host needs to know about a module version before running any
/// of its code. Field order is part of the ABI and only ever appended to.
///
/// Built at compile time by [`declaration!`](crate::declaration); a module
/// author never writes one by hand.
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDecl {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// Always [`ABI_VERSION`] for this SDK.
    pub abi_version: u32,
    /// `size_of::<ModuleDecl>()` as the module was built.
    pub decl_size: u32,
    /// The module name (`Module::NAME`).
    pub name: RBytes,
    /// The semver version (the module crate's `CARGO_PKG_VERSION` by default).
    pub version: RBytes,
    /// A free-form build id (`RELIVE_BUILD_ID` at build time, or empty).
    pub build_id: RBytes,
    /// The relive-sdk version the module was built with.
    pub sdk_version: RBytes,
    /// `rustc --version` of the compiler that built the module.
    pub rustc_version: RBytes,
    /// The target triple the module was built for.
    pub target: RBytes,
    /// [`flags`] bits.
    pub flags: u64,
    /// Fingerprint of `Module::Args`.
    pub args_schema: RFingerprint,
    /// Fingerprint of `Module::Msg`.
    pub message_schema: RFingerprint,
    /// Fingerprint of `Module::Reply`.
    pub reply_schema: RFingerprint,
    /// Fingerprint of the state (the module type itself).
    pub state_schema: RFingerprint,
    /// Old state schemas `code_change` can read (`Module::READS`).
    pub reads_states: RFingerprints,
    /// Old state schemas `downgrade` can write (`Module::DOWNGRADES_TO`).
    pub downgrades_to: RFingerprints,
    /// The function table.
    pub vtable: *const VTable,
    // issue 15: dependencies
    /// The modules this one calls (`Module::DEPENDS`). Read by the host only
    /// when `decl_size` covers it: an older module declares none.
    pub depends: RDependencies,
    // end issue 15: dependencies
}

// SAFETY: every pointer in a declaration points to immutable `'static` data
// (string literals, constant slices, a `static VTable`), so sharing a
// `&ModuleDecl` between threads cannot race.
unsafe impl Sync for ModuleDecl {}

/// What the invoking crate knows about its own build; filled in by
/// [`declaration!`](crate::declaration) from the module crate's environment.
#[derive(Debug, Clone, Copy)]
pub struct BuildInfo {
    /// Semver version string.
    pub version: &'static str,
    /// Free-form build id.
    pub build_id: &'static str,
    /// `cfg!(panic = "unwind")` in the module crate.
    pub panic_unwind: bool,
}

const fn fingerprints(list: &'static [Fingerprint]) -> RFingerprints {
    // `Fingerprint` is `#[repr(transparent)]` over `[u8; 8]`.
    RFingerprints { ptr: list.as_ptr().cast::<RFingerprint>(), len: list.len() }
}

impl ModuleDecl {
    /// The declaration of module `M` with function table `vtable`.
    pub const fn new<M: Module>(vtable: &'static VTable, build: BuildInfo) -> Self {
        let mut flags = 0;
        if build.panic_unwind {
            flags |= flags::PANIC_UNWIND;
        }
        if !M::DOWNGRADES_TO.is_empty() {
            flags |= flags::HAS_DOWNGRADE;
        }
        ModuleDecl {
            magic: MAGIC,
            abi_version: ABI_VERSION,
            decl_size: size_of::<ModuleDecl>() as u32,
            name: RBytes::from_str(M::NAME),
            version: RBytes::from_str(build.version),
            build_id: RBytes::from_str(build.build_id),
            sdk_version: RBytes::from_str(crate::SDK_VERSION),
            rustc_version: RBytes::from_str(crate::RUSTC_VERSION),
            target: RBytes::from_str(crate::TARGET),
            flags,
            args_schema: Fingerprint::of::<M::Args>().0,
            message_schema: Fingerprint::of::<M::Msg>().0,
            reply_schema: Fingerprint::of::<M::Reply>().0,
            state_schema: Fingerprint::of::<M>().0,
            reads_states: fingerprints(M::READS),
            downgrades_to: fingerprints(M::DOWNGRADES_TO),
            vtable,
            // issue 15: dependencies
            depends: RDependencies::new(M::DEPENDS),
        }
    }
}
