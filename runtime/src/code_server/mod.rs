//! The code server's lower half: Erlang's module table, for relive.
//!
//! Every module name has at most two versions, `current` and `old`. The
//! [`ModuleTable`] is the single writer of these slots (one mutex serialises
//! every change, as OTP's single `code_server` process does); reading a slot
//! takes no lock (the slots are published through `arc-swap`) and clones an
//! `Arc<Version>`.
//!
//! This layer knows nothing of actors. The host's [`CodeServer`]
//! (`crate::CodeServer`) builds on it: its `upgrade` loads *and* migrates the
//! running actors.
//!
//! - [`load`](ModuleTable::load): validate the new build completely (the
//!   [`loader`] chain), then in one step make it `current` and the previous
//!   current `old`. A third version while `old` still has live instances is
//!   refused (Erlang's `not_purged`) unless the load asks to purge.
//! - `make_old_current` (crate-internal, for the host's rollback) and
//!   `drop_old` (for its purge) are the other two slot changes.
//! - [`which`](ModuleTable::which), [`history`](ModuleTable::history),
//!   [`module_status`](ModuleTable::module_status): introspection.
//!
//! # Upgrade behaviour
//! At this layer a load changes which version *new* instances start on;
//! running instances keep the version they hold until they migrate. New code
//! never sees old state: the only way onto a new version is through
//! `code_change` (or a schema-equal decode).
//!
//! [`CodeServer`]: crate::CodeServer

// issue 15: dependencies
// issue 17: typed configuration, hot-reloaded
mod bad_marks;
mod build_hash;
mod config_section;
mod dependency;
mod error;
// issue 15: lifecycle
mod events;
// issue 17: functions
mod function;
mod history;
mod interface;
pub mod loader;
// issue 16: metrics
mod loaded_hook;
mod metrics;
mod private_copy;
mod state;
mod unload;
mod version;

pub use error::{LoadError, ModuleCallError, PurgeError, RollbackError};
// issue 17: typed configuration, hot-reloaded
pub(crate) use config_section::Delivery;
pub use config_section::{ON_CONFIG_TIMEOUT, SectionError};
// issue 15: lifecycle and dependencies
pub use dependency::{Dependency, DependencyProblem};
pub(crate) use events::EventBus;
pub use events::{DEFAULT_EVENT_CAPACITY, Event, EventKind, Events, Lagged};
// issue 17: functions
pub use function::{FunctionProblem, FunctionSchema};

pub use history::{Action, HistoryEntry};
pub use interface::{Interface, Part, TypeMismatch, UnknownVariant, VariantMismatch};
pub use loader::Source;
// issue 16: metrics
pub use metrics::{
    DURATION_BUCKETS, DurationHistogram, HistogramSnapshot, SAMPLE_EVERY, VersionCounts,
    VersionEntry, VersionMetrics,
};
pub use state::{STATE_FORMAT, StateError};
pub use unload::Residency;
pub(crate) use unload::{RetireThreads, on_pinned, pins_host_threads};
pub use version::{BuildHash, Origin, Schemas, UnloadStatus, UnloadWatch, Version};

use crate::ffi;
use arc_swap::ArcSwap;
use loader::{Against, Loader, check_against};
use parking_lot::Mutex;
use state::{StateDir, StateLock};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Options of one load.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Load even a build marked bad, or another build of the running version.
    pub force: bool,
    /// Drop `old` even if instances still run it (the actor layer stops them).
    pub purge: bool,
    /// Types callers use, checked against the new version besides the
    /// running version's types (which the new ones must extend) and the
    /// widest types typed spawns and references have used (with which they
    /// must be compatible: one a prefix of the other).
    pub interface: Option<Interface>,
}

impl LoadOptions {
    /// Default options: not forced, no purge, interface from the running version.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set [`force`](Self::force).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Set [`purge`](Self::purge).
    pub fn purge(mut self, purge: bool) -> Self {
        self.purge = purge;
        self
    }

    /// Set [`interface`](Self::interface).
    pub fn interface(mut self, interface: Interface) -> Self {
        self.interface = Some(interface);
        self
    }
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The module was not loaded before; this is its first version.
    Loaded,
    /// A new current version; the previous one is `old`.
    Upgraded,
    /// The same build is already current: nothing changed.
    Unchanged,
}

/// The report of a successful load.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The module.
    pub module: String,
    /// What happened.
    pub outcome: LoadOutcome,
    /// The version that was current before.
    pub from: Option<semver::Version>,
    /// The version current now.
    pub to: semver::Version,
    /// The build current now.
    pub hash: BuildHash,
    /// The version that was `old` before and left the code server, if any.
    pub dropped_old: Option<UnloadWatch>,
    /// Time from the call to the commit.
    pub duration: Duration,
}

/// What [`ModuleTable::inspect`] found in a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The module it declares.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// Its build hash.
    pub hash: BuildHash,
    /// The relive-sdk it was built with.
    pub sdk_version: String,
    /// The compiler that built it.
    pub rustc_version: String,
}

/// What [`ModuleTable::drop_old`] dropped.
#[derive(Debug, Clone)]
pub(crate) struct Dropped {
    /// The version dropped, if there was an `old`.
    pub(crate) version: Option<semver::Version>,
    /// Instances that still ran it (they keep it loaded until they end).
    pub(crate) instances: usize,
    /// Follows the dropped version until its library is unmapped.
    pub(crate) unload: Option<UnloadWatch>,
}

/// One version as [`ModuleTable::which`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The semver version.
    pub version: semver::Version,
    /// The build.
    pub hash: BuildHash,
    /// The file or static source.
    pub origin: Origin,
    /// Live instances.
    pub instances: usize,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

