//! The reasons a load, rollback, purge or call into module code can fail.
//!
//! One `#[non_exhaustive]` enum per operation, one variant per reason (the
//! table in `docs/errors.md`). Every reason about a build names its file.

use super::interface::{Part, TypeMismatch, UnknownVariant, VariantMismatch};
use super::version::{BuildHash, Version};
use relive_codec::Fingerprint;
use relive_sdk::abi::status;
use std::io;
use std::path::PathBuf;

/// Why a module version was refused. Nothing changed in the code server.
///
/// Variants are grouped by the loader step (DESIGN.md) that finds them; the
/// steps run in order and the first failure is reported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    // Step 1: the file, before any of its code runs.
    /// The file does not exist.
    #[error("{file}: no such file")]
    NotFound {
        /// The file.
        file: String,
    },
    /// The file exists but could not be read.
    #[error("{file}: cannot read: {source}")]
    Unreadable {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A directory on the file's canonical path (the file's own, or any
    /// ancestor up to `/`) is writable by other users, sticky or not: they
    /// could put another file in its place (docs/decisions/0003-loader-trust.md).
    #[error(
        "{file}: directory {} is writable by other users (mode {mode:o}); refusing to load \
         from it",
        dir.display()
    )]
    UnsafeDirectory {
        /// The file.
        file: String,
        /// The directory.
        dir: PathBuf,
        /// Its mode bits (permissions, sticky, set-id).
        mode: u32,
    },
    /// The library or its `.sig` is not a regular file (a FIFO, a device, a
    /// directory, a socket): refused before any read, which could block
    /// forever or never end.
    #[error("{file}: the {what} file is a {kind}, not a regular file; refusing to read it")]
    NotARegularFile {
        /// The file.
        file: String,
        /// `"library"`, or `"signature"` for `<file>.sig`.
        what: &'static str,
        /// What it is instead: `"FIFO"`, `"character device"`, `"block
        /// device"`, `"directory"`, `"socket"`, `"symbolic link"`, `"unknown"`.
        kind: &'static str,
    },
    /// The library or its `.sig` is larger than this host reads: the
    /// library's limit is [`ModuleTableBuilder::max_library_size`]
    /// (default 1 GiB), a signature's 1 KiB. Refused before any read.
    ///
    /// [`ModuleTableBuilder::max_library_size`]: crate::ModuleTableBuilder::max_library_size
    #[error("{file}: the {what} file is {size} bytes, over the {max} this host reads")]
    FileTooLarge {
        /// The file.
        file: String,
        /// `"library"`, or `"signature"` for `<file>.sig`.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Other users may write the file, so its contents cannot be trusted.
    #[error("{file}: writable by other users (mode {mode:o}); refusing to load it")]
    WritableByOthers {
        /// The file.
        file: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file belongs to another user (neither us nor root).
    #[error("{file}: owned by uid {uid}, not by us or root; refusing to load it")]
    ForeignOwner {
        /// The file.
        file: String,
        /// The owner's uid.
        uid: u32,
    },
    /// The host requires signed modules and `<file>.sig` is missing.
    #[error("{file}: unsigned (no {file}.sig) and this host requires signatures")]
    Unsigned {
        /// The file.
        file: String,
    },
    /// `<file>.sig` exists but could not be read.
    #[error("{file}: cannot read {file}.sig: {source}")]
    SignatureUnreadable {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// `<file>.sig` is not 128 hex digits (an ed25519 signature).
    #[error("{file}: bad signature: {file}.sig is not 128 hex digits")]
    MalformedSignature {
        /// The file.
        file: String,
        /// What the hex decoder found.
        source: hex::FromHexError,
    },
    /// `<file>.sig` does not verify against any trusted key.
    #[error("{file}: bad signature: {reason}")]
    BadSignature {
        /// The file.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// This build was marked bad (for instance after a crash-loop rollback).
    #[error("{file}: build {hash} is marked bad; load it with force to override")]
    BadBuild {
        /// The file.
        file: String,
        /// The build's hash.
        hash: BuildHash,
    },
    /// The file is not an ELF shared library.
    #[error("{file}: not a shared library ({reason})")]
    NotALibrary {
        /// The file.
        file: String,
        /// What was found instead.
        reason: String,
    },
    /// An ELF shared object whose headers point past the end of the file:
    /// truncated (still being written?) or corrupt. `dlopen` would crash on it.
    #[error("{file}: corrupt or truncated library: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// What was wrong.
        reason: String,
    },
    /// The private copy could not be made.
    #[error("{file}: cannot make the private copy: {source}")]
    PrivateCopy {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },

    // Step 2: dlopen and symbol.
    /// `dlopen` failed. The message shows the dynamic loader's own words
    /// (`dlerror`, which names the private copy that was opened).
    #[error("{file}: dlopen failed: {}", dl_message(source))]
    DlOpen {
        /// The file.
        file: String,
        /// libloading's error; its own source is the `dlerror` text.
        source: libloading::Error,
    },
    /// The library has no `relive_module_v1` symbol: not a relive module.
    #[error(
        "{file}: no `relive_module_v1` symbol (not a relive module?): {}",
        source.as_ref().map_or_else(|| "its address is null".to_owned(), dl_message)
    )]
    MissingSymbol {
        /// The file.
        file: String,
        /// libloading's `dlsym` error; `None` when the symbol exists but its
        /// address is null.
        source: Option<libloading::Error>,
    },

    // Step 3: the declaration.
    /// The declaration does not start with relive's magic number.
    #[error("{file}: bad magic {found:#018x} in the module declaration")]
    BadMagic {
        /// The file.
        file: String,
        /// What was found.
        found: u64,
    },
    /// The module speaks another ABI version.
    #[error("{file}: module ABI version {found}, this host speaks {expected}")]
    AbiMismatch {
        /// The file.
        file: String,
        /// The module's ABI version.
        found: u32,
        /// The host's ABI version.
        expected: u32,
    },
    /// The declaration or its function table is smaller than this ABI needs.
    #[error("{file}: {what} is {size} bytes, smaller than ABI v1 needs")]
    TooSmall {
        /// The file.
        file: String,
        /// `"declaration"` or `"function table"`.
        what: &'static str,
        /// The size the module reported.
        size: u32,
    },
    /// A required function is missing from the table.
    #[error("{file}: the module exports no `{function}`")]
    MissingFunction {
        /// The file.
        file: String,
        /// The function.
        function: &'static str,
    },
    /// The declaration is malformed (null or misaligned pointer, bad string).
    #[error("{file}: malformed declaration: {reason}")]
    MalformedDeclaration {
        /// The file.
        file: String,
        /// What was wrong.
        reason: String,
    },

    // Step 4: target and panic strategy.
    /// Built for another target triple.
    #[error("{file}: built for {found}, this host is {expected}")]
    TargetMismatch {
        /// The file.
        file: String,
        /// The module's target.
        found: String,
        /// The host's target.
        expected: String,
    },
    /// Built with `panic = "abort"`: a panic would take the host down.
    #[error("{file}: built with panic = \"abort\"; relive needs panic = \"unwind\"")]
    PanicAbort {
        /// The file.
        file: String,
    },

    // Step 5: name and version.
    /// The library declares another module.
    #[error("{file}: declares module `{found}`, expected `{expected}`")]
    NameMismatch {
        /// The file.
        file: String,
        /// The expected name.
        expected: String,
        /// The declared name.
        found: String,
    },
    /// The version is not semver.
    #[error("{file}: version `{version}` is not semver: {source}")]
    BadVersion {
        /// The file.
        file: String,
        /// The declared version.
        version: String,
        /// The parser's error.
        source: semver::Error,
    },
    /// Same version as the one loaded, but another build.
    #[error(
        "{file}: version {version} is already loaded as build {loaded}, this is build {new}; \
         bump the version or load with force"
    )]
    SameVersionDifferentBuild {
        /// The file.
        file: String,
        /// The version.
        version: String,
        /// The loaded build.
        loaded: BuildHash,
        /// This build.
        new: BuildHash,
    },

    // Step 6: schemas.
    /// A message, reply or init-argument type differs from what callers
    /// use: the message and reply types must extend the running version's
    /// (append variants only) and stay compatible with the callers' types;
    /// init arguments must be equal.
    #[error("{file}: {what} schema {found} differs from the callers' {expected}{}", variant_note(.variant))]
    InterfaceMismatch {
        /// The file.
        file: String,
        /// Which type.
        what: Part,
        /// What callers use (or the running version declares).
        expected: Fingerprint,
        /// What the module declares.
        found: Fingerprint,
        // issue 15: interfaces that grow
        /// The first variant that differs (index and names on both sides),
        /// when both types list variants.
        #[source]
        variant: Option<Box<VariantMismatch>>,
    },
    /// The new version cannot read the running version's state.
    #[error(
        "{file}: cannot read the state of running version {running} (schema {schema}); its \
         code_change reads {readable:?}"
    )]
    StateUnreadable {
        /// The file.
        file: String,
        /// The running version.
        running: String,
        /// The running version's state schema.
        schema: Fingerprint,
        /// The schemas the new `code_change` reads.
        readable: Vec<Fingerprint>,
    },

    // issue 17: functions (step 6, after the message types)
    /// The new version does not export a function the running version
    /// exports, or exports it with another argument or result type: the
    /// function's callers would break.
    #[error("{file}: function `{function}` of module `{module}`: {problem}")]
    FunctionMismatch {
        /// The file.
        file: String,
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// What changed.
        #[source]
        problem: super::function::FunctionProblem,
    },

    // After validation: the slots.
    /// A third version while `old` still has live instances (Erlang's
    /// `not_purged`); upgrade with `purge` to stop them first.
    #[error(
        "module `{module}`: old version {old} still has {instances} live instance(s); purge it \
         first or upgrade with purge"
    )]
    NotPurged {
        /// The module.
        module: String,
        /// The old version.
        old: String,
        /// Live instances on it.
        instances: usize,
    },
    /// Another load of the module committed while this one was being
    /// validated; nothing of this one was applied. Retry.
    #[error("module `{module}` changed while this load was being validated; retry")]
    Concurrent {
        /// The module.
        module: String,
    },

    // issue 15: dependencies (after step 6, before `on_load`)
    /// A dependency the new version declares (`Module::DEPENDS`) is not
    /// loaded, or its version or interface does not match.
    #[error("{file}: {module} {version} depends on `{dependency}`: {problem}")]
    Dependency {
        /// The file.
        file: String,
        /// The module being loaded.
        module: String,
        /// Its version.
        version: String,
        /// The dependency not met.
        dependency: String,
        /// How it is not met.
        #[source]
        problem: Box<super::dependency::DependencyProblem>,
    },
    /// The new version would break a loaded module that depends on it
    /// (its version no longer matches the dependant's requirement, or its
    /// interface changed); upgrade both together with `upgrade_all`.
    #[error("{file}: {module} {version} would break `{dependant}`, which depends on it: {problem}")]
    BreaksDependant {
        /// The file.
        file: String,
        /// The module being loaded.
        module: String,
        /// Its version.
        version: String,
        /// The loaded module that depends on it.
        dependant: String,
        /// What would break.
        #[source]
        problem: Box<super::dependency::DependencyProblem>,
    },
    /// One `upgrade_all` names the same module twice.
    #[error("module `{module}` appears more than once in one upgrade unit")]
    DuplicateInUnit {
        /// The module.
        module: String,
    },
    /// The modules of one `upgrade_all` depend on each other in a cycle:
    /// no order loads every callee before its callers.
    #[error("modules {modules:?} depend on each other in a cycle")]
    DependencyCycle {
        /// The modules of the cycle, each depending on the next.
        modules: Vec<String>,
    },

    // issue 15: lifecycle (the last check, before anything changes)
    /// The new version's `on_load` refused the load: it returned an error
    /// or panicked (the reason is the module's, in `source`).
    #[error("{file}: on_load of {module} {version} vetoed the load: {source}")]
    Vetoed {
        /// The file.
        file: String,
        /// The module.
        module: String,
        /// The version that vetoed its own load.
        version: String,
        /// The module's reason (`Failed`), panic (`Panicked`), or a hook
        /// that did not return in time (`TimedOut`).
        source: Box<ModuleCallError>,
    },
    // issue 17: typed configuration, hot-reloaded
    /// The new version cannot take its module's configuration section in
    /// force: it reads another schema, or its `on_config` refused it.
    #[error("{file}: {source}")]
    Section {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: super::config_section::SectionError,
    },
}

