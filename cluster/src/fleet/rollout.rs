//! A fleet rollout: [`Fleet::upgrade`] and its [`RolloutPlan`].
//!
//! The steps, each bounded:
//!
//! 1. **Read** the library; its module record must name the module; its
//!    BLAKE3 hash (`BuildHash::of_library`, the identity the code server gives a build) is the build.
//! 2. **Lock**: create `lock` in the key-value bucket (compare-and-set: it
//!    must not exist). If it does, it is watched: renewed (another
//!    revision), [`RolloutError::Busy`]; the same revision for its whole
//!    lease on this coordinator's own clock, it is taken over with a
//!    compare-and-set on that revision (its coordinator is presumed dead,
//!    its candidate withdrawn). No server time is compared with a local
//!    one. The lock
//!    is renewed (compare-and-set again) every third of its lease on a
//!    task of its own, whatever step runs (the upload included); a renewal
//!    that finds another coordinator's lock means it took it:
//!    [`RolloutError::LockLost`], and this one stops at once without
//!    writing anything more (`lock.rs`).
//! 3. **Publish** the library (and `<file>.sig`) to the object store,
//!    within the step timeout.
//! 4. **Canary**: the first `canary_hosts` live hosts by name get the build
//!    as `desired.<module>`'s candidate; wait (step timeout) until each
//!    reports it running for this rollout.
//! 5. **Bake**: for the bake time, judge the canaries' counters on the new
//!    build: (crashes + failed calls) / (handled + crashes) above
//!    `max_error_rate` aborts at once. A failed call is one handled whose
//!    caller got an error (refused, or timed out); one whose handler
//!    panicked is a crash, counted once.
//! 6. **Rest**: the candidate is for every host; wait (step timeout) until
//!    every host of the rollout reports it.
//! 7. **Promote**: the build becomes `promoted`, the candidate goes.
//!
//! Throughout, a host of the rollout that is gone (its heartbeats stop) or
//! reports a failure for this rollout, a step that times out, or a bucket
//! write that fails aborts: the candidate is withdrawn, so every host goes
//! back to the promoted build (or, before the first promotion, to the
//! build it ran before), and the coordinator waits (step timeout) for the
//! live hosts to report it; [`RolloutError::Aborted`] says which did. If
//! the withdrawal cannot be written within the step timeout,
//! [`RolloutError::AbortIncomplete`]: the hosts may still be told to run
//! the candidate, so the lock is not released but left to expire, and the
//! next rollout (after the lease) replaces or withdraws the candidate. The
//! lock is released in every other case but a lost lock.

use super::bucket;
use super::coordinator::Fleet;
use super::error::{AbortReason, FleetError, RolloutError};
use super::lock::Held;
use super::record::{
    Build, Candidate, Desired, HostReport, Hosts, Lock, ModuleReport, Phase, RolloutState, Step,
    now_unix_ms,
};
use crate::subject::check_token;
use relive_runtime::code_server::BuildHash;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a rollout goes.
#[derive(Debug, Clone)]
pub struct RolloutPlan {
    /// How many hosts get the new build first (the first ones by node
    /// name). 0: no canary step, no bake.
    pub canary_hosts: usize,
    /// How long the canaries' error rate is judged.
    pub bake: Duration,
    /// The largest error rate — (crashes + failed calls) / (messages
    /// handled + crashes) — the canaries may show on the new build; above
    /// it the rollout aborts.
    pub max_error_rate: f64,
    /// The bound of each step: publishing, the canaries' upgrade, the
    /// rest's, the abort's rollback.
    pub step_timeout: Duration,
    /// How often host reports are read while a step waits.
    pub poll: Duration,
    /// How long the lock may go without a renewal before another
    /// coordinator that watched it that long takes it (it is renewed every
    /// third of this).
    pub lease: Duration,
}

impl Default for RolloutPlan {
    /// One canary, a 60 s bake, 1 % errors at most, 60 s steps, reports
    /// read every 250 ms, a 30 s lease.
    fn default() -> Self {
        RolloutPlan {
            canary_hosts: 1,
            bake: Duration::from_secs(60),
            max_error_rate: 0.01,
            step_timeout: Duration::from_secs(60),
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(30),
        }
    }
}

