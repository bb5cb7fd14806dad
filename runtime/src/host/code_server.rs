//! `CodeServer`: the code server a host gives out (`host.code_server()`):
//! Erlang's `code` module together with `release_handler`'s actor side.
//!
//! Its [`upgrade`](CodeServer::upgrade) validates a new build completely,
//! loads it *and* migrates every running actor of the module (atomically by
//! default). The step below it — making a version current without touching
//! any actor — is [`load`](CodeServer::load). Everything about versions and
//! slots is delegated to the host's [`ModuleTable`]; everything about actors
//! to the upgrade protocols (`upgrade/`).

use super::HostShared;
use super::off_thread::OffThread;
use super::upgrade::{
    PurgeReport, RollbackReport, UpgradeError, UpgradeMode, UpgradeOptions, UpgradeReport,
};
use crate::actor::ActorId;
use crate::code_server::{
    BuildHash, HistoryEntry, Inspected, LoadError, LoadOptions, LoadReport, ModuleStatus,
    ModuleTable, PurgeError, Source, StateError, Version, Which,
};
use std::sync::Arc;

/// The code server of a running host. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CodeServer {
    pub(super) shared: Arc<HostShared>,
}

impl CodeServer {
    /// Upgrade `module` to the library at `source`: validate it, load it, and
    /// migrate every actor of the module atomically (see `upgrade/` for the
    /// protocol). The first version of a module is simply loaded.
    ///
    /// # Errors
    /// [`UpgradeError`]; in every case nothing changed.
    ///
    /// # Upgrade behaviour
    /// Every actor pauses at its next message boundary until all have
    /// migrated; mail sent meanwhile waits and is handled by the new version.
    pub fn upgrade(
        &self,
        module: &str,
        source: impl Into<Source>,
    ) -> Result<UpgradeReport, UpgradeError> {
        self.upgrade_with(module, source, UpgradeOptions::default())
    }

    /// [`upgrade`](Self::upgrade) with options (atomic or gradual).
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// Atomic: as [`upgrade`](Self::upgrade). Gradual: the new version is
    /// current at once (new actors start on it); the canaries pause one at a
    /// time for their own migration; the others keep running the old version
    /// until [`promote`](Self::promote).
    pub fn upgrade_with(
        &self,
        module: &str,
        source: impl Into<Source>,
        opts: UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let out = match opts.mode {
            UpgradeMode::Atomic => {
                self.shared.upgrade_atomic(vec![(module.to_owned(), source.into())], &opts)
            }
            UpgradeMode::Gradual(canary) => {
                self.shared.upgrade_gradual(module, source.into(), canary, &opts)
            }
        };
        // issue 16: metrics
        self.shared.metrics.upgraded(&[module.to_owned()], &out);
        // issue 17: functions — every handle serves what the slots say now.
        self.shared.refresh_functions(module);
        out
    }

    /// Upgrade several modules as one unit (OTP's `atomic_load`): every
    /// actor of every module migrates, or none does.
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// Every actor of every module named pauses until all have migrated;
    /// the modules' slots change in one step.
    pub fn upgrade_all(
        &self,
        modules: Vec<(String, Source)>,
        opts: UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let names: Vec<String> = modules.iter().map(|(m, _)| m.clone()).collect();
        let out = self.shared.upgrade_atomic(modules, &opts);
        // issue 16: metrics
        self.shared.metrics.upgraded(&names, &out);
        // issue 17: functions
        for name in &names {
            self.shared.refresh_functions(name);
        }
        out
    }

