//! # relive-runtime: the host side of relive
//!
//! A relive [`Host`] loads **modules** — `cdylib`s built against
//! `relive-sdk`, or modules linked in statically — and runs their code as
//! actors whose state lives in host memory. Its [`CodeServer`] keeps a
//! `current` and an `old` version of every module, as Erlang's code server
//! does, validates each new build completely (file, signature, ABI, target,
//! panic strategy, name, semver, schemas) before anything changes, and
//! upgrades by migrating every running actor's state with the new version's
//! `code_change`.
//!
//! Below the actors, an [`Instance`] is one live state of a module version:
//! `init` creates it, `handle` runs messages on it, `code_change` moves it to
//! a newer version and `downgrade` moves it back. It can be run on its own
//! (tests, debuggers), on a bare [`ModuleTable`].
//!
//! ```
//! use relive_runtime::{Instance, ModuleTable};
//! use relive_sdk::{Context, Module, ModuleError};
//! use serde::{Deserialize, Serialize};
//! use postcard_schema::Schema;
//!
//! #[derive(Serialize, Deserialize, Schema)]
//! pub struct Counter { count: u64 }
//!
//! impl Module for Counter {
//!     const NAME: &'static str = "counter";
//!     type Args = u64;
//!     type Msg = u64;
//!     type Reply = u64;
//!     fn init(start: u64, _: &mut Context<'_>) -> Result<Self, ModuleError> {
//!         Ok(Counter { count: start })
//!     }
//!     fn handle(&mut self, n: u64, _: &mut Context<'_>) -> u64 {
//!         self.count += n;
//!         self.count
//!     }
//! }
//!
//! let table = ModuleTable::new()?;
//! // A module linked into the host runs through the same checks as a library.
//! table.load("counter", relive_sdk::declaration!(Counter, version = "1.0.0"))?;
//! let v1 = table.current("counter").unwrap();
//! let mut counter = Instance::start_with(&v1, &10u64)?;
//! assert_eq!(counter.call::<u64, u64>(&5)?, 15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things live and why: `ARCHITECTURE.md`; the ABI: `docs/abi.md`;
//! every refusal reason: `docs/errors.md`.
#![deny(unsafe_code)]

pub mod actor;
pub mod admin;
// issue 20: build and locate
pub mod build;
pub mod code_server;
pub mod host;
mod scheduler;
mod sync;
// issue 17: per-thread cells (decisions 0025, 0031)
mod thread_shard;
// issue 17 and 19: counts kept per thread, over `thread_shard`
mod sharded_count;
// Every host-side `unsafe` block is in here.
#[allow(unsafe_code)]
mod ffi;

/// Entry points the fuzz targets in `fuzz/` drive (only in builds with
/// `--cfg fuzzing`, which `cargo fuzz` sets).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// The loader's step-1 structure check of a module file's bytes.
    ///
    /// # Errors
    /// As the loader: `NotALibrary` or `Corrupt`.
    pub fn check_elf(bytes: &[u8]) -> Result<(), crate::LoadError> {
        crate::code_server::loader::check_elf(bytes, "fuzz input")
    }
}

pub use actor::{
    ActorId, ActorRef, AnyActor, CallError, ExitReason, Instance, MigrateFailed, SendError,
    TraceEvent, TraceKind,
};
// issue 18: remote actors
pub use actor::{DownSender, EncodedRef};
pub use admin::AdminServer;
pub use code_server::{
    Interface, LoadError, LoadOptions, LoadReport, ModuleCallError, ModuleStatus, ModuleTable,
    ModuleTableBuilder, PurgeError, RollbackError, Source, StateError, TypeMismatch, UnloadStatus,
    Version, VersionInfo,
};
pub use host::{
    ActorFailure, ActorFailures, Canary, CodeServer, Host, HostBuilder, HostHandle, HostStartError,
    MigrateError, NativeActor, NativeContext, NoProc, PurgeReport, RollbackReport, SpawnError,
    SpawnOptions, Statistics, Sys, SysError, UpgradeError, UpgradeMode, UpgradeOptions,
    UpgradeReport,
};
// issue 15: lifecycle and dependencies
pub use code_server::{
    Dependency, DependencyProblem, Event, EventKind, Events, Lagged, ON_LOAD_TIMEOUT,
};
pub use host::NotASupervisorEvent;
// issue 20: async forms
pub use host::OffThread;
// issue 15: port
pub use host::{DEFAULT_MAX_PORT_REQUESTS, RegisterPortError};
// issue 17: typed configuration, hot-reloaded
pub use host::{Config, ConfigError, ConfigFormat, ConfigRefusal, ConfigStatus};
// issue 17: functions
pub use code_server::{FunctionProblem, FunctionSchema};
pub use host::{Function, FunctionError, FunctionInfo, INLINE_BYTES};
pub use relive_codec as codec;
pub use relive_sdk as sdk;