/// The dynamic loader's own message in a libloading error. libloading's
/// `Display` says only "dlopen failed" or "dlsym failed"; `dlerror`'s text is
/// its `source()`.
fn dl_message(e: &libloading::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

impl LoadError {
    /// The file (or `static:<module>` source) the error is about; `None`
    /// for the reasons found in the slots, after the build was validated.
    pub fn file(&self) -> Option<&str> {
        use LoadError::*;
        Some(match self {
            NotFound { file }
            | Unreadable { file, .. }
            | UnsafeDirectory { file, .. }
            | NotARegularFile { file, .. }
            | FileTooLarge { file, .. }
            | WritableByOthers { file, .. }
            | ForeignOwner { file, .. }
            | Unsigned { file }
            | SignatureUnreadable { file, .. }
            | MalformedSignature { file, .. }
            | BadSignature { file, .. }
            | BadBuild { file, .. }
            | NotALibrary { file, .. }
            | Corrupt { file, .. }
            | PrivateCopy { file, .. }
            | DlOpen { file, .. }
            | MissingSymbol { file, .. }
            | BadMagic { file, .. }
            | AbiMismatch { file, .. }
            | TooSmall { file, .. }
            | MissingFunction { file, .. }
            | MalformedDeclaration { file, .. }
            | TargetMismatch { file, .. }
            | PanicAbort { file }
            | NameMismatch { file, .. }
            | BadVersion { file, .. }
            | SameVersionDifferentBuild { file, .. }
            | InterfaceMismatch { file, .. }
            | StateUnreadable { file, .. }
            | FunctionMismatch { file, .. }
            | Dependency { file, .. }
            | BreaksDependant { file, .. }
            | Vetoed { file, .. }
            | Section { file, .. } => file,
            NotPurged { .. }
            | Concurrent { .. }
            | DependencyCycle { .. }
            | DuplicateInUnit { .. } => {
                return None;
            }
        })
    }
}

// issue 15: interfaces that grow
fn variant_note(v: &Option<Box<VariantMismatch>>) -> String {
    v.as_ref().map(|v| format!(": {v}")).unwrap_or_default()
}

/// Why a rollback was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RollbackError {
    /// No such module is loaded.
    #[error("module `{0}` is not loaded")]
    NotLoaded(String),
    /// There is no old version to go back to.
    #[error("module `{0}` has no old version to roll back to")]
    NoOldVersion(String),
    // issue 15: interfaces that grow
    /// The version to go back to lacks a message variant the newer one has
    /// been handed (callers use it); refused unless forced.
    #[error(
        "module `{module}`: version {to} has {known} message variant(s), but version {from} has \
         been handed variant {variant} (`{name}`), which callers use; force the rollback to go back \
         anyway (such messages are then refused)"
    )]
    VariantInUse {
        /// The module.
        module: String,
        /// The version rolled back from.
        from: String,
        /// The version rolled back to.
        to: String,
        /// The highest variant index handled by `from`.
        variant: usize,
        /// Its name.
        name: String,
        /// How many message variants `to` has.
        known: usize,
    },
    // issue 15: dependencies
    /// With the version to go back to current, a declared dependency would
    /// not hold: the older version needs a callee version that is not
    /// current, or a current module needs what only the newer version
    /// offers (`dependant` is the module whose dependency breaks, `on` the
    /// one it needs). Refused unless forced; move a pair that was upgraded
    /// together back together (`upgrade_all` of the older files).
    #[error(
        "rolling back `{module}` to {to} breaks `{dependant}`'s dependency on `{on}`: {problem}"
    )]
    Dependency {
        /// The module rolled back.
        module: String,
        /// The version it would go back to.
        to: String,
        /// The module whose dependency would break.
        dependant: String,
        /// The module it depends on.
        on: String,
        /// How it would break.
        #[source]
        problem: Box<super::dependency::DependencyProblem>,
    },
}

