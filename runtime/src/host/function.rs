//! issue 17: stateless functions, called inline — the typed handle a host
//! gives out ([`Function`]), the slot every handle of one function shares,
//! and the host's table of slots ([`Functions`]).
//!
//! A slot is an RCU cell (`ffi::snapshot::Snapshot`, decision 0031)
//! holding what serves the function now: the version, its entry point
//! and, during a gradual upgrade, the new version and the share of calls
//! it gets. An upgrade, rollback, promote or abort stores a new value once
//! per function, so every handle sees it at once. A call reads the value
//! through its thread's cached pointer (one load of the slot's generation
//! and a pin in the thread's own cell: no lock, no read-modify-write) and
//! holds it until it returns: the `Arc<Version>` in it keeps that version's
//! library open, so a call in flight finishes on the version it started
//! on, and the value is dropped — and the version unloaded (the code
//! server's unload check) — only after the last such call returned, by
//! that call's thread if it was the last. A function runs on its caller's thread, not on
//! a worker: if its code leaves a thread-local with a destructor there,
//! glibc keeps that version mapped until the calling thread ends (memory
//! safe; the unload check reports it `Resident`, docs/guide.md, "What a
//! module may do").

use crate::code_server::{ModuleTable, Version};
use crate::ffi::calls::{FunctionOutcome, call_function, call_plain};
use crate::ffi::decl::{FunctionPtr, PlainForm};
use crate::ffi::snapshot::Snapshot;
use crate::sharded_count::ShardedCount;
use parking_lot::Mutex;
use relive_codec::{CodecError, Fingerprint, Schema, plain};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Arguments and results up to this many bytes are encoded into a buffer on
/// the caller's stack; longer ones go through a `Vec`.
pub const INLINE_BYTES: usize = 128;

/// Why a function could not be looked up or called.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionError {
    /// No version of the module is loaded.
    #[error("module `{module}` is not loaded")]
    NotLoaded {
        /// The module.
        module: String,
    },
    /// The module's current version exports no function of that name.
    #[error("module `{module}` {version} exports no function `{function}`")]
    NoSuchFunction {
        /// The module.
        module: String,
        /// The function asked for.
        function: String,
        /// The current version.
        version: String,
    },
    /// The caller's argument or result type is not the function's.
    #[error(
        "function `{module}::{function}` of version {version}: the caller's {what} type {expected} \
         is not the function's {found}"
    )]
    SchemaMismatch {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The version serving it.
        version: String,
        /// `"argument"` or `"result"`.
        what: &'static str,
        /// The caller's type's fingerprint.
        expected: Fingerprint,
        /// The function's.
        found: Fingerprint,
    },
    /// No loaded version serves the function any more (a rollback went back
    /// to a version that does not export it).
    #[error("function `{module}::{function}` is not exported by the version now serving")]
    Unavailable {
        /// The module.
        module: String,
        /// The function.
        function: String,
    },
    /// The function panicked (caught at the boundary: the host runs on).
    #[error("function `{module}::{function}` of version {version} panicked: {message}")]
    Panicked {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The version that ran it.
        version: String,
        /// The panic message (and where it happened).
        message: String,
    },
    /// The function did not return a result for another reason: its
    /// argument did not decode in the module, or its result did not encode.
    #[error(
        "function `{module}::{function}` of version {version} failed (status {status}): {message}"
    )]
    Failed {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The version that ran it.
        version: String,
        /// The module's status code (`relive_sdk::abi::status`).
        status: i32,
        /// Its message.
        message: String,
    },
    /// The argument could not be encoded, or the result not decoded.
    #[error("function `{module}::{function}`: {source}")]
    Codec {
        /// The module.
        module: String,
        /// The function.
        function: String,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
}

/// What serves one function: a version and its entry point.
struct Target {
    version: Arc<Version>,
    call: FunctionPtr,
    arg: Fingerprint,
    result: Fingerprint,
    /// The plain form, when the function has one (decision 0025).
    plain: Option<PlainForm>,
}

