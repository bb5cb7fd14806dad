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

use relive_runtime::HostHandle;
use relive_runtime::code_server::Action;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

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

/// Whether `module` is on probation: its current version became current
/// through an upgrade (not a first load, not a rollback) less than
/// `after_upgrade` ago, and the version it replaced is still loaded.
pub(crate) fn on_probation(host: &HostHandle, module: &str, policy: &Probation) -> bool {
    let code = host.code_server();
    if code.old(module).is_none() {
        return false;
    }
    let last = code.history(Some(module)).into_iter().rev().find(|h| {
        h.refused.is_none() && matches!(h.action, Action::Load | Action::Upgrade | Action::Rollback)
    });
    last.is_some_and(|h| {
        h.action == Action::Upgrade && h.at.elapsed().is_ok_and(|age| age < policy.after_upgrade)
    })
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
