//! `Version`: one loaded build of a module, always behind an `Arc`.

use crate::ffi::decl::{Declaration, Table};
use libloading::os::unix::Library;
use relive_codec::Fingerprint;
use relive_codec::variants::VariantList;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

pub use super::build_hash::BuildHash;

/// Where a version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A library file, loaded from `path` through the private copy `copy`.
    Dylib {
        /// The file the host was asked to load.
        path: PathBuf,
        /// The private copy that is actually mapped.
        copy: PathBuf,
    },
    /// A module linked into the host with `declaration!`.
    Static,
}

/// One loaded build of a module: its declaration (copied into host memory),
/// its function table and the library that owns the table.
///
/// Always behind an `Arc`: instances running this version hold one, the code
/// server's slots hold one. The library is closed when the last `Arc` drops,
/// so no function pointer or state pointer can outlive it.
pub struct Version {
    decl: Declaration,
    /// The name once more, shared by every actor running this version (one
    /// allocation per version instead of one per actor).
    shared_name: Arc<str>,
    /// `semver` formatted once: every migration's snapshot records it.
    version_str: String,
    semver: semver::Version,
    hash: BuildHash,
    /// Unique among the versions this process ever loaded (an index key).
    serial: u64,
    origin: Origin,
    loaded_at: SystemTime,
    instances: AtomicUsize,
    table: Table,
    library: Option<Library>,
    // issue 15: dependencies
    depends: Vec<super::dependency::Dependency>,
    // issue 15: lifecycle
    /// Its `on_load` accepted it (or it has none): its `on_free` runs when
    /// it goes. A version refused at load never lived.
    lived: std::sync::atomic::AtomicBool,
    /// The stream its unload is reported on (set when the code server
    /// accepts it).
    events: std::sync::OnceLock<Weak<super::events::EventBus>>,
    // issue 15: interfaces that grow
    /// One more than the highest message variant index this version's
    /// instances were handed (0: none yet): what a rollback must keep.
    variants_used: AtomicU32,
    // issue 16: metrics
    /// What its actors did (kept by the table's version list after it goes).
    metrics: Arc<super::metrics::VersionMetrics>,
}

impl Version {
    pub(crate) fn new(
        decl: Declaration,
        semver: semver::Version,
        hash: BuildHash,
        origin: Origin,
        table: Table,
        library: Option<Library>,
    ) -> Self {
        static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
        Version {
            depends: decl.depends.iter().map(Into::into).collect(),
            lived: std::sync::atomic::AtomicBool::new(false),
            events: std::sync::OnceLock::new(),
            shared_name: Arc::from(decl.name.as_str()),
            version_str: semver.to_string(),
            decl,
            semver,
            hash,
            // ORDERING: only uniqueness matters.
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            origin,
            loaded_at: SystemTime::now(),
            instances: AtomicUsize::new(0),
            table,
            library,
            variants_used: AtomicU32::new(0),
            metrics: Arc::default(),
        }
    }

    // issue 17: functions
    /// The stateless functions this version exports.
    pub fn functions(&self) -> Vec<super::function::FunctionSchema> {
        self.decl
            .functions
            .iter()
            .map(|f| super::function::FunctionSchema {
                name: f.name.clone(),
                arg: f.arg_schema,
                result: f.result_schema,
            })
            .collect()
    }

    /// The exported functions as declared, entry points included (valid
    /// while this version lives).
    pub(crate) fn declared_functions(&self) -> &[crate::ffi::decl::DeclaredFunction] {
        &self.decl.functions
    }

    /// The module name.
    pub fn name(&self) -> &str {
        &self.decl.name
    }

    /// The semver version as text (formatted once, at load).
    pub(crate) fn version_str(&self) -> &str {
        &self.version_str
    }

    /// The module name as the actors running this version hold it.
    pub(crate) fn shared_name(&self) -> Arc<str> {
        Arc::clone(&self.shared_name)
    }

    /// A number no other version loaded by this process has: the key under
    /// which the host indexes the actors running this version.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The semver version.
    pub fn version(&self) -> &semver::Version {
        &self.semver
    }

    /// The build's identity (SHA-256 of the library file; for a static module,
    /// of its declaration).
    pub fn hash(&self) -> BuildHash {
        self.hash
    }

    /// Where this version was loaded from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The source as error messages name it: the path, or `static:<name>`.
    pub fn source_name(&self) -> String {
        match &self.origin {
            Origin::Dylib { path, .. } => path.display().to_string(),
            Origin::Static => format!("static:{}", self.decl.name),
        }
    }

    /// When it was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The free-form build id the module was built with (may be empty).
    pub fn build_id(&self) -> &str {
        &self.decl.build_id
    }

    /// The relive-sdk version the module was built with.
    pub fn sdk_version(&self) -> &str {
        &self.decl.sdk_version
    }

