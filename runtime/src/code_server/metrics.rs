//! issue 16: metrics — the counters each loaded version keeps of the work
//! its actors do, and the list of every version the table accepted, so
//! that a scrape sees the counts of versions gone from the slots as well.
//!
//! Written on the hot path by the actor layer (one turn adds what it
//! handled in one go; see `actor/turn.rs`), read by the host's metrics
//! (`host/metrics.rs`) at scrape time. Plain relaxed atomics: no lock, no
//! allocation, nothing published through them.
//!
//! What is exact and what is sampled is said per field; `docs/metrics.md`
//! lists every metric built from them.

use crate::sharded_count::ShardedCount;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One message in this many pushed to a mailbox is timed (its wait in the
/// mailbox and its handler's run): two clock reads per sample instead of
/// two per message. A power of two: the mailbox picks the sample with a
/// mask, not a division, on every push.
pub const SAMPLE_EVERY: u64 = 256;
const _: () = assert!(SAMPLE_EVERY.is_power_of_two());

/// Upper bounds of the duration histograms' buckets, in seconds (1 µs to
/// 10 s, about ×4 apart; a last `+Inf` bucket is implied).
pub const DURATION_BUCKETS: [f64; 13] =
    [1e-6, 4e-6, 16e-6, 64e-6, 256e-6, 1e-3, 4e-3, 16e-3, 64e-3, 256e-3, 1.0, 4.0, 10.0];

/// [`DURATION_BUCKETS`] in nanoseconds, which an observation is compared
/// with: integers, so no float conversion on the sampled path.
const BUCKET_NS: [u64; DURATION_BUCKETS.len()] = {
    let mut ns = [0; DURATION_BUCKETS.len()];
    let mut i = 0;
    while i < ns.len() {
        // Every bound is a whole number of nanoseconds: round, not truncate.
        ns[i] = (DURATION_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    ns
};

/// A histogram of durations in fixed buckets ([`DURATION_BUCKETS`]),
/// observed without a lock.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations in this bucket)`, not
    /// cumulative; the last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of the observations, in seconds.
    pub sum: f64,
    /// How many observations.
    pub count: u64,
}

impl DurationHistogram {
    /// Record one observation.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // Two atomic adds: the count is the buckets' total (`snapshot`).
        let i = BUCKET_NS.iter().position(|b| ns <= *b).unwrap_or(BUCKET_NS.len());
        // ORDERING: statistics; a scrape may see a bucket before the sum.
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Add `other`'s observations to these (`&mut`: nobody observes
    /// meanwhile).
    fn merge(&mut self, other: &DurationHistogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine.get_mut() += theirs.load(Ordering::Relaxed);
        }
        *self.sum_ns.get_mut() += other.sum_ns.load(Ordering::Relaxed);
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let bounds = DURATION_BUCKETS.iter().copied().chain([f64::INFINITY]);
        // ORDERING: statistics (see `observe`).
        let buckets: Vec<(f64, u64)> =
            bounds.zip(self.buckets.iter().map(|b| b.load(Ordering::Relaxed))).collect();
        HistogramSnapshot {
            // The count is the buckets' total, so the two always agree.
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
            sum: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

impl HistogramSnapshot {
    /// An empty histogram (every bucket at 0).
    pub fn empty() -> Self {
        DurationHistogram::default().snapshot()
    }

    /// Add `other`'s observations (same buckets) to these.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.1 += theirs.1;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// What the actors running one version did. Counters only grow.
#[derive(Debug, Default)]
pub struct VersionMetrics {
    /// Casts handled (exact; added once per turn, by the turn's thread to
    /// its own cell).
    pub(crate) casts: ShardedCount,
    /// Calls handled (exact; as `casts`).
    pub(crate) calls: ShardedCount,
    /// The deepest mailbox a turn on this version found when it started
    /// (a high-water mark, looked at once per turn).
    pub(crate) mailbox_max: AtomicU64,
    /// Exits of its actors that were not clean (a panic, a kill, an
    /// abnormal linked exit; exact).
    pub(crate) crashes: AtomicU64,
    /// Calls its actors handled but whose caller got an error: the handler
    /// refused the message, or the caller had gone when the reply was sent
    /// (it timed out). A call whose handler panicked is a crash, counted
    /// there only (exact).
    pub(crate) failed_calls: AtomicU64,
    /// Handler time of sampled messages (1 in [`SAMPLE_EVERY`] pushes to a
    /// mailbox).
    pub(crate) handle: DurationHistogram,
    /// Time in the mailbox of the same sampled messages.
    pub(crate) wait: DurationHistogram,
}

impl VersionMetrics {
    /// Free what only writers need ([`ShardedCount::freeze`]): for the
    /// counters of a version that is gone, held by the version list alone.
    fn compact(&mut self) {
        self.casts.freeze();
        self.calls.freeze();
    }

    /// Add the counts of `other`, another gone version's, to these (both
    /// compacted: their counts are in the shared cells).
    fn merge(&mut self, other: &VersionMetrics) {
        self.casts.add_at(None, other.casts.total());
        self.calls.add_at(None, other.calls.total());
        let max = self.mailbox_max.get_mut();
        *max = (*max).max(other.mailbox_max.load(Ordering::Relaxed));
        *self.crashes.get_mut() += other.crashes.load(Ordering::Relaxed);
        *self.failed_calls.get_mut() += other.failed_calls.load(Ordering::Relaxed);
        self.handle.merge(&other.handle);
        self.wait.merge(&other.wait);
    }
}

/// One version's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionCounts {
    /// Casts handled.
    pub casts: u64,
    /// Calls handled.
    pub calls: u64,
    /// The deepest mailbox seen at the start of a turn.
    pub mailbox_max: u64,
    /// Unclean exits.
    pub crashes: u64,
    /// Calls handled whose caller got an error (refused, or gone: timed
    /// out); not the crashes'.
    pub failed_calls: u64,
    /// Sampled handler time.
    pub handle: HistogramSnapshot,
    /// Sampled mailbox wait.
    pub wait: HistogramSnapshot,
}

impl VersionMetrics {
    /// A turn handled `casts` casts and `calls` calls.
    pub(crate) fn handled(&self, casts: u64, calls: u64) {
        let shard = crate::thread_shard::index();
        if casts > 0 {
            self.casts.add_at(shard, casts);
        }
        if calls > 0 {
            self.calls.add_at(shard, calls);
        }
    }

    /// A turn started with `depth` messages in the mailbox.
    pub(crate) fn mailbox_depth(&self, depth: u64) {
        // ORDERING: a high-water mark; the load first keeps the cache line
        // shared in the common case (no new maximum).
        if depth > self.mailbox_max.load(Ordering::Relaxed) {
            self.mailbox_max.fetch_max(depth, Ordering::Relaxed);
        }
    }

    /// An actor on this version exited uncleanly.
    pub(crate) fn crashed(&self) {
        // ORDERING: a statistic.
        self.crashes.fetch_add(1, Ordering::Relaxed);
    }

    /// A call handled on this version did not get its caller a reply.
    pub(crate) fn call_failed(&self) {
        // ORDERING: a statistic.
        self.failed_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// One sampled message: how long it waited, how long its handler ran.
    pub(crate) fn sampled(&self, wait: Duration, handle: Duration) {
        self.wait.observe(wait);
        self.handle.observe(handle);
    }

    /// The counters now.
    pub fn counts(&self) -> VersionCounts {
        // ORDERING: statistics.
        VersionCounts {
            casts: self.casts.total(),
            calls: self.calls.total(),
            mailbox_max: self.mailbox_max.load(Ordering::Relaxed),
            crashes: self.crashes.load(Ordering::Relaxed),
            failed_calls: self.failed_calls.load(Ordering::Relaxed),
            handle: self.handle.snapshot(),
            wait: self.wait.snapshot(),
        }
    }
}

/// One version the table accepted, with its counters.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    /// The module.
    pub module: Arc<str>,
    /// Its version, as text.
    pub version: String,
    /// The version's serial ([`Version::serial`](super::Version::serial)).
    pub serial: u64,
    /// Its counters (shared with the version while it lives).
    pub metrics: Arc<VersionMetrics>,
    /// The private copy mapped for it (none for a statically linked one).
    copy: Option<std::path::PathBuf>,
}

impl VersionEntry {
    /// Whether this version left the table but its library stays mapped,
    /// with a reason (the unload check's [`Residency`](super::Residency)),
    /// as the unloader knows it now (not as events reported it).
    pub fn resident(&self) -> bool {
        self.copy.as_deref().is_some_and(|c| matches!(super::unload::residency(c), Some(Some(_))))
    }
}

/// Every version a table accepted, in order: their counters outlive them,
/// so a counter never goes backwards when its version is purged. An entry
/// is ~5 KiB while its version lives (4 KiB of it the sharded counts'
/// cells). Each load compacts the entries whose counters the list holds
/// alone (`Arc::get_mut`: the version dropped them, and no scrape holds a
/// copy): their cells are freed, and the gone entries of one module and
/// version label — two builds of a version, or a version loaded again —
/// become one, their counts added up (a scrape adds them up by label
/// anyway). The list then grows by one entry of about 1 KiB per version
/// label, not by 5 KiB per load.
#[derive(Debug, Default)]
pub(crate) struct VersionList {
    entries: Mutex<Vec<VersionEntry>>,
}

impl VersionList {
    pub(crate) fn push(&self, v: &super::Version) {
        let mut entries = self.entries.lock();
        if entries.iter().any(|e| e.serial == v.serial()) {
            return;
        }
        compact_unowned(&mut entries);
        entries.push(VersionEntry {
            module: v.shared_name(),
            version: v.version_str().to_owned(),
            serial: v.serial(),
            metrics: Arc::clone(v.metrics_arc()),
            copy: v.private_copy().map(std::path::Path::to_owned),
        });
    }

    pub(crate) fn all(&self) -> Vec<VersionEntry> {
        self.entries.lock().clone()
    }
}

/// Compact the counters of `entries` nobody else holds — no version writes
/// them any more, and none can start to (a version's counters are made
/// with it) — and fold each such entry into the first such one of its
/// module and version label. An entry whose library is still mapped
/// (resident) stays as it is: its private copy is what reports it.
fn compact_unowned(entries: &mut Vec<VersionEntry>) {
    // Where the gone, unmapped entry of each label is.
    let mut first: std::collections::HashMap<(Arc<str>, String), usize> =
        std::collections::HashMap::new();
    let mut keep = Vec::with_capacity(entries.len());
    for mut e in std::mem::take(entries) {
        let Some(m) = Arc::get_mut(&mut e.metrics) else {
            keep.push(e);
            continue;
        };
        if !m.casts.is_frozen() {
            m.compact();
        }
        if e.resident() {
            keep.push(e);
            continue;
        }
        e.copy = None;
        match first.entry((Arc::clone(&e.module), e.version.clone())) {
            std::collections::hash_map::Entry::Occupied(at) => {
                let into = Arc::get_mut(&mut keep[*at.get()].metrics)
                    .expect("a gone entry is held by the list alone");
                into.merge(&e.metrics);
            }
            std::collections::hash_map::Entry::Vacant(at) => {
                at.insert(keep.len());
                keep.push(e);
            }
        }
    }
    *entries = keep;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_whose_version_is_gone_are_compacted_with_their_counts_kept() {
        let entry = |serial, metrics: &Arc<VersionMetrics>| VersionEntry {
            module: Arc::from("m"),
            version: format!("{serial}.0.0"),
            serial,
            metrics: Arc::clone(metrics),
            copy: None,
        };
        let (gone, live) =
            (Arc::new(VersionMetrics::default()), Arc::new(VersionMetrics::default()));
        gone.casts.add_at(Some(1), 3);
        gone.calls.add_at(None, 2);
        live.casts.add_at(Some(1), 4);
        let mut entries = vec![entry(1, &gone), entry(2, &live)];
        drop(gone);
        compact_unowned(&mut entries);
        let (m1, m2) = (&entries[0].metrics, &entries[1].metrics);
        assert!(m1.casts.is_frozen() && m1.calls.is_frozen(), "nobody else held it");
        assert_eq!((m1.casts.total(), m1.calls.total()), (3, 2));
        assert!(!m2.casts.is_frozen(), "its version still writes it");
        live.casts.add_at(Some(1), 1);
        assert_eq!(m2.casts.total(), 5);
    }

    #[test]
    fn gone_entries_of_one_label_become_one_with_their_counts_added_up() {
        let entry = |serial, version: &str, metrics: &Arc<VersionMetrics>| VersionEntry {
            module: Arc::from("m"),
            version: version.to_owned(),
            serial,
            metrics: Arc::clone(metrics),
            copy: None,
        };
        let v = |casts, crashes, depth, waited_us| {
            let m = Arc::new(VersionMetrics::default());
            m.casts.add_at(Some(0), casts);
            (0..crashes).for_each(|_| m.crashed());
            m.mailbox_depth(depth);
            m.sampled(Duration::from_micros(waited_us), Duration::ZERO);
            m
        };
        let (a, b, c, live) = (v(1, 1, 7, 2), v(10, 0, 3, 100), v(100, 2, 1, 2), v(5, 0, 0, 2));
        let mut entries = vec![
            entry(1, "1.0.0", &a),
            entry(2, "2.0.0", &b),
            entry(3, "1.0.0", &c),
            entry(4, "1.0.0", &live),
        ];
        drop((a, b, c));
        compact_unowned(&mut entries);
        let labels: Vec<(u64, &str)> =
            entries.iter().map(|e| (e.serial, e.version.as_str())).collect();
        assert_eq!(labels, [(1, "1.0.0"), (2, "2.0.0"), (4, "1.0.0")], "3 went into 1");
        let one = entries[0].metrics.counts();
        assert_eq!((one.casts, one.crashes, one.mailbox_max), (101, 3, 7));
        assert_eq!(one.wait.count, 2);
        assert_eq!(entries[1].metrics.counts().casts, 10);
        assert_eq!(entries[2].metrics.counts().casts, 5, "a live version stays its own");
        // Again: nothing more to fold, nothing changes.
        compact_unowned(&mut entries);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].metrics.counts().casts, 101);
    }

    #[test]
    fn an_observation_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        assert_eq!(BUCKET_NS[0], 1_000);
        assert_eq!(BUCKET_NS[5], 1_000_000);
        assert_eq!(BUCKET_NS[12], 10_000_000_000);
        let h = DurationHistogram::default();
        for ns in [0, 1_000, 1_001, 4_000, 999_999_999, 10_000_000_000, 10_000_000_001] {
            h.observe(Duration::from_nanos(ns));
        }
        let s = h.snapshot();
        let counts: Vec<u64> = s.buckets.iter().map(|b| b.1).collect();
        assert_eq!(counts, [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1]);
        assert_eq!(s.count, 7);
        assert!((s.sum - 21.000_006_001).abs() < 1e-9, "sum {}", s.sum);
    }
}
