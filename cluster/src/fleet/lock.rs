//! The fleet's lock — one rollout at a time — as a coordinator takes,
//! renews and releases it (a rollout's step 2, in `rollout.rs`).
//!
//! Taken with a compare-and-set (create: only if absent). If another holds
//! it, the contender watches it: a new revision means its holder renews it
//! ([`RolloutError::Busy`], within a third of its lease); the same revision
//! for the whole of its lease (`lease_ms`), timed on the contender's own
//! monotonic clock, means its holder is gone, and it is taken over with a
//! compare-and-set on that revision (a contender watches no longer than its
//! own lease: a lock with a longer one is `Busy` after that). Only one
//! clock is ever read — no
//! server timestamp is compared with a local one, so skewed clocks between
//! hosts change nothing (decision 0035). Once held, it is
//! renewed on a task of its own every third of its lease, whatever step
//! the rollout is in (an upload included), each renewal a compare-and-set
//! on the last revision. A renewal that finds another coordinator's lock
//! marks it lost, and the rollout stops ([`RolloutError::LockLost`]); one
//! that fails otherwise is tried again after a sixth of the lease.

use super::bucket::{self, Buckets};
use super::coordinator::Fleet;
use super::error::{FleetError, RolloutError};
use super::record::{Desired, Lock};
use async_nats::jetstream::kv::Operation;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The shortest renewal period (a zero lease must not spin), and the
/// shortest wait between a contender's looks at a lock.
const MIN_RENEWAL: Duration = Duration::from_millis(10);

/// The longest wait between a contender's looks at a lock.
const MAX_POLL: Duration = Duration::from_secs(1);

/// A lock a contender watches: the revision it saw, and since when, on
/// its own monotonic clock (never the server's time, nor the holder's).
#[derive(Debug, Clone, Copy)]
struct Watched {
    revision: u64,
    since: Instant,
}

/// What a contender's look at the lock tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Another revision: its holder renews it (or another took it).
    Renewed,
    /// The same revision, for less than the lease.
    Unchanged,
    /// The same revision for the whole lease: its holder is gone.
    Expired,
}

impl Watched {
    /// The lock now has `revision`, at `now`.
    fn observe(&self, revision: u64, now: Instant, lease: Duration) -> Verdict {
        if revision != self.revision {
            Verdict::Renewed
        } else if now.saturating_duration_since(self.since) >= lease {
            Verdict::Expired
        } else {
            Verdict::Unchanged
        }
    }
}

/// The lock as this coordinator holds it, renewed until released,
/// abandoned or dropped.
pub(crate) struct Held {
    /// What it says.
    pub(crate) value: Lock,
    /// Its last revision; locked while a renewal is written, so a release
    /// never deletes with a revision a renewal is replacing.
    revision: Arc<tokio::sync::Mutex<u64>>,
    /// Becomes `true` when a renewal found another coordinator's lock.
    lost: watch::Receiver<bool>,
    renewal: JoinHandle<()>,
}

impl Held {
    fn start(buckets: Buckets, value: Lock, revision: u64, lease: Duration) -> Held {
        let revision = Arc::new(tokio::sync::Mutex::new(revision));
        let (tx, lost) = watch::channel(false);
        let renewal = tokio::spawn(renew(buckets, value.clone(), Arc::clone(&revision), lease, tx));
        Held { value, revision, lost, renewal }
    }

    /// Whether it is lost: another coordinator took it, or its renewal
    /// task ended (it panicked: nobody renews it).
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow() || self.renewal.is_finished()
    }

    /// Resolves when it is lost (see [`is_lost`](Self::is_lost)): a step
    /// raced with it stops at once.
    pub(crate) async fn lost(&self) {
        let mut lost = self.lost.clone();
        // An error: the renewal task ended (it panicked; while the lock is
        // held nothing else ends it), so nobody renews it: lost too.
        let _ = lost.wait_for(|l| *l).await;
    }

    /// Stop renewing it and delete it (a failure is logged: it expires).
    pub(crate) async fn release(self, buckets: &Buckets) {
        let revision = self.revision.lock().await;
        self.renewal.abort();
        if let Err(e) = buckets.delete(bucket::LOCK, *revision).await {
            tracing::warn!(error = %e, "fleet: the lock was not released (it expires)");
        }
    }

    /// Stop renewing it and leave it in the bucket (lost: another's; else
    /// it expires after its lease).
    pub(crate) fn abandon(self) {
        drop(self);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Renew `value` every third of `lease` until another lock replaces it.
async fn renew(
    buckets: Buckets,
    value: Lock,
    revision: Arc<tokio::sync::Mutex<u64>>,
    lease: Duration,
    lost: watch::Sender<bool>,
) {
    let every = (lease / 3).max(MIN_RENEWAL);
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        let mut rev = revision.lock().await;
        wait = match buckets.update(bucket::LOCK, &value, *rev).await {
            Ok(r) => {
                *rev = r;
                every
            }
            // Ours still, its last renewal's answer lost? Else another's.
            Err(FleetError::Conflict { .. }) => match buckets.entry(bucket::LOCK).await {
                Ok(Some(e))
                    if e.operation == Operation::Put
                        && serde_json::from_slice::<Lock>(&e.value).is_ok_and(|l| l == value) =>
                {
                    *rev = e.revision;
                    every
                }
                Ok(_) => {
                    tracing::warn!(rollout = %value.rollout, "fleet: the lock was taken over");
                    let _ = lost.send(true);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fleet: lock not read");
                    (every / 2).max(MIN_RENEWAL)
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "fleet: lock not renewed");
                (every / 2).max(MIN_RENEWAL)
            }
        };
    }
}

