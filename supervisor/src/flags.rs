//! A supervisor's flags (OTP's `sup_flags`, plus the probation policy).

use crate::{Probation, Strategy};
use std::time::Duration;

/// A supervisor's flags (OTP's `sup_flags`, plus the probation policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// The restart strategy.
    pub strategy: Strategy,
    /// OTP's `intensity`: restarts tolerated within `period`.
    pub intensity: u32,
    /// OTP's `period`.
    pub period: Duration,
    /// Crash-loop rollback after upgrades (`None`: OTP's behaviour only).
    pub probation: Option<Probation>,
}

impl Default for Flags {
    /// `one_for_one`, 1 restart in 5 s, as OTP; the default probation.
    fn default() -> Self {
        Flags {
            strategy: Strategy::OneForOne,
            intensity: 1,
            period: Duration::from_secs(5),
            probation: Some(Probation::default()),
        }
    }
}

impl Flags {
    /// Flags with this strategy and OTP's default intensity.
    pub fn new(strategy: Strategy) -> Self {
        Flags { strategy, ..Flags::default() }
    }

    /// Set the intensity.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = max_restarts;
        self.period = period;
        self
    }

    /// Set (or with `None`, turn off) the crash-loop probation.
    pub fn probation(mut self, probation: Option<Probation>) -> Self {
        self.probation = probation;
        self
    }
}
