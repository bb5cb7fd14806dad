//! The fleet agent every host runs ([`Cluster::fleet_agent`]): it makes the
//! host run what the fleet's bucket says and reports what it runs.
//!
//! 1. At start it writes its report (`host.<node>`), then watches
//!    `desired.>` from the last value of each key: a host that starts late,
//!    or restarts, applies the promoted build (or a rollout's candidate, if
//!    it is one of the candidate's hosts) before anything else.
//! 2. For each desired value, in order, one module at a time: the build
//!    this node should run is the candidate if the candidate is for this
//!    node, else the promoted build ([`Desired::target_for`]). If the
//!    current build is that one, nothing changes. If the host's old slot
//!    holds it, the code server rolls back to it. Otherwise the agent
//!    fetches the library (and its `.sig`) from the object store, checks
//!    its BLAKE3 hash against the build's, writes it (0600) to its
//!    download directory, and the code server upgrades to it atomically —
//!    the host's own loader, with its signature policy, decides. With
//!    nothing desired (a first rollout aborted), a host that applied a
//!    candidate rolls back to the build it ran before.
//! 3. Each step is reported (`fetching`, `upgrading`, `rolling_back`, then
//!    `running` or `failed` with the error), and every report interval the
//!    counters: messages handled, crashes and failed calls of each
//!    module's current version since the step that put it there (the
//!    runtime's per-version metrics), which the coordinator's judge reads.
//!
//! Every step is bounded: the fetch by the fetch timeout, the upgrade or
//! rollback by the upgrade timeout (it goes on, or restores everything, on
//! its own thread, and is reported failed), every bucket operation by its
//! own. The build a host goes back to is recorded before the upgrade
//! starts; an upgrade that timed out is awaited on the side (ten upgrade
//! timeouts at most), nothing else is applied to that module meanwhile,
//! and when it ends the latest desired value is applied again — so a late
//! success of a candidate that was withdrawn meanwhile is rolled back. A
//! watch silent for the resync interval is made again (and replays the
//! last values, which changes nothing where they are applied), so a watch
//! lost in a NATS node's failure is recovered.

use super::bucket::{self, Buckets};
use super::error::{AgentError, FleetError, chain};
use super::record::{Build, Desired, HostReport, ModuleReport, Step, now_unix_ms};
use crate::cluster::{Cluster, Shared};
use futures_util::StreamExt;
use parking_lot::Mutex;
use relive_runtime::CodeServer;
use relive_runtime::code_server::BuildHash;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How many upgrade timeouts a timed-out upgrade is waited for, on the
/// side, before the agent applies the desired value again anyway.
const LATE_UPGRADE_BOUND: u32 = 10;

/// How a host's fleet agent runs.
#[derive(Debug, Clone)]
pub struct FleetAgentOptions {
    dir: PathBuf,
    fetch_timeout: Duration,
    upgrade_timeout: Duration,
    report_interval: Duration,
    resync: Duration,
    replicas: usize,
    open_timeout: Duration,
    op_timeout: Duration,
}

impl FleetAgentOptions {
    /// Write fetched libraries to `dir` (created 0700): it must be closed
    /// to other users all the way up, as the loader requires of any library
    /// it loads (so not under `/tmp`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FleetAgentOptions {
            dir: dir.into(),
            fetch_timeout: Duration::from_secs(30),
            upgrade_timeout: Duration::from_secs(60),
            report_interval: Duration::from_secs(1),
            resync: Duration::from_secs(10),
            replicas: 1,
            open_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(5),
        }
    }

    /// The bound of one fetch from the object store (default 30 s).
    pub fn fetch_timeout(mut self, t: Duration) -> Self {
        self.fetch_timeout = t;
        self
    }

    /// The bound of one upgrade or rollback (default 60 s).
    pub fn upgrade_timeout(mut self, t: Duration) -> Self {
        self.upgrade_timeout = t;
        self
    }

    /// How often the report (with fresh counters) is written (default 1 s).
    /// A rollout's bake should last several of these.
    pub fn report_interval(mut self, t: Duration) -> Self {
        self.report_interval = t;
        self
    }

    /// After how long without a change the watch is made again (default
    /// 10 s).
    pub fn resync(mut self, t: Duration) -> Self {
        self.resync = t;
        self
    }

    /// The copies JetStream keeps of the buckets, if this agent creates
    /// them (default 1; 3 on a 3-node NATS cluster survives one node).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// How long opening (or creating) the buckets may take at start
    /// (default 10 s), and the bound of each bucket operation (default 5 s).
    pub fn bucket_timeouts(mut self, open: Duration, op: Duration) -> Self {
        self.open_timeout = open;
        self.op_timeout = op;
        self
    }
}

