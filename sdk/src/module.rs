//! The `Module` trait and the types its methods see.

use crate::abi::Sink;
use postcard_schema::Schema;
use relive_codec::{CodecError, Fingerprint};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// A relive module: ordinary safe Rust whose value *is* the actor's state.
///
/// The host keeps the value in its memory and calls the methods below through
/// the C ABI; everything that crosses (arguments, messages, replies, state
/// snapshots) is postcard-encoded, and the schema of each type is
/// fingerprinted into the module's declaration, so the host can refuse a
/// version whose types do not match before running it.
///
/// # Upgrade behaviour
/// When a new version of the module replaces a running one, the host asks the
/// running version to [`export_state`](Module::export_state), then hands the
/// bytes to the new version:
/// - if the new version's state type has the same schema, the bytes are
///   decoded as they are and `code_change` is not called;
/// - if the old schema is listed in [`READS`](Module::READS), the new
///   version's [`code_change`](Module::code_change) builds the new state;
/// - otherwise the upgrade is refused at load time, before anything changes.
///
/// Rolling back runs the other way: the newer version's
/// [`downgrade`](Module::downgrade) writes the state in an older schema listed
/// in [`DOWNGRADES_TO`](Module::DOWNGRADES_TO), and the older version decodes it.
pub trait Module: Serialize + DeserializeOwned + Schema + Send + Sized + 'static {
    /// The module name: every version of a module has the same name.
    const NAME: &'static str;

    /// Arguments of [`init`](Module::init).
    type Args: DeserializeOwned + Schema;
    /// The messages the module handles.
    type Msg: DeserializeOwned + Schema;
    /// What [`handle`](Module::handle) answers.
    type Reply: Serialize + Schema;

    /// Older state schemas this version's `code_change` can read, as
    /// `Fingerprint::of::<OldState>()`.
    const READS: &'static [Fingerprint] = &[];

    /// Older state schemas this version's `downgrade` can write.
    const DOWNGRADES_TO: &'static [Fingerprint] = &[];

    /// Create the state of a new instance.
    ///
    /// # Errors
    /// An error fails the start of this instance; the host reports it.
    fn init(args: Self::Args, ctx: &mut Context<'_>) -> Result<Self, ModuleError>;

    /// Handle one message and answer it.
    fn handle(&mut self, msg: Self::Msg, ctx: &mut Context<'_>) -> Self::Reply;

    /// Write the state for a migration or a snapshot. The default encodes
    /// `self`, which is what almost every module wants.
    ///
    /// # Errors
    /// An error fails the migration; the instance keeps running this version.
    fn export_state(&self, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        out.write(self)
    }

    /// Build this version's state from the state of an older (or newer)
    /// version whose schema is in [`READS`](Module::READS). `extra` is an
    /// opaque argument given to the upgrade (OTP's `Extra`).
    ///
    /// # Errors
    /// An error (or a panic) fails the migration: the instance keeps its old
    /// state on the old version.
    fn code_change(old: OldState<'_>, extra: &[u8]) -> Result<Self, ModuleError> {
        let _ = extra;
        Err(ModuleError::new(format!(
            "{} has no code_change from state schema {} (version {})",
            Self::NAME,
            old.schema(),
            old.version()
        )))
    }

    /// Write this state in the older schema `out.schema()` (one of
    /// [`DOWNGRADES_TO`](Module::DOWNGRADES_TO)) so that the older version
    /// `to_version` can run it again (OTP's `{down, Vsn}`).
    ///
    /// # Errors
    /// An error fails the rollback of this instance through `downgrade`; the
    /// host then falls back to the snapshot taken at upgrade time.
    fn downgrade(&self, to_version: &str, out: &mut StateWriter<'_>) -> Result<(), ModuleError> {
        let _ = out;
        Err(ModuleError::new(format!("{} has no downgrade to {to_version}", Self::NAME)))
    }
}

/// What a module can ask of the host while it runs a callback.
///
/// The host's services (sending, spawning, timers) are reached through here.
#[derive(Debug)]
pub struct Context<'a> {
    _call: std::marker::PhantomData<&'a mut ()>,
}

impl Context<'_> {
    pub(crate) fn new() -> Self {
        Context { _call: std::marker::PhantomData }
    }

    /// The host's monotonic clock, in nanoseconds since the host started
    /// (0 when the host provides no clock).
    pub fn now_ns(&self) -> u64 {
        crate::abi::now_ns()
    }
}

/// The state of another version, as `code_change` receives it.
#[derive(Debug, Clone, Copy)]
pub struct OldState<'a> {
    version: &'a str,
    schema: Fingerprint,
    bytes: &'a [u8],
}

impl<'a> OldState<'a> {
    pub(crate) fn new(version: &'a str, schema: Fingerprint, bytes: &'a [u8]) -> Self {
        OldState { version, schema, bytes }
    }

    /// The semver version that exported the state.
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The schema the state was written with.
    pub fn schema(&self) -> Fingerprint {
        self.schema
    }

    /// The raw postcard bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Decode the old state as `T` (a copy of the old version's state type
    /// kept in the new version's code).
    ///
    /// # Errors
    /// [`CodecError::SchemaMismatch`] when `T` is not the schema the state
    /// was written with, or a decode error.
    pub fn decode<T: DeserializeOwned + Schema>(&self) -> Result<T, CodecError> {
        let expected = Fingerprint::of::<T>();
        if expected != self.schema {
            return Err(CodecError::SchemaMismatch { expected, found: self.schema });
        }
        relive_codec::decode(self.bytes)
    }
}

/// Where `export_state` and `downgrade` write a state: straight into the
/// host's buffer, checked against the schema the host expects.
#[derive(Debug)]
pub struct StateWriter<'a> {
    out: Sink,
    schema: Fingerprint,
    written: bool,
    _call: std::marker::PhantomData<&'a mut ()>,
}

impl StateWriter<'_> {
    pub(crate) fn new(out: Sink, schema: Fingerprint) -> Self {
        StateWriter { out, schema, written: false, _call: std::marker::PhantomData }
    }

    /// The schema the host expects.
    pub fn schema(&self) -> Fingerprint {
        self.schema
    }

    /// Encode `state` into the host's buffer. Call once.
    ///
    /// # Errors
    /// When `T`'s schema is not [`schema`](Self::schema), when a state was
    /// already written, or when encoding fails.
    pub fn write<T: Serialize + Schema>(&mut self, state: &T) -> Result<(), ModuleError> {
        let found = Fingerprint::of::<T>();
        if found != self.schema {
            return Err(CodecError::SchemaMismatch { expected: self.schema, found }.into());
        }
        if self.written {
            return Err(ModuleError::new("state written twice"));
        }
        self.written = true;
        relive_codec::encode_to_sink(state, |b| self.out.write(b)).map_err(Into::into)
    }
}

/// An error a module returns from `init`, `export_state`, `code_change` or
/// `downgrade`; the host receives its message.
#[derive(Clone, PartialEq, Eq)]
pub struct ModuleError(String);

impl ModuleError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ModuleError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleError({:?})", self.0)
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModuleError {}

impl From<CodecError> for ModuleError {
    fn from(e: CodecError) -> Self {
        ModuleError(e.to_string())
    }
}
