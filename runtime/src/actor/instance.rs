//! `Instance`: one live state of a module version, and the calls on it.
//!
//! The sequence an instance goes through is OTP's: `init` → `handle`* →
//! (`export_state` → `code_change` on the next version)* → `downgrade` back,
//! if rolled back → drop. An actor's body holds one instance; an instance can
//! also be run on its own (tests, debuggers), without any actor.

use crate::code_server::{Interface, ModuleCallError, Part, UnknownVariant, Version};
use crate::ffi::calls::{LiveState, Ticket};
use relive_codec::{Fingerprint, Schema, StateSnapshot};
use relive_sdk::abi::status;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::sync::Arc;

/// One live state of a module version.
///
/// Holds an `Arc<Version>`: the library stays loaded while the instance lives,
/// and the state is freed by that library when the instance drops.
#[derive(Debug)]
pub struct Instance {
    state: LiveState<Version>,
    /// Replies and error messages; reused across calls.
    buf: Vec<u8>,
    /// Encoded typed messages; reused across calls.
    msg: Vec<u8>,
}

/// A migration that did not happen: the instance is handed back unchanged,
/// still on its old version with its old state.
pub struct MigrateFailed {
    /// The instance, as it was.
    pub instance: Instance,
    /// Why.
    pub error: ModuleCallError,
}

impl fmt::Debug for MigrateFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrateFailed").field("error", &self.error).finish_non_exhaustive()
    }
}

impl fmt::Display for MigrateFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration failed, instance kept on its old version: {}", self.error)
    }
}

impl std::error::Error for MigrateFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl Instance {
    /// Start an instance of `version` with postcard-encoded init `args`.
    ///
    /// # Errors
    /// The module's `init` failed, panicked or could not decode `args`.
    pub fn start(version: &Arc<Version>, args: &[u8]) -> Result<Self, ModuleCallError> {
        let mut buf = Vec::new();
        match LiveState::init(version, args, &mut buf) {
            Ok(state) => Ok(Instance { state, buf, msg: Vec::new() }),
            // issue 14: gen_server
            Err(status::IGNORED) => Err(ModuleCallError::Ignored {
                module: version.name().to_owned(),
                version: version.version_str().to_owned(),
            }),
            Err(code) => Err(ModuleCallError::from_status(version, "init", code, &buf)),
        }
    }

    /// Start an instance with typed init arguments, checked against the
    /// module's `Args` schema.
    ///
    /// # Errors
    /// [`ModuleCallError::Types`] when `A` is not the module's `Args`, or as
    /// [`start`](Self::start).
    pub fn start_with<A: Serialize + Schema>(
        version: &Arc<Version>,
        args: &A,
    ) -> Result<Self, ModuleCallError> {
        Interface::check_part(version, Part::Args, Fingerprint::of::<A>())?;
        let mut bytes = Vec::new();
        relive_codec::encode_into(args, &mut bytes)?;
        Self::start(version, &bytes)
    }

    /// The version this instance runs.
    pub fn version(&self) -> &Arc<Version> {
        self.state.version()
    }

    /// Handle one postcard-encoded message; returns the encoded reply (valid
    /// until the next call on this instance).
    ///
    /// # Errors
    /// The handler panicked (the instance should be dropped: it crashed) or
    /// the message did not decode (the instance is unchanged).
    pub fn handle(&mut self, msg: &[u8]) -> Result<&[u8], ModuleCallError> {
        self.check_variant(msg)?;
        match self.state.handle(msg, &mut self.buf) {
            status::OK => Ok(&self.buf),
            code => {
                Err(ModuleCallError::from_status(self.state.version(), "handle", code, &self.buf))
            }
        }
    }

    /// Handle one message whose reply nobody reads (a cast): the module
    /// skips producing the reply.
    ///
    /// # Errors
    /// As [`handle`](Self::handle).
    pub fn handle_cast(&mut self, msg: &[u8]) -> Result<(), ModuleCallError> {
        self.check_variant(msg)?;
        match self.state.handle_cast(msg, &mut self.buf) {
            status::OK => Ok(()),
            code => {
                Err(ModuleCallError::from_status(self.state.version(), "handle", code, &self.buf))
            }
        }
    }