impl Fleet {
    /// Take the lock for rollout `id` of `module` (see the module docs and
    /// `rollout.rs`, step 2).
    pub(super) async fn lock(
        &self,
        id: &str,
        module: &str,
        lease: Duration,
    ) -> Result<Held, RolloutError> {
        let value = Lock {
            rollout: id.to_owned(),
            module: module.to_owned(),
            owner: self.owner.clone(),
            lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
        };
        let held = |revision| Held::start(self.buckets.clone(), value.clone(), revision, lease);
        // The whole wait is bounded by this rollout's lease, however many
        // times the lock changes hands meanwhile.
        let started = Instant::now();
        // A lock released while we looked is created again, twice at most.
        for _ in 0..3 {
            match self.buckets.create(bucket::LOCK, &value).await {
                Ok(revision) => return Ok(held(revision)),
                Err(FleetError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some((other, revision)) = self.held_lock().await? else { continue };
            // Watch it for its lease, on this coordinator's clock only —
            // and no longer than this rollout's own lease: a holder that
            // asked for more is waited for no longer than that (`Busy`).
            let theirs = Duration::from_millis(other.lease_ms);
            let poll = (theirs.min(lease) / 10).clamp(MIN_RENEWAL, MAX_POLL);
            let watched = Watched { revision, since: Instant::now() };
            let expired = loop {
                tokio::time::sleep(poll).await;
                let Some((now, revision)) = self.held_lock().await? else { break None };
                let at = Instant::now();
                match watched.observe(revision, at, theirs) {
                    Verdict::Unchanged if at.saturating_duration_since(started) >= lease => {
                        return Err(RolloutError::Busy { lock: Box::new(now) });
                    }
                    Verdict::Unchanged => {}
                    Verdict::Renewed => return Err(RolloutError::Busy { lock: Box::new(now) }),
                    Verdict::Expired => break Some((now, revision)),
                }
            };
            let Some((other, revision)) = expired else { continue };
            // Its coordinator stopped renewing it: take it over.
            match self.buckets.update(bucket::LOCK, &value, revision).await {
                Ok(revision) => {
                    tracing::warn!(stale = %other.rollout, "fleet: took over an expired lock");
                    let held = held(revision);
                    // Any candidate still out is the gone rollout's (one
                    // rollout at a time): withdraw them all, whatever their
                    // module. If that fails the lock is not deleted but
                    // left to expire, so whoever takes it next withdraws
                    // them again — never a free lock with a stale candidate.
                    if let Err(e) = self.withdraw_all().await {
                        held.abandon();
                        return Err(e.into());
                    }
                    return Ok(held);
                }
                Err(FleetError::Conflict { .. }) => {
                    let lock = self.held_lock().await?.map(|(l, _)| l);
                    return Err(RolloutError::Busy { lock: Box::new(lock.unwrap_or(other)) });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let lock = self.held_lock().await?.map(|(l, _)| l);
        match lock {
            Some(lock) => Err(RolloutError::Busy { lock: Box::new(lock) }),
            None => Err(FleetError::Conflict { key: bucket::LOCK.into() }.into()),
        }
    }

    /// The lock in the bucket and its revision, if one is held.
    async fn held_lock(&self) -> Result<Option<(Lock, u64)>, FleetError> {
        self.buckets.get::<Lock>(bucket::LOCK).await
    }

    /// Withdraw every module's candidate (an expired rollout's).
    async fn withdraw_all(&self) -> Result<(), FleetError> {
        for key in self.buckets.keys(bucket::DESIRED_PREFIX).await? {
            if let Some((mut d, revision)) = self.buckets.get::<Desired>(&key).await?
                && d.candidate.take().is_some()
            {
                self.buckets.update(&key, &d, revision).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(30);

    #[test]
    fn a_lock_is_expired_only_after_its_revision_stood_for_the_lease_on_the_watchers_clock() {
        let t0 = Instant::now();
        let w = Watched { revision: 7, since: t0 };
        assert_eq!(w.observe(7, t0, LEASE), Verdict::Unchanged);
        assert_eq!(w.observe(7, t0 + LEASE - Duration::from_millis(1), LEASE), Verdict::Unchanged);
        assert_eq!(w.observe(7, t0 + LEASE, LEASE), Verdict::Expired);
        // Renewed — however late the watcher looks, and whatever the time
        // of the entry on the server: alive, never taken.
        assert_eq!(w.observe(8, t0 + LEASE * 100, LEASE), Verdict::Renewed);
        // A clock read before the first look (it cannot be) is no expiry.
        let later = Watched { revision: 7, since: t0 + LEASE };
        assert_eq!(later.observe(7, t0, LEASE), Verdict::Unchanged);
    }
}
