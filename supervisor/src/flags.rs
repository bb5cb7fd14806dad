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

    /// Check the flags as OTP's `supervisor` does at start: the period must
    /// be positive (an intensity of 0 is valid: the first restart gives up).
    ///
    /// # Errors
    /// [`FlagsError::InvalidPeriod`] for a zero period.
    pub fn validate(&self) -> Result<(), FlagsError> {
        if self.period.is_zero() {
            return Err(FlagsError::InvalidPeriod(self.period));
        }
        Ok(())
    }

    /// Set (or with `None`, turn off) the crash-loop probation.
    pub fn probation(mut self, probation: Option<Probation>) -> Self {
        self.probation = probation;
        self
    }
}

/// Why a supervisor's flags were refused (OTP's `{supervisor_data, _}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagsError {
    /// The intensity period must be positive (OTP's `invalid_period`): with
    /// a zero period no restart would ever count and intensity never trips.
    #[error("invalid intensity period {0:?}: it must be positive")]
    InvalidPeriod(Duration),
}
