//! The fleet's lock — one rollout at a time — as a coordinator takes,
//! renews and releases it (a rollout's step 2, in `rollout.rs`).
//!
//! Taken with a compare-and-set (create: only if absent). Once held, it is
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
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The shortest renewal period (a zero lease must not spin).
const MIN_RENEWAL: Duration = Duration::from_millis(10);

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

    /// Whether another coordinator took it.
    pub(crate) fn is_lost(&self) -> bool {
        *self.lost.borrow()
    }

    /// Resolves when another coordinator takes it (never, while it is
    /// held): a step raced with it stops at once.
    pub(crate) async fn lost(&self) {
        let mut lost = self.lost.clone();
        if lost.wait_for(|l| *l).await.is_err() {
            // The renewal task ended without losing it (it was stopped).
            std::future::pending::<()>().await;
        }
    }

    /// Stop renewing it and delete it (a failure is logged: it expires).
    pub(crate) async fn release(self, buckets: &Buckets) {
        let revision = self.revision.lock().await;
        self.renewal.abort();
        if let Err(e) = buckets.delete(bucket::LOCK, *revision).await {
            tracing::warn!(error = %e, "fleet: the lock was not released (it expires)");
        }
    }

    /// Stop renewing it and leave it in the bucket: it expires after its
    /// lease.
    pub(crate) fn abandon(self) {
        tracing::warn!(rollout = %self.value.rollout, "fleet: the lock is left to expire");
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
        for _ in 0..2 {
            match self.buckets.create(bucket::LOCK, &value).await {
                Ok(revision) => return Ok(held(revision)),
                Err(FleetError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(entry) = self.buckets.entry(bucket::LOCK).await? else { continue };
            if entry.operation != Operation::Put {
                continue;
            }
            let other: Lock = serde_json::from_slice(&entry.value)
                .map_err(|source| FleetError::Decode { key: bucket::LOCK.into(), source })?;
            let written_ms = entry.created.unix_timestamp_nanos() / 1_000_000;
            let age_ms = i128::from(super::record::now_unix_ms()) - written_ms;
            if age_ms <= i128::from(other.lease_ms) {
                return Err(RolloutError::Busy { lock: Box::new(other) });
            }
            // Its coordinator stopped renewing it: take it over.
            match self.buckets.update(bucket::LOCK, &value, entry.revision).await {
                Ok(revision) => {
                    tracing::warn!(stale = %other.rollout, "fleet: took over an expired lock");
                    let held = held(revision);
                    if other.module != module
                        && let Err(e) = self.withdraw(&other.module).await
                    {
                        held.release(&self.buckets).await;
                        return Err(e.into());
                    }
                    return Ok(held);
                }
                Err(FleetError::Conflict { .. }) => {
                    let lock = self.buckets.get::<Lock>(bucket::LOCK).await?.map(|(l, _)| l);
                    return Err(RolloutError::Busy { lock: Box::new(lock.unwrap_or(other)) });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let lock = self.buckets.get::<Lock>(bucket::LOCK).await?.map(|(l, _)| l);
        match lock {
            Some(lock) => Err(RolloutError::Busy { lock: Box::new(lock) }),
            None => Err(FleetError::Conflict { key: bucket::LOCK.into() }.into()),
        }
    }

    /// Withdraw the candidate of `module` (an expired rollout's).
    async fn withdraw(&self, module: &str) -> Result<(), FleetError> {
        let key = bucket::desired_key(module);
        if let Some((mut d, revision)) = self.buckets.get::<Desired>(&key).await?
            && d.candidate.take().is_some()
        {
            self.buckets.update(&key, &d, revision).await?;
        }
        Ok(())
    }
}