impl VersionInfo {
    fn of(v: &Version) -> Self {
        VersionInfo {
            version: v.version().clone(),
            hash: v.hash(),
            origin: v.origin().clone(),
            instances: v.instances(),
            loaded_at: v.loaded_at(),
        }
    }
}

/// The two slots of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Which {
    /// The current version.
    pub current: VersionInfo,
    /// The old version, if any.
    pub old: Option<VersionInfo>,
}

/// Whether the file a module was loaded from still holds the loaded build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleStatus {
    /// The file holds the loaded build.
    Unchanged,
    /// The file was rebuilt: it holds another build.
    Modified {
        /// The build on disk.
        on_disk: BuildHash,
    },
    /// The file is gone (or unreadable).
    Removed,
    /// A statically linked module: there is no file.
    Static,
}

/// A validated version not yet committed (see [`ModuleTable::prepare`]).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) new: Arc<Version>,
    pub(crate) running: Option<Arc<Version>>,
    pub(crate) unchanged: bool,
    interface: Option<Interface>,
    started: Instant,
    // issue 17: typed configuration, hot-reloaded
    /// The generation of the configuration section it was given, if any.
    section_generation: Option<u64>,
}

// issue 15: lifecycle
/// How long a version's `on_load` may run before its load is refused
/// (`LoadError::Vetoed` with `ModuleCallError::TimedOut`).
pub const ON_LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a prepared load was not committed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommitError {
    /// The slots of this module changed between `prepare` and `commit`.
    #[error("module `{0}` changed while an upgrade of it was being prepared")]
    Changed(String),
    // issue 15: dependencies
    /// A load that committed since `prepare` broke a dependency of the unit
    /// (recorded in the history like any refusal).
    #[error(transparent)]
    Refused(LoadError),
}

impl From<CommitError> for LoadError {
    fn from(e: CommitError) -> Self {
        match e {
            CommitError::Changed(module) => LoadError::Concurrent { module },
            CommitError::Refused(e) => e,
        }
    }
}

#[derive(Debug, Clone)]
struct Slots {
    current: Arc<Version>,
    old: Option<Arc<Version>>,
    interface: Option<Interface>,
    // issue 15: interfaces that grow
    /// The longest variant lists any version of the module has had.
    widest: interface::Widest,
}

/// The slots as readers see them: replaced whole on every change.
type Published = HashMap<String, (Arc<Version>, Option<Arc<Version>>)>;

/// History entries kept (all modules together); older ones are dropped, so
/// a host that upgrades forever keeps flat memory. At one upgrade a minute
/// this is days of history; supervisors only read the latest entries.
pub const HISTORY_LIMIT: usize = 4096;

#[derive(Debug, Default)]
struct Inner {
    modules: BTreeMap<String, Slots>,
    history: VecDeque<HistoryEntry>,
    /// The bad builds, each with the module it was marked for.
    bad: bad_marks::BadMarks,
    /// Where `history` and `bad` are saved, if the table has a state dir.
    state: Option<StateDir>,
    // issue 15: lifecycle
    /// The table's event stream, for refusals.
    events: Option<Arc<EventBus>>,
}

impl Inner {
    // issue 15: dependencies
    /// Every module's current version: what a dependency check of a unit
    /// weighs the unit's new versions against (a module of the unit is
    /// taken from the unit, not from here).
    fn current_versions(&self) -> HashMap<String, Arc<Version>> {
        self.modules.iter().map(|(n, s)| (n.clone(), Arc::clone(&s.current))).collect()
    }
}

/// Builds a [`ModuleTable`].
#[derive(Debug, Default)]
pub struct ModuleTableBuilder {
    dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    max_library_size: Option<u64>,
    // issue 15: lifecycle
    event_capacity: Option<usize>,
}

