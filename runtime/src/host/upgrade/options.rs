//! How an upgrade moves the actors: mode, timeouts, `extra`, force, purge.

use crate::code_server::LoadOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How an upgrade moves the actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpgradeMode {
    /// All actors at once, or none (the default).
    #[default]
    Atomic,
    /// A canary share first; both versions serve until `promote` or `abort`.
    Gradual(Canary),
}

/// The canary share of a gradual upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canary {
    /// This many actors.
    Count(usize),
    /// This percentage of the actors (rounded up).
    Percent(u32),
}

/// Options of an upgrade.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpgradeOptions {
    /// Atomic or gradual.
    pub mode: UpgradeMode,
    /// How long to wait for every actor to reach a message boundary.
    pub suspend_timeout: Duration,
    /// How long the migrations may take in all (every actor's export on the
    /// old version and `code_change` on the new); past it, an atomic upgrade
    /// counts the unfinished ones as failed and restores everything.
    pub migrate_timeout: Duration,
    /// Passed to every `code_change` (OTP's `Extra`).
    pub extra: Vec<u8>,
    /// Load a build marked bad, or another build of the running version.
    pub force: bool,
    /// Stop actors still on `old` instead of refusing (`not_purged`).
    pub purge: bool,
    /// Counts actors as they migrate (for a progress display).
    pub progress: Option<Arc<AtomicUsize>>,
}

impl Default for UpgradeOptions {
    fn default() -> Self {
        UpgradeOptions {
            mode: UpgradeMode::Atomic,
            suspend_timeout: Duration::from_secs(5),
            migrate_timeout: Duration::from_secs(5),
            extra: Vec::new(),
            force: false,
            purge: false,
            progress: None,
        }
    }
}

impl UpgradeOptions {
    /// Defaults: atomic, 5 s suspend timeout, 5 s for the migrations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the mode.
    pub fn mode(mut self, mode: UpgradeMode) -> Self {
        self.mode = mode;
        self
    }

    /// Set the suspend timeout.
    pub fn suspend_timeout(mut self, t: Duration) -> Self {
        self.suspend_timeout = t;
        self
    }

    /// Set the migration deadline (see [`migrate_timeout`](Self::migrate_timeout)).
    pub fn migrate_timeout(mut self, t: Duration) -> Self {
        self.migrate_timeout = t;
        self
    }

    /// Set the `extra` argument of `code_change`.
    pub fn extra(mut self, extra: Vec<u8>) -> Self {
        self.extra = extra;
        self
    }

    /// Set `force`.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Set `purge`.
    pub fn purge(mut self, purge: bool) -> Self {
        self.purge = purge;
        self
    }

    /// Count migrated actors into `counter` as the upgrade goes.
    pub fn progress(mut self, counter: Arc<AtomicUsize>) -> Self {
        self.progress = Some(counter);
        self
    }

    #[allow(dead_code)]
    pub(super) fn tick(&self) {
        if let Some(p) = &self.progress {
            // ORDERING: a display counter.
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn load(&self) -> LoadOptions {
        LoadOptions::new().force(self.force).purge(self.purge)
    }
}
