//! The bound on a wait for NATS: the sooner of a step's own timeout and an
//! overall deadline (a join's), and which of them it was, for the error.
//!
//! async-nats' client hands every command (subscribe, publish, flush) to
//! its connection task through a bounded channel and waits for room there,
//! so while it is disconnected, or talks to a server that never answers,
//! any of them can wait for ever. Every await of the cluster that talks to
//! NATS goes through a [`Bound`].

use std::time::Duration;
use tokio::time::Instant;

/// What stands for "never" on the clock.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// When a wait ends, and the timeout that instant stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    until: Instant,
    timeout: Duration,
}

/// A bounded wait ended before its future did, after `0` (the timeout
/// that ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed(pub(crate) Duration);

/// Why a bounded exchange with NATS did not complete.
#[derive(Debug)]
pub(crate) enum WaitError {
    /// Its bound ran out (the timeout it stood for).
    Elapsed(Duration),
    /// async-nats failed it (the connection closed).
    Nats(async_nats::Error),
}

impl From<Elapsed> for WaitError {
    fn from(e: Elapsed) -> Self {
        WaitError::Elapsed(e.0)
    }
}

impl Bound {
    /// From now, for `timeout`.
    pub(crate) fn after(timeout: Duration) -> Self {
        // A timeout too long for the clock (`Duration::MAX`: "wait as long
        // as it takes") is some thirty years, as tokio's own timeouts do.
        let now = Instant::now();
        let until = now.checked_add(timeout).unwrap_or_else(|| now + FAR);
        Bound { until, timeout }
    }

    /// The sooner of this bound and `timeout` from now (a round trip
    /// inside a step with a deadline of its own).
    pub(crate) fn within(self, timeout: Duration) -> Self {
        let own = Bound::after(timeout);
        if own.until < self.until { own } else { self }
    }

    /// The timeout this bound stands for.
    pub(crate) fn timeout(self) -> Duration {
        self.timeout
    }

    /// Whether this bound ends before `timeout` from now would: then a
    /// wait [`within`](Self::within) it that runs out is this bound's.
    pub(crate) fn is_sooner_than(self, timeout: Duration) -> bool {
        Instant::now().checked_add(timeout).is_none_or(|own| self.until < own)
    }

    /// Run `f` until this bound.
    ///
    /// # Errors
    /// [`Elapsed`] with this bound's timeout when `f` did not finish.
    pub(crate) async fn run<F: Future>(self, f: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout_at(self.until, f).await.map_err(|_| Elapsed(self.timeout))
    }

    /// Run the async-nats operation `f` until this bound.
    ///
    /// # Errors
    /// [`WaitError::Elapsed`] when `f` did not finish; [`WaitError::Nats`]
    /// with its error when it failed.
    pub(crate) async fn exchange<T, E, F>(self, f: F) -> Result<T, WaitError>
    where
        F: Future<Output = Result<T, E>>,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.run(f).await?.map_err(|e| WaitError::Nats(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sooner_bound_wins_and_names_its_timeout() {
        let join = Bound::after(Duration::from_secs(10));
        let call = join.within(Duration::from_millis(50));
        assert_eq!(call.timeout(), Duration::from_millis(50));
        let e = call.run(std::future::pending::<()>()).await.unwrap_err();
        assert_eq!(e, Elapsed(Duration::from_millis(50)));
        // A round trip longer than what is left of the join: the join's
        // deadline is the sooner.
        assert!(join.is_sooner_than(Duration::from_secs(20)));
        assert!(!join.is_sooner_than(Duration::from_millis(50)));
        let long = join.within(Duration::from_secs(20));
        assert_eq!(long.timeout(), Duration::from_secs(10));
        assert_eq!(long.run(async { 3 }).await, Ok(3));
        // A timeout past the clock's end does not panic.
        assert_eq!(Bound::after(Duration::MAX).within(Duration::MAX).run(async { 4 }).await, Ok(4));
    }
}