    /// The compiler that built the module.
    pub fn rustc_version(&self) -> &str {
        &self.decl.rustc_version
    }

    /// The fingerprints of the module's types.
    pub fn schemas(&self) -> Schemas {
        Schemas {
            args: self.decl.args_schema,
            message: self.decl.message_schema,
            reply: self.decl.reply_schema,
            state: self.decl.state_schema,
        }
    }

    // issue 15: interfaces that grow
    /// The variants of the module's message type, as its declaration lists
    /// them (`None`: a module built without the table, checked by equality).
    pub fn message_variants(&self) -> Option<&VariantList> {
        self.decl.message_variants.as_ref()
    }

    /// The variants of the module's reply type, likewise.
    pub fn reply_variants(&self) -> Option<&VariantList> {
        self.decl.reply_variants.as_ref()
    }

    /// How many message variants this version's instances have been handed
    /// so far: one more than the highest variant index handled (0: none).
    /// A rollback to a version with fewer variants is refused unless forced.
    pub fn variants_used(&self) -> usize {
        // ORDERING: a high-water mark; nothing else is published through it.
        self.variants_used.load(Ordering::Relaxed) as usize
    }

    /// Record that an instance of this version is handling variant `index`.
    pub(crate) fn note_variant(&self, index: u32) {
        let used = index.saturating_add(1);
        // ORDERING: as `variants_used`; the load first keeps the cache line
        // shared in the common case (no new high-water mark).
        if used > self.variants_used.load(Ordering::Relaxed) {
            self.variants_used.fetch_max(used, Ordering::Relaxed);
        }
    }

    /// Older state schemas this version's `code_change` reads.
    pub fn reads_states(&self) -> &[Fingerprint] {
        &self.decl.reads_states
    }

    /// Older state schemas this version's `downgrade` writes.
    pub fn downgrades_to(&self) -> &[Fingerprint] {
        &self.decl.downgrades_to
    }

    /// Whether this version can `downgrade` to a version with `state` schema.
    pub fn can_downgrade_to(&self, state: Fingerprint) -> bool {
        self.table.downgrade.is_some() && self.decl.downgrades_to.contains(&state)
    }

    /// How many live instances run this version.
    pub fn instances(&self) -> usize {
        // ORDERING: a statistic read by the code server under its lock; the
        // count itself publishes no other memory.
        self.instances.load(Ordering::Relaxed)
    }

    // issue 17: typed configuration, hot-reloaded
    /// The schema of the configuration section this version receives
    /// (`None`: it receives none).
    pub fn config_schema(&self) -> Option<Fingerprint> {
        self.decl.config_schema
    }

    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    // issue 15: dependencies
    /// The modules this version says it calls (`Module::DEPENDS`).
    pub fn depends(&self) -> &[super::dependency::Dependency] {
        &self.depends
    }

    // issue 15: lifecycle
    /// The code server accepted this version (its `on_load` passed): from
    /// now on its `on_free` runs when it goes, and its unload is reported
    /// on `events`.
    pub(crate) fn accept(&self, events: &Arc<super::events::EventBus>) {
        let _ = self.events.set(Arc::downgrade(events));
        // ORDERING: read in `drop`, after the last `Arc` was released, which
        // synchronises with every earlier use of the version.
        self.lived.store(true, Ordering::Relaxed);
    }

    // issue 16: metrics
    /// What its actors did: the counters the actor turn adds to.
    pub fn metrics(&self) -> &super::metrics::VersionMetrics {
        &self.metrics
    }

    pub(crate) fn metrics_arc(&self) -> &Arc<super::metrics::VersionMetrics> {
        &self.metrics
    }

    pub(crate) fn private_copy(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Dylib { copy, .. } => Some(copy),
            Origin::Static => None,
        }
    }
}

impl crate::ffi::calls::Code for Version {
    fn table(&self) -> &Table {
        &self.table
    }

    fn instances_started(&self, n: usize) {
        // ORDERING: see `instances`.
        self.instances.fetch_add(n, Ordering::Relaxed);
    }

    fn instance_ended(&self) {
        // ORDERING: see `instances`.
        self.instances.fetch_sub(1, Ordering::Relaxed);
    }

    fn module_name(&self) -> &str {
        &self.decl.name
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Version")
            .field("name", &self.decl.name)
            .field("version", &self.semver.to_string())
            .field("hash", &self.hash)
            .field("origin", &self.origin)
            .field("instances", &self.instances())
            .finish_non_exhaustive()
    }
}