/// A rollout that promoted its build.
#[derive(Debug, Clone)]
pub struct RolloutReport {
    /// Its id.
    pub rollout: String,
    /// The build, now promoted.
    pub build: Build,
    /// The canaries.
    pub canaries: Vec<String>,
    /// Every host it moved.
    pub hosts: Vec<String>,
    /// The canaries' error rate at the end of the bake.
    pub error_rate: f64,
    /// Whether the build was already the promoted one (nothing was done).
    pub unchanged: bool,
    /// How long it took.
    pub took: Duration,
}

/// Why a step stopped the rollout.
enum Stop {
    Abort(AbortReason),
    LockLost,
}

impl From<AbortReason> for Stop {
    fn from(r: AbortReason) -> Self {
        Stop::Abort(r)
    }
}

/// One rollout under way.
struct Run<'a> {
    fleet: &'a Fleet,
    plan: &'a RolloutPlan,
    module: String,
    build: Build,
    lock: Held,
    /// `desired.<module>` as last written, and its revision.
    desired: Desired,
    revision: u64,
    /// The build each host should go back to on an abort (`None`: any that
    /// is not this rollout's).
    before: BTreeMap<String, Option<String>>,
    state: RolloutState,
}

impl Fleet {
    /// Roll the library at `path` out to every live host running a fleet
    /// agent, as `plan` says (the steps are in the module docs), and
    /// promote it.
    ///
    /// # Errors
    /// [`RolloutError`]: the file is not `module`'s library; another rollout
    /// holds the lock and renews it ([`Busy`](RolloutError::Busy), known
    /// within a third of its lease; a lock left unrenewed for its lease is
    /// taken over, so this may wait that long); no host; a bucket
    /// failed before anything changed; the rollout was
    /// [`Aborted`](RolloutError::Aborted) (every host told to go back,
    /// which ones confirmed); the abort could not be written
    /// ([`AbortIncomplete`](RolloutError::AbortIncomplete), the lock left
    /// to expire); the lock was lost.
    pub async fn upgrade(
        &self,
        module: &str,
        path: impl AsRef<Path>,
        plan: RolloutPlan,
    ) -> Result<RolloutReport, RolloutError> {
        let started = Instant::now();
        check_token("module", module).map_err(FleetError::from)?;
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|source| RolloutError::Read { path: path.to_owned(), source })?;
        let record = relive_runtime::sdk::record::read(&bytes)
            .map_err(|source| RolloutError::NotAModule { path: path.to_owned(), source })?;
        if record.name != module {
            return Err(RolloutError::WrongModule {
                path: path.to_owned(),
                expected: module.to_owned(),
                found: record.name,
            });
        }
        let mut sig_path = path.as_os_str().to_owned();
        sig_path.push(".sig");
        let signature = match std::fs::read(&sig_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(RolloutError::Read { path: sig_path.into(), source }),
        };
        let hash = BuildHash::of_library(&bytes).to_string();
        let object = bucket::object_name(module, &hash);
        let build = Build {
            module: module.to_owned(),
            version: record.version,
            hash,
            object,
            signed: signature.is_some(),
        };
        let id = format!("{module}-{}-{}", &build.hash[..12], now_unix_ms());
        let lock = self.lock(&id, module, plan.lease).await?;
        let mut run = Run {
            fleet: self,
            plan: &plan,
            module: module.to_owned(),
            build: build.clone(),
            lock,
            desired: Desired::default(),
            revision: 0,
            before: BTreeMap::new(),
            state: RolloutState {
                rollout: id.clone(),
                build,
                phase: Phase::Canary,
                canaries: Vec::new(),
                hosts: Vec::new(),
                error_rate: 0.0,
                reason: None,
                at_unix_ms: now_unix_ms(),
            },
        };
        let result = run.go(&bytes, signature.as_deref(), started).await;
        // A lost lock is another's; after an incomplete abort the fleet may
        // still run the candidate: the lock is left to expire, so no
        // rollout starts before the lease has passed.
        let keep = matches!(
            result,
            Err(RolloutError::LockLost { .. } | RolloutError::AbortIncomplete { .. })
        );
        if keep {
            run.lock.abandon();
        } else {
            run.lock.release(&self.buckets).await;
        }
        result
    }

    /// The reports of `hosts` (those that could be read now).
    async fn reports(&self, hosts: &[String]) -> BTreeMap<String, HostReport> {
        let mut out = BTreeMap::new();
        for h in hosts {
            match self.buckets.get::<HostReport>(&bucket::host_key(h)).await {
                Ok(Some((r, _))) => {
                    out.insert(h.clone(), r);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(host = %h, error = %e, "fleet: report not read"),
            }
        }
        out
    }
}