    // issue 15: interfaces that grow
    /// Refuse a message whose variant index (postcard's leading varint) is
    /// past the variants this version's message type has, before the module
    /// sees it; record the index otherwise (what a rollback must keep).
    /// Types with one variant (or none listed) are not checked here: the
    /// module's decode refuses what it cannot read.
    fn check_variant(&self, msg: &[u8]) -> Result<(), ModuleCallError> {
        let version = self.state.version();
        let Some(known) = version.message_variants().map(|l| l.len()).filter(|&n| n > 1) else {
            return Ok(());
        };
        let Some(index) = relive_codec::variants::index(msg) else { return Ok(()) };
        if index as usize >= known {
            return Err(ModuleCallError::UnknownVariant(UnknownVariant {
                module: version.name().to_owned(),
                version: version.version_str().to_owned(),
                variant: index,
                known,
            }));
        }
        version.note_variant(index);
        Ok(())
    }

    /// Send a typed message and decode the typed reply; both types are
    /// checked against the module's schemas first.
    ///
    /// # Errors
    /// [`ModuleCallError::Types`] for the wrong types, or as [`handle`](Self::handle).
    pub fn call<M, R>(&mut self, msg: &M) -> Result<R, ModuleCallError>
    where
        M: Serialize + Schema,
        R: DeserializeOwned + Schema,
    {
        let version = self.state.version();
        // issue 15: compatible types (one a prefix of the other) will do.
        Interface::check_type(version, Part::Message, M::SCHEMA)?;
        Interface::check_type(version, Part::Reply, R::SCHEMA)?;
        relive_codec::encode_into(msg, &mut self.msg)?;
        self.check_variant(&self.msg)?;
        match self.state.handle(&self.msg, &mut self.buf) {
            status::OK => Ok(relive_codec::decode(&self.buf)?),
            code => {
                Err(ModuleCallError::from_status(self.state.version(), "handle", code, &self.buf))
            }
        }
    }

    // issue 14: sys
    /// The state as JSON, rendered by the module itself (OTP's
    /// `system_get_state`).
    ///
    /// # Errors
    /// [`ModuleCallError::Unsupported`] for a module built before `sys`
    /// (no `state_json` in its table); the module failed or panicked.
    pub fn state_json(&self) -> Result<String, ModuleCallError> {
        let mut out = Vec::new();
        let version = self.state.version();
        match self.state.state_json(&mut out) {
            Some(status::OK) => Ok(String::from_utf8_lossy(&out).into_owned()),
            Some(code) => Err(ModuleCallError::from_status(version, "state_json", code, &out)),
            None => Err(unsupported(version, "state_json")),
        }
    }

    /// Replace the state with one given as JSON, decoded and validated by
    /// the module (OTP's `system_replace_state`). On any error the state is
    /// unchanged.
    ///
    /// # Errors
    /// [`ModuleCallError::BadInput`]: it does not decode as the module's
    /// state; [`ModuleCallError::Failed`]: the module's `validate` refused
    /// it; [`ModuleCallError::Unsupported`]: a module built before `sys`.
    pub fn replace_state_json(&mut self, json: &str) -> Result<(), ModuleCallError> {
        let mut out = Vec::new();
        match self.state.replace_state_json(json.as_bytes(), &mut out) {
            Some(status::OK) => Ok(()),
            Some(code) => Err(ModuleCallError::from_status(
                self.state.version(),
                "replace_state_json",
                code,
                &out,
            )),
            None => Err(unsupported(self.state.version(), "replace_state_json")),
        }
    }

    /// Render encoded bytes of a message (`reply == false`) or a reply of
    /// this module as JSON (for a trace).
    ///
    /// # Errors
    /// As [`state_json`](Self::state_json); the bytes did not decode.
    pub fn to_json(&self, reply: bool, bytes: &[u8]) -> Result<String, ModuleCallError> {
        use relive_sdk::abi::json_kinds;
        let what = if reply { json_kinds::REPLY } else { json_kinds::MESSAGE };
        let version = self.state.version();
        let mut out = Vec::new();
        match crate::ffi::calls::to_json(version.table(), what, bytes, &mut out) {
            Some(status::OK) => Ok(String::from_utf8_lossy(&out).into_owned()),
            Some(code) => Err(ModuleCallError::from_status(version, "to_json", code, &out)),
            None => Err(unsupported(version, "to_json")),
        }
    }
    // end issue 14: sys

    // issue 14: gen_server

    /// Whether this instance's version has a `terminate` (a module built
    /// before it existed has none).
    pub fn has_terminate(&self) -> bool {
        self.state.has_terminate()
    }