impl ModuleTableBuilder {
    // issue 15: lifecycle
    /// Keep the last `n` events for subscribers that fall behind (at least
    /// one); a subscriber further behind is told how many it missed
    /// ([`Lagged`]). Default: [`DEFAULT_EVENT_CAPACITY`].
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = Some(n);
        self
    }

    /// Keep private copies of libraries in `dir` (created 0700 if missing;
    /// must be on a file system that allows executable mappings). Default:
    /// `<state_dir>/lib` with a [`state_dir`](Self::state_dir); without one, a
    /// fresh 0700 directory `relive-<pid>-*` under the system temp directory,
    /// removed on drop (and, if a crash kept it from being removed, by the
    /// next table started after that process is gone).
    pub fn private_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Keep the table's state in `dir`, so that it survives a restart: the
    /// bad-build marks and the history are saved there on every change and
    /// read back by [`build`](Self::build), and the private copies live in
    /// `<dir>/lib` (unless [`private_dir`](Self::private_dir) is set too).
    /// `dir` is created 0700 if missing; it must be ours and closed to
    /// others. One table at a time: a lock in it makes a second one refuse
    /// to start. (docs/decisions/0004-state-dir.md.) Default: none — the
    /// marks and the history live only in memory.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Require every library to carry a `<file>.sig` ed25519 signature by one
    /// of the trusted keys (may be called several times).
    pub fn trust_key(mut self, key: ed25519_dalek::VerifyingKey) -> Self {
        self.trusted_keys.push(key);
        self
    }

    /// Refuse libraries larger than `bytes` ([`LoadError::FileTooLarge`]),
    /// before reading any of them. Default:
    /// [`DEFAULT_MAX_LIBRARY_SIZE`](loader::DEFAULT_MAX_LIBRARY_SIZE), 1 GiB.
    pub fn max_library_size(mut self, bytes: u64) -> Self {
        self.max_library_size = Some(bytes);
        self
    }

    /// Build the table: with a state directory, lock it, read the marks and
    /// the history back, and empty `<dir>/lib` of what a crashed host left;
    /// without one, remove the default private directories of hosts that
    /// no longer run.
    ///
    /// # Errors
    /// [`StateError`]: the private directory cannot be created or made
    /// private (0700); the state directory cannot be created, is not ours
    /// and 0700 (`NotPrivate`), is locked by another table (`Locked`), or
    /// holds a state file that cannot be read (`Io`), does not parse
    /// (`Corrupt`) or is of another format (`Format`). A missing state file
    /// is no error: the table starts without what it would hold.
    pub fn build(self) -> Result<ModuleTable, StateError> {
        let io = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        let (state, lock, stored) = match &self.state_dir {
            Some(dir) => {
                let (state, lock, stored) = StateDir::open(dir)?;
                (Some(state), Some(lock), stored)
            }
            None => (None, None, state::Stored::default()),
        };
        let (dir, temp) = match (self.dir, &state) {
            (Some(dir), _) => {
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io(&dir))?;
                (dir, None)
            }
            (None, Some(state)) => (state.lib_dir()?, None),
            (None, None) => {
                let parent = std::env::temp_dir();
                state::remove_stale_temp_dirs(&parent);
                let t = tempfile::Builder::new()
                    .prefix(&state::temp_prefix())
                    .permissions(std::fs::Permissions::from_mode(0o700))
                    .tempdir_in(&parent)
                    .map_err(io(&parent))?;
                (t.path().to_owned(), Some(t))
            }
        };
        let mut history = stored.history;
        while history.len() > HISTORY_LIMIT {
            history.pop_front();
        }
        let events = EventBus::new(self.event_capacity.unwrap_or(DEFAULT_EVENT_CAPACITY));
        let inner = Inner {
            modules: BTreeMap::new(),
            history,
            bad: stored.bad,
            state,
            events: Some(Arc::clone(&events)),
        };
        Ok(ModuleTable {
            loader: Loader::new(
                dir,
                self.trusted_keys,
                self.max_library_size.unwrap_or(loader::DEFAULT_MAX_LIBRARY_SIZE),
            ),
            inner: Mutex::new(inner),
            events,
            versions: metrics::VersionList::default(),
            published: ArcSwap::from_pointee(HashMap::new()),
            sections: config_section::Sections::default(),
            loaded_hook: loaded_hook::LoadedHook::default(),
            _temp: temp,
            _lock: lock,
        })
    }
}

/// The module table: `current` and `old` versions of every module.
#[derive(Debug)]
pub struct ModuleTable {
    loader: Loader,
    inner: Mutex<Inner>,
    /// What readers see; republished by every slot change, under `inner`.
    published: ArcSwap<Published>,
    // issue 15: lifecycle
    /// The host's event stream.
    events: Arc<EventBus>,
    // issue 17: typed configuration, hot-reloaded
    /// The configuration sections in force, by module.
    sections: config_section::Sections,
    // issue 16: metrics
    /// Every version accepted, with its counters.
    versions: metrics::VersionList,
    /// Told of loads through [`load_with`](Self::load_with) (the host's
    /// function handles follow them).
    loaded_hook: loaded_hook::LoadedHook,
    _temp: Option<tempfile::TempDir>,
    /// The state directory's lock. Declared last, so released last: after
    /// the versions the table holds (and their private copies) are gone.
    _lock: Option<StateLock>,
}

// issue 15: lifecycle
impl Drop for ModuleTable {
    fn drop(&mut self) {
        // Subscribers get what was emitted, then the end of the stream.
        self.events.close();
    }
}

impl ModuleTable {
    // issue 15: lifecycle
    /// Subscribe to this table's events (and, in a host, the host's and its
    /// supervisors'): those emitted from now on.
    pub fn events(&self) -> Events {
        self.events.subscribe()
    }

    // issue 16: observer
    /// As [`events`](Self::events), but starting at event number `seq`: the
    /// events the table still keeps from `seq` on come first (a [`Lagged`]
    /// first when some were let go), so a viewer that attaches late sees
    /// the recent past; a `seq` past the last event starts after it.
    pub fn events_from(&self, seq: u64) -> Events {
        self.events.subscribe_from(seq)
    }

    // issue 16: metrics
    /// Every version this table accepted (a load its `on_load` passed), in
    /// load order, with its counters: those of versions purged and unloaded
    /// too, so that counters never go backwards. Versions gone and unmapped
    /// that share a module and version label are one entry (the first of
    /// them), their counts added up.
    pub fn version_metrics(&self) -> Vec<VersionEntry> {
        self.versions.all()
    }

    /// The stream itself, for the layers above that emit on it.
    pub(crate) fn event_bus(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// A table with a fresh private directory and no signature policy.
    ///
    /// # Errors
    /// The private directory cannot be created.
    pub fn new() -> Result<Self, StateError> {
        ModuleTableBuilder::default().build()
    }

    /// Configure a table.
    pub fn builder() -> ModuleTableBuilder {
        ModuleTableBuilder::default()
    }

    /// Republish the slots for readers (called with `inner` held, after
    /// every change).
    fn publish(&self, inner: &Inner) {
        let view: Published = inner
            .modules
            .iter()
            .map(|(name, s)| (name.clone(), (Arc::clone(&s.current), s.old.clone())))
            .collect();
        self.published.store(Arc::new(view));
    }

    /// The directory holding the private copies of loaded libraries.
    pub fn private_dir(&self) -> &std::path::Path {
        &self.loader.dir
    }

    /// The state directory, if the table has one
    /// ([`ModuleTableBuilder::state_dir`]).
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.inner.lock().state.as_ref().map(|s| s.path().to_owned())
    }

