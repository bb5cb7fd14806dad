//! Purge: stop the actors still on `old` (`killed`, as OTP's `purge` kills
//! processes running old code; supervisors restart them on current), then
//! drop `old`.

use super::report::PurgeReport;
use crate::actor::{Body, ExitReason};
use crate::code_server::{PurgeError, Version};
use crate::host::HostShared;
use crate::host::kill::Killed;
use std::sync::Arc;

impl HostShared {
    /// Stop (`killed`) every actor of `module` whose body runs another
    /// version than `keep`; how many were stopped.
    pub(super) fn kill_others(&self, module: &str, keep: Option<&Arc<Version>>) -> usize {
        let keep_serial = keep.map(|k| k.serial());
        let mut killed = 0;
        for cell in self.registry.actors_of_where(module, |s| Some(s) == keep_serial) {
            let stale = |body: &Body| matches!(body, Body::Module(i) if keep.is_none_or(|k| !Arc::ptr_eq(i.version(), k)));
            if self.kill_if(&cell, ExitReason::Killed, stale) != Killed::Spared {
                killed += 1;
            }
        }
        killed
    }

    /// Stop the actors still on `old` (`killed`) and drop `old`; with
    /// `soft`, refuse instead while any actor runs it.
    pub(crate) fn purge(&self, module: &str, soft: bool) -> Result<PurgeReport, PurgeError> {
        let _one_at_a_time = self.upgrades.lock.lock();
        let killed = if soft {
            0
        } else {
            let current = self.table.current(module);
            self.kill_others(module, current.as_ref())
        };
        let dropped = self.table.drop_old(module, soft)?;
        self.upgrades.snapshots.lock().remove(module);
        Ok(PurgeReport {
            purged: dropped.version,
            killed,
            instances: dropped.instances,
            unload: dropped.unload,
        })
    }
}
