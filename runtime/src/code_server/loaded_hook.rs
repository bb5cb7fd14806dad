//! The loaded hook: what the layer above is told when a load through the
//! table's own [`load`](super::ModuleTable::load) changed a module's slots.
//!
//! The host derives things from the slots (the versions its function
//! handles serve). Its own code server calls those refreshes itself after
//! each upgrade, rollback or purge; a load made straight through
//! `host.code_server().table()` would otherwise leave them serving the
//! version before. The table knows nothing of hosts: it calls back through
//! this hook, set once by whoever builds on it.

use std::sync::OnceLock;

/// The callback: told the module's name after the load committed.
type Callback = Box<dyn Fn(&str) + Send + Sync>;

/// A hook set at most once.
#[derive(Default)]
pub(crate) struct LoadedHook(OnceLock<Callback>);

impl LoadedHook {
    /// Set the hook; a second one is refused (returned).
    pub(crate) fn set(&self, f: Callback) -> Result<(), Callback> {
        self.0.set(f)
    }

    /// Tell the hook, if any, that `module` was loaded.
    pub(crate) fn loaded(&self, module: &str) {
        if let Some(f) = self.0.get() {
            f(module);
        }
    }
}

impl std::fmt::Debug for LoadedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LoadedHook").field(&self.0.get().is_some()).finish()
    }
}
