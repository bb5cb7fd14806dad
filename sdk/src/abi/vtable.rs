//! The function table and the generic `extern "C"` functions that fill it.

use super::catch_panic::{Failure, guard};
use super::{HostServices, RBytes, Sink, StatePtr, host_services, install_flags};
use crate::{Context, ExitReason, Module, MonitorRef, OldState, StateWriter};
// issue 15: port
use crate::{PortResult, RequestId};
use relive_codec::{Fingerprint, compat};

/// The functions a module exports, all `unsafe extern "C"`, all catching
/// panics and returning a [`status`](super::status) code.
///
/// Append-only; `size` is `size_of::<VTable>()` as the module was built.
#[repr(C)]
#[derive(Debug)]
pub struct VTable {
    /// `size_of::<VTable>()`.
    pub size: u32,
    /// Receive the host's services; `flags` from [`install_flags`].
    pub install_host: unsafe extern "C" fn(host: *const HostServices, flags: u32) -> i32,
    /// Decode `args`, run `Module::init`, store the new state in `*state_out`.
    pub init: unsafe extern "C" fn(args: RBytes, state_out: *mut StatePtr, out: Sink<'_>) -> i32,
    /// Decode `msg`, run `Module::handle`, write the encoded reply to `out`.
    pub handle: unsafe extern "C" fn(state: StatePtr, msg: RBytes, out: Sink<'_>) -> i32,
    /// Write the encoded state to `out`.
    pub export_state: unsafe extern "C" fn(state: StatePtr, out: Sink<'_>) -> i32,
    /// Build a new state from state exported by version `from_version` with
    /// schema `from_schema` (a fingerprint as a little-endian `u64`), store it
    /// in `*state_out`.
    pub code_change: unsafe extern "C" fn(
        from_version: RBytes,
        from_schema: u64,
        old: RBytes,
        extra: RBytes,
        state_out: *mut StatePtr,
        out: Sink<'_>,
    ) -> i32,
    /// Write the state encoded with the older schema `to_schema` to `out`.
    /// Null when the module has no `downgrade`.
    pub downgrade: Option<
        unsafe extern "C" fn(
            state: StatePtr,
            to_version: RBytes,
            to_schema: u64,
            out: Sink<'_>,
        ) -> i32,
    >,
    /// Free a state created by `init` or `code_change` of this library.
    pub drop_state: unsafe extern "C" fn(state: StatePtr) -> i32,
    // issue 14: sys — entries for OTP's `sys` (get_state, replace_state,
    // trace). Optional: a host reads them only when `size` covers them, and
    // a module built before them answers `get_state` with "unsupported".
    /// Write the state as JSON (UTF-8) to `out` (OTP's `system_get_state`).
    pub state_json: Option<unsafe extern "C" fn(state: StatePtr, out: Sink<'_>) -> i32>,
    /// Decode `json` as a state, check it with `Module::validate` and, only
    /// if both succeed, make it the state in place (OTP's
    /// `system_replace_state`). On failure the state is unchanged and `out`
    /// holds the reason (`BAD_INPUT`: it did not decode; `FAILED`: refused).
    pub replace_state_json:
        Option<unsafe extern "C" fn(state: StatePtr, json: RBytes, out: Sink<'_>) -> i32>,
    /// Write encoded bytes of kind `what` ([`json_kinds`]) as JSON to `out`
    /// (a trace shows messages and replies this way).
    pub to_json: Option<unsafe extern "C" fn(what: u32, bytes: RBytes, out: Sink<'_>) -> i32>,
    // end issue 14: sys
    // issue 14: gen_server
    /// Run `Module::terminate` with the exit reason (tag and text). Null in
    /// a module built before it existed: nothing runs on stop.
    pub terminate:
        Option<unsafe extern "C" fn(state: StatePtr, tag: u32, text: RBytes, out: Sink<'_>) -> i32>,
    /// Run `Module::on_exit`: linked actor `from` exited with the reason
    /// (the module traps exits).
    pub on_exit: Option<
        unsafe extern "C" fn(
            state: StatePtr,
            from: u64,
            tag: u32,
            text: RBytes,
            out: Sink<'_>,
        ) -> i32,
    >,
    /// Run `Module::on_down`: the actor `who` watched by monitor `mref`
    /// exited with the reason.
    pub on_down: Option<
        unsafe extern "C" fn(
            state: StatePtr,
            mref: u64,
            who: u64,
            tag: u32,
            text: RBytes,
            out: Sink<'_>,
        ) -> i32,
    >,
    /// Run `Module::on_timeout`: the idle timeout set by a handler passed
    /// with no message.
    pub on_timeout: Option<unsafe extern "C" fn(state: StatePtr, out: Sink<'_>) -> i32>,
    // end issue 14: gen_server
    // issue 15: port
    /// Run `Module::on_reply`: port request `id` ended with `outcome`
    /// ([`port_outcome`](super::port_outcome)); `schema` and `bytes` as that
    /// code says. Null in a module built before ports: such a module never
    /// made a request, and a reply to it is dropped.
    pub on_reply: Option<
        unsafe extern "C" fn(
            state: StatePtr,
            id: u64,
            outcome: u32,
            schema: u64,
            bytes: RBytes,
            out: Sink<'_>,
        ) -> i32,
    >,
    // end issue 15: port
    // issue 15: lifecycle
    /// Run `Module::on_load` for the load of `version` replacing `previous`
    /// (empty and no [`load_flags::UPGRADE`] on a first load). `FAILED` or
    /// `PANICKED` vetoes the load; the sink holds the reason. Null in a
    /// module built before it: nothing runs, the load goes on.
    pub on_load: Option<
        unsafe extern "C" fn(version: RBytes, previous: RBytes, flags: u32, out: Sink<'_>) -> i32,
    >,
    /// Run `Module::on_free`, once, just before the library is unloaded.
    /// Null in a module built before it.
    pub on_free: Option<unsafe extern "C" fn(out: Sink<'_>) -> i32>,
    // end issue 15: lifecycle
    // issue 17: typed configuration, hot-reloaded
    /// Decode `section` (a `Configured::Section`, postcard) and, with
    /// [`config_flags::CHECK`], run `Configured::on_config` on it (`FAILED`
    /// or `PANICKED` vetoes it; the sink holds the reason); with
    /// [`config_flags::APPLY`], make it what `Context::config` returns.
    /// Null in a module that receives no section, or built before it.
    pub on_config: Option<unsafe extern "C" fn(section: RBytes, flags: u32, out: Sink<'_>) -> i32>,
    // end issue 17
}

// issue 17: typed configuration, hot-reloaded
/// Bits of `on_config`'s `flags` (both may be given: check, then apply).
pub mod config_flags {
    /// Run `Configured::on_config`: may the section be applied?
    pub const CHECK: u32 = 1 << 0;
    /// Apply it: `Context::config` returns it from now on.
    pub const APPLY: u32 = 1 << 1;
}

// issue 15: lifecycle
/// Bits of `on_load`'s `flags`.
pub mod load_flags {
    /// The load replaces a running version (`previous` is its version).
    pub const UPGRADE: u32 = 1 << 0;
}

/// What [`VTable::to_json`] is asked to render (issue 14: sys).
pub mod json_kinds {
    /// A message (`Module::Msg`).
    pub const MESSAGE: u32 = 0;
    /// A reply (`Module::Reply`).
    pub const REPLY: u32 = 1;
}

impl VTable {
    /// The table of module `M`.
    pub const fn new<M: Module>() -> Self {
        VTable {
            size: size_of::<VTable>() as u32,
            install_host: exports::install_host,
            init: exports::init::<M>,
            handle: exports::handle::<M>,
            export_state: exports::export_state::<M>,
            code_change: exports::code_change::<M>,
            downgrade: if M::DOWNGRADES_TO.is_empty() {
                None
            } else {
                Some(exports::downgrade::<M>)
            },
            drop_state: exports::drop_state::<M>,
            // issue 14: sys
            state_json: Some(exports::state_json::<M>),
            replace_state_json: Some(exports::replace_state_json::<M>),
            to_json: Some(exports::to_json::<M>),
            terminate: Some(exports::terminate::<M>),
            on_exit: Some(exports::on_exit::<M>),
            on_down: Some(exports::on_down::<M>),
            on_timeout: Some(exports::on_timeout::<M>),
            // issue 15: port
            on_reply: Some(exports::on_reply::<M>),
            // issue 15: lifecycle
            on_load: Some(exports::on_load::<M>),
            on_free: Some(exports::on_free::<M>),
            // issue 17: typed configuration, hot-reloaded
            on_config: None,
        }
    }

    // issue 17: typed configuration, hot-reloaded
    /// This table with `on_config` for a module that receives a section.
    pub const fn with_config<M: crate::Configured>(mut self) -> Self {
        self.on_config = Some(exports::on_config::<M>);
        self
    }
}

/// The exported functions, generic over the module type.
///
/// # Safety (the contract the host keeps for every function here)
/// - every `RBytes` is valid for reads for the duration of the call;
/// - `out` is a sink the host built for this call;
/// - `state` was produced by `init` or `code_change` of the *same* library
///   (so it points to a live `M`), is not used by any other thread during the
///   call, and is never used again after `drop_state`;
/// - `state_out` is valid for one write.
pub mod exports {
    use super::*;

    fn decode<'a, T: serde::Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, Failure> {
        relive_codec::decode(bytes).map_err(|e| Failure::BadInput(format!("{what}: {e}")))
    }

    /// Box `m` and write the state pointer to `state_out`.
    ///
    /// # Safety
    /// `state_out` is valid for one write (the host's contract).
    unsafe fn store<M: Module>(state_out: *mut StatePtr, m: M) {
        let ptr: StatePtr = Box::into_raw(Box::new(m)).cast();
        // SAFETY: the caller guarantees `state_out` is valid for one write.
        unsafe { state_out.write(ptr) }
    }

    /// # Safety
    /// `host` is null or points to a table that stays valid and unchanged
    /// while this library is loaded.
    pub unsafe extern "C" fn install_host(host: *const HostServices, flags: u32) -> i32 {
        host_services::set_host(host);
        if flags & (install_flags::QUIET_PANICS | install_flags::FORWARD_LOGS) != 0 {
            super::super::catch_panic::install_quiet_hook();
        }
        if flags & install_flags::FORWARD_LOGS != 0 {
            // Fails harmlessly if this library already has a dispatcher.
            let _ = tracing::dispatcher::set_global_default(tracing::Dispatch::new(
                crate::log::Forward::new(),
            ));
        }
        super::super::status::OK
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn init<M: Module>(
        args: RBytes,
        state_out: *mut StatePtr,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `args` valid for this call.
            let args = decode::<M::Args>("init args", unsafe { args.as_slice() })?;
            let m = M::init(args, &mut Context::new())?;
            // SAFETY: the host keeps `state_out` valid for one write.
            unsafe { store(state_out, m) };
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn handle<M: Module>(state: StatePtr, msg: RBytes, out: Sink<'_>) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `msg` valid for this call.
            let msg = decode::<M::Msg>("message", unsafe { msg.as_slice() })?;
            // SAFETY: `state` points to a live `M` made by this library and the
            // host gives this call exclusive access to it.
            let m = unsafe { &mut *state.cast::<M>() };
            let reply = m.handle(msg, &mut Context::new());
            if out.discards() {
                return Ok(());
            }
            relive_codec::encode_to_sink(&reply, |b| out.write(b))
                .map_err(|e| Failure::Failed(e.into()))
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn export_state<M: Module>(state: StatePtr, out: Sink<'_>) -> i32 {
        guard(&out, || {
            // SAFETY: `state` points to a live `M` made by this library; the
            // host does not use it elsewhere during the call.
            let m = unsafe { &*state.cast::<M>() };
            m.export_state(&mut StateWriter::new(&out, Fingerprint::of::<M>()))?;
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn code_change<M: Module>(
        from_version: RBytes,
        from_schema: u64,
        old: RBytes,
        extra: RBytes,
        state_out: *mut StatePtr,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps all three byte slices valid for this call.
            let (from_version, old, extra) =
                unsafe { (from_version.as_slice(), old.as_slice(), extra.as_slice()) };
            let from_schema = Fingerprint::from_u64(from_schema);
            let version = std::str::from_utf8(from_version).unwrap_or("?");
            let own = Fingerprint::of::<M>();
            let m = match compat::state_compat(own, M::READS, from_schema) {
                compat::StateCompat::Same => decode::<M>("state", old)?,
                compat::StateCompat::Migrates => {
                    M::code_change(OldState::new(version, from_schema, old), extra)?
                }
                compat::StateCompat::Unreadable => {
                    return Err(Failure::Unsupported(format!(
                        "{}: code_change cannot read state schema {from_schema} of version {version}",
                        M::NAME
                    )));
                }
            };
            // SAFETY: the host keeps `state_out` valid for one write.
            unsafe { store(state_out, m) };
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn downgrade<M: Module>(
        state: StatePtr,
        to_version: RBytes,
        to_schema: u64,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `to_version` valid for this call.
            let to_version = unsafe { to_version.as_slice() };
            let version = std::str::from_utf8(to_version).unwrap_or("?");
            let schema = Fingerprint::from_u64(to_schema);
            if !M::DOWNGRADES_TO.contains(&schema) {
                return Err(Failure::Unsupported(format!(
                    "{}: downgrade cannot write state schema {schema} of version {version}",
                    M::NAME
                )));
            }
            // SAFETY: `state` points to a live `M` made by this library; the
            // host does not use it elsewhere during the call.
            let m = unsafe { &*state.cast::<M>() };
            m.downgrade(version, &mut StateWriter::new(&out, schema))?;
            Ok(())
        })
    }

    // issue 14: sys
    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn state_json<M: Module>(state: StatePtr, out: Sink<'_>) -> i32 {
        guard(&out, || {
            // SAFETY: `state` points to a live `M` made by this library; the
            // host does not use it elsewhere during the call.
            let m = unsafe { &*state.cast::<M>() };
            let json = serde_json::to_vec(m).map_err(|e| {
                Failure::Failed(crate::ModuleError::new(format!("state as JSON: {e}")))
            })?;
            out.write(&json);
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn replace_state_json<M: Module>(
        state: StatePtr,
        json: RBytes,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `json` valid for this call.
            let json = unsafe { json.as_slice() };
            let new: M = serde_json::from_slice(json)
                .map_err(|e| Failure::BadInput(format!("state from JSON: {e}")))?;
            new.validate()?;
            // SAFETY: `state` points to a live `M` made by this library and the
            // host gives this call exclusive access to it.
            let m = unsafe { &mut *state.cast::<M>() };
            *m = new;
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn to_json<M: Module>(what: u32, bytes: RBytes, out: Sink<'_>) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `bytes` valid for this call.
            let bytes = unsafe { bytes.as_slice() };
            let json = match what {
                super::json_kinds::MESSAGE => {
                    serde_json::to_vec(&decode::<M::Msg>("message", bytes)?)
                }
                super::json_kinds::REPLY => {
                    serde_json::to_vec(&decode::<M::Reply>("reply", bytes)?)
                }
                other => return Err(Failure::Unsupported(format!("no JSON for kind {other}"))),
            }
            .map_err(|e| Failure::Failed(crate::ModuleError::new(format!("as JSON: {e}"))))?;
            out.write(&json);
            Ok(())
        })
    }
    // end issue 14: sys

    // issue 14: gen_server

    /// Run callback `f` on the state with the exit reason behind the ABI's
    /// `tag` and `text`, catching its panic.
    ///
    /// # Safety
    /// The [module contract](self): `state` is a live `M` of this library
    /// the host lends for the call; `text` is valid for the call.
    unsafe fn with_reason<M: Module>(
        state: StatePtr,
        tag: u32,
        text: RBytes,
        out: &Sink<'_>,
        f: impl FnOnce(&mut M, &ExitReason, &mut Context<'_>),
    ) -> i32 {
        guard(out, || {
            // SAFETY: the caller's contract.
            let text = unsafe { text.as_slice() };
            let reason = ExitReason::from_abi(tag, &String::from_utf8_lossy(text));
            // SAFETY: the caller's contract, as in `handle`.
            let m = unsafe { &mut *state.cast::<M>() };
            f(m, &reason, &mut Context::new());
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn terminate<M: Module>(
        state: StatePtr,
        tag: u32,
        text: RBytes,
        out: Sink<'_>,
    ) -> i32 {
        // SAFETY: the module contract, passed on.
        unsafe { with_reason::<M>(state, tag, text, &out, |m, r, ctx| m.terminate(r, ctx)) }
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn on_exit<M: Module>(
        state: StatePtr,
        from: u64,
        tag: u32,
        text: RBytes,
        out: Sink<'_>,
    ) -> i32 {
        // SAFETY: the module contract, passed on.
        unsafe { with_reason::<M>(state, tag, text, &out, |m, r, ctx| m.on_exit(from, r, ctx)) }
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn on_down<M: Module>(
        state: StatePtr,
        mref: u64,
        who: u64,
        tag: u32,
        text: RBytes,
        out: Sink<'_>,
    ) -> i32 {
        let down = |m: &mut M, r: &ExitReason, ctx: &mut Context<'_>| {
            m.on_down(MonitorRef(mref), who, r, ctx);
        };
        // SAFETY: the module contract, passed on.
        unsafe { with_reason::<M>(state, tag, text, &out, down) }
    }

    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn on_timeout<M: Module>(state: StatePtr, out: Sink<'_>) -> i32 {
        guard(&out, || {
            // SAFETY: as in `handle`.
            let m = unsafe { &mut *state.cast::<M>() };
            m.on_timeout(&mut Context::new());
            Ok(())
        })
    }
    // end issue 14: gen_server

    // issue 15: port
    /// # Safety
    /// See the [module contract](self).
    pub unsafe extern "C" fn on_reply<M: Module>(
        state: StatePtr,
        id: u64,
        outcome: u32,
        schema: u64,
        bytes: RBytes,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `bytes` valid for this call.
            let bytes = unsafe { bytes.as_slice() };
            let result = PortResult::from_abi(outcome, Fingerprint::from_u64(schema), bytes);
            // SAFETY: as in `handle`.
            let m = unsafe { &mut *state.cast::<M>() };
            m.on_reply(RequestId(id), result, &mut Context::new());
            Ok(())
        })
    }
    // end issue 15: port
    // issue 15: lifecycle
    /// # Safety
    /// See the [module contract](self) (no state is involved).
    pub unsafe extern "C" fn on_load<M: Module>(
        version: RBytes,
        previous: RBytes,
        flags: u32,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps both slices valid for this call.
            let (version, previous) = unsafe { (version.as_slice(), previous.as_slice()) };
            let version = std::str::from_utf8(version).unwrap_or("?");
            let previous = (flags & super::load_flags::UPGRADE != 0)
                .then(|| std::str::from_utf8(previous).unwrap_or("?"));
            M::on_load(&crate::LoadInfo::new(version, previous))?;
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self) (no state is involved).
    pub unsafe extern "C" fn on_free<M: Module>(out: Sink<'_>) -> i32 {
        guard(&out, || {
            M::on_free();
            Ok(())
        })
    }
    // end issue 15: lifecycle

    // issue 17: typed configuration, hot-reloaded
    /// # Safety
    /// See the [module contract](self) (no state is involved).
    pub unsafe extern "C" fn on_config<M: crate::Configured>(
        section: RBytes,
        flags: u32,
        out: Sink<'_>,
    ) -> i32 {
        guard(&out, || {
            // SAFETY: the host keeps `section` valid for this call.
            let bytes = unsafe { section.as_slice() };
            let section = decode::<M::Section>("configuration section", bytes)?;
            if flags & super::config_flags::CHECK != 0 {
                M::on_config(&section)?;
            }
            if flags & super::config_flags::APPLY != 0 {
                crate::config::apply(section);
            }
            Ok(())
        })
    }

    /// # Safety
    /// See the [module contract](self); `state` is not used after this call.
    pub unsafe extern "C" fn drop_state<M: Module>(state: StatePtr) -> i32 {
        let dropped = std::panic::catch_unwind(|| {
            // SAFETY: `state` came from `Box::into_raw` of an `M` in `store`
            // and the host passes it here exactly once.
            drop(unsafe { Box::from_raw(state.cast::<M>()) });
        });
        match dropped {
            Ok(()) => super::super::status::OK,
            Err(payload) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)));
                super::super::status::PANICKED
            }
        }
    }
}
