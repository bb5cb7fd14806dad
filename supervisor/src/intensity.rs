//! Restart intensity: OTP's sliding window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// More restarts than allowed within the period: the supervisor stops its
/// children and exits with `shutdown`, and its parent sees a child exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {max_restarts} restart(s) within {period:?}: giving up")]
pub struct GiveUp {
    /// The limit that was exceeded.
    pub max_restarts: u32,
    /// Its window.
    pub period: Duration,
}

/// "If more than `max_restarts` restarts occur within `period`, the
/// supervisor terminates all child processes and then itself"; defaults 1
/// and 5 s, as OTP.
#[derive(Debug, Clone)]
pub struct Intensity {
    max_restarts: u32,
    period: Duration,
    restarts: VecDeque<Instant>,
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity::new(1, Duration::from_secs(5))
    }
}

impl Intensity {
    /// At most `max_restarts` restarts within any `period`.
    pub fn new(max_restarts: u32, period: Duration) -> Self {
        Intensity { max_restarts, period, restarts: VecDeque::new() }
    }

    /// Record a restart at `now`. `Err` when it is one too many: the
    /// supervisor must give up instead of restarting.
    ///
    /// # Errors
    /// [`GiveUp`] when more than `max_restarts` restarts fall within the
    /// last `period` (this one included).
    pub fn add_restart(&mut self, now: Instant) -> Result<(), GiveUp> {
        self.restarts.push_back(now);
        while let Some(&oldest) = self.restarts.front() {
            if now.duration_since(oldest) > self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() > self.max_restarts as usize {
            Err(GiveUp { max_restarts: self.max_restarts, period: self.period })
        } else {
            Ok(())
        }
    }

    /// Restarts counted in the current window.
    pub fn recent(&self) -> usize {
        self.restarts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_restarts_are_tolerated_one_more_gives_up() {
        let t = Instant::now();
        let mut i = Intensity::new(3, Duration::from_secs(5));
        for k in 0..3 {
            assert!(i.add_restart(t + Duration::from_secs(k)).is_ok(), "restart {k}");
        }
        assert!(i.add_restart(t + Duration::from_secs(3)).is_err(), "the 4th within 5 s");
    }

    #[test]
    fn restarts_outside_the_period_do_not_count() {
        let t = Instant::now();
        let mut i = Intensity::new(1, Duration::from_secs(5));
        assert!(i.add_restart(t).is_ok());
        assert!(i.add_restart(t + Duration::from_secs(6)).is_ok(), "the first has left the window");
        assert_eq!(i.recent(), 1);
        assert!(i.add_restart(t + Duration::from_secs(7)).is_err());
    }

    #[test]
    fn zero_intensity_gives_up_at_the_first_restart() {
        let mut i = Intensity::new(0, Duration::from_secs(1));
        assert!(i.add_restart(Instant::now()).is_err());
    }
}
