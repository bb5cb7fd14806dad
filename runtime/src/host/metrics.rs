//! issue 16: metrics — the host's metric registry and its Prometheus text.
//!
//! Two sources, none of which locks an actor's body:
//! - **per version**, the counters the actor turn adds to without a lock
//!   ([`VersionMetrics`](crate::code_server::VersionMetrics): messages
//!   handled by kind, the deepest mailbox, crashes, sampled handle and wait
//!   times), read from the module table's list of every version it
//!   accepted;
//! - **per upgrade**, what the code server's upgrades, promotions,
//!   rollbacks and aborts reported, recorded here as each returns, and the
//!   supervisors' restarts and escalations as they are emitted.
//!
//! And, at scrape time, from the registry and the ports: live actors per
//! version (from the registry's index), the mailbox depth per version (each
//! mailbox's length), dead letters, port requests by outcome; and from the
//! unloader, which versions gone from the table stay resident.
//!
//! `docs/metrics.md` lists every metric, says which are exact and which
//! sampled, and what feeds each; decision 0023 says why it is built so.

use super::upgrade::{RollbackReport, UpgradeError, UpgradeReport};
use super::{HostBuilder, HostHandle, HostShared};
use crate::code_server::{DurationHistogram, EventKind, HistogramSnapshot};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

/// How an upgrade (an `upgrade`, `upgrade_all`, `migrate` or `promote`)
/// ended, as the `outcome` label says it.
const COMMITTED: &str = "committed";
/// The upgrade, rollback or abort was refused: nothing changed.
const REFUSED: &str = "refused";
/// A rollback that made `old` current again.
const ROLLED_BACK: &str = "rolled_back";
/// A gradual upgrade's abort that sent the canaries back.
const ABORTED: &str = "aborted";

