//! The code server: Erlang's `code` module for relive.
//!
//! Every module name has at most two versions, `current` and `old`. The code
//! server is the single writer of these slots (one mutex serialises every
//! change, as OTP's single `code_server` process does); reading a slot clones
//! an `Arc<Version>`.
//!
//! - [`upgrade`](CodeServer::upgrade): validate the new build completely (the
//!   [`loader`] chain), then in one step make it `current` and the previous
//!   current `old`. A third version while `old` still has live instances is
//!   refused (Erlang's `not_purged`) unless the upgrade asks to purge.
//! - [`rollback`](CodeServer::rollback): `old` becomes `current` again and the
//!   newer version becomes `old`, so its instances can still be migrated back.
//! - [`purge`](CodeServer::purge) / [`soft_purge`](CodeServer::soft_purge):
//!   drop `old`; `soft_purge` refuses while an instance runs it.
//! - [`which`](CodeServer::which), [`history`](CodeServer::history),
//!   [`module_status`](CodeServer::module_status): introspection.
//!
//! # Upgrade behaviour
//! At this layer an upgrade changes which version *new* instances start on;
//! running [`Instance`]s keep the version they hold until they migrate with
//! [`Instance::code_change`]. New code never sees old state: the only way onto
//! a new version is through `code_change` (or a schema-equal decode).

mod error;
mod history;
mod instance;
pub mod loader;
mod version;

pub use error::{CallError, LoadError, PurgeError, RollbackError, UpgradeError};

pub use history::{Action, HistoryEntry};
pub use instance::{Instance, MigrateFailed};
pub use loader::{Interface, Source};
pub use version::{BuildHash, Origin, Schemas, UnloadStatus, UnloadWatch, Version};

use crate::ffi;
use loader::{Against, Loader, check_against};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Options of one upgrade.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct UpgradeOptions {
    /// Load even a build marked bad, or another build of the running version.
    pub force: bool,
    /// Drop `old` even if instances still run it (the actor layer stops them).
    pub purge: bool,
    /// The types callers use, checked against the new version (by default,
    /// the running version's types, or those pinned with
    /// [`CodeServer::set_interface`]).
    pub interface: Option<Interface>,
}

impl UpgradeOptions {
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

/// What an upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeOutcome {
    /// The module was not loaded before; this is its first version.
    Loaded,
    /// A new current version; the previous one is `old`.
    Upgraded,
    /// The same build is already current: nothing changed.
    Unchanged,
}

/// The report of a successful upgrade.
#[derive(Debug, Clone)]
pub struct UpgradeReport {
    /// The module.
    pub module: String,
    /// What happened.
    pub outcome: UpgradeOutcome,
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

/// What [`CodeServer::inspect`] found in a library.
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

/// The report of a rollback.
#[derive(Debug, Clone)]
pub struct RollbackReport {
    /// The module.
    pub module: String,
    /// The version that was current (now `old`).
    pub from: semver::Version,
    /// The version current again.
    pub to: semver::Version,
}

/// The report of a purge.
#[derive(Debug, Clone)]
pub struct PurgeReport {
    /// The version dropped, if there was an `old`.
    pub purged: Option<semver::Version>,
    /// Instances that still ran it (they keep it loaded until they end).
    pub instances: usize,
    /// Follows the dropped version until its library is unmapped.
    pub unload: Option<UnloadWatch>,
}

/// One version as [`CodeServer::which`] shows it.
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

/// A validated version not yet committed (see [`CodeServer::prepare`]).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) name: String,
    pub(crate) new: Arc<Version>,
    pub(crate) running: Option<Arc<Version>>,
    pub(crate) unchanged: bool,
    interface: Option<Interface>,
    started: Instant,
}

impl Prepared {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// The slots changed between `prepare` and `commit`.
#[derive(Debug, thiserror::Error)]
#[error("module `{0}` changed while an upgrade of it was being prepared")]
pub(crate) struct CommitError(pub(crate) String);

#[derive(Debug)]
struct Slots {
    current: Arc<Version>,
    old: Option<Arc<Version>>,
    interface: Option<Interface>,
}

/// History entries kept (all modules together); older ones are dropped, so
/// a host that upgrades forever keeps flat memory. At one upgrade a minute
/// this is days of history; supervisors only read the latest entries.
pub const HISTORY_LIMIT: usize = 4096;

#[derive(Debug, Default)]
struct Inner {
    modules: BTreeMap<String, Slots>,
    history: std::collections::VecDeque<HistoryEntry>,
    bad: HashSet<BuildHash>,
}

/// Builds a [`CodeServer`].
#[derive(Debug, Default)]
pub struct CodeServerBuilder {
    dir: Option<PathBuf>,
    trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    max_library_size: Option<u64>,
}

impl CodeServerBuilder {
    /// Keep private copies of libraries in `dir` (created 0700 if missing;
    /// must be on a file system that allows executable mappings). Default: a
    /// fresh 0700 directory under the system temp directory, removed on drop.
    pub fn private_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
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