    /// Run the module's `terminate(reason)` (OTP's `terminate/2`); a no-op
    /// for a version without one.
    ///
    /// # Errors
    /// It panicked: [`ModuleCallError::Panicked`] with its message.
    pub fn terminate(&mut self, reason: &super::ExitReason) -> Result<(), ModuleCallError> {
        let (tag, text) = reason.to_abi();
        let code = self.state.terminate(tag, &text, &mut self.buf);
        self.done("terminate", code)
    }

    /// Run the module's `on_exit(from, reason)` (a trapped linked exit).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub fn on_exit(
        &mut self,
        from: super::ActorId,
        reason: &super::ExitReason,
    ) -> Result<(), ModuleCallError> {
        let (tag, text) = reason.to_abi();
        let code = self.state.on_exit(from.0, tag, &text, &mut self.buf);
        self.done("on_exit", code)
    }

    /// Run the module's `on_down(mref, who, reason)` (a monitor fired).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub fn on_down(
        &mut self,
        mref: u64,
        who: super::ActorId,
        reason: &super::ExitReason,
    ) -> Result<(), ModuleCallError> {
        let (tag, text) = reason.to_abi();
        let code = self.state.on_down(mref, who.0, (tag, &text), &mut self.buf);
        self.done("on_down", code)
    }

    /// Run the module's `on_timeout()` (its idle timeout passed).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub fn on_timeout(&mut self) -> Result<(), ModuleCallError> {
        let code = self.state.on_timeout(&mut self.buf);
        self.done("on_timeout", code)
    }

    // issue 15: port
    /// Run the module's `on_reply` with a port's answer; `Ok(false)` when
    /// this version has none (a module built before ports).
    ///
    /// # Errors
    /// As [`terminate`](Self::terminate).
    pub(crate) fn on_reply(&mut self, r: &super::PortReply) -> Result<bool, ModuleCallError> {
        let code =
            self.state.on_reply(r.id, (r.outcome, r.schema.to_u64()), &r.bytes, &mut self.buf);
        let ran = code.is_some();
        self.done("on_reply", code).map(|()| ran)
    }

    fn done(&self, function: &'static str, code: Option<i32>) -> Result<(), ModuleCallError> {
        match code {
            None | Some(status::OK) => Ok(()),
            Some(code) => {
                Err(ModuleCallError::from_status(self.state.version(), function, code, &self.buf))
            }
        }
    }

    /// Export the state as a snapshot tagged with this version.
    ///
    /// # Errors
    /// The module's `export_state` failed or panicked.
    pub fn snapshot(&self) -> Result<StateSnapshot, ModuleCallError> {
        let version = self.state.version();
        Ok(StateSnapshot {
            module: version.name().to_owned(),
            version: version.version_str().to_owned(),
            schema: version.schemas().state,
            bytes: self.export_bytes()?,
        })
    }

    /// The state's bytes as [`snapshot`](Self::snapshot) holds them, without
    /// the tag (module, version, schema: this instance's version's), which
    /// an upgrade of many actors shares instead of copying per actor.
    ///
    /// # Errors
    /// As [`snapshot`](Self::snapshot).
    pub(crate) fn export_bytes(&self) -> Result<Vec<u8>, ModuleCallError> {
        let mut bytes = Vec::new();
        match self.state.export_state(&mut bytes) {
            status::OK => Ok(bytes),
            code => Err(ModuleCallError::from_status(
                self.state.version(),
                "export_state",
                code,
                &bytes,
            )),
        }
    }

    /// Migrate to version `to` (OTP's `code_change`): this version exports
    /// the state, `to`'s `code_change` builds the new one (or decodes it as is
    /// when the schemas are equal).
    ///
    /// # Errors
    /// When either step fails or panics, [`MigrateFailed`] hands this
    /// instance back unchanged: same version, same state.
    pub fn code_change(
        self,
        to: &Arc<Version>,
        extra: &[u8],
    ) -> Result<Instance, Box<MigrateFailed>> {
        match self.migrate_to(to, extra) {
            Ok((new, _snapshot)) => Ok(new),
            Err(error) => Err(Box::new(MigrateFailed { instance: self, error })),
        }
    }

    /// Build this instance's successor on `to`, leaving this one untouched
    /// (an atomic upgrade keeps every old instance until it commits).
    /// Returns the new instance and the snapshot it was made from.
    ///
    /// # Errors
    /// As [`code_change`](Self::code_change); this instance is unchanged.
    pub fn migrate_to(
        &self,
        to: &Arc<Version>,
        extra: &[u8],
    ) -> Result<(Instance, StateSnapshot), ModuleCallError> {
        let snapshot = self.snapshot()?;
        let new = Self::restore(to, &snapshot, extra)?;
        Ok((new, snapshot))
    }

    /// Roll this instance back to the older version `to` through this
    /// version's `downgrade` (OTP's `{down, Vsn}`: the newer code owns both
    /// directions), then `to` decodes the state as its own.
    ///
    /// # Errors
    /// [`ModuleCallError::Unsupported`] when this version has no `downgrade` to
    /// `to`'s state schema (restore from the upgrade snapshot instead), or a
    /// failure or panic; the instance is handed back unchanged.
    pub fn downgrade(self, to: &Arc<Version>) -> Result<Instance, Box<MigrateFailed>> {
        let target = to.schemas().state;
        let to_version = to.version_str();
        let mut bytes = Vec::new();
        let from = Arc::clone(self.state.version());
        let code = self.state.downgrade(to_version, target, &mut bytes);
        let error = match code {
            Some(status::OK) => {
                let snapshot = StateSnapshot {
                    module: from.name().to_owned(),
                    version: from.version_str().to_owned(),
                    schema: target,
                    bytes,
                };
                match Self::restore(to, &snapshot, &[]) {
                    Ok(new) => return Ok(new),
                    Err(e) => e,
                }
            }
            Some(code) => ModuleCallError::from_status(&from, "downgrade", code, &bytes),
            None => ModuleCallError::Unsupported {
                module: from.name().to_owned(),
                version: from.version().to_string(),
                function: "downgrade",
                message: "this version has no downgrade".into(),
            },
        };
        Err(Box::new(MigrateFailed { instance: self, error }))
    }

    /// Start an instance of `to` from a snapshot (an upgrade-time snapshot
    /// when rolling back without `downgrade`, or any state `to` can read).
    ///
    /// # Errors
    /// `to`'s `code_change` cannot read the snapshot's schema, fails or panics.
    pub fn restore(
        to: &Arc<Version>,
        snapshot: &StateSnapshot,
        extra: &[u8],
    ) -> Result<Instance, ModuleCallError> {
        Self::restore_bytes(to, (&snapshot.version, snapshot.schema), &snapshot.bytes, extra)
    }

    /// [`restore`](Self::restore) from state bytes written by the version
    /// `from` (its version string and state schema), without a snapshot.
    ///
    /// # Errors
    /// As [`restore`](Self::restore).
    pub(crate) fn restore_bytes(
        to: &Arc<Version>,
        from: (&str, Fingerprint),
        bytes: &[u8],
        extra: &[u8],
    ) -> Result<Instance, ModuleCallError> {
        NewState::restore(to, Ticket::one(to), from, bytes, extra).map(Instance::from_new)
    }

    /// The instance of a state made beforehand.
    pub(crate) fn from_new(new: NewState) -> Instance {
        Instance { state: new.0, buf: Vec::new(), msg: Vec::new() }
    }
}