impl Target {
    /// `name` as `version` exports it, if it does.
    fn of(version: &Arc<Version>, name: &str) -> Option<Target> {
        let f = version.declared_functions().iter().find(|f| f.name == name)?;
        Some(Target {
            version: Arc::clone(version),
            call: f.call,
            arg: f.arg_schema,
            result: f.result_schema,
            plain: f.plain,
        })
    }
}

/// The value in a slot: what serves the function now.
struct Serving {
    /// The version serving every call (none: no loaded version exports it).
    primary: Option<Target>,
    /// During a gradual upgrade: the new version and the percentage of
    /// calls it serves.
    canary: Option<(Target, u32)>,
    /// Counts calls, to split them between `primary` and `canary`.
    turn: AtomicU64,
}

impl Serving {
    fn pick(&self) -> Option<&Target> {
        match &self.canary {
            None => self.primary.as_ref(),
            Some((canary, share)) => {
                // ORDERING: only the count matters, not its order with
                // anything else.
                let n = self.turn.fetch_add(1, Ordering::Relaxed);
                if n % 100 < u64::from(*share) { Some(canary) } else { self.primary.as_ref() }
            }
        }
    }
}

/// The slot every handle of one function shares.
pub(crate) struct FunctionSlot {
    module: String,
    name: String,
    serving: Snapshot<Serving>,
    /// Calls through every handle, counted per calling thread.
    calls: ShardedCount,
}

/// How a module's functions are served, from the code server's slots: its
/// current version, or (during a gradual upgrade) the old one with a share
/// of calls for the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serve {
    /// Every call on the current version.
    Current,
    /// The old version, and this percentage of calls on the current one.
    Gradual(u32),
}

impl FunctionSlot {
    fn serving(table: &ModuleTable, module: &str, name: &str, serve: Serve) -> Serving {
        let current = table.current(module);
        let new = || current.as_ref().and_then(|c| Target::of(c, name));
        let (primary, canary) = match (serve, table.old(module)) {
            (Serve::Gradual(share), Some(old)) => match Target::of(&old, name) {
                Some(old) => (Some(old), new().map(|t| (t, share.min(100)))),
                // A function new in this release has no old version to
                // share calls with: the new version serves every call.
                None => (new(), None),
            },
            _ => (new(), None),
        };
        Serving { primary, canary, turn: AtomicU64::new(0) }
    }
}

/// A typed handle to function `name` of a module: [`call`](Self::call)
/// runs the version serving it now, inline on the calling thread. Cheap to
/// clone; `Send` and `Sync`. Every handle of one function sees an upgrade
/// at once. Get one with [`HostHandle::function`](crate::host::HostHandle::function).
pub struct Function<A, R> {
    slot: Arc<FunctionSlot>,
    arg: Fingerprint,
    result: Fingerprint,
    /// The image sizes of `A` and `R` when both are plain
    /// (`relive_codec::plain`), so calls may take the plain form.
    plain: Option<(usize, usize)>,
    _types: PhantomData<fn(&A) -> R>,
}

impl<A, R> Clone for Function<A, R> {
    fn clone(&self) -> Self {
        Function {
            slot: Arc::clone(&self.slot),
            arg: self.arg,
            result: self.result,
            plain: self.plain,
            _types: PhantomData,
        }
    }
}

impl<A, R> std::fmt::Debug for Function<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("module", &self.slot.module)
            .field("name", &self.slot.name)
            .finish_non_exhaustive()
    }
}

impl<A: Serialize + Schema, R: DeserializeOwned + Schema> Function<A, R> {
    /// The image sizes of `A` and `R` when both are plain, as constants
    /// (issue 17: the plain call's buffers then have constant lengths, and
    /// once inlined the image's bounds checks fold away).
    const PLAIN: Option<(usize, usize)> = match (plain::size::<A>(), plain::size::<R>()) {
        (Some(a), Some(r)) => Some((a, r)),
        _ => None,
    };