    /// Load module `name` from `source` without touching any running
    /// instance (OTP's `code:load_file`): its first version, or a new
    /// `current` with the running version becoming `old`. To load *and*
    /// migrate the actors, use the host's [`CodeServer::upgrade`](crate::CodeServer::upgrade).
    ///
    /// # Errors
    /// [`LoadError`]: the loader's reason, `NotPurged` when `old` still has
    /// instances, `Concurrent` when another load of the module committed
    /// while this one was being validated. Nothing changed.
    ///
    /// # Upgrade behaviour
    /// Running instances keep their version; new instances start on the new
    /// `current`.
    pub fn load(&self, name: &str, source: impl Into<Source>) -> Result<LoadReport, LoadError> {
        self.load_with(name, source, LoadOptions::default())
    }

    /// [`load`](Self::load) with options.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(
        &self,
        name: &str,
        source: impl Into<Source>,
        opts: LoadOptions,
    ) -> Result<LoadReport, LoadError> {
        let prepared = self.prepare(name, source.into(), opts)?;
        let report = self.commit(prepared).map_err(LoadError::from)?;
        self.loaded_hook.loaded(name);
        Ok(report)
    }

    /// Be told of every load through [`load_with`](Self::load_with) (after
    /// it committed, outside the table's lock); set once, by the host.
    pub(crate) fn tell_loads(&self, f: Box<dyn Fn(&str) + Send + Sync>) {
        if self.loaded_hook.set(f).is_err() {
            tracing::warn!("module table: a second loaded hook was ignored");
        }
    }

    /// Steps 1–6, the `not_purged` check, the dependencies and `on_load`,
    /// without changing anything: the validated version, ready to
    /// [`commit`](Self::commit). Dropping it unloads it (after its
    /// `on_free`). Its host services are installed, so its code may run
    /// (migrations) before the commit.
    pub(crate) fn prepare(
        &self,
        name: &str,
        source: Source,
        opts: LoadOptions,
    ) -> Result<Prepared, LoadError> {
        Ok(self.prepare_unit(vec![(name.to_owned(), source)], opts)?.remove(0))
    }

    // issue 15: lifecycle and dependencies
    /// [`prepare`](Self::prepare) for several modules as one unit: each is
    /// validated (steps 1–6), then they are ordered callees first
    /// ([`LoadError::DependencyCycle`]), their dependencies are checked
    /// against the versions that would be current with the whole unit, and
    /// each new version's `on_load` runs, in that order. The first refusal
    /// wins and nothing of the unit is kept. Returned in load order.
    pub(crate) fn prepare_unit(
        &self,
        modules: Vec<(String, Source)>,
        opts: LoadOptions,
    ) -> Result<Vec<Prepared>, LoadError> {
        // One version per module in a unit: two for the same module would
        // both be checked against the same running version.
        let mut names: Vec<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(LoadError::DuplicateInUnit { module: w[0].to_owned() });
        }
        let mut prepared = Vec::with_capacity(modules.len());
        for (name, source) in modules {
            match self.validate(&name, source, opts) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    for p in prepared {
                        self.abandon(p, &e);
                    }
                    return Err(e);
                }
            }
        }
        // Callees first.
        let order = {
            let versions: Vec<&Version> = prepared.iter().map(|p| &*p.new).collect();
            dependency::order(&versions)
        };
        let order = match order {
            Ok(o) => o,
            Err(e) => return Err(self.abandon_all(prepared, e)),
        };
        let mut slots: Vec<Option<Prepared>> = prepared.into_iter().map(Some).collect();
        let mut prepared: Vec<Prepared> =
            order.into_iter().filter_map(|i| slots[i].take()).collect();
        // Dependencies, against what would be current with the unit.
        let checked = {
            let unit: Vec<&Version> =
                prepared.iter().filter(|p| !p.unchanged).map(|p| &*p.new).collect();
            let current: HashMap<String, Arc<Version>> = self
                .published
                .load()
                .iter()
                .map(|(n, (c, _))| (n.clone(), Arc::clone(c)))
                .collect();
            dependency::check_unit(&unit, &current)
        };
        if let Err(e) = checked {
            return Err(self.abandon_all(prepared, e));
        }
        // `on_load`, callees first: the last word before anything changes.
        for i in 0..prepared.len() {
            let p = &prepared[i];
            if p.unchanged {
                continue;
            }
            if let Err(e) = self.on_load(p) {
                return Err(self.abandon_all(prepared, e));
            }
            // Accepted by its own hook: its `on_free` runs when it goes,
            // even if a later module of the unit vetoes (what `on_load`
            // set up is released either way).
            p.new.accept(&self.events);
            // issue 16: metrics
            self.versions.push(&p.new);
        }
        // issue 17: the configuration section in force, after `on_load`.
        for i in 0..prepared.len() {
            if prepared[i].unchanged {
                continue;
            }
            if let Err(e) = self.on_config_at_load(&mut prepared[i]) {
                return Err(self.abandon_all(prepared, e));
            }
        }
        Ok(prepared)
    }

    /// Run the new version's `on_load`, if it has one, on a thread of its
    /// own (`relive-on-load`), for at most [`ON_LOAD_TIMEOUT`]: the caller
    /// holds the upgrade lock, so a hook that blocks must not hold every
    /// upgrade and rollback with it. One that overruns vetoes its load
    /// (`TimedOut`) and keeps only its thread and its version.
    fn on_load(&self, p: &Prepared) -> Result<(), LoadError> {
        if p.new.table().on_load.is_none() {
            return Ok(());
        }
        let previous = p.running.as_ref().map(|r| r.version_str().to_owned());
        let new = Arc::clone(&p.new);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new().name("relive-on-load".into()).spawn(move || {
            let mut out = Vec::new();
            let code =
                ffi::calls::on_load(new.table(), new.version_str(), previous.as_deref(), &mut out);
            drop(new);
            let _ = tx.send((code, out));
        });
        let veto = |source: ModuleCallError| LoadError::Vetoed {
            file: p.new.source_name(),
            module: p.name.clone(),
            version: p.new.version_str().to_owned(),
            source: Box::new(source),
        };
        let thread = match spawned {
            Ok(t) => t,
            Err(e) => {
                return Err(veto(ModuleCallError::Failed {
                    module: p.name.clone(),
                    version: p.new.version_str().to_owned(),
                    function: "on_load",
                    message: format!("cannot start a thread for it: {e}"),
                }));
            }
        };
        let answer = rx.recv_timeout(ON_LOAD_TIMEOUT);
        if answer.is_ok() {
            // The hook returned: the thread only has to end. Join it, so no
            // thread of ours is left half-gone when the unloader inspects
            // threads for this version's library.
            let _ = thread.join();
        }
        match answer {
            Ok((None | Some(relive_sdk::abi::status::OK), _)) => Ok(()),
            Ok((Some(code), out)) => {
                Err(veto(ModuleCallError::from_status(&p.new, "on_load", code, &out)))
            }
            Err(_) => Err(veto(ModuleCallError::TimedOut {
                module: p.name.clone(),
                version: p.new.version_str().to_owned(),
                function: "on_load",
                after: ON_LOAD_TIMEOUT,
            })),
        }
    }

    /// Record the refusal `e` of a whole unit (one history entry per module)
    /// and hand `e` back.
    fn abandon_all(&self, prepared: Vec<Prepared>, e: LoadError) -> LoadError {
        for p in prepared {
            self.abandon(p, &e);
        }
        e
    }

    /// Steps 1–6 and the `not_purged` check of one module (see
    /// [`prepare_unit`](Self::prepare_unit) for the rest).
    fn validate(
        &self,
        name: &str,
        source: Source,
        opts: LoadOptions,
    ) -> Result<Prepared, LoadError> {
        let started = Instant::now();
        let bad = self.inner.lock().bad.clone();
        // Steps 1–5a outside the lock: dlopen may be slow.
        let checked = match self.loader.load(Some(name), &source, &bad, opts.force) {
            Ok(c) => c,
            Err(e) => {
                let mut inner = self.inner.lock();
                let build = Build::file(&source);
                Self::push(&mut inner, name, Action::Upgrade, None, None, build, Some(&e), started);
                return Err(e);
            }
        };
        let forward_logs = checked.forward_logs;
        let new = Arc::new(checked.version);
        let mut inner = self.inner.lock();
        let slots = inner.modules.get(name);
        let running = slots.map(|s| Arc::clone(&s.current));
        let interface = opts.interface.or(slots.and_then(|s| s.interface));
        let from_s = running.as_ref().map(|r| r.version().to_string());
        let (to, hash) = (Some(new.version().to_string()), Build::of(&new));
        let widest = slots.map(|s| &s.widest);
        let unchanged = match check_against(&new, running.as_deref(), interface, widest, opts.force)
        {
            Err(e) => {
                Self::push(&mut inner, name, Action::Upgrade, from_s, to, hash, Some(&e), started);
                return Err(e);
            }
            Ok(against) => against == Against::Same,
        };
        if !unchanged
            && let Some(old) = slots.and_then(|s| s.old.as_ref())
            && old.instances() > 0
            && !opts.purge
        {
            let e = LoadError::NotPurged {
                module: name.to_owned(),
                old: old.version().to_string(),
                instances: old.instances(),
            };
            Self::push(&mut inner, name, Action::Upgrade, from_s, to, hash, Some(&e), started);
            return Err(e);
        }
        drop(inner);
        if !unchanged {
            // `forward_logs` (dynamic libraries only) sends FORWARD_LOGS, which
            // the SDK also takes as QUIET_PANICS: its own panic hook, quiet.
            ffi::calls::install_host(new.table(), ffi::host::services(), forward_logs);
        }
        Ok(Prepared {
            name: name.to_owned(),
            new,
            running,
            unchanged,
            interface: opts.interface,
            started,
            section_generation: None,
        })
    }

    /// Make a prepared version current (the running one becomes `old`).
    ///
    /// # Errors
    /// [`CommitError`] when the slots changed since `prepare` (another
    /// load got in between); nothing changes then.
    pub(crate) fn commit(&self, p: Prepared) -> Result<LoadReport, CommitError> {
        Ok(self.commit_all(vec![p])?.remove(0))
    }

    /// Commit several prepared versions as one step: all of them, or (if
    /// any module's slots changed since `prepare`) none.
    pub(crate) fn commit_all(&self, all: Vec<Prepared>) -> Result<Vec<LoadReport>, CommitError> {
        let mut inner = self.inner.lock();
        for p in &all {
            let now = inner.modules.get(&p.name).map(|s| &s.current);
            let same = match (now, &p.running) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                return Err(CommitError::Changed(p.name.clone()));
            }
            // issue 17: a configuration delivered since `prepare`.
            if !self.section_current(p) {
                return Err(CommitError::Changed(p.name.clone()));
            }
        }
        // issue 15: dependencies — once more under the lock: a load that
        // committed since `prepare` may have changed what the unit needs.
        {
            let unit: Vec<&Version> =
                all.iter().filter(|p| !p.unchanged).map(|p| &*p.new).collect();
            if let Err(e) = dependency::check_unit(&unit, &inner.current_versions()) {
                tracing::warn!(error = %e, "dependencies changed since the unit was validated");
                drop(inner);
                return Err(CommitError::Refused(self.abandon_all(all, e)));
            }
        }
        let mut events = Vec::with_capacity(all.len());
        let mut reports = Vec::with_capacity(all.len());
        let mut dropped_versions = Vec::new();
        for p in all {
            let from = p.running.as_ref().map(|r| r.version().clone());
            let from_s = from.as_ref().map(ToString::to_string);
            let (to, hash) = (Some(p.new.version().to_string()), Build::of(&p.new));
            let (outcome, dropped) = if p.unchanged {
                (LoadOutcome::Unchanged, None)
            } else if let Some(slots) = inner.modules.get_mut(&p.name) {
                let previous = std::mem::replace(&mut slots.current, Arc::clone(&p.new));
                slots.widest.widen(&p.new);
                (LoadOutcome::Upgraded, slots.old.replace(previous))
            } else {
                let mut widest = interface::Widest::default();
                widest.widen(&p.new);
                let slots = Slots {
                    current: Arc::clone(&p.new),
                    old: None,
                    interface: p.interface,
                    widest,
                };
                inner.modules.insert(p.name.clone(), slots);
                (LoadOutcome::Loaded, None)
            };
            let action = match outcome {
                LoadOutcome::Loaded => Action::Load,
                LoadOutcome::Upgraded => Action::Upgrade,
                LoadOutcome::Unchanged => Action::Unchanged,
            };
            Self::push(&mut inner, &p.name, action, from_s, to, hash, None, p.started);
            let dropped_old = dropped.map(|d| {
                let watch = UnloadWatch::new(&d);
                dropped_versions.push(d);
                watch
            });
            // issue 15: lifecycle
            match (&outcome, &from) {
                (LoadOutcome::Loaded, _) => events.push(EventKind::Loaded {
                    module: p.name.clone(),
                    version: p.new.version().clone(),
                    hash: p.new.hash(),
                }),
                (LoadOutcome::Upgraded, Some(from)) => events.push(EventKind::Upgraded {
                    module: p.name.clone(),
                    from: from.clone(),
                    to: p.new.version().clone(),
                    hash: p.new.hash(),
                }),
                _ => {}
            }
            if outcome != LoadOutcome::Unchanged {
                tracing::info!(
                    module = %p.name, to = %p.new.version(), hash = %p.new.hash().short(),
                    ?outcome, "module loaded"
                );
            }
            reports.push(LoadReport {
                module: p.name,
                outcome,
                from,
                to: p.new.version().clone(),
                hash: p.new.hash(),
                dropped_old,
                duration: p.started.elapsed(),
            });
        }
        self.publish(&inner);
        // issue 15: under the lock, so that the stream's order is the order
        // of the changes (the bus never calls back).
        for e in events {
            self.events.emit(e);
        }
        drop(inner);
        // Unload dropped versions outside the lock.
        drop(dropped_versions);
        Ok(reports)
    }

    /// Record a prepared version that was abandoned (its migration failed).
    pub(crate) fn abandon(&self, p: Prepared, reason: &dyn std::fmt::Display) {
        let from = p.running.as_ref().map(|r| r.version().to_string());
        let (to, hash) = (Some(p.new.version().to_string()), Build::of(&p.new));
        let mut inner = self.inner.lock();
        Self::push(&mut inner, &p.name, Action::Upgrade, from, to, hash, Some(reason), p.started);
    }

    /// Make `old` current again; the newer version becomes `old` (the slot
    /// half of a rollback: the host then moves the actors back).
    ///
    /// # Errors
    /// The module is not loaded or has no old version.
    pub(crate) fn make_old_current(
        &self,
        name: &str,
        force: bool,
    ) -> Result<(Arc<Version>, Arc<Version>), RollbackError> {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        let slots =
            inner.modules.get_mut(name).ok_or_else(|| RollbackError::NotLoaded(name.into()))?;
        let Some(old) = slots.old.take() else {
            return Err(RollbackError::NoOldVersion(name.into()));
        };
        // issue 15: not back to a version lacking a variant callers use.
        if let Err(e) = variants_kept(name, &slots.current, &old, force) {
            let build = Build::of(&old);
            slots.old = Some(old);
            let (from, to) = (Some(slots.current.version().to_string()), None);
            Self::push(&mut inner, name, Action::Rollback, from, to, build, Some(&e), started);
            return Err(e);
        }
        // issue 15: dependencies hold among the versions that would be
        // current (a forced rollback — a supervisor's way out of a crash
        // loop — goes back anyway).
        if !force && let Err(e) = dependency::check_unit(&[&*old], &inner.current_versions()) {
            let e = rollback_dependency(name, &old, e);
            let build = Build::of(&old);
            let slots = inner.modules.get_mut(name).expect("looked up under this lock");
            let from = Some(slots.current.version().to_string());
            slots.old = Some(old);
            Self::push(&mut inner, name, Action::Rollback, from, None, build, Some(&e), started);
            return Err(e);
        }
        let slots = inner.modules.get_mut(name).expect("looked up under this lock");
        let newer = std::mem::replace(&mut slots.current, Arc::clone(&old));
        slots.old = Some(Arc::clone(&newer));
        let (from, to) = (Some(newer.version().to_string()), Some(old.version().to_string()));
        let hash = Build::of(&old);
        Self::push(&mut inner, name, Action::Rollback, from, to, hash, None, started);
        self.publish(&inner);
        // issue 15: lifecycle (under the lock: see `commit_all`)
        self.events.emit(EventKind::RolledBack {
            module: name.to_owned(),
            from: newer.version().clone(),
            to: old.version().clone(),
        });
        drop(inner);
        tracing::info!(module = name, from = %newer.version(), to = %old.version(), "module rolled back");
        Ok((old, newer))
    }

    /// Drop `old` (the slot half of a purge); with `soft`, only if no
    /// instance runs it.
    ///
    /// # Errors
    /// [`PurgeError::NotLoaded`]; with `soft`, [`PurgeError::InUse`].
    pub(crate) fn drop_old(&self, name: &str, soft: bool) -> Result<Dropped, PurgeError> {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        let slots =
            inner.modules.get_mut(name).ok_or_else(|| PurgeError::NotLoaded(name.into()))?;
        let instances = slots.old.as_ref().map_or(0, |o| o.instances());
        if soft && instances > 0 {
            let old = slots.old.as_ref().map(|o| o.version().to_string()).unwrap_or_default();
            return Err(PurgeError::InUse { module: name.into(), old, instances });
        }
        let Some(old) = slots.old.take() else {
            return Ok(Dropped { version: None, instances: 0, unload: None });
        };
        let to = Some(old.version().to_string());
        Self::push(&mut inner, name, Action::Purge, None, to, Build::of(&old), None, started);
        self.publish(&inner);
        // issue 15: lifecycle (under the lock: see `commit_all`)
        self.events.emit(EventKind::Purged {
            module: name.to_owned(),
            version: old.version().clone(),
            instances,
        });
        drop(inner);
        let dropped = Dropped {
            version: Some(old.version().clone()),
            instances,
            unload: Some(UnloadWatch::new(&old)),
        };
        drop(old);
        Ok(dropped)
    }

    /// Validate a library as a load would (steps 1 to 5a: file, signature,
    /// ELF, ABI, target, panic strategy, semver), without loading it into
    /// any slot, and say what it declares. The library is opened and closed.
    ///
    /// # Errors
    /// The loader's reason.
    pub fn inspect(&self, source: impl Into<Source>) -> Result<Inspected, LoadError> {
        let bad = self.inner.lock().bad.clone();
        let checked = self.loader.load(None, &source.into(), &bad, false)?;
        let v = checked.version;
        Ok(Inspected {
            name: v.name().to_owned(),
            version: v.version().clone(),
            hash: v.hash(),
            sdk_version: v.sdk_version().to_owned(),
            rustc_version: v.rustc_version().to_owned(),
        })
    }

    /// The current version of `name` (no lock taken).
    pub fn current(&self, name: &str) -> Option<Arc<Version>> {
        self.published.load().get(name).map(|(c, _)| Arc::clone(c))
    }

    /// The old version of `name`, if any (no lock taken).
    pub fn old(&self, name: &str) -> Option<Arc<Version>> {
        self.published.load().get(name).and_then(|(_, o)| o.clone())
    }

    /// Both slots of `name` (Erlang's `code:which` and `code:is_loaded`).
    pub fn which(&self, name: &str) -> Option<Which> {
        let published = self.published.load();
        let (current, old) = published.get(name)?;
        Some(Which { current: VersionInfo::of(current), old: old.as_deref().map(VersionInfo::of) })
    }

    /// The names of the loaded modules, in order.
    pub fn modules(&self) -> Vec<String> {
        self.inner.lock().modules.keys().cloned().collect()
    }

    /// Record that callers use `interface` with `name`: every later version
    /// is checked against the widest types callers use (loader step 6).
    ///
    /// # Errors
    /// `interface` is not compatible with what other callers use (issue 15:
    /// two callers would give one variant index two meanings); nothing is
    /// recorded then.
    pub(crate) fn pin_interface(
        &self,
        name: &str,
        interface: Interface,
    ) -> Result<(), TypeMismatch> {
        if let Some(s) = self.inner.lock().modules.get_mut(name) {
            match s.interface {
                None => s.interface = Some(interface),
                Some(pinned)
                    if (pinned.message, pinned.reply) == (interface.message, interface.reply) => {}
                Some(pinned) => {
                    pinned.check_callers(&interface, name)?;
                    s.interface = Some(pinned.widen(&interface));
                }
            }
        }
        Ok(())
    }

    /// The history, oldest first, of one module or of all (the last
    /// [`HISTORY_LIMIT`] entries of all modules).
    pub fn history(&self, name: Option<&str>) -> Vec<HistoryEntry> {
        let inner = self.inner.lock();
        inner.history.iter().filter(|h| name.is_none_or(|n| h.module == n)).cloned().collect()
    }

    /// Whether the file `name`'s current version came from still holds that
    /// build (Erlang's `code:module_status`).
    pub fn module_status(&self, name: &str) -> Option<ModuleStatus> {
        let current = self.current(name)?;
        Some(match current.origin() {
            Origin::Static => ModuleStatus::Static,
            Origin::Dylib { path, .. } => match std::fs::read(path) {
                Err(_) => ModuleStatus::Removed,
                Ok(bytes) => {
                    let on_disk = BuildHash::of_library(&bytes);
                    if on_disk == current.hash() {
                        ModuleStatus::Unchanged
                    } else {
                        ModuleStatus::Modified { on_disk }
                    }
                }
            },
        })
    }

    /// Mark a build bad: loading it again is refused unless forced. With a
    /// state directory the mark is saved (fsynced) before this returns, and
    /// holds after a restart.
    ///
    /// # Errors
    /// The mark could not be saved in the state directory. It holds in this
    /// table all the same (loads of the build are refused), but would not
    /// survive a restart; it is saved again with the next mark.
    pub fn mark_bad(&self, module: &str, hash: BuildHash) -> Result<(), StateError> {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        inner.bad.insert(hash, module.to_owned());
        let saved = inner.state.as_ref().map_or(Ok(()), |s| s.write_bad(&inner.bad));
        if let Err(error) = &saved {
            tracing::error!(
                module, hash = %hash.short(), %error,
                "build marked bad in memory only: the mark will not survive a restart"
            );
        }
        // issue 20: cli — which version and file the mark is about, when
        // that build is loaded (the history then says what was marked).
        let marked = inner.modules.get(module).and_then(|s| {
            std::iter::once(&s.current).chain(s.old.as_ref()).find(|v| v.hash() == hash).cloned()
        });
        let to = marked.as_ref().map(|v| v.version().to_string());
        let build = match &marked {
            Some(v) => Build::of(v),
            None => Build { hash: Some(hash), source: None },
        };
        Self::push(&mut inner, module, Action::MarkBad, None, to, build, None, started);
        // issue 15: lifecycle (under the lock: see `commit_all`)
        self.events.emit(EventKind::MarkedBad { module: module.to_owned(), hash });
        drop(inner);
        saved
    }

    /// Whether a build is marked bad.
    pub fn is_bad(&self, hash: &BuildHash) -> bool {
        self.inner.lock().bad.contains(hash)
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        inner: &mut Inner,
        name: &str,
        action: Action,
        from: Option<String>,
        to: Option<String>,
        build: Build,
        refused: Option<&dyn std::fmt::Display>,
        started: Instant,
    ) {
        if let Some(reason) = refused {
            tracing::warn!(module = name, ?action, %reason, "code server refused");
            // issue 15: lifecycle
            if let Some(events) = &inner.events {
                events.emit(EventKind::Refused {
                    module: name.to_owned(),
                    action,
                    to: to.clone(),
                    reason: reason.to_string(),
                });
            }
        }
        if inner.history.len() == HISTORY_LIMIT {
            inner.history.pop_front();
        }
        inner.history.push_back(HistoryEntry {
            at: SystemTime::now(),
            module: name.to_owned(),
            action,
            from,
            to,
            hash: build.hash,
            source: build.source,
            refused: refused.map(ToString::to_string),
            duration: started.elapsed(),
        });
        if let Some(state) = &inner.state
            && let Err(error) = state.write_history(&inner.history)
        {
            // The change itself happened; only its record on disk is behind
            // (it catches up with the next entry).
            tracing::error!(module = name, ?action, %error, "history entry not saved");
        }
    }
}