/// A host's fleet agent, running on the cluster member's runtime until
/// dropped (see the module docs for what it does).
#[derive(Debug)]
pub struct FleetAgent {
    state: Arc<AgentState>,
    tasks: Vec<JoinHandle<()>>,
}

/// The counters of one version the judge reads.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    handled: u64,
    crashes: u64,
    failed_calls: u64,
}

impl Counts {
    fn of(v: &relive_runtime::code_server::Version) -> Counts {
        let c = v.metrics().counts();
        Counts { handled: c.casts + c.calls, crashes: c.crashes, failed_calls: c.failed_calls }
    }

    /// These, counted from `from`.
    fn since(self, from: Counts) -> Counts {
        Counts {
            handled: self.handled.saturating_sub(from.handled),
            crashes: self.crashes.saturating_sub(from.crashes),
            failed_calls: self.failed_calls.saturating_sub(from.failed_calls),
        }
    }
}

/// What the agent knows of one module beyond the code server.
#[derive(Debug, Clone)]
struct ModuleState {
    step: Step,
    rollout: Option<String>,
    error: Option<String>,
    /// The version serial and its counts the reported counters start from.
    baseline: Option<(u64, Counts)>,
    /// The build this host ran before the candidate it applied (recorded
    /// before the attempt: an upgrade that times out may still succeed).
    came_from: Option<String>,
    /// An upgrade that outlived the agent's bound is still going (on the
    /// code server's thread): nothing else is applied until it ends, and
    /// then the latest desired value is applied again.
    in_flight: bool,
}

impl Default for ModuleState {
    fn default() -> Self {
        ModuleState {
            step: Step::Running,
            rollout: None,
            error: None,
            baseline: None,
            came_from: None,
            in_flight: false,
        }
    }
}

struct AgentState {
    shared: Arc<Shared>,
    buckets: Buckets,
    opts: FleetAgentOptions,
    modules: Mutex<BTreeMap<String, ModuleState>>,
    /// The last desired value seen of each module.
    desired: Mutex<BTreeMap<String, Desired>>,
    /// Modules whose timed-out upgrade ended: the watch loop applies their
    /// latest desired value again.
    ended: tokio::sync::mpsc::UnboundedSender<String>,
    /// Held while a report is made and written, so an older one never
    /// lands after a newer one.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentState").field("node", &self.shared.node).finish()
    }
}

impl Cluster {
    /// Run the fleet agent on this host: apply the versions the fleet's
    /// bucket says (the promoted one at once) and report this host's (see
    /// [`FleetAgent`]).
    ///
    /// # Errors
    /// [`FleetError`]: the download directory cannot be made, or the
    /// buckets cannot be opened or created within the open timeout
    /// (JetStream must be on in the NATS server).
    pub async fn fleet_agent(&self, opts: FleetAgentOptions) -> Result<FleetAgent, FleetError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&opts.dir)
            .map_err(|source| FleetError::Io { path: opts.dir.clone(), source })?;
        let shared = Arc::clone(self.shared());
        let buckets = Buckets::open(
            shared.client.clone(),
            &shared.cluster,
            opts.replicas,
            opts.open_timeout,
            opts.op_timeout,
        )
        .await?;
        let (ended, ended_rx) = tokio::sync::mpsc::unbounded_channel();
        let state = Arc::new(AgentState {
            shared,
            buckets,
            opts,
            modules: Mutex::new(BTreeMap::new()),
            desired: Mutex::new(BTreeMap::new()),
            ended,
            writing: tokio::sync::Mutex::new(()),
        });
        state.report().await;
        let tasks = vec![
            tokio::spawn(Arc::clone(&state).run(ended_rx)),
            tokio::spawn(Arc::clone(&state).report_every()),
        ];
        Ok(FleetAgent { state, tasks })
    }
}

impl FleetAgent {
    /// The node it runs on.
    pub fn node(&self) -> &str {
        &self.state.shared.node
    }