    /// Run the function on `arg`, on this thread, in the version serving it
    /// now (during a gradual upgrade, the new version for its share of
    /// calls). The call holds that version until it returns: an upgrade
    /// meanwhile serves later calls with the new version, and this one
    /// finishes on its own. No allocation for small arguments: when `A`
    /// and `R` are plain (fixed-size leaves only, `relive_codec::plain`)
    /// and the version has the plain form, their images go by pointer to
    /// and from buffers on this stack; otherwise arguments and results of up
    /// to [`INLINE_BYTES`] bytes are postcard-encoded on the stack. Both
    /// forms give the same result (decision 0025).
    ///
    /// # Errors
    /// [`FunctionError::Panicked`] when the function panicked (the host
    /// runs on); [`FunctionError::Unavailable`] when no loaded version
    /// exports it any more; [`FunctionError::SchemaMismatch`] when the
    /// version serving it (after a rollback) has other types;
    /// [`FunctionError::Failed`], [`FunctionError::Codec`].
    #[inline(always)]
    pub fn call(&self, arg: &A) -> Result<R, FunctionError> {
        self.slot.serving.read(
            #[inline(always)]
            |serving, shard| self.call_on(serving, shard, arg),
        )
    }

    /// [`call`](Self::call) on `serving`, by the thread of index `shard`.
    ///
    /// issue 17: only the plain form is inline here; the encoded form and
    /// every error are out of line, so that the whole plain call inlines
    /// into its caller and the result does not go through another return
    /// slot between its decode and its use (a struct stored field by field
    /// and copied with wider loads stalls store forwarding). The chain —
    /// [`call`](Self::call), the slot's read and its closures, this,
    /// `call_plain` — is `#[inline(always)]`: with `#[inline]` LLVM left
    /// the read out of line (over its threshold) and the result crossed
    /// one more slot.
    #[inline(always)]
    fn call_on(
        &self,
        serving: &Serving,
        shard: Option<usize>,
        arg: &A,
    ) -> Result<R, FunctionError> {
        let Some(target) = serving.pick() else {
            return Err(self.unavailable());
        };
        if target.arg != self.arg || target.result != self.result {
            return Err(self.mismatch(target));
        }
        // The count goes first: a call is counted whether it returns or
        // not, by this thread's own cell (no shared line written).
        self.slot.calls.add_at(shard, 1);
        if let (Some(form), Some((arg_size, result_size))) = (&target.plain, Self::PLAIN) {
            // Equal fingerprints mean equal schemas, hence equal image
            // sizes; the check keeps a disagreement an error, not a misread.
            if form.arg_size == arg_size && form.result_size == result_size {
                return self.call_plain(form, target, arg, arg_size, result_size);
            }
        }
        self.call_encoded(target, arg)
    }

    /// The encoded form of [`call`](Self::call): `arg` postcard-encoded on
    /// the stack (or in a `Vec` past [`INLINE_BYTES`]), the module's
    /// entry, the result decoded from the stack buffer or the spill.
    #[inline(never)]
    fn call_encoded(&self, target: &Target, arg: &A) -> Result<R, FunctionError> {
        let mut inline = [0u8; INLINE_BYTES];
        let mut heap = Vec::new();
        let arg_bytes: &[u8] = match relive_codec::encode_to_slice(arg, &mut inline) {
            Ok(Some(n)) => &inline[..n],
            Ok(None) => {
                relive_codec::encode_into(arg, &mut heap).map_err(|e| self.codec(e))?;
                &heap
            }
            Err(e) => return Err(self.codec(e)),
        };
        let mut out = [0u8; INLINE_BYTES];
        let mut spill = Vec::new();
        let outcome = call_function(target.call, arg_bytes, &mut out, &mut spill);
        match outcome {
            FunctionOutcome::InBuffer(n) => {
                relive_codec::decode(&out[..n]).map_err(|e| self.codec(e))
            }
            FunctionOutcome::Spilled => relive_codec::decode(&spill).map_err(|e| self.codec(e)),
            FunctionOutcome::Status(code) => Err(self.failure(target, code, &spill)),
        }
    }

