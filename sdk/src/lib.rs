//! # relive-sdk: write a module that can be upgraded live
//!
//! A relive module is a `cdylib` whose one type implements [`Module`]: its
//! value is the actor state, [`Module::handle`] answers messages, and
//! [`Module::code_change`] builds a new version's state from an older one.
//! [`export_module!`] turns it into a library a relive host can load, check
//! and upgrade in place. Module code is ordinary safe Rust: no `unsafe`, no
//! `extern`, no threads or runtimes of its own.
//!
//! ```
//! use relive_sdk::prelude::*;
//!
//! // `#[data]`: Serialize, Deserialize and Schema, derived through this
//! // crate's re-exports, so `relive-sdk` is a module's one dependency.
//! #[data]
//! pub struct Counter { count: u64 }
//!
//! #[data]
//! pub enum Msg { Add(u64), Get }
//!
//! impl Module for Counter {
//!     const NAME: &'static str = "counter";
//!     type Args = u64;
//!     type Msg = Msg;
//!     type Reply = u64;
//!
//!     fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
//!         Ok(Counter { count: start })
//!     }
//!
//!     fn handle(&mut self, msg: Msg, _: &mut Context<'_>) -> u64 {
//!         if let Msg::Add(n) = msg { self.count += n; }
//!         tracing::debug!(count = self.count, "handled");
//!         self.count
//!     }
//! }
//!
//! // In a cdylib: `relive_sdk::export_module!(Counter);`
//! // Linked into a host (as here): a declaration the host can load statically.
//! let decl = relive_sdk::declaration!(Counter);
//! assert_eq!(decl.magic, relive_sdk::abi::MAGIC);
//! ```
//!
//! ## One dependency
//! A module's or interface crate's `[dependencies]` is `relive-sdk` alone:
//! [`data`] derives the wire traits through [`serde`] and [`codec`]'s
//! re-exports. Written out, it is
//! `#[derive(Serialize, Deserialize, Schema)]` plus
//! `#[serde(crate = "::relive_sdk::serde")]` and
//! `#[postcard(crate = ::relive_sdk::codec::postcard_schema)]`, which also
//! works by hand with `use relive_sdk::{Serialize, Deserialize, Schema};`:
//!
//! ```
//! use relive_sdk::{Deserialize, Schema, Serialize};
//!
//! #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
//! #[serde(crate = "relive_sdk::serde")]
//! #[postcard(crate = relive_sdk::codec::postcard_schema)]
//! pub struct Charge { account: u64, cents: i64 }
//!
//! let fp = relive_sdk::Fingerprint::of::<Charge>();
//! assert_eq!(fp, relive_sdk::Fingerprint::of::<Charge>());
//! ```
//!
//! ## What crosses the boundary
//! Only postcard bytes, an opaque state pointer and status codes, through the
//! `#[repr(C)]` types in [`abi`]. Every exported function catches panics: a
//! panic in `handle` crashes that one instance, never the host. Modules must
//! be built with `panic = "unwind"` (the default); the host refuses others.
//!
//! ## What a tool reads without loading the library
//! `export_module!` also writes the module's name and version into the
//! library's `.relive_module` ELF section ([`record`]), so that `relive watch`
//! can tell which module a file is without `dlopen`ing it (which would run
//! the library's constructors). It names the library; it proves nothing: a
//! host validates every load from the declaration.
//!
//! ## Logging
//! Use `tracing` as usual ([`tracing`] is re-exported). In a loaded library
//! the SDK forwards every event to the host's subscriber.
//!
//! See `docs/abi.md` and `docs/guide.md` in the repository.
#![deny(unsafe_code)]

// The C ABI and everything that touches raw pointers.
#[allow(unsafe_code)]
pub mod abi;
// issue 17: typed configuration, hot-reloaded
mod config;
mod exit_reason;
mod export;
// issue 17: functions
mod function;
mod log;
mod module;
// issue 15: port
mod port;
pub mod record;

pub use abi::decl_build_info::BuildInfo;
// issue 15: dependencies
pub use abi::Dependency;
// issue 17: typed configuration, hot-reloaded
pub use config::Configured;
pub use exit_reason::ExitReason;
pub use module::{
    Context, HostError, LoadInfo, Module, ModuleError, MonitorRef, OldState, ReplyToken,
    StateWriter, TimerRef,
};
// issue 15: port
pub use port::{
    DEFAULT_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT, PortError, PortResult, RequestError, RequestId,
};
pub use relive_codec::{self as codec, Fingerprint, Schema};
pub use serde;
pub use tracing;
// issue 20: one dependency
pub use relive_sdk_derive::data;
// issue 17: functions
pub use function::Function;
pub use relive_sdk_derive::function;
/// serde's traits and derive macros, re-exported so that a module needs no
/// `serde` dependency of its own. The derives name `::serde` unless told
/// otherwise: use [`data`] (which adds `#[serde(crate = "::relive_sdk::serde")]`),
/// or write that attribute yourself.
pub use serde::{Deserialize, Serialize};

// issue 20: one dependency
/// What most modules and interface crates use: `use relive_sdk::prelude::*;`.
///
/// The [`Module`] trait and what its methods see, the [`data`] attribute, and
/// the traits it derives (so that bounds such as `T: Serialize` read as usual).
pub mod prelude {
    pub use crate::{
        Context, Deserialize, ExitReason, Module, ModuleError, OldState, Schema, Serialize, data,
    };
}

// issue 15: interfaces that grow
#[doc(hidden)]
pub use relive_codec::variants::count as __variant_count;

/// This SDK's version, recorded in every declaration.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The compiler that built this SDK (and so the module that uses it).
pub const RUSTC_VERSION: &str = env!("RELIVE_RUSTC_VERSION");
/// The target triple this SDK (and so the module) was built for.
pub const TARGET: &str = env!("RELIVE_TARGET");