/// What the host's metrics keep beside the versions' own counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    enabled: bool,
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    /// (module, outcome) → upgrades.
    upgrades: BTreeMap<(String, &'static str), u64>,
    /// (module, outcome) → rollbacks and aborts.
    rollbacks: BTreeMap<(String, &'static str), u64>,
    /// (module, operation) → how long each upgrade or rollback took.
    durations: BTreeMap<(String, &'static str), DurationHistogram>,
    /// (module, operation) → the longest pause of any actor in each.
    pauses: BTreeMap<(String, &'static str), DurationHistogram>,
    /// module → actors moved by upgrades and rollbacks.
    migrated: BTreeMap<String, u64>,
    /// module → actors a rollback restored from their upgrade snapshot.
    restored: BTreeMap<String, u64>,
    /// module (empty: a host-native child) → supervisor restarts.
    restarts: BTreeMap<String, u64>,
    /// Supervisors that gave up.
    escalations: u64,
    // Function calls (issue 17) are counted by each function's slot and
    // read at scrape time (`Scrape::functions`).
}

impl Metrics {
    pub(crate) fn new(enabled: bool) -> Self {
        Metrics { enabled, inner: Mutex::new(Recorded::default()) }
    }

    /// Whether actors count their work (`HostBuilder::metrics`).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// An upgrade of `modules` returned `result`.
    pub(crate) fn upgraded(
        &self,
        modules: &[String],
        result: &Result<UpgradeReport, UpgradeError>,
    ) {
        let mut r = self.inner.lock();
        for m in modules {
            let outcome = if result.is_ok() { COMMITTED } else { REFUSED };
            *r.upgrades.entry((m.clone(), outcome)).or_default() += 1;
        }
        if let (Ok(report), Some(first)) = (result, modules.first()) {
            // One report for the unit: its figures go to its first module
            // (for a single-module upgrade, that module).
            let key = (first.clone(), "upgrade");
            r.durations.entry(key.clone()).or_default().observe(report.duration);
            r.pauses.entry(key).or_default().observe(report.longest_pause);
            *r.migrated.entry(first.clone()).or_default() += report.migrated as u64;
        }
    }

    /// A rollback (`abort`: false) or a gradual upgrade's abort of `module`
    /// returned `result`.
    pub(crate) fn rolled_back(
        &self,
        module: &str,
        abort: bool,
        result: &Result<RollbackReport, UpgradeError>,
    ) {
        let mut r = self.inner.lock();
        let outcome = match (result, abort) {
            (Err(_), _) => REFUSED,
            (Ok(_), false) => ROLLED_BACK,
            (Ok(_), true) => ABORTED,
        };
        *r.rollbacks.entry((module.to_owned(), outcome)).or_default() += 1;
        if let Ok(report) = result {
            let key = (module.to_owned(), "rollback");
            r.durations.entry(key.clone()).or_default().observe(report.duration);
            r.pauses.entry(key).or_default().observe(report.longest_pause);
            *r.migrated.entry(module.to_owned()).or_default() += report.migrated as u64;
            *r.restored.entry(module.to_owned()).or_default() +=
                report.restored_from_snapshot as u64;
        }
    }

    /// A supervisor emitted `kind`; `module_of` names the module an actor
    /// runs (empty for a host-native actor).
    pub(crate) fn supervisor_event(&self, kind: &EventKind, module_of: impl Fn(u64) -> String) {
        match kind {
            EventKind::Restarted { actor, .. } => {
                *self.inner.lock().restarts.entry(module_of(*actor)).or_default() += 1;
            }
            EventKind::Escalated { .. } => self.inner.lock().escalations += 1,
            _ => {}
        }
    }
}

/// One `{module, version}` series set.
#[derive(Debug, Clone)]
struct VersionSeries {
    module: String,
    version: String,
    casts: u64,
    calls: u64,
    mailbox_max: u64,
    crashes: u64,
    failed_calls: u64,
    handle: HistogramSnapshot,
    wait: HistogramSnapshot,
    actors: u64,
    mailbox: u64,
}

/// Everything one scrape reports, gathered first, then encoded.
#[derive(Debug)]
struct Scrape {
    enabled: bool,
    versions: Vec<VersionSeries>,
    upgrades: Vec<((String, &'static str), u64)>,
    rollbacks: Vec<((String, &'static str), u64)>,
    durations: Vec<((String, &'static str), HistogramSnapshot)>,
    pauses: Vec<((String, &'static str), HistogramSnapshot)>,
    migrated: Vec<(String, u64)>,
    restored: Vec<(String, u64)>,
    restarts: Vec<(String, u64)>,
    escalations: u64,
    resident: BTreeMap<String, u64>,
    dead_letters: u64,
    actors: u64,
    ports: Vec<(String, &'static str, u64)>,
    // issue 17: functions — (module, function) → calls through the host's
    // handles, from the function slots.
    functions: Vec<(String, String, u64)>,
}

impl Scrape {
    fn gather(shared: &HostShared) -> Scrape {
        let m = &shared.metrics;
        // Live actors and mailbox depth per version serial, from the
        // registry and each mailbox's depth (an atomic: no lock at all).
        let cells = shared.registry.all();
        let mut live: HashMap<u64, (u64, u64)> = HashMap::new();
        for c in &cells {
            let e = live.entry(c.version_serial()).or_default();
            e.0 += 1;
            e.1 += c.mailbox.depth() as u64;
        }
        // One series per (module, version): two builds of one version
        // (a rebuild loaded with force) add up.
        let mut by_label: BTreeMap<(String, String), VersionSeries> = BTreeMap::new();
        for v in shared.table.version_metrics() {
            let c = v.metrics.counts();
            let (actors, mailbox) = live.get(&v.serial).copied().unwrap_or_default();
            let key = (v.module.to_string(), v.version.clone());
            let s = by_label.entry(key).or_insert_with(|| VersionSeries {
                module: v.module.to_string(),
                version: v.version.clone(),
                casts: 0,
                calls: 0,
                mailbox_max: 0,
                crashes: 0,
                failed_calls: 0,
                handle: HistogramSnapshot::empty(),
                wait: HistogramSnapshot::empty(),
                actors: 0,
                mailbox: 0,
            });
            s.casts += c.casts;
            s.calls += c.calls;
            s.mailbox_max = s.mailbox_max.max(c.mailbox_max);
            s.crashes += c.crashes;
            s.failed_calls += c.failed_calls;
            s.handle.merge(&c.handle);
            s.wait.merge(&c.wait);
            s.actors += actors;
            s.mailbox += mailbox;
        }
        // Versions gone from the table whose library stays mapped, as the
        // unloader knows them now.
        let mut resident = BTreeMap::new();
        for v in shared.table.version_metrics().iter().filter(|v| v.resident()) {
            *resident.entry(v.module.to_string()).or_default() += 1;
        }
        let r = m.inner.lock();
        let snap = |h: &BTreeMap<(String, &'static str), DurationHistogram>| {
            h.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect()
        };
        Scrape {
            enabled: m.enabled,
            versions: by_label.into_values().collect(),
            upgrades: r.upgrades.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            rollbacks: r.rollbacks.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            durations: snap(&r.durations),
            pauses: snap(&r.pauses),
            migrated: r.migrated.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            restored: r.restored.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            restarts: r.restarts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            escalations: r.escalations,
            resident,
            // ORDERING: a statistic.
            dead_letters: shared.dead_letters.load(Ordering::Relaxed),
            actors: cells.len() as u64,
            ports: shared.ports.request_counts(),
            functions: shared
                .functions
                .infos(&shared.table, &|m| shared.serve_of(m))
                .into_iter()
                .map(|f| (f.module, f.function, f.calls))
                .collect(),
        }
    }
}

/// A counter or gauge family with one label set per sample.
fn family<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, kind): (&str, &str, MetricType),
    samples: impl IntoIterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        let mut m = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => m.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => m.encode_gauge(&(value as i64))?,
        }
    }
    Ok(())
}

/// A histogram family with one label set per histogram.
fn histograms<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help): (&str, &str),
    samples: impl IntoIterator<Item = (L, HistogramSnapshot)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in samples {
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
    }
    Ok(())
}

/// One sample without labels.
fn unlabelled(value: u64) -> [([(&'static str, String); 0], u64); 1] {
    [([], value)]
}

type Mv = [(&'static str, String); 2];

fn mv(s: &VersionSeries) -> Mv {
    [("module", s.module.clone()), ("version", s.version.clone())]
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let v = &self.versions;
        let e = &mut e;
        family(
            e,
            ("relive_metrics_enabled", "Whether actors count their work (1) or not (0).", Gauge),
            unlabelled(u64::from(self.enabled)),
        )?;
        family(
            e,
            ("relive_actors", "Live actors (host-native ones included).", Gauge),
            unlabelled(self.actors),
        )?;
        family(
            e,
            ("relive_version_actors", "Live actors running each version.", Gauge),
            v.iter().map(|s| (mv(s), s.actors)),
        )?;
        family(
            e,
            ("relive_messages_handled", "Messages (casts and calls) handled.", Counter),
            v.iter().map(|s| (mv(s), s.casts + s.calls)),
        )?;
        family(e, ("relive_casts", "Casts handled.", Counter), v.iter().map(|s| (mv(s), s.casts)))?;
        family(e, ("relive_calls", "Calls handled.", Counter), v.iter().map(|s| (mv(s), s.calls)))?;
        family(
            e,
            (
                "relive_mailbox_depth",
                "Messages waiting in the mailboxes of a version's actors.",
                Gauge,
            ),
            v.iter().map(|s| (mv(s), s.mailbox)),
        )?;
        family(
            e,
            (
                "relive_mailbox_depth_max",
                "The deepest mailbox a turn on the version found when it started.",
                Gauge,
            ),
            v.iter().map(|s| (mv(s), s.mailbox_max)),
        )?;
        histograms(
            e,
            ("relive_handle_seconds", "Handler time of sampled messages (1 in 256 pushed)."),
            v.iter().map(|s| (mv(s), s.handle.clone())),
        )?;
        histograms(
            e,
            (
                "relive_mailbox_wait_seconds",
                "Time in the mailbox of sampled messages (1 in 256 pushed).",
            ),
            v.iter().map(|s| (mv(s), s.wait.clone())),
        )?;
        family(
            e,
            ("relive_crashes", "Actor exits that were not clean (panics, kills).", Counter),
            v.iter().map(|s| (mv(s), s.crashes)),
        )?;
        family(
            e,
            (
                "relive_failed_calls",
                "Calls handled whose caller got an error (refused, or gone: timed out).",
                Counter,
            ),
            v.iter().map(|s| (mv(s), s.failed_calls)),
        )?;
        family(
            e,
            ("relive_restarts", "Children restarted by their supervisor.", Counter),
            self.restarts.iter().map(|(m, n)| ([("module", m.clone())], *n)),
        )?;
        family(
            e,
            ("relive_escalations", "Supervisors that gave up (restart intensity).", Counter),
            unlabelled(self.escalations),
        )?;
        family(
            e,
            ("relive_dead_letters", "Messages that will never be handled.", Counter),
            unlabelled(self.dead_letters),
        )?;
        family(
            e,
            ("relive_upgrades", "Upgrades, migrations and promotions by outcome.", Counter),
            self.upgrades
                .iter()
                .map(|((m, o), n)| ([("module", m.clone()), ("outcome", (*o).to_owned())], *n)),
        )?;
        family(
            e,
            ("relive_rollbacks", "Rollbacks and aborts of gradual upgrades by outcome.", Counter),
            self.rollbacks
                .iter()
                .map(|((m, o), n)| ([("module", m.clone()), ("outcome", (*o).to_owned())], *n)),
        )?;
        histograms(
            e,
            ("relive_upgrade_duration_seconds", "How long each upgrade or rollback took."),
            self.durations.iter().map(|((m, op), h)| {
                ([("module", m.clone()), ("operation", (*op).to_owned())], h.clone())
            }),
        )?;
        histograms(
            e,
            (
                "relive_upgrade_longest_pause_seconds",
                "The longest pause of any actor in each upgrade or rollback.",
            ),
            self.pauses.iter().map(|((m, op), h)| {
                ([("module", m.clone()), ("operation", (*op).to_owned())], h.clone())
            }),
        )?;
        family(
            e,
            ("relive_upgrade_migrated_actors", "Actors moved by upgrades and rollbacks.", Counter),
            self.migrated.iter().map(|(m, n)| ([("module", m.clone())], *n)),
        )?;
        family(
            e,
            (
                "relive_rollback_restored_actors",
                "Actors a rollback restored from their upgrade snapshot.",
                Counter,
            ),
            self.restored.iter().map(|(m, n)| ([("module", m.clone())], *n)),
        )?;
        family(
            e,
            (
                "relive_resident_versions",
                "Versions nothing holds that stay mapped (the unload check).",
                Gauge,
            ),
            self.resident.iter().map(|(m, n)| ([("module", m.clone())], *n)),
        )?;
        family(
            e,
            ("relive_port_requests", "Port requests by outcome.", Counter),
            self.ports
                .iter()
                .map(|(p, o, n)| ([("port", p.clone()), ("outcome", (*o).to_owned())], *n)),
        )?;
        family(
            e,
            (
                "relive_function_calls",
                "Calls of stateless functions through the host's handles.",
                Counter,
            ),
            self.functions
                .iter()
                .map(|(m, f, n)| ([("module", m.clone()), ("function", f.clone())], *n)),
        )?;
        Ok(())
    }
}

impl HostHandle {
    /// This host's metrics in the Prometheus text format (version 0.0.4):
    /// what `/metrics` serves, what `relive metrics` prints. Every metric,
    /// its labels and whether it is exact or sampled: `docs/metrics.md`.
    ///
    /// Takes no actor's lock: the versions' counters are atomics, actor
    /// counts come from the registry, mailbox depths from each mailbox's
    /// depth (an atomic kept by the mailbox).
    ///
    /// ```
    /// let host = relive_runtime::Host::new()?;
    /// let text = host.metrics_text();
    /// assert!(text.contains("relive_dead_letters_total 0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics_text(&self) -> String {
        let scrape = Scrape::gather(self.shared());
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String does not fail");
        text
    }

    /// Whether this host's actors count their work ([`HostBuilder::metrics`]).
    pub fn metrics_enabled(&self) -> bool {
        self.shared().metrics.enabled()
    }
}

impl HostBuilder {
    /// Whether actors count their work for [`HostHandle::metrics_text`]
    /// (default: on). Off, the per-version counters and histograms stay at
    /// zero and no message is timed; upgrade, supervisor, port and
    /// dead-letter figures are kept either way (they cost nothing per
    /// message).
    pub fn metrics(mut self, on: bool) -> Self {
        self.no_metrics = !on;
        self
    }
}