    /// The plain form of [`call`](Self::call): `arg`'s image into a stack
    /// buffer, the module's plain entry, the result's image read back.
    /// `arg_size` and `result_size` are the images' sizes ([`Self::PLAIN`],
    /// which the entry `form` was declared with).
    #[inline(always)]
    fn call_plain(
        &self,
        form: &PlainForm,
        target: &Target,
        arg: &A,
        arg_size: usize,
        result_size: usize,
    ) -> Result<R, FunctionError> {
        let mut image = [0u8; plain::MAX];
        let image = &mut image[..arg_size];
        let n = plain::encode(arg, image).map_err(|e| self.codec(e))?;
        let mut out = [0u8; plain::MAX];
        let out = &mut out[..result_size];
        let mut spill = Vec::new();
        let code = call_plain(form, &image[..n], out, &mut spill);
        if code != relive_sdk::abi::status::OK {
            return Err(self.failure(target, code, &spill));
        }
        plain::decode(out).map_err(|e| self.codec(e))
    }
}

impl<A, R> Function<A, R> {
    /// The module.
    pub fn module(&self) -> &str {
        &self.slot.module
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The version serving the function now (during a gradual upgrade, the
    /// old one: most calls go to it); `None` when none exports it.
    pub fn version(&self) -> Option<semver::Version> {
        self.slot.serving.load_full().primary.as_ref().map(|t| t.version.version().clone())
    }

    /// Whether a call now takes the plain form (decision 0025): `A` and `R`
    /// are plain (`relive_codec::plain`) and the version serving every call
    /// (during a gradual upgrade, the old one) has the plain entry. Either
    /// form gives the same result; the plain one is the cheaper.
    pub fn is_plain(&self) -> bool {
        let serving = self.slot.serving.load_full();
        match (serving.primary.as_ref().and_then(|t| t.plain.as_ref()), self.plain) {
            (Some(form), Some((arg, result))) => form.arg_size == arg && form.result_size == result,
            _ => false,
        }
    }

    /// Calls made through every handle of this function so far.
    pub fn calls(&self) -> u64 {
        self.slot.calls.total()
    }

    /// The error of a call that ended with status `code` and `message`.
    #[cold]
    #[inline(never)]
    fn failure(&self, target: &Target, code: i32, message: &[u8]) -> FunctionError {
        let (module, function) = (self.slot.module.clone(), self.slot.name.clone());
        let version = target.version.version().to_string();
        let message = String::from_utf8_lossy(message).into_owned();
        if code == relive_sdk::abi::status::PANICKED {
            FunctionError::Panicked { module, function, version, message }
        } else {
            FunctionError::Failed { module, function, version, status: code, message }
        }
    }

    /// The error of a call that no loaded version serves.
    #[cold]
    #[inline(never)]
    fn unavailable(&self) -> FunctionError {
        FunctionError::Unavailable {
            module: self.slot.module.clone(),
            function: self.slot.name.clone(),
        }
    }

    #[cold]
    #[inline(never)]
    fn mismatch(&self, target: &Target) -> FunctionError {
        let (what, expected, found) = if target.arg != self.arg {
            ("argument", self.arg, target.arg)
        } else {
            ("result", self.result, target.result)
        };
        FunctionError::SchemaMismatch {
            module: self.slot.module.clone(),
            function: self.slot.name.clone(),
            version: target.version.version().to_string(),
            what,
            expected,
            found,
        }
    }

    #[cold]
    #[inline(never)]
    fn codec(&self, source: CodecError) -> FunctionError {
        FunctionError::Codec {
            module: self.slot.module.clone(),
            function: self.slot.name.clone(),
            source,
        }
    }
}

/// One exported function as `relive status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// The module.
    pub module: String,
    /// The function.
    pub function: String,
    /// The version serving it (during a gradual upgrade, the old one).
    pub version: Option<semver::Version>,
    /// During a gradual upgrade: the new version and its share of calls
    /// (percent).
    pub canary: Option<(semver::Version, u32)>,
    /// Calls made through the host's handles so far.
    pub calls: u64,
}

/// The host's function slots, by module and function.
#[derive(Default)]
pub(crate) struct Functions {
    slots: Mutex<HashMap<(String, String), Arc<FunctionSlot>>>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions").field("slots", &self.slots.lock().len()).finish()
    }
}

