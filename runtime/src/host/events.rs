//! issue 15: the host's event stream (`host.events()`), and the one way a
//! layer above the runtime — the supervisors — adds to it.
//!
//! The stream itself lives in the code server (`code_server/events.rs`),
//! the lowest layer that emits: the module table emits loads, upgrades,
//! rollbacks, purges, bad marks and refusals; the unloader emits unloads
//! and residencies; the host's upgrade protocols emit migrations; the
//! supervisor crate emits crashes, restarts and escalations through
//! [`HostHandle::emit_supervisor_event`], which accepts those kinds only.

use super::{HostBuilder, HostHandle};
use crate::code_server::{EventKind, Events};

/// [`HostHandle::emit_supervisor_event`] was given a kind only the runtime
/// emits (a code server or upgrade event); nothing was emitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("only supervisor events (crashed, restarted, escalated) may be emitted from outside")]
pub struct NotASupervisorEvent(pub Box<EventKind>);

impl HostHandle {
    /// Subscribe to everything this host does from now on: loads,
    /// upgrades, migrations, rollbacks, purges, unloads, bad marks,
    /// refusals, and its supervisors' crashes, restarts and escalations
    /// (see [`Events`] for the guarantees). A subscriber that falls behind
    /// never slows the host: it is told how many events it missed.
    pub fn events(&self) -> Events {
        self.shared().table.events()
    }

    // issue 16: observer
    /// As [`events`](Self::events), but starting at event number `seq`,
    /// with the events the host still keeps from there on first (see
    /// [`ModuleTable::events_from`](crate::code_server::ModuleTable::events_from)):
    /// `events_from(1)` replays the whole buffer.
    pub fn events_from(&self, seq: u64) -> Events {
        self.shared().table.events_from(seq)
    }

    /// Emit a supervisor's event (a supervisor crate calls this; the
    /// runtime emits every other kind itself).
    ///
    /// # Errors
    /// [`NotASupervisorEvent`] for any kind but `Crashed`, `Restarted` and
    /// `Escalated`.
    pub fn emit_supervisor_event(&self, kind: EventKind) -> Result<(), NotASupervisorEvent> {
        if !kind.is_supervisor_event() {
            return Err(NotASupervisorEvent(Box::new(kind)));
        }
        // issue 16: metrics — restarts by the module the new actor runs.
        let shared = self.shared();
        shared.metrics.supervisor_event(&kind, |id| {
            shared
                .registry
                .lookup(crate::actor::ActorId(id))
                .and_then(|c| c.module.as_deref().map(str::to_owned))
                .unwrap_or_default()
        });
        shared.table.event_bus().emit(kind);
        Ok(())
    }
}

impl HostBuilder {
    /// Keep the last `n` events for subscribers that fall behind (see
    /// [`ModuleTableBuilder::event_capacity`](crate::ModuleTableBuilder::event_capacity)).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.table = self.table.event_capacity(n);
        self
    }
}