/// A state made for an instance not assembled yet: a quarter of an
/// [`Instance`]'s size, where an upgrade keeps one per actor (100 k at once,
/// in memory it faults in before its pause).
#[derive(Debug)]
pub(crate) struct NewState(LiveState<Version>);

impl NewState {
    /// [`Instance::restore_bytes`]'s state, with a ticket taken for `to`
    /// beforehand (many at once: [`Ticket::take`]).
    pub(crate) fn restore(
        to: &Arc<Version>,
        ticket: Ticket<Version>,
        from: (&str, Fingerprint),
        bytes: &[u8],
        extra: &[u8],
    ) -> Result<NewState, ModuleCallError> {
        debug_assert!(ticket.is_for(to), "a ticket for another version");
        let mut buf = Vec::new();
        match LiveState::code_change(ticket, from.0, from.1, bytes, extra, &mut buf) {
            Ok(state) => Ok(NewState(state)),
            Err(code) => Err(ModuleCallError::from_status(to, "code_change", code, &buf)),
        }
    }
}

// issue 14: sys
/// A `sys` function a module built before them does not have.
fn unsupported(version: &Version, function: &'static str) -> ModuleCallError {
    ModuleCallError::Unsupported {
        module: version.name().to_owned(),
        version: version.version_str().to_owned(),
        function,
        message: "the module was built before `sys` support (relive-sdk without issue 14)".into(),
    }
}
