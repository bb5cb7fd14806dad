//! A small index per live thread, for structures that give each thread a
//! cell of its own (issue 17: the function call count, decision 0025, and
//! the function slot's per-thread readers, decision 0031).
//!
//! Each live thread that asks owns one index below [`SHARDS`] for its
//! lifetime (claimed on its first [`index`], given back when it ends), the
//! same index everywhere: so a cell indexed by it has one writer at a time.
//! Threads beyond [`SHARDS`] alive at once, or a thread asking while its
//! thread-locals are torn down, get `None` and take a shared path.
//!
//! An index passes to a new thread only through the free list's mutex, so
//! everything its previous owner did happens before the new owner's first
//! access.

use parking_lot::Mutex;

/// Threads that each get an index of their own.
pub(crate) const SHARDS: usize = 16;

/// This thread's index, if it has (or can claim) one.
#[inline]
pub(crate) fn index() -> Option<usize> {
    SHARD.try_with(|s| s.0).ok().flatten()
}

/// Indices no live thread owns, and the next never used.
struct FreeList {
    free: Vec<usize>,
    next: usize,
}

static FREE: Mutex<FreeList> = Mutex::new(FreeList { free: Vec::new(), next: 0 });

/// This thread's index, if it got one; given back when it ends.
struct Shard(Option<usize>);

impl Shard {
    fn claim() -> Shard {
        let mut list = FREE.lock();
        if let Some(i) = list.free.pop() {
            return Shard(Some(i));
        }
        if list.next < SHARDS {
            list.next += 1;
            return Shard(Some(list.next - 1));
        }
        Shard(None)
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            FREE.lock().free.push(i);
        }
    }
}

thread_local! {
    static SHARD: Shard = Shard::claim();
}
