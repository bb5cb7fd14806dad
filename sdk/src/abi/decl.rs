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
    // issue 17: typed configuration, hot-reloaded
    /// The module receives a configuration section (`Configured`): its
    /// schema is `config_schema`, and its table's `on_config` is non-null.
    pub const HAS_CONFIG: u64 = 1 << 2;
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
    // issue 15: interfaces that grow
    /// The variants of `Module::Msg`, in order (see [`RVariants`]); empty in
    /// a declaration built without them: the host then checks the message
    /// type by equality only.
    pub message_variants: RVariants,
    /// The variants of `Module::Reply`, likewise.
    pub reply_variants: RVariants,
    // end issue 15: interfaces that grow
    // issue 17: typed configuration, hot-reloaded
    /// Fingerprint of `Configured::Section`; meaningful only with
    /// [`flags::HAS_CONFIG`] (zero otherwise). Read by the host only when
    /// `decl_size` covers it: an older module receives no section.
    pub config_schema: RFingerprint,
    // end issue 17
    // issue 17: functions
    /// The stateless functions the module exports (see
    /// [`FunctionEntry`](super::FunctionEntry)); empty in a declaration
    /// built without them, and read by the host only when `decl_size`
    /// covers it.
    pub functions: super::RFunctions,
    // end issue 17: functions
    // issue 17: the plain form (decision 0025)
    /// The plain form of each exported function (see
    /// [`PlainEntry`](super::PlainEntry)): as long as `functions`, in the
    /// same order, or empty (a declaration built without it: every call
    /// then goes through postcard). Read by the host only when `decl_size`
    /// covers it.
    pub plain_functions: super::RPlainFunctions,
    // end issue 17: the plain form
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
            // issue 15: interfaces that grow
            message_variants: RVariants::NONE,
            reply_variants: RVariants::NONE,
            // issue 17: typed configuration, hot-reloaded
            config_schema: [0; 8],
            // issue 17: functions
            functions: super::RFunctions::NONE,
            // issue 17: the plain form
            plain_functions: super::RPlainFunctions::NONE,
        }
    }

    // issue 17: typed configuration, hot-reloaded
    /// This declaration for a module that receives a configuration section
    /// ([`declaration!`](crate::declaration)`(M, configured)` builds it).
    pub const fn with_config<M: crate::Configured>(mut self) -> Self {
        self.flags |= flags::HAS_CONFIG;
        self.config_schema = Fingerprint::of::<M::Section>().0;
        self
    }

    // issue 17: functions
    /// This declaration with the table of its exported functions
    /// ([`declaration!`](crate::declaration) with `functions = [...]`).
    pub const fn with_functions(mut self, functions: super::RFunctions) -> Self {
        self.functions = functions;
        self
    }

    // issue 17: the plain form (decision 0025)
    /// This declaration with the plain entries of its functions, one per
    /// entry of [`with_functions`](Self::with_functions)' table, in the same
    /// order ([`declaration!`](crate::declaration) builds both).
    pub const fn with_plain_functions(mut self, plain: super::RPlainFunctions) -> Self {
        self.plain_functions = plain;
        self
    }

    // issue 15: interfaces that grow
    /// This declaration with the variant tables of its message and reply
    /// types ([`declaration!`](crate::declaration) builds both).
    pub const fn with_variants(mut self, message: RVariants, reply: RVariants) -> Self {
        self.message_variants = message;
        self.reply_variants = reply;
        self
    }
}

// issue 15: interfaces that grow
/// The variants of one of a module's types, as the declaration carries them:
/// `len` entries of `prefixes` and `names`. Entry `i` of `prefixes` is the
/// fingerprint of the type cut after variant `i` (postcard encodes a variant
/// by its index, so a newer type that only appends variants reads every
/// older value); the last one is the type's own fingerprint. A type that is
/// not an enum has one entry, its fingerprint and its name. `len == 0`: no
/// table (a declaration built without it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RVariants {
    /// `len` variant-prefix fingerprints (see `relive_codec::variants`).
    pub prefixes: *const RFingerprint,
    /// `len` variant names (UTF-8).
    pub names: *const RBytes,
    /// Number of variants; 0 when the declaration has no table.
    pub len: usize,
}

impl RVariants {
    /// No table.
    pub const NONE: RVariants =
        RVariants { prefixes: std::ptr::null(), names: std::ptr::null(), len: 0 };
}

/// The variant table of a type with `N` variants, built at compile time
/// into a `static` by [`declaration!`](crate::declaration).
///
/// ```
/// use relive_sdk::abi::VariantTable;
///
/// #[derive(postcard_schema::Schema)]
/// enum Msg { Add(u64), Get, Reset }
///
/// static MSG: VariantTable<3> = VariantTable::of::<Msg>();
/// let v = MSG.as_variants();
/// assert_eq!(v.len, 3);
/// // SAFETY: the table's arrays are `'static` and hold `len` entries.
/// let last = unsafe { *v.prefixes.add(2) };
/// assert_eq!(last, relive_sdk::Fingerprint::of::<Msg>().0);
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct VariantTable<const N: usize> {
    prefixes: [RFingerprint; N],
    names: [RBytes; N],
}

// SAFETY: the names point to `&'static str` variant names (immutable data
// compiled into the library), so sharing a table between threads cannot race.
unsafe impl<const N: usize> Sync for VariantTable<N> {}

impl<const N: usize> VariantTable<N> {
    /// The table of `T`; `N` must be `relive_codec::variants::count::<T>()`.
    ///
    /// # Panics
    /// At compile time when `N` is not `T`'s variant count.
    pub const fn of<T: postcard_schema::Schema + ?Sized>() -> Self {
        let fps = relive_codec::variants::prefixes::<T, N>();
        let mut prefixes = [[0u8; 8]; N];
        let mut names = [RBytes::from_str(""); N];
        let mut i = 0;
        while i < N {
            prefixes[i] = fps[i].0;
            names[i] = RBytes::from_str(relive_codec::variants::name(T::SCHEMA, i));
            i += 1;
        }
        VariantTable { prefixes, names }
    }

    /// The table as the declaration points to it.
    pub const fn as_variants(&'static self) -> RVariants {
        RVariants { prefixes: self.prefixes.as_ptr(), names: self.names.as_ptr(), len: N }
    }
}