    /// The report it would write now.
    pub fn report(&self) -> HostReport {
        self.state.compose()
    }
}

impl Drop for FleetAgent {
    fn drop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl AgentState {
    fn code(&self) -> &CodeServer {
        self.shared.host.code_server()
    }

    fn state(&self, module: &str) -> ModuleState {
        self.modules.lock().get(module).cloned().unwrap_or_default()
    }

    fn set(&self, module: &str, f: impl FnOnce(&mut ModuleState)) {
        f(self.modules.lock().entry(module.to_owned()).or_default());
    }

    /// The report as things are now.
    fn compose(&self) -> HostReport {
        let code = self.code();
        let states = self.modules.lock().clone();
        let mut modules = BTreeMap::new();
        for name in code.modules() {
            let Some(v) = code.current(&name) else { continue };
            let now = Counts::of(&v);
            let st = states.get(&name).cloned().unwrap_or_default();
            let counts = match st.baseline {
                Some((serial, from)) if serial == v.serial() => now.since(from),
                _ => now,
            };
            let report = ModuleReport {
                version: v.version().to_string(),
                hash: v.hash().to_string(),
                step: st.step,
                rollout: st.rollout,
                error: st.error,
                handled: counts.handled,
                crashes: counts.crashes,
                failed_calls: counts.failed_calls,
            };
            modules.insert(name, report);
        }
        HostReport { node: self.shared.node.clone(), modules, at_unix_ms: now_unix_ms() }
    }

    async fn report(&self) {
        let _one = self.writing.lock().await;
        let report = self.compose();
        if let Err(e) = self.buckets.put(&bucket::host_key(&self.shared.node), &report).await {
            tracing::debug!(error = %chain(&e), "fleet agent: report not written");
        }
    }

    async fn report_every(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.opts.report_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.report().await;
        }
    }

