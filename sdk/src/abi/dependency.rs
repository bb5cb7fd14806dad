//! issue 15: dependencies — what a module declares it calls.

use super::{RBytes, RFingerprint};
use relive_codec::{Fingerprint, Schema};

/// One module this module calls ([`Module::DEPENDS`](crate::Module::DEPENDS)):
/// its name, a semver requirement on its version (`"^1"`, `">=1.2, <2"`)
/// and the fingerprints of the message and reply types sent to it.
/// `#[repr(C)]`: a declaration carries the list as it is. Build one with
/// [`dep!`](crate::dep) or [`Dependency::on`]; both are `const`. The
/// fields are private, so every `Dependency` points to `'static` UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Dependency {
    /// The callee's module name (UTF-8).
    name: RBytes,
    /// The semver requirement on the callee's version (UTF-8, as `semver`
    /// parses a `VersionReq`; the host refuses one that does not parse).
    requirement: RBytes,
    /// Fingerprint of the message type this module sends the callee.
    message_schema: RFingerprint,
    /// Fingerprint of the reply type this module expects back.
    reply_schema: RFingerprint,
}

// SAFETY: a `Dependency` only points to `'static` string literals (its
// constructors take `&'static str`), which are immutable: sharing one
// between threads cannot race.
unsafe impl Sync for Dependency {}

impl Dependency {
    /// Module `name`, at a version matching `requirement`, sent messages of
    /// type `M` and answering `R`.
    pub const fn on<M: Schema + ?Sized, R: Schema + ?Sized>(
        name: &'static str,
        requirement: &'static str,
    ) -> Self {
        Dependency {
            name: RBytes::from_str(name),
            requirement: RBytes::from_str(requirement),
            message_schema: Fingerprint::of::<M>().0,
            reply_schema: Fingerprint::of::<R>().0,
        }
    }

    /// The callee's name.
    pub fn name(&self) -> &'static str {
        // SAFETY: built by `on` from a `&'static str`.
        unsafe { std::str::from_utf8_unchecked(self.name.as_slice()) }
    }

    /// The semver requirement.
    pub fn requirement(&self) -> &'static str {
        // SAFETY: built by `on` from a `&'static str`.
        unsafe { std::str::from_utf8_unchecked(self.requirement.as_slice()) }
    }

    /// The fingerprint of the message type sent.
    pub fn message_schema(&self) -> Fingerprint {
        Fingerprint(self.message_schema)
    }

    /// The fingerprint of the reply type expected.
    pub fn reply_schema(&self) -> Fingerprint {
        Fingerprint(self.reply_schema)
    }
}

/// The list of dependencies a declaration carries.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RDependencies {
    /// Start of the list; may be dangling when `len` is 0.
    pub ptr: *const Dependency,
    /// Number of entries.
    pub len: usize,
}

impl RDependencies {
    /// Borrow a `'static` list.
    pub const fn new(list: &'static [Dependency]) -> Self {
        RDependencies { ptr: list.as_ptr(), len: list.len() }
    }
}

/// A [`Dependency`] on module `$name` at versions matching `$req`, to
/// which this module sends `$msg` and from which it reads `$reply`:
/// `dep!("inventory", "^1", inventory_api::Msg, inventory_api::Reply)`.
/// Usable in a `const`.
#[macro_export]
macro_rules! dep {
    ($name:expr, $req:expr, $msg:ty, $reply:ty) => {
        $crate::Dependency::on::<$msg, $reply>($name, $req)
    };
}