// issue 15: interfaces that grow
/// Whether `older` has every message variant `newer`'s instances have been
/// handed ([`Version::variants_used`]); `force` skips the check.
fn variants_kept(
    module: &str,
    newer: &Version,
    older: &Version,
    force: bool,
) -> Result<(), RollbackError> {
    let used = newer.variants_used();
    let Some(list) = newer.message_variants() else { return Ok(()) };
    // How many variants the older version has: its own list, or where its
    // (fixed) type sits among the newer version's prefixes.
    let known = match older.message_variants() {
        Some(l) => l.len(),
        None => match list.prefixes().iter().position(|p| *p == older.schemas().message) {
            Some(i) => i + 1,
            None => return Ok(()),
        },
    };
    if force || used <= known {
        return Ok(());
    }
    Err(RollbackError::VariantInUse {
        module: module.to_owned(),
        from: newer.version().to_string(),
        to: older.version().to_string(),
        variant: used - 1,
        name: list.name(used - 1).unwrap_or_default().to_owned(),
        known,
    })
}

// issue 15: dependencies
/// A dependency refusal of the load check, as a rollback's refusal.
fn rollback_dependency(module: &str, to: &Version, e: LoadError) -> RollbackError {
    let (dependant, on, problem) = match e {
        LoadError::Dependency { module, dependency, problem, .. } => (module, dependency, problem),
        LoadError::BreaksDependant { module, dependant, problem, .. } => {
            (dependant, module, problem)
        }
        other => (
            module.to_owned(),
            module.to_owned(),
            Box::new(dependency::DependencyProblem::NotLoaded(other.to_string())),
        ),
    };
    RollbackError::Dependency {
        module: module.to_owned(),
        to: to.version().to_string(),
        dependant,
        on,
        problem,
    }
}

// issue 20: cli
/// The build a history entry is about: its hash and the file it came from,
/// as far as they are known (a file the loader could not read has no hash).
#[derive(Debug, Default)]
struct Build {
    hash: Option<BuildHash>,
    source: Option<String>,
}

impl Build {
    /// A version that was read: its hash and its file.
    fn of(v: &Version) -> Self {
        let source = match v.origin() {
            Origin::Dylib { path, .. } => path.display().to_string(),
            Origin::Static => "static".to_owned(),
        };
        Build { hash: Some(v.hash()), source: Some(source) }
    }

    /// Only the file asked for (the loader refused before it had a build).
    fn file(source: &Source) -> Self {
        let source = match source {
            Source::Dylib(path) => path.display().to_string(),
            Source::Static(_) => "static".to_owned(),
        };
        Build { hash: None, source: Some(source) }
    }
}