    /// Build the code server.
    ///
    /// # Errors
    /// The private directory cannot be created or made private (0700).
    pub fn build(self) -> std::io::Result<CodeServer> {
        let (dir, temp) = match self.dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                (dir, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("relive-").tempdir()?;
                (t.path().to_owned(), Some(t))
            }
        };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(CodeServer {
            loader: Loader::new(
                dir,
                self.trusted_keys,
                self.max_library_size.unwrap_or(loader::DEFAULT_MAX_LIBRARY_SIZE),
            ),
            inner: Mutex::new(Inner::default()),
            _temp: temp,
        })
    }
}

/// The code server: `current` and `old` versions of every module.
#[derive(Debug)]
pub struct CodeServer {
    loader: Loader,
    inner: Mutex<Inner>,
    _temp: Option<tempfile::TempDir>,
}

impl CodeServer {
    /// A code server with a fresh private directory and no signature policy.
    ///
    /// # Errors
    /// The private directory cannot be created.
    pub fn new() -> std::io::Result<Self> {
        CodeServerBuilder::default().build()
    }

    /// Configure a code server.
    pub fn builder() -> CodeServerBuilder {
        CodeServerBuilder::default()
    }

    /// The directory holding the private copies of loaded libraries.
    pub fn private_dir(&self) -> &std::path::Path {
        &self.loader.dir
    }

    /// Load module `name` from `source`: its first version, or an upgrade
    /// that makes it `current` and the running version `old`.
    ///
    /// # Errors
    /// [`UpgradeError::Load`] with the loader's reason; nothing changed.
    /// [`UpgradeError::NotPurged`] when `old` still has instances.
    /// [`UpgradeError::Concurrent`] when another upgrade of the module
    /// committed while this one was being validated.
    ///
    /// # Upgrade behaviour
    /// Running instances keep their version; new instances start on the new
    /// `current`.
    pub fn upgrade(
        &self,
        name: &str,
        source: impl Into<Source>,
    ) -> Result<UpgradeReport, UpgradeError> {
        self.upgrade_with(name, source, UpgradeOptions::default())
    }

    /// [`upgrade`](Self::upgrade) with options.
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    pub fn upgrade_with(
        &self,
        name: &str,
        source: impl Into<Source>,
        opts: UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let prepared = self.prepare(name, source.into(), opts)?;
        self.commit(prepared).map_err(|e| UpgradeError::Concurrent { module: e.0 })
    }

    /// Steps 1–6 and the `not_purged` check, without changing anything: the
    /// validated version, ready to [`commit`](Self::commit). Dropping it
    /// unloads it. Its host services are installed, so its code may run
    /// (migrations) before the commit.
    pub(crate) fn prepare(
        &self,
        name: &str,
        source: Source,
        opts: UpgradeOptions,
    ) -> Result<Prepared, UpgradeError> {
        let started = Instant::now();
        let bad = self.inner.lock().bad.clone();
        // Steps 1–5a outside the lock: dlopen may be slow.
        let checked = match self.loader.load(Some(name), &source, |h| bad.contains(h), opts.force) {
            Ok(c) => c,
            Err(e) => {
                let mut inner = self.inner.lock();
                Self::push(&mut inner, name, Action::Upgrade, None, None, None, Some(&e), started);
                return Err(e.into());
            }
        };
        let forward_logs = checked.forward_logs;
        let new = Arc::new(checked.version);
        let mut inner = self.inner.lock();
        let slots = inner.modules.get(name);
        let running = slots.map(|s| Arc::clone(&s.current));
        let interface = opts.interface.or(slots.and_then(|s| s.interface));
        let from_s = running.as_ref().map(|r| r.version().to_string());
        let (to, hash) = (Some(new.version().to_string()), Some(new.hash()));
        let unchanged = match check_against(&new, running.as_deref(), interface, opts.force) {
            Err(e) => {
                Self::push(&mut inner, name, Action::Upgrade, from_s, to, hash, Some(&e), started);
                return Err(e.into());
            }
            Ok(against) => against == Against::Same,
        };
        if !unchanged
            && let Some(old) = slots.and_then(|s| s.old.as_ref())
            && old.instances() > 0
            && !opts.purge
        {
            let e = UpgradeError::NotPurged {
                module: name.to_owned(),
                old: old.version().to_string(),
                instances: old.instances(),
            };
            Self::push(&mut inner, name, Action::Upgrade, from_s, to, hash, Some(&e), started);
            return Err(e);
        }
        drop(inner);
        if !unchanged {
            ffi::calls::install_host(&new, ffi::host::services(), forward_logs);
        }
        Ok(Prepared {
            name: name.to_owned(),
            new,
            running,
            unchanged,
            interface: opts.interface,
            started,
        })
    }

