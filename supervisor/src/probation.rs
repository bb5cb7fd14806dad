//! Crash-loop rollback: the probation that follows an upgrade.
//!
//! OTP has no answer to an upgrade that crash-loops but restarting the node.
//! relive watches the children running a freshly upgraded module: while
//! module M is on probation (its current version was loaded less than
//! [`Probation::after_upgrade`] ago and its previous version is still loaded
//! as `old`), abnormal exits of children running M are counted against the
//! probation policy *instead of* the supervisor's intensity, so that a bad
//! build is rolled back before ordinary escalation could take the tree down.
//! When more than [`Probation::max_crashes`] such crashes happen within
//! [`Probation::within`], the supervisor rolls M back on the host (actors on
//! the new version go back through `downgrade` or their upgrade snapshot),
//! marks the build bad (loading it again is refused unless forced), and
//! restarts the crashed children on the old version.

use relive_runtime::code_server::EventKind;
use relive_runtime::{Events, HostHandle};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// The probation policy after an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probation {
    /// Crashes tolerated within `within` (one more trips the rollback).
    pub max_crashes: u32,
    /// The crash window.
    pub within: Duration,
    /// How long after an upgrade a module is on probation.
    pub after_upgrade: Duration,
}

impl Default for Probation {
    /// 3 crashes within 10 s trip it (the 3rd rolls back), during the 5
    /// minutes after an upgrade.
    fn default() -> Self {
        Probation {
            max_crashes: 2,
            within: Duration::from_secs(10),
            after_upgrade: Duration::from_secs(300),
        }
    }
}

/// The crashes counted against one module's probation.
#[derive(Debug, Default)]
pub(crate) struct Window {
    crashes: VecDeque<Instant>,
}

impl Window {
    /// Count a crash at `now`; true when the policy trips.
    pub(crate) fn crash(&mut self, policy: &Probation, now: Instant) -> bool {
        self.crashes.push_back(now);
        while self.crashes.front().is_some_and(|&t| now.duration_since(t) > policy.within) {
            self.crashes.pop_front();
        }
        self.crashes.len() > policy.max_crashes as usize
    }
}

/// How each module's current version became current, as the host's event
/// stream (issue 15) tells: through an upgrade (`true`) or a first load or
/// a rollback (`false`), and when.
///
/// The supervisor reads the stream when it needs to know (a child crashed),
/// never blocking. A module it has heard nothing about since it subscribed
/// — the upgrade came before the supervisor started, or the stream ran past
/// it while it was not looking ([`Lagged`](relive_runtime::Lagged)) — is
/// judged from the slots instead: on probation when its current version was
/// loaded less than `after_upgrade` ago and is newer than `old`.
#[derive(Debug)]
pub(crate) struct Upgrades {
    events: Events,
    became_current: HashMap<String, (bool, SystemTime)>,
}

impl Upgrades {
    pub(crate) fn new(host: &HostHandle) -> Self {
        Upgrades { events: host.events(), became_current: HashMap::new() }
    }

    /// Read what the stream has now.
    fn catch_up(&mut self) {
        while let Some(item) = self.events.try_recv() {
            let Ok(e) = item else {
                // Missed events: forget, and judge from the slots until
                // the stream says more.
                self.became_current.clear();
                continue;
            };
            let (module, upgrade) = match e.kind {
                EventKind::Upgraded { module, .. } => (module, true),
                EventKind::Loaded { module, .. } | EventKind::RolledBack { module, .. } => {
                    (module, false)
                }
                _ => continue,
            };
            self.became_current.insert(module, (upgrade, e.at));
        }
    }

    /// Whether `module` is on probation: its current version became current
    /// through an upgrade (not a first load, not a rollback) less than
    /// `after_upgrade` ago, and the version it replaced is still loaded.
    pub(crate) fn on_probation(
        &mut self,
        host: &HostHandle,
        module: &str,
        policy: &Probation,
    ) -> bool {
        let code = host.code_server();
        let Some(old) = code.old(module) else { return false };
        self.catch_up();
        let recent = |at: SystemTime| at.elapsed().is_ok_and(|age| age < policy.after_upgrade);
        match self.became_current.get(module) {
            Some(&(upgrade, at)) => upgrade && recent(at),
            None => code
                .current(module)
                .is_some_and(|c| c.version() > old.version() && recent(c.loaded_at())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_on_the_crash_after_max_within_the_window() {
        let p = Probation::default();
        let mut w = Window::default();
        let t = Instant::now();
        assert!(!w.crash(&p, t));
        assert!(!w.crash(&p, t + Duration::from_secs(1)));
        assert!(w.crash(&p, t + Duration::from_secs(2)), "the 3rd within 10 s");
        let mut w = Window::default();
        assert!(!w.crash(&p, t));
        assert!(!w.crash(&p, t + Duration::from_secs(11)));
        assert!(!w.crash(&p, t + Duration::from_secs(12)), "the first left the window");
    }
}