/// Why a purge was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgeError {
    /// No such module is loaded.
    #[error("module `{0}` is not loaded")]
    NotLoaded(String),
    /// `soft_purge` found live instances on the old version.
    #[error("module `{module}`: old version {old} still has {instances} live instance(s)")]
    InUse {
        /// The module.
        module: String,
        /// The old version.
        old: String,
        /// Live instances on it.
        instances: usize,
    },
}

/// Why a call into a module version's code failed. The instance, where there
/// is one, is unchanged unless the error says it panicked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleCallError {
    /// The module panicked; its message is kept.
    #[error("{module} {version}: {function} panicked: {message}")]
    Panicked {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// `init`, `handle`, `export_state`, `code_change` or `downgrade`.
        function: &'static str,
        /// The panic message.
        message: String,
    },
    /// The module returned an error.
    #[error("{module} {version}: {function} failed: {message}")]
    Failed {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// The function.
        function: &'static str,
        /// The module's message.
        message: String,
    },
    /// The module could not decode its input.
    #[error("{module} {version}: {function} could not decode its input: {message}")]
    BadInput {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// The function.
        function: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// The module does not provide the function, or cannot do it for these
    /// versions (a `downgrade` to a schema it cannot write).
    #[error("{module} {version}: {function} unsupported: {message}")]
    Unsupported {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// The function.
        function: &'static str,
        /// Why.
        message: String,
    },
    // issue 14: gen_server
    /// The module's `init` declined to start (OTP's `ignore`).
    #[error("{module} {version}: init returned ignore")]
    Ignored {
        /// The module.
        module: String,
        /// Its version.
        version: String,
    },
    /// The module returned a status code this host does not know.
    #[error("{module} {version}: {function} returned unknown status {code}")]
    UnknownStatus {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// The function.
        function: &'static str,
        /// The code.
        code: i32,
    },
    // issue 15: lifecycle
    /// The function did not return within its bound. It goes on running on
    /// its own thread, which keeps the version (and its library) loaded
    /// until it returns; nothing else waits for it.
    #[error("{module} {version}: {function} did not return within {after:?}")]
    TimedOut {
        /// The module.
        module: String,
        /// Its version.
        version: String,
        /// The function.
        function: &'static str,
        /// The bound it overran.
        after: std::time::Duration,
    },
    /// A typed call used a type whose schema is not the module's.
    #[error(transparent)]
    Types(#[from] TypeMismatch),
    // issue 15: interfaces that grow
    /// The message's variant is one the version does not have (its sender
    /// is typed on a newer interface): the module never saw it.
    #[error(transparent)]
    UnknownVariant(#[from] UnknownVariant),
    /// The caller's value could not be encoded, or the reply decoded.
    #[error("codec: {0}")]
    Codec(#[from] relive_codec::CodecError),
}

impl ModuleCallError {
    /// Turn a non-OK status of `function` of `version`, and the message the
    /// module wrote to `out`, into an error.
    pub(crate) fn from_status(
        version: &Version,
        function: &'static str,
        code: i32,
        out: &[u8],
    ) -> Self {
        let module = version.name().to_owned();
        let v = version.version_str().to_owned();
        let message = String::from_utf8_lossy(out).into_owned();
        match code {
            status::PANICKED => ModuleCallError::Panicked { module, version: v, function, message },
            status::FAILED => ModuleCallError::Failed { module, version: v, function, message },
            status::BAD_INPUT => {
                ModuleCallError::BadInput { module, version: v, function, message }
            }
            status::UNSUPPORTED => {
                ModuleCallError::Unsupported { module, version: v, function, message }
            }
            // `init` maps it to `Ignored` itself; anywhere else it is a
            // module's mistake, and a failure of that call.
            status::IGNORED => ModuleCallError::Failed {
                module,
                version: v,
                function,
                message: "it returned ModuleError::ignore(), which only init may".to_owned(),
            },
            code => ModuleCallError::UnknownStatus { module, version: v, function, code },
        }
    }
}