    /// Make a prepared version current (the running one becomes `old`).
    ///
    /// # Errors
    /// [`CommitError`] when the slots changed since `prepare` (another
    /// upgrade got in between); nothing changes then.
    pub(crate) fn commit(&self, p: Prepared) -> Result<UpgradeReport, CommitError> {
        Ok(self.commit_all(vec![p])?.remove(0))
    }

    /// Commit several prepared versions as one step: all of them, or (if
    /// any module's slots changed since `prepare`) none.
    pub(crate) fn commit_all(&self, all: Vec<Prepared>) -> Result<Vec<UpgradeReport>, CommitError> {
        let mut inner = self.inner.lock();
        for p in &all {
            let now = inner.modules.get(&p.name).map(|s| &s.current);
            let same = match (now, &p.running) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if !same {
                return Err(CommitError(p.name.clone()));
            }
        }
        let mut reports = Vec::with_capacity(all.len());
        let mut dropped_versions = Vec::new();
        for p in all {
            let from = p.running.as_ref().map(|r| r.version().clone());
            let from_s = from.as_ref().map(ToString::to_string);
            let (to, hash) = (Some(p.new.version().to_string()), Some(p.new.hash()));
            let (outcome, dropped) = if p.unchanged {
                (UpgradeOutcome::Unchanged, None)
            } else if let Some(slots) = inner.modules.get_mut(&p.name) {
                let previous = std::mem::replace(&mut slots.current, Arc::clone(&p.new));
                (UpgradeOutcome::Upgraded, slots.old.replace(previous))
            } else {
                let slots =
                    Slots { current: Arc::clone(&p.new), old: None, interface: p.interface };
                inner.modules.insert(p.name.clone(), slots);
                (UpgradeOutcome::Loaded, None)
            };
            let action = match outcome {
                UpgradeOutcome::Loaded => Action::Load,
                UpgradeOutcome::Upgraded => Action::Upgrade,
                UpgradeOutcome::Unchanged => Action::Unchanged,
            };
            Self::push(&mut inner, &p.name, action, from_s, to, hash, None, p.started);
            let dropped_old = dropped.map(|d| {
                let watch = UnloadWatch::new(&d);
                dropped_versions.push(d);
                watch
            });
            if outcome != UpgradeOutcome::Unchanged {
                tracing::info!(
                    module = %p.name, to = %p.new.version(), hash = %p.new.hash().short(),
                    ?outcome, "module loaded"
                );
            }
            reports.push(UpgradeReport {
                module: p.name,
                outcome,
                from,
                to: p.new.version().clone(),
                hash: p.new.hash(),
                dropped_old,
                duration: p.started.elapsed(),
            });
        }
        drop(inner);
        // Unload dropped versions outside the lock.
        drop(dropped_versions);
        Ok(reports)
    }

    /// Record a prepared version that was abandoned (its migration failed).
    pub(crate) fn abandon(&self, p: Prepared, reason: &dyn std::fmt::Display) {
        let from = p.running.as_ref().map(|r| r.version().to_string());
        let (to, hash) = (Some(p.new.version().to_string()), Some(p.new.hash()));
        let mut inner = self.inner.lock();
        Self::push(&mut inner, &p.name, Action::Upgrade, from, to, hash, Some(reason), p.started);
    }

    /// Make `old` current again; the newer version becomes `old`.
    ///
    /// # Errors
    /// The module is not loaded or has no old version.
    ///
    /// # Upgrade behaviour
    /// Instances keep the version they hold; migrate them back with
    /// [`Instance::downgrade`] or restore them from the upgrade snapshot.
    pub fn rollback(&self, name: &str) -> Result<RollbackReport, RollbackError> {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        let slots =
            inner.modules.get_mut(name).ok_or_else(|| RollbackError::NotLoaded(name.into()))?;
        let Some(old) = slots.old.take() else {
            return Err(RollbackError::NoOldVersion(name.into()));
        };
        let newer = std::mem::replace(&mut slots.current, old);
        let report = RollbackReport {
            module: name.to_owned(),
            from: newer.version().clone(),
            to: slots.current.version().clone(),
        };
        let hash = Some(slots.current.hash());
        slots.old = Some(newer);
        let (from, to) = (Some(report.from.to_string()), Some(report.to.to_string()));
        Self::push(&mut inner, name, Action::Rollback, from, to, hash, None, started);
        tracing::info!(module = name, from = %report.from, to = %report.to, "module rolled back");
        Ok(report)
    }