    /// Watch the desired versions, forever, making the watch again when it
    /// fails or stays silent for the resync interval.
    async fn run(self: Arc<Self>, mut ended: tokio::sync::mpsc::UnboundedReceiver<String>) {
        let keys = format!("{}>", bucket::DESIRED_PREFIX);
        loop {
            let made = tokio::time::timeout(
                self.opts.op_timeout,
                self.buckets.kv.watch_with_history(&keys),
            )
            .await;
            let mut watch = match made {
                Ok(Ok(w)) => w,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "fleet agent: no watch yet");
                    tokio::time::sleep(self.opts.report_interval).await;
                    continue;
                }
                Err(_) => continue,
            };
            loop {
                let next = tokio::select! {
                    next = tokio::time::timeout(self.opts.resync, watch.next()) => next,
                    Some(module) = ended.recv() => {
                        let desired = self.desired.lock().get(&module).cloned();
                        self.apply(&module, &desired.unwrap_or_default()).await;
                        continue;
                    }
                };
                match next {
                    Ok(Some(Ok(entry))) => {
                        let Some(module) = entry.key.strip_prefix(bucket::DESIRED_PREFIX) else {
                            continue;
                        };
                        let desired = match entry.operation {
                            async_nats::jetstream::kv::Operation::Put => {
                                match serde_json::from_slice::<Desired>(&entry.value) {
                                    Ok(d) => d,
                                    Err(e) => {
                                        tracing::warn!(key = %entry.key, error = %e, "fleet agent: not a desired version");
                                        continue;
                                    }
                                }
                            }
                            _ => Desired::default(),
                        };
                        self.apply(module, &desired).await;
                    }
                    Ok(Some(Err(e))) => {
                        tracing::debug!(error = %e, "fleet agent: watch failed, watching again");
                        break;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    /// Make `module` run what `desired` says for this node.
    async fn apply(self: &Arc<Self>, module: &str, desired: &Desired) {
        self.desired.lock().insert(module.to_owned(), desired.clone());
        if self.state(module).in_flight {
            // A timed-out upgrade still runs: its end applies the latest
            // value. Withdrawn meanwhile, the host is not settled yet.
            let wanted = desired.target_for(&self.shared.node).and_then(|(_, r)| r);
            if wanted.is_none() || wanted != self.state(module).rollout.as_deref() {
                self.set(module, |s| s.step = Step::Upgrading);
            }
            self.report().await;
            return;
        }
        let current = self.code().current(module);
        let current_hash = current.as_ref().map(|v| v.hash().to_string());
        let target = desired.target_for(&self.shared.node);
        let result = match target {
            Some((build, rollout)) => {
                let rollout = rollout.map(str::to_owned);
                if current_hash.as_deref() == Some(build.hash.as_str()) {
                    self.settle(module, rollout, current.as_ref().map(|v| v.serial()));
                    self.report().await;
                    return;
                }
                let r = self.go_to(module, build, rollout.is_some(), current_hash).await;
                (rollout, r)
            }
            None => {
                let came_from = self.state(module).came_from;
                match came_from {
                    Some(prev) if current_hash.as_deref() != Some(prev.as_str()) => {
                        let r = self.roll_back_to(module, &prev).await;
                        if r.is_ok() {
                            self.set(module, |s| s.came_from = None);
                        }
                        (None, r)
                    }
                    _ => {
                        self.settle(module, None, current.as_ref().map(|v| v.serial()));
                        self.report().await;
                        return;
                    }
                }
            }
        };
        let (rollout, r) = result;
        match r {
            Ok(()) => self.set(module, |s| {
                s.step = Step::Running;
                s.error = None;
                s.rollout = rollout;
            }),
            Err(e) => {
                tracing::warn!(module, error = %chain(&e), "fleet agent: step failed");
                self.set(module, |s| {
                    s.step = Step::Failed;
                    s.error = Some(chain(&e));
                    s.rollout = rollout;
                });
            }
        }
        self.report().await;
    }

    /// The timed-out upgrade of `module` ended (`upgraded`: it succeeded):
    /// the watch loop applies the latest desired value again — a late
    /// success the fleet no longer wants is undone.
    fn upgrade_ended(&self, module: String, upgraded: bool) {
        let serial = self.code().current(&module).map(|v| v.serial());
        self.set(&module, |s| {
            s.in_flight = false;
            if upgraded {
                s.baseline = serial.map(|n| (n, Counts::default()));
            }
        });
        tracing::info!(module, upgraded, "fleet agent: a timed-out upgrade ended");
        // The loop is gone only when the agent is.
        let _ = self.ended.send(module);
    }

    /// Already on the target: note the rollout (its counters start now if
    /// it is a new one).
    fn settle(&self, module: &str, rollout: Option<String>, serial: Option<u64>) {
        let counts = self.code().current(module).map(|v| Counts::of(&v));
        self.set(module, |s| {
            if (s.rollout != rollout || s.step != Step::Running)
                && let (Some(serial), Some(c)) = (serial, counts)
            {
                s.baseline = Some((serial, c));
            }
            s.step = Step::Running;
            s.error = None;
            if rollout.is_none() {
                s.came_from = None;
            }
            s.rollout = rollout;
        });
    }

    /// Go from the current build to `build`: a rollback if the old slot
    /// holds it, else fetch it and upgrade.
    async fn go_to(
        self: &Arc<Self>,
        module: &str,
        build: &Build,
        candidate: bool,
        current_hash: Option<String>,
    ) -> Result<(), AgentError> {
        // Where to go back to, recorded before the attempt: an upgrade
        // that outlives its bound may still land.
        if candidate {
            self.set(module, |s| {
                if s.came_from.is_none() {
                    s.came_from = current_hash;
                }
            });
        }
        let in_old = self.code().old(module).is_some_and(|v| v.hash().to_string() == build.hash);
        if in_old {
            self.roll_back_to(module, &build.hash).await?;
        } else {
            self.set(module, |s| s.step = Step::Fetching);
            self.report().await;
            let path = self.fetch(build).await?;
            self.set(module, |s| s.step = Step::Upgrading);
            self.report().await;
            let code = self.code().clone();
            let mut upgrade = Box::pin(code.upgrade_async(module, path));
            let timeout = self.opts.upgrade_timeout;
            match tokio::time::timeout(timeout, &mut upgrade).await {
                Ok(Ok(_)) => {}
                Ok(Err(source)) => {
                    return Err(AgentError::Upgrade {
                        module: module.to_owned(),
                        source: Box::new(source),
                    });
                }
                Err(_) => {
                    // It goes on on its own thread: when it ends, the
                    // latest desired value is applied again.
                    self.set(module, |s| s.in_flight = true);
                    let (this, name) = (Arc::clone(self), module.to_owned());
                    // Bounded too: a code server that never ends it
                    // (it should not) is left to the resync's replays.
                    let longer = timeout.saturating_mul(LATE_UPGRADE_BOUND);
                    tokio::spawn(async move {
                        let ended = tokio::time::timeout(longer, upgrade).await;
                        let upgraded = matches!(ended, Ok(Ok(_)));
                        if ended.is_err() {
                            tracing::warn!(module = %name, bound = ?longer,
                                "fleet agent: a timed-out upgrade has not ended");
                        }
                        this.upgrade_ended(name, upgraded);
                    });
                    return Err(AgentError::Timeout {
                        step: "upgrade",
                        module: module.to_owned(),
                        timeout,
                    });
                }
            }
            // A fresh version: its counters are all since this step.
            let serial = self.code().current(module).map(|v| v.serial());
            self.set(module, |s| s.baseline = serial.map(|n| (n, Counts::default())));
        }
        if !candidate {
            self.set(module, |s| s.came_from = None);
        }
        Ok(())
    }

    /// Roll `module` back to the old slot, which must hold `hash`.
    async fn roll_back_to(&self, module: &str, hash: &str) -> Result<(), AgentError> {
        let in_old = self.code().old(module).is_some_and(|v| v.hash().to_string() == hash);
        if !in_old {
            return Err(AgentError::NoPrevious { module: module.to_owned() });
        }
        self.set(module, |s| s.step = Step::RollingBack);
        self.report().await;
        let timeout = self.opts.upgrade_timeout;
        match tokio::time::timeout(timeout, self.code().rollback_async(module)).await {
            Ok(Ok(_)) => {}
            Ok(Err(source)) => {
                return Err(AgentError::Rollback {
                    module: module.to_owned(),
                    source: Box::new(source),
                });
            }
            Err(_) => {
                return Err(AgentError::Timeout {
                    step: "rollback",
                    module: module.to_owned(),
                    timeout,
                });
            }
        }
        // The old version ran before: count from now.
        if let Some(v) = self.code().current(module) {
            let (serial, c) = (v.serial(), Counts::of(&v));
            self.set(module, |s| s.baseline = Some((serial, c)));
        }
        Ok(())
    }

    /// Fetch `build` (and its signature) into the download directory.
    async fn fetch(&self, build: &Build) -> Result<PathBuf, AgentError> {
        let timeout = self.opts.fetch_timeout;
        let fetch = |object: String| async move {
            self.buckets
                .get_object(&object, timeout)
                .await
                .map_err(|source| AgentError::Fetch { object, source })
        };
        let bytes = fetch(build.object.clone()).await?;
        let found = BuildHash::of_library(&bytes).to_string();
        if found != build.hash {
            return Err(AgentError::Corrupt {
                object: build.object.clone(),
                expected: build.hash.clone(),
                found,
            });
        }
        let path = self.opts.dir.join(&build.object);
        if build.signed {
            let sig = fetch(bucket::signature_object(&build.object)).await?;
            // Where the loader looks for it: `<file>.sig`.
            let mut sig_path = path.as_os_str().to_owned();
            sig_path.push(".sig");
            self.write(sig_path.into(), sig).await?;
        }
        self.write(path.clone(), bytes).await?;
        Ok(path)
    }

    /// [`write_private`] on a blocking thread, bounded by the fetch timeout:
    /// a slow disk (it syncs) must not hold the runtime's worker, which
    /// also sends this host's heartbeats.
    async fn write(&self, path: PathBuf, bytes: Vec<u8>) -> Result<(), AgentError> {
        let timeout = self.opts.fetch_timeout;
        let p = path.clone();
        let written = tokio::task::spawn_blocking(move || write_private(&p, &bytes));
        let fail = |source| AgentError::Write { path, source };
        match tokio::time::timeout(timeout, written).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(fail(std::io::Error::other(e))),
            Err(_) => Err(fail(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("not written within {timeout:?}"),
            ))),
        }
    }
}

/// Write `bytes` to `path` (0600) through a temporary file of its own and
/// a rename. Each write has its own temporary file: a write that timed out
/// (its blocking thread cannot be cancelled) and runs on must never
/// truncate a file a later write has already renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    use std::io::Write;
    let err = |source| AgentError::Write { path: path.to_owned(), source };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    // 0600, created exclusively under a fresh name.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