impl Run<'_> {
    async fn go(
        &mut self,
        bytes: &[u8],
        signature: Option<&[u8]>,
        started: Instant,
    ) -> Result<RolloutReport, RolloutError> {
        let fleet = self.fleet;
        let key = bucket::desired_key(&self.module);
        match fleet.buckets.entry(&key).await? {
            Some(e) if e.operation == async_nats::jetstream::kv::Operation::Put => {
                self.desired = serde_json::from_slice(&e.value)
                    .map_err(|source| FleetError::Decode { key: key.clone(), source })?;
                self.revision = e.revision;
            }
            Some(e) => self.revision = e.revision,
            None => {}
        }
        let hosts = fleet.hosts().await?;
        if hosts.is_empty() {
            return Err(RolloutError::NoHosts { cluster: fleet.cluster.clone() });
        }
        let promoted = self.desired.promoted.as_ref().map(|b| b.hash.clone());
        if promoted.as_deref() == Some(self.build.hash.as_str()) && self.desired.candidate.is_none()
        {
            return Ok(RolloutReport {
                rollout: self.lock.value.rollout.clone(),
                build: self.build.clone(),
                canaries: Vec::new(),
                hosts,
                error_rate: 0.0,
                unchanged: true,
                took: started.elapsed(),
            });
        }
        let stale = self.desired.candidate.as_ref().map(|c| c.build.hash.clone());
        let reports = fleet.reports(&hosts).await;
        for h in &hosts {
            let back = match &promoted {
                Some(p) => Some(p.clone()),
                None => reports
                    .get(h)
                    .and_then(|r| r.modules.get(&self.module))
                    .map(|m| m.hash.clone())
                    .filter(|hash| Some(hash) != stale.as_ref() && *hash != self.build.hash),
            };
            self.before.insert(h.clone(), back);
        }
        let canaries: Vec<String> = hosts.iter().take(self.plan.canary_hosts).cloned().collect();
        self.state.canaries = canaries.clone();
        self.state.hosts = hosts.clone();

        // Publish (the lock renewed meanwhile; lost, the rollout stops).
        let timeout = self.plan.step_timeout;
        let publish = async {
            fleet.buckets.put_object(&self.build.object, bytes, timeout).await?;
            if let Some(sig) = signature {
                let name = bucket::signature_object(&self.build.object);
                fleet.buckets.put_object(&name, sig, timeout).await?;
            }
            Ok::<(), FleetError>(())
        };
        tokio::select! {
            published = publish => published?,
            () = self.lock.lost() => {
                return Err(RolloutError::LockLost { rollout: self.lock.value.rollout.clone() });
            }
        }

        match self.steps(&canaries, &hosts).await {
            Ok(error_rate) => {
                self.phase(Phase::Promoted, None).await;
                Ok(RolloutReport {
                    rollout: self.lock.value.rollout.clone(),
                    build: self.build.clone(),
                    canaries,
                    hosts,
                    error_rate,
                    unchanged: false,
                    took: started.elapsed(),
                })
            }
            Err(Stop::LockLost) => {
                Err(RolloutError::LockLost { rollout: self.lock.value.rollout.clone() })
            }
            Err(Stop::Abort(reason)) => Err(self.abort(&hosts, reason).await),
        }
    }

    /// Canary, bake, rest, promote: the canaries' error rate, or why to stop.
    async fn steps(&mut self, canaries: &[String], hosts: &[String]) -> Result<f64, Stop> {
        let rollout = self.lock.value.rollout.clone();
        let mut error_rate = 0.0;
        if !canaries.is_empty() {
            self.phase(Phase::Canary, None).await;
            self.candidate(Hosts::Only(canaries.to_vec())).await?;
            self.wait_new("canary", canaries).await?;
            self.phase(Phase::Baking, None).await;
            error_rate = self.bake(canaries, hosts).await?;
        }
        self.phase(Phase::Rest, None).await;
        self.candidate(Hosts::All).await?;
        self.wait_new("rest", hosts).await?;
        let desired = Desired { promoted: Some(self.build.clone()), candidate: None };
        self.write(desired).await?;
        tracing::info!(%rollout, "fleet: promoted");
        Ok(error_rate)
    }

    /// Make the build the candidate for `hosts`.
    async fn candidate(&mut self, hosts: Hosts) -> Result<(), Stop> {
        let candidate = Candidate {
            rollout: self.lock.value.rollout.clone(),
            build: self.build.clone(),
            hosts,
        };
        let desired =
            Desired { promoted: self.desired.promoted.clone(), candidate: Some(candidate) };
        self.write(desired).await
    }

    /// Write `desired.<module>` (compare-and-set on the last revision).
    async fn write(&mut self, desired: Desired) -> Result<(), Stop> {
        self.held()?;
        self.put_desired(desired).await.map_err(|e| Stop::Abort(AbortReason::Fleet(Box::new(e))))
    }

    /// Write `desired.<module>` (compare-and-set on the last revision),
    /// without checking the lock.
    async fn put_desired(&mut self, desired: Desired) -> Result<(), FleetError> {
        let key = bucket::desired_key(&self.module);
        self.revision = self.fleet.buckets.update(&key, &desired, self.revision).await?;
        self.desired = desired;
        Ok(())
    }

    /// Whether the lock is still ours (its renewal runs on its own task).
    fn held(&self) -> Result<(), Stop> {
        if self.lock.is_lost() { Err(Stop::LockLost) } else { Ok(()) }
    }

    fn gone(&self, hosts: &[String]) -> Result<(), Stop> {
        match hosts.iter().find(|h| self.fleet.liveness.is_gone(h)) {
            Some(node) => Err(AbortReason::HostGone { node: node.clone() }.into()),
            None => Ok(()),
        }
    }

    /// This module on host `h`, if it reports it for this rollout.
    fn ours<'r>(
        &self,
        reports: &'r BTreeMap<String, HostReport>,
        h: &str,
    ) -> Option<&'r ModuleReport> {
        reports
            .get(h)
            .and_then(|r| r.modules.get(&self.module))
            .filter(|m| m.rollout.as_deref() == Some(self.lock.value.rollout.as_str()))
    }

    /// Wait until every host of `hosts` runs the build for this rollout.
    async fn wait_new(&mut self, step: &'static str, hosts: &[String]) -> Result<(), Stop> {
        let deadline = Instant::now() + self.plan.step_timeout;
        loop {
            self.held()?;
            self.gone(hosts)?;
            let reports = self.fleet.reports(hosts).await;
            let mut waiting = Vec::new();
            for h in hosts {
                match self.ours(&reports, h) {
                    Some(m) if m.step == Step::Failed => {
                        let error = m.error.clone().unwrap_or_default();
                        return Err(AbortReason::HostFailed { node: h.clone(), error }.into());
                    }
                    Some(m) if m.step == Step::Running && m.hash == self.build.hash => {}
                    _ => waiting.push(h.clone()),
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let timeout = self.plan.step_timeout;
                return Err(AbortReason::StepTimeout { step, waiting, timeout }.into());
            }
            tokio::time::sleep(self.plan.poll).await;
        }
    }

    /// Judge the canaries' error rate over the bake (and abort if any host
    /// of the rollout goes).
    async fn bake(&mut self, canaries: &[String], hosts: &[String]) -> Result<f64, Stop> {
        let end = Instant::now() + self.plan.bake;
        loop {
            self.held()?;
            self.gone(hosts)?;
            let reports = self.fleet.reports(canaries).await;
            let (mut handled, mut crashes, mut failed_calls) = (0u64, 0u64, 0u64);
            for h in canaries {
                if let Some(m) = self.ours(&reports, h).filter(|m| m.hash == self.build.hash) {
                    handled += m.handled;
                    crashes += m.crashes;
                    failed_calls += m.failed_calls;
                }
            }
            // A failed call was handled: the rate is at most 1.
            let total = handled + crashes;
            let errors = crashes + failed_calls.min(handled);
            let rate = if total == 0 { 0.0 } else { errors as f64 / total as f64 };
            self.state.error_rate = rate;
            if rate > self.plan.max_error_rate {
                return Err(AbortReason::ErrorRate {
                    rate,
                    max: self.plan.max_error_rate,
                    crashes,
                    failed_calls,
                    handled,
                    hosts: canaries.to_vec(),
                }
                .into());
            }
            let now = Instant::now();
            if now >= end {
                return Ok(rate);
            }
            tokio::time::sleep(self.plan.poll.min(end - now)).await;
        }
    }

    /// Withdraw the candidate and wait for the hosts to go back.
    async fn abort(&mut self, hosts: &[String], reason: AbortReason) -> RolloutError {
        let rollout = self.lock.value.rollout.clone();
        tracing::warn!(%rollout, reason = %reason, "fleet: aborting");
        self.phase(Phase::Aborting, Some(reason.to_string())).await;
        let deadline = Instant::now() + self.plan.step_timeout;
        let back = Desired { promoted: self.desired.promoted.clone(), candidate: None };
        // The withdrawal must land: retry it until the step timeout. If it
        // does not, the hosts may still be told to run the candidate: say
        // so, and keep the lock (the caller leaves it to expire).
        loop {
            if self.lock.is_lost() {
                return RolloutError::LockLost { rollout };
            }
            match self.put_desired(back.clone()).await {
                Ok(()) => break,
                Err(e) if Instant::now() >= deadline => {
                    tracing::error!(%rollout, error = %super::error::chain(&e),
                        "fleet: the abort was not written; the lock is left to expire");
                    return RolloutError::AbortIncomplete {
                        rollout,
                        module: self.module.clone(),
                        reason,
                        source: Box::new(e),
                    };
                }
                Err(_) => {
                    // Another revision? Only ours to replace while the lock
                    // is still ours: a coordinator that took it over owns
                    // `desired` now.
                    if let Ok(Some((held, _))) = self.fleet.buckets.get::<Lock>(bucket::LOCK).await
                        && held != self.lock.value
                    {
                        return RolloutError::LockLost { rollout };
                    }
                    // Read it again before retrying.
                    let key = bucket::desired_key(&self.module);
                    if let Ok(Some(e)) = self.fleet.buckets.entry(&key).await {
                        self.revision = e.revision;
                    }
                    tokio::time::sleep(self.plan.poll).await;
                }
            }
        }
        let mut rolled_back = Vec::new();
        loop {
            let reports = self.fleet.reports(hosts).await;
            rolled_back.clear();
            let mut pending = false;
            for h in hosts {
                // A gone host's last report is no confirmation: it applies
                // the promoted build when it starts again.
                if self.fleet.liveness.is_gone(h) {
                    continue;
                }
                let m = reports.get(h).and_then(|r| r.modules.get(&self.module));
                let settled = m.is_some_and(|m| matches!(m.step, Step::Running | Step::Failed));
                let back = match (self.before.get(h).cloned().flatten(), m) {
                    (Some(hash), Some(m)) => m.hash == hash && m.step == Step::Running,
                    (None, Some(m)) => m.hash != self.build.hash && settled,
                    (_, None) => false,
                };
                if back {
                    rolled_back.push(h.clone());
                } else {
                    pending = true;
                }
            }
            if !pending || Instant::now() >= deadline {
                break;
            }
            if self.lock.is_lost() {
                return RolloutError::LockLost { rollout };
            }
            tokio::time::sleep(self.plan.poll).await;
        }
        let unconfirmed = hosts.iter().filter(|h| !rolled_back.contains(h)).cloned().collect();
        self.phase(Phase::Aborted, Some(reason.to_string())).await;
        RolloutError::Aborted {
            rollout,
            module: self.module.clone(),
            rolled_back,
            unconfirmed,
            reason,
        }
    }

    /// Record the phase in `rollout.<module>` (for `fleet status`; a
    /// failure is logged, not fatal).
    async fn phase(&mut self, phase: Phase, reason: Option<String>) {
        self.state.phase = phase;
        self.state.reason = reason;
        self.state.at_unix_ms = now_unix_ms();
        let key = bucket::rollout_key(&self.module);
        if let Err(e) = self.fleet.buckets.put(&key, &self.state).await {
            tracing::debug!(error = %e, "fleet: rollout state not written");
        }
    }
}