    /// Drop `old` even if instances still run it. They keep the library
    /// loaded until they end; the actor layer stops them first.
    ///
    /// # Errors
    /// The module is not loaded.
    pub fn purge(&self, name: &str) -> Result<PurgeReport, PurgeError> {
        self.purge_inner(name, false)
    }

    /// Drop `old` only if no instance runs it.
    ///
    /// # Errors
    /// [`PurgeError::InUse`] when an instance still runs `old`;
    /// [`PurgeError::NotLoaded`].
    pub fn soft_purge(&self, name: &str) -> Result<PurgeReport, PurgeError> {
        self.purge_inner(name, true)
    }

    fn purge_inner(&self, name: &str, soft: bool) -> Result<PurgeReport, PurgeError> {
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
            return Ok(PurgeReport { purged: None, instances: 0, unload: None });
        };
        let to = Some(old.version().to_string());
        Self::push(&mut inner, name, Action::Purge, None, to, Some(old.hash()), None, started);
        drop(inner);
        let report = PurgeReport {
            purged: Some(old.version().clone()),
            instances,
            unload: Some(UnloadWatch::new(&old)),
        };
        drop(old);
        Ok(report)
    }

    /// Validate a library as a load would (steps 1 to 5a: file, signature,
    /// ELF, ABI, target, panic strategy, semver), without loading it into
    /// any slot, and say what it declares. The library is opened and closed.
    ///
    /// # Errors
    /// The loader's reason.
    pub fn inspect(&self, source: impl Into<Source>) -> Result<Inspected, LoadError> {
        let bad = self.inner.lock().bad.clone();
        let checked = self.loader.load(None, &source.into(), |h| bad.contains(h), false)?;
        let v = checked.version;
        Ok(Inspected {
            name: v.name().to_owned(),
            version: v.version().clone(),
            hash: v.hash(),
            sdk_version: v.sdk_version().to_owned(),
            rustc_version: v.rustc_version().to_owned(),
        })
    }

    /// The current version of `name`.
    pub fn current(&self, name: &str) -> Option<Arc<Version>> {
        self.inner.lock().modules.get(name).map(|s| Arc::clone(&s.current))
    }

    /// The old version of `name`, if any.
    pub fn old(&self, name: &str) -> Option<Arc<Version>> {
        self.inner.lock().modules.get(name).and_then(|s| s.old.clone())
    }

    /// Both slots of `name` (Erlang's `code:which` and `code:is_loaded`).
    pub fn which(&self, name: &str) -> Option<Which> {
        let inner = self.inner.lock();
        let s = inner.modules.get(name)?;
        Some(Which {
            current: VersionInfo::of(&s.current),
            old: s.old.as_deref().map(VersionInfo::of),
        })
    }

    /// The names of the loaded modules.
    pub fn modules(&self) -> Vec<String> {
        self.inner.lock().modules.keys().cloned().collect()
    }

    /// Pin the types callers use with module `name`: every later version is
    /// checked against them (loader step 6).
    pub fn set_interface(&self, name: &str, interface: Interface) {
        if let Some(s) = self.inner.lock().modules.get_mut(name) {
            s.interface = Some(interface);
        }
    }

    /// Pin `interface` for `name` unless one is pinned already.
    pub(crate) fn pin_interface(&self, name: &str, interface: Interface) {
        if let Some(s) = self.inner.lock().modules.get_mut(name) {
            s.interface.get_or_insert(interface);
        }
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
                    let on_disk = BuildHash(Sha256::digest(&bytes).into());
                    if on_disk == current.hash() {
                        ModuleStatus::Unchanged
                    } else {
                        ModuleStatus::Modified { on_disk }
                    }
                }
            },
        })
    }

    /// Mark a build bad: loading it again is refused unless forced.
    pub fn mark_bad(&self, module: &str, hash: BuildHash) {
        let started = Instant::now();
        let mut inner = self.inner.lock();
        inner.bad.insert(hash);
        Self::push(&mut inner, module, Action::MarkBad, None, None, Some(hash), None, started);
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
        hash: Option<BuildHash>,
        refused: Option<&dyn std::fmt::Display>,
        started: Instant,
    ) {
        if let Some(reason) = refused {
            tracing::warn!(module = name, ?action, %reason, "code server refused");
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
            hash,
            refused: refused.map(ToString::to_string),
            duration: started.elapsed(),
        });
    }
}