    /// Migrate every actor of `module` still on an older version to the
    /// current one, atomically, loading nothing (OTP's `change_code` after a
    /// `load`). What [`upgrade`](Self::upgrade) also does when the build it is
    /// given is already current.
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade); [`UpgradeError::Rollback`] with
    /// `NotLoaded` when the module is not loaded.
    ///
    /// # Upgrade behaviour
    /// As [`upgrade`](Self::upgrade).
    pub fn migrate(&self, module: &str) -> Result<UpgradeReport, UpgradeError> {
        self.migrate_with(module, UpgradeOptions::default())
    }

    /// [`migrate`](Self::migrate) with options (the mode is ignored: a
    /// migration is atomic).
    ///
    /// # Errors
    /// As [`migrate`](Self::migrate).
    pub fn migrate_with(
        &self,
        module: &str,
        opts: UpgradeOptions,
    ) -> Result<UpgradeReport, UpgradeError> {
        let out = self.shared.migrate(module, &opts);
        // issue 16: metrics
        self.shared.metrics.upgraded(&[module.to_owned()], &out);
        // issue 17: functions
        self.shared.refresh_functions(module);
        out
    }

    /// Finish a gradual upgrade: migrate every actor still on the old version.
    ///
    /// # Errors
    /// [`UpgradeError::NoGradualUpgrade`].
    ///
    /// # Upgrade behaviour
    /// Each remaining actor pauses only for its own migration.
    pub fn promote(&self, module: &str) -> Result<UpgradeReport, UpgradeError> {
        let out = self.shared.promote(module);
        // issue 16: metrics
        self.shared.metrics.upgraded(&[module.to_owned()], &out);
        // issue 17: functions — all calls on the new version.
        self.shared.refresh_functions(module);
        out
    }

    /// Cancel a gradual upgrade: the canaries go back, the old version is
    /// current again, the new one is unloaded.
    ///
    /// # Errors
    /// [`UpgradeError::NoGradualUpgrade`].
    ///
    /// # Upgrade behaviour
    /// As [`rollback`](Self::rollback), for the canaries (and any actor
    /// spawned on the new version meanwhile).
    pub fn abort(&self, module: &str) -> Result<RollbackReport, UpgradeError> {
        self.abort_with(module, false)
    }

    // issue 15: interfaces that grow
    /// [`abort`](Self::abort), with `force`: even when the canaries were
    /// handed a message variant the old version lacks (such messages are
    /// then refused, [`CallError::UnknownVariant`](crate::CallError)).
    ///
    /// # Errors
    /// As [`abort`](Self::abort); without `force`, also
    /// [`RollbackError::VariantInUse`](crate::code_server::RollbackError).
    pub fn abort_with(&self, module: &str, force: bool) -> Result<RollbackReport, UpgradeError> {
        let out = self.shared.abort(module, force);
        // issue 16: metrics
        self.shared.metrics.rolled_back(module, true, &out);
        // issue 17: functions — all calls back on the old version.
        self.shared.refresh_functions(module);
        out
    }

    /// Make `old` current again and move every actor back to it (through
    /// the newer version's `downgrade`, the older `code_change`, or the
    /// upgrade snapshot, in that order).
    ///
    /// # Errors
    /// [`UpgradeError::Rollback`]: not loaded, no old version, or (issue 15)
    /// the old version lacks a message variant the current one has been
    /// handed ([`RollbackError::VariantInUse`](crate::code_server::RollbackError);
    /// see [`rollback_with`](Self::rollback_with)).
    ///
    /// # Upgrade behaviour
    /// Each actor pauses only for its own migration back.
    pub fn rollback(&self, module: &str) -> Result<RollbackReport, UpgradeError> {
        self.rollback_with(module, false)
    }

    // issue 15: interfaces that grow
    /// [`rollback`](Self::rollback), with `force`: even to a version that
    /// lacks a message variant callers have used; such messages are then
    /// refused before any module sees them
    /// ([`CallError::UnknownVariant`](crate::CallError), a dead letter for
    /// a cast).
    ///
    /// # Errors
    /// As [`rollback`](Self::rollback), but for `VariantInUse` when forced.
    pub fn rollback_with(&self, module: &str, force: bool) -> Result<RollbackReport, UpgradeError> {
        let out = self.shared.rollback(module, force);
        // issue 16: metrics
        self.shared.metrics.rolled_back(module, false, &out);
        // issue 17: functions
        self.shared.refresh_functions(module);
        out
    }

    // issue 20: async forms
    /// [`upgrade`](Self::upgrade), awaited: the upgrade runs on a thread of
    /// its own, so the awaiting executor thread is never blocked (no
    /// `spawn_blocking` needed under tokio).
    ///
    /// ```
    /// use relive_runtime::{ActorRef, Host};
    /// use relive_runtime::sdk::{Context, Module, ModuleError, declaration};
    /// # #[derive(serde::Serialize, serde::Deserialize, postcard_schema::Schema)]
    /// # pub struct Echo;
    /// # impl Module for Echo {
    /// #     const NAME: &'static str = "echo";
    /// #     type Args = ();
    /// #     type Msg = u32;
    /// #     type Reply = u32;
    /// #     fn init(_: (), _: &mut Context<'_>) -> Result<Self, ModuleError> { Ok(Echo) }
    /// #     fn handle(&mut self, n: u32, _: &mut Context<'_>) -> u32 { n }
    /// # }
    /// let host = Host::new()?;
    /// let code = host.code_server().clone();
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// rt.block_on(async {
    ///     code.upgrade_async("echo", declaration!(Echo, version = "1.0.0")).await?;
    ///     let echo: ActorRef<u32, u32> = host.spawn("echo", &())?;
    ///     assert_eq!(echo.call_async(7).await?, 7); // 5 s default, as `call`
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// As [`upgrade`](Self::upgrade). Dropping the future does not cancel
    /// the upgrade: it completes (or restores everything) and its report is
    /// dropped.
    pub fn upgrade_async(
        &self,
        module: &str,
        source: impl Into<Source>,
    ) -> OffThread<Result<UpgradeReport, UpgradeError>> {
        self.upgrade_with_async(module, source, UpgradeOptions::default())
    }

    /// [`upgrade_with`](Self::upgrade_with), awaited (see
    /// [`upgrade_async`](Self::upgrade_async)).
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade).
    ///
    /// # Upgrade behaviour
    /// As [`upgrade_with`](Self::upgrade_with).
    pub fn upgrade_with_async(
        &self,
        module: &str,
        source: impl Into<Source>,
        opts: UpgradeOptions,
    ) -> OffThread<Result<UpgradeReport, UpgradeError>> {
        let (this, module, source) = (self.clone(), module.to_owned(), source.into());
        OffThread::spawn(move || this.upgrade_with(&module, source, opts))
    }

    /// [`promote`](Self::promote), awaited (see
    /// [`upgrade_async`](Self::upgrade_async)).
    ///
    /// # Errors
    /// As [`promote`](Self::promote).
    ///
    /// # Upgrade behaviour
    /// As [`promote`](Self::promote).
    pub fn promote_async(&self, module: &str) -> OffThread<Result<UpgradeReport, UpgradeError>> {
        let (this, module) = (self.clone(), module.to_owned());
        OffThread::spawn(move || this.promote(&module))
    }

    /// [`abort`](Self::abort), awaited (see
    /// [`upgrade_async`](Self::upgrade_async)).
    ///
    /// # Errors
    /// As [`abort`](Self::abort).
    ///
    /// # Upgrade behaviour
    /// As [`abort`](Self::abort).
    pub fn abort_async(&self, module: &str) -> OffThread<Result<RollbackReport, UpgradeError>> {
        let (this, module) = (self.clone(), module.to_owned());
        OffThread::spawn(move || this.abort(&module))
    }

    /// [`rollback`](Self::rollback), awaited (see
    /// [`upgrade_async`](Self::upgrade_async)).
    ///
    /// # Errors
    /// As [`rollback`](Self::rollback).
    ///
    /// # Upgrade behaviour
    /// As [`rollback`](Self::rollback).
    pub fn rollback_async(&self, module: &str) -> OffThread<Result<RollbackReport, UpgradeError>> {
        let (this, module) = (self.clone(), module.to_owned());
        OffThread::spawn(move || this.rollback(&module))
    }

    /// Stop the actors still on `old` (`killed`) and drop `old` (OTP's
    /// `code:purge`).
    ///
    /// # Errors
    /// [`PurgeError::NotLoaded`].
    ///
    /// # Upgrade behaviour
    /// Mail queued to the killed actors is answered with the exit reason
    /// (calls) or counted as dead letters (casts).
    pub fn purge(&self, module: &str) -> Result<PurgeReport, PurgeError> {
        let result = self.shared.purge(module, false);
        // issue 17: functions (a purge in a gradual upgrade drops what served)
        self.shared.refresh_functions(module);
        result
    }

    /// Drop `old` only if no actor runs it (OTP's `code:soft_purge`).
    ///
    /// # Errors
    /// [`PurgeError::InUse`], [`PurgeError::NotLoaded`].
    pub fn soft_purge(&self, module: &str) -> Result<PurgeReport, PurgeError> {
        let result = self.shared.purge(module, true);
        // issue 17: functions
        self.shared.refresh_functions(module);
        result
    }

    /// Make a version of `module` current without touching any running
    /// actor (OTP's `code:load_file`): new actors start on it, running ones
    /// stay where they are until an [`upgrade`](Self::upgrade) migrates them.
    ///
    /// # Errors
    /// [`LoadError`]; nothing changed.
    pub fn load(&self, module: &str, source: impl Into<Source>) -> Result<LoadReport, LoadError> {
        self.load_with(module, source, LoadOptions::default())
    }

    /// [`load`](Self::load) with options.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_with(
        &self,
        module: &str,
        source: impl Into<Source>,
        opts: LoadOptions,
    ) -> Result<LoadReport, LoadError> {
        // issue 17: functions — the table tells the host (`tell_loads`), so a
        // load through `table()` swaps the handles as this one does.
        self.table().load_with(module, source, opts)
    }

    /// The module table below (versions and slots, no actors).
    pub fn table(&self) -> &ModuleTable {
        &self.shared.table
    }

    /// The current version of `module`.
    pub fn current(&self, module: &str) -> Option<Arc<Version>> {
        self.table().current(module)
    }

    /// The old version of `module`, if any.
    pub fn old(&self, module: &str) -> Option<Arc<Version>> {
        self.table().old(module)
    }

    /// Both slots of `module` (OTP's `code:which`, `code:is_loaded`).
    pub fn which(&self, module: &str) -> Option<Which> {
        self.table().which(module)
    }

    /// The loaded modules, in order.
    pub fn modules(&self) -> Vec<String> {
        self.table().modules()
    }

    /// The history, oldest first, of one module or of all.
    pub fn history(&self, module: Option<&str>) -> Vec<HistoryEntry> {
        self.table().history(module)
    }

    /// Whether the file `module` was loaded from still holds that build.
    pub fn module_status(&self, module: &str) -> Option<ModuleStatus> {
        self.table().module_status(module)
    }

    /// Mark a build bad: loading it again is refused unless forced.
    pub fn mark_bad(&self, module: &str, hash: BuildHash) -> Result<(), StateError> {
        self.table().mark_bad(module, hash)
    }

    /// Whether a build is marked bad.
    pub fn is_bad(&self, hash: &BuildHash) -> bool {
        self.table().is_bad(hash)
    }

    /// Validate a library without loading it into any slot (see
    /// [`ModuleTable::inspect`]).
    ///
    /// # Errors
    /// The loader's reason.
    pub fn inspect(&self, source: impl Into<Source>) -> Result<Inspected, LoadError> {
        self.table().inspect(source)
    }

    /// The canaries of a gradual upgrade of `module` in progress.
    pub fn canaries(&self, module: &str) -> Option<Vec<ActorId>> {
        self.shared.upgrades.gradual.lock().get(module).map(|g| g.canaries.clone())
    }
}
