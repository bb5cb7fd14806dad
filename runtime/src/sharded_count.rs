//! A count that many threads bump without sharing a written cache line:
//! the calls of a function (issue 17, decision 0025) and the casts and
//! calls a version's actors handled (issue 19: one shared counter written
//! by every turn on both workers bounced its line between the cores — and
//! with it the line of the mailbox high-water mark every turn reads).
//!
//! A [`ShardedCount`] is [`SHARDS`] cache-padded cells, one per thread index
//! ([`crate::thread_shard`]): a cell has one writer at a time, which adds
//! with a plain load and store (no locked instruction, no line bounced
//! between cores). Threads without an index add to one shared cell with
//! `fetch_add`. The total is the sum of every cell: exact once the
//! counting threads' stores are visible (as soon as a call returns, to its
//! own thread; to others through any synchronisation, e.g. a join). An
//! index passes to a new thread through the shard free list's mutex, so no
//! count is lost.
//!
//! The cells are ~2 KiB. A count nobody writes any more (its owner holds it
//! alone: a version's counters once the version is gone) is
//! [`freeze`](ShardedCount::freeze)d: its cells are summed into the shared
//! one and freed.

use crate::thread_shard::SHARDS;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// A count kept per owning thread, summed on read.
pub(crate) struct ShardedCount {
    /// One per thread index; empty once frozen.
    cells: Box<[CachePadded<AtomicU64>]>,
    shared: CachePadded<AtomicU64>,
}

impl Default for ShardedCount {
    fn default() -> Self {
        ShardedCount {
            cells: (0..SHARDS).map(|_| CachePadded::new(AtomicU64::new(0))).collect(),
            shared: CachePadded::new(AtomicU64::new(0)),
        }
    }
}

impl std::fmt::Debug for ShardedCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ShardedCount").field(&self.total()).finish()
    }
}

impl ShardedCount {
    /// Add `n` on this thread, whose index is `shard`
    /// ([`crate::thread_shard::index`]: a cell has one writer only if each
    /// thread passes its own).
    #[inline]
    pub(crate) fn add_at(&self, shard: Option<usize>, n: u64) {
        match shard.and_then(|i| self.cells.get(i)) {
            Some(cell) => {
                // ORDERING: this thread is the cell's only writer (it owns
                // index `i`), so a load and a store add without losing a
                // count; readers only sum, and a handover of the index
                // synchronises through the free list's mutex.
                cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
            }
            None => {
                // ORDERING: a statistic; `fetch_add` because many threads
                // share this cell (and every thread, once frozen).
                self.shared.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Sum the cells into the shared one and free them: for a count its
    /// owner holds alone (`&mut`: nobody adds meanwhile). The total is
    /// unchanged; later adds, if any, go to the shared cell.
    pub(crate) fn freeze(&mut self) {
        let folded: u64 = self.cells.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        *self.shared.get_mut() += folded;
        self.cells = Box::new([]);
    }

    /// Whether [`freeze`](Self::freeze) freed the cells.
    pub(crate) fn is_frozen(&self) -> bool {
        self.cells.is_empty()
    }

    /// The count so far.
    pub(crate) fn total(&self) -> u64 {
        // ORDERING: a statistic: each cell is read once.
        let shards: u64 = self.cells.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        shards + self.shared.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thread_shard;
    use std::sync::Arc;

    #[test]
    fn a_frozen_count_keeps_its_total_frees_its_cells_and_still_counts() {
        let mut count = ShardedCount::default();
        count.add_at(Some(0), 5);
        count.add_at(Some(SHARDS - 1), 7);
        count.add_at(None, 1);
        assert!(!count.is_frozen());
        count.freeze();
        assert!(count.is_frozen());
        assert_eq!(count.total(), 13);
        count.add_at(Some(3), 2);
        count.add_at(None, 1);
        assert_eq!(count.total(), 16);
    }

    #[test]
    fn counts_from_more_threads_than_shards_and_from_ended_threads_all_add_up() {
        let count = Arc::new(ShardedCount::default());
        // Two rounds: the second round's threads reuse the indices the
        // first round's gave back, and continue their cells' counts.
        for _ in 0..2 {
            let threads: Vec<_> = (0..SHARDS * 2)
                .map(|_| {
                    let count = Arc::clone(&count);
                    std::thread::spawn(move || {
                        for _ in 0..1000 {
                            count.add_at(thread_shard::index(), 1);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        assert_eq!(count.total(), (2 * SHARDS * 2 * 1000) as u64);
        count.add_at(thread_shard::index(), 1);
        assert_eq!(count.total(), (2 * SHARDS * 2 * 1000 + 1) as u64);
    }
}