impl Drop for Version {
    fn drop(&mut self) {
        // This is the last `Arc`: nothing holds a pointer into the library
        // any more. It is closed only once nothing can run its code either
        // (threads it started, signal handlers, thread-local destructors):
        // see `unload.rs`.
        // issue 15: lifecycle — `on_free` runs on the unloader thread, just
        // before the library closes, for a version that was accepted.
        // ORDERING: see `accept`.
        let hook = if self.lived.load(Ordering::Relaxed) {
            crate::ffi::calls::FreeHook::of(&self.table)
        } else {
            None
        };
        let gone = super::unload::Gone {
            module: self.decl.name.clone(),
            version: self.version_str.clone(),
            on_free: hook,
            events: self.events.get().cloned(),
        };
        match (self.library.take(), &self.origin) {
            (Some(library), Origin::Dylib { copy, .. }) => {
                super::unload::retire(library, copy.clone(), gone);
            }
            _ => super::unload::free_static(gone),
        }
    }
}

/// The fingerprints of a module version's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schemas {
    /// Init arguments.
    pub args: Fingerprint,
    /// Messages.
    pub message: Fingerprint,
    /// Replies.
    pub reply: Fingerprint,
    /// State.
    pub state: Fingerprint,
}

/// Whether a version that left the code server has really been unloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnloadStatus {
    /// Something (an instance) still holds the version: the library is open.
    InUse,
    /// Closed, and `/proc/self/maps` no longer shows the private copy.
    Unloaded,
    /// Nothing holds it; whether anything could still run its code is being
    /// checked before it is unmapped (a moment, on a background thread).
    Closing,
    /// Nothing holds it, but it stays mapped, for this reason: something
    /// could still run its code (docs/guide.md, "What a module may do").
    Resident(super::unload::Residency),
    /// A statically linked module: nothing to unload.
    Static,
}

/// Watches a version that left the code server until its library is gone.
#[derive(Debug, Clone)]
pub struct UnloadWatch {
    version: Weak<Version>,
    copy: Option<PathBuf>,
}

impl UnloadWatch {
    pub(crate) fn new(version: &Arc<Version>) -> Self {
        UnloadWatch {
            version: Arc::downgrade(version),
            copy: version.private_copy().map(Path::to_owned),
        }
    }

    /// The status now. "Unloaded" is only reported when the process's memory
    /// map shows no trace of the private copy.
    ///
    /// Unloading happens on a background thread after the last holder let
    /// go: right after, the status may still be `InUse` (a holder is being
    /// dropped) or `Closing`; [`settled`](Self::settled) waits that out.
    pub fn status(&self) -> UnloadStatus {
        if self.version.strong_count() > 0 {
            return UnloadStatus::InUse;
        }
        let Some(copy) = &self.copy else { return UnloadStatus::Static };
        match super::unload::residency(copy) {
            Some(None) => UnloadStatus::Closing,
            Some(Some(why)) => UnloadStatus::Resident(why),
            None if is_mapped(copy) => {
                UnloadStatus::Resident(super::unload::Residency::ThreadLocalDestructors)
            }
            None => UnloadStatus::Unloaded,
        }
    }
}

impl UnloadWatch {
    /// The status once it is neither `InUse` nor `Closing` any more, waiting
    /// at most `timeout` (then the status as it is).
    pub fn settled(&self, timeout: std::time::Duration) -> UnloadStatus {
        self.poll(timeout, 1, |s| !matches!(s, UnloadStatus::InUse | UnloadStatus::Closing))
    }

    /// The status once it is `Unloaded` (or `Static`: nothing to unload),
    /// waiting at most `timeout` (then the status as it is). Unlike
    /// [`settled`](Self::settled), a `Resident` status is waited out too:
    /// some residencies are brief — a thread that ran the version's code
    /// still ending (`ModuleThread`), which the unloader looks at again.
    ///
    /// ```no_run
    /// # fn demo(watch: relive_runtime::code_server::UnloadWatch) {
    /// use relive_runtime::code_server::UnloadStatus;
    /// use std::time::Duration;
    /// assert_eq!(watch.unloaded(Duration::from_secs(10)), UnloadStatus::Unloaded);
    /// # }
    /// ```
    pub fn unloaded(&self, timeout: std::time::Duration) -> UnloadStatus {
        self.poll(timeout, 5, |s| matches!(s, UnloadStatus::Unloaded | UnloadStatus::Static))
    }

    /// The status once `done` holds of it, looked at every `pause_ms`,
    /// waiting at most `timeout` (then the status as it is).
    fn poll(
        &self,
        timeout: std::time::Duration,
        pause_ms: u64,
        done: impl Fn(&UnloadStatus) -> bool,
    ) -> UnloadStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let status = self.status();
            if done(&status) || std::time::Instant::now() >= deadline {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(pause_ms));
        }
    }
}

/// Whether `/proc/self/maps` shows `path`.
pub(crate) fn is_mapped(path: &Path) -> bool {
    // Without a readable map nothing proves the library is gone: say "mapped".
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return true };
    let needle = path.to_string_lossy();
    maps.lines().any(|l| l.contains(needle.as_ref()))
}