impl Functions {
    /// A typed handle to `module`'s function `name`.
    pub(crate) fn handle<A: Schema, R: Schema>(
        &self,
        table: &ModuleTable,
        module: &str,
        name: &str,
        serve: &dyn Fn() -> Serve,
    ) -> Result<Function<A, R>, FunctionError> {
        let current = table
            .current(module)
            .ok_or_else(|| FunctionError::NotLoaded { module: module.to_owned() })?;
        let slot = {
            let mut slots = self.slots.lock();
            let key = (module.to_owned(), name.to_owned());
            if let Some(slot) = slots.get(&key) {
                Arc::clone(slot)
            } else {
                if Target::of(&current, name).is_none() {
                    return Err(FunctionError::NoSuchFunction {
                        module: module.to_owned(),
                        function: name.to_owned(),
                        version: current.version().to_string(),
                    });
                }
                let slot = Arc::new(FunctionSlot {
                    module: module.to_owned(),
                    name: name.to_owned(),
                    serving: Snapshot::new(Arc::new(FunctionSlot::serving(
                        table,
                        module,
                        name,
                        serve(),
                    ))),
                    calls: ShardedCount::default(),
                });
                slots.insert(key, Arc::clone(&slot));
                slot
            }
        };
        let handle = Function {
            slot,
            arg: Fingerprint::of::<A>(),
            result: Fingerprint::of::<R>(),
            plain: plain::size::<A>().zip(plain::size::<R>()),
            _types: PhantomData,
        };
        let serving = handle.slot.serving.load_full();
        match serving.primary.as_ref().or(serving.canary.as_ref().map(|(t, _)| t)) {
            None => Err(FunctionError::NoSuchFunction {
                module: module.to_owned(),
                function: name.to_owned(),
                version: current.version().to_string(),
            }),
            Some(t) if t.arg != handle.arg || t.result != handle.result => Err(handle.mismatch(t)),
            Some(_) => Ok(handle),
        }
    }

    /// Serve every function of `module` from the code server's slots as
    /// they are now (after an upgrade, rollback, promote, abort or purge).
    ///
    /// Under the slots' lock, so that of two refreshes racing, the later
    /// one's view of the code server is what stays.
    /// `serve` is asked under that lock too, for the same reason.
    pub(crate) fn refresh(&self, table: &ModuleTable, module: &str, serve: &dyn Fn() -> Serve) {
        let slots = self.slots.lock();
        let serve = serve();
        for ((m, name), slot) in slots.iter() {
            if m == module {
                let next = FunctionSlot::serving(table, module, name, serve);
                // The previous value drops here unless a call holds it: the
                // version it served stays loaded until the last such call
                // returns (and drops it).
                slot.serving.store(Arc::new(next));
            }
        }
    }

    /// Every function the loaded modules' current versions export (and any
    /// a handle still serves), with its version and calls; `serve` says
    /// how each module is served.
    pub(crate) fn infos(
        &self,
        table: &ModuleTable,
        serve: &dyn Fn(&str) -> Serve,
    ) -> Vec<FunctionInfo> {
        let slots = self.slots.lock();
        let mut out = Vec::new();
        let mut modules = table.modules();
        modules.sort();
        for module in modules {
            let Some(current) = table.current(&module) else { continue };
            let mut names: Vec<String> =
                current.declared_functions().iter().map(|f| f.name.clone()).collect();
            for (m, n) in slots.keys() {
                if *m == module && !names.contains(n) {
                    names.push(n.clone());
                }
            }
            names.sort();
            for name in names {
                let slot = slots.get(&(module.clone(), name.clone()));
                let info = |serving: &Serving, calls: u64| FunctionInfo {
                    module: module.clone(),
                    function: name.clone(),
                    version: serving.primary.as_ref().map(|t| t.version.version().clone()),
                    canary: serving
                        .canary
                        .as_ref()
                        .map(|(t, share)| (t.version.version().clone(), *share)),
                    calls,
                };
                out.push(match slot {
                    Some(s) => info(&s.serving.load_full(), s.calls.total()),
                    None => info(&FunctionSlot::serving(table, &module, &name, serve(&module)), 0),
                });
            }
        }
        out
    }
}
