//! issue 17: an RCU cell whose readers pay no read-modify-write (decision
//! 0031) — what a function slot holds: the value serving the function now.
//!
//! A [`Snapshot`] holds one current `Arc<T>` and gives it to readers for
//! the length of a closure ([`Snapshot::read`]). A store replaces it; the
//! previous value is dropped once no reader that began before the store
//! still runs — never under one, and as soon as the last one ends, without
//! anybody waiting.
//!
//! ## The protocol
//!
//! Every thread with a [thread index](crate::thread_shard) owns one
//! cache-padded [`Reader`] cell per snapshot: `pin` (the generation its
//! read in progress uses, 0 when none) and its cached `(gen, ptr)`: the
//! generation and pointer it last read under the lock. The snapshot has a
//! published `generation` (bumped by every store) and `pending` (stored
//! values wait in `retired`).
//!
//! A read on the owning thread:
//! 1. `pin = gen` (its cached generation; a `Release` store, not an RMW);
//! 2. [`light`](super::membarrier::light) fence (a compiler barrier);
//! 3. if `generation == gen`, use `ptr`; otherwise take the lock, cache the
//!    current `(generation, ptr)` and set `pin` to it, under the lock;
//! 4. run the closure; then `pin = 0` (`Release`), light fence, and if
//!    `pending`, take the lock and [reclaim](Snapshot::reclaim_locked).
//!
//! A store, under the lock: replace `current`, move the old value to
//! `retired` with its generation, publish `generation + 1`, set `pending`,
//! [`heavy`](super::membarrier::heavy) fence (`membarrier(2)`: every
//! running thread executes a full barrier), then reclaim: drop each retired
//! value whose generation no reader's `pin` holds; clear `pending` when
//! none is left.
//!
//! Why a reader's value is never dropped under it. A read uses `ptr` only
//! with `pin` equal to its generation `g`. (a) Set under the lock while `g`
//! was current: a later store retires `g` under the same lock, so its scan
//! (and every later reclaim's) sees the pin until the reader clears it.
//! (b) From the cache, with `generation == g` read after the pin and the
//! light fence: the store that retired `g` published `g + 1` before its
//! heavy fence, so the pair (store-buffer pattern, `membarrier.rs`) means
//! either the reader's load saw `g + 1` (it then takes the lock instead of
//! `ptr`) or the pin was visible to that store's scan and to every reclaim
//! after it (they follow it through the lock). A reclaim's `Acquire` load
//! of a pin that changed pairs with the reader's `Release` store, so the
//! reader's accesses to the value happen before its drop.
//!
//! Why a retired value does not stay. A reader ending its read clears its
//! pin, fences, then loads `pending`; the store that left the value
//! retired set `pending` and then fenced (heavy) before its scan saw the
//! pin: so either the scan saw the cleared pin, or the reader sees
//! `pending` and reclaims. `pending` is cleared only by a reclaim that left
//! nothing retired.
//!
//! A nested read on one thread (a pin already set) and a thread without an
//! index read through `shared`, arc-swap's own protocol, as every read did
//! before (decision 0025). Stores also replace `shared`.

use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering};
use crate::thread_shard::{self, SHARDS};
use crossbeam_utils::CachePadded;
#[cfg(all(test, relive_loom))]
use loom::sync::atomic::AtomicPtr;
use std::sync::Arc;
#[cfg(not(all(test, relive_loom)))]
use std::sync::atomic::AtomicPtr;

/// An RCU cell read without a read-modify-write (see the module's docs).
pub(crate) struct Snapshot<T> {
    /// What every reader loads: the generation and whether values wait.
    published: CachePadded<Published>,
    /// One cell per thread index.
    readers: [CachePadded<Reader<T>>; SHARDS],
    state: Mutex<State<T>>,
    /// The current value for reads without a cell of their own.
    #[cfg(not(all(test, relive_loom)))]
    shared: arc_swap::ArcSwap<T>,
    /// Under loom: the location whose read-modify-writes stand in for the
    /// asymmetric fence pair.
    #[cfg(all(test, relive_loom))]
    fence: AtomicU64,
}

struct Published {
    /// The current value's generation (from 1).
    generation: AtomicU64,
    /// Whether `State::retired` may hold values.
    pending: AtomicBool,
}

/// A thread's cell: written by its owner only (and read by reclaims).
struct Reader<T> {
    /// The generation the read in progress uses; 0 when none.
    pin: AtomicU64,
    /// The generation the owner last read under the lock (0: none yet).
    generation: AtomicU64,
    /// The value of that generation.
    ptr: AtomicPtr<T>,
}

struct State<T> {
    generation: u64,
    current: Arc<T>,
    /// Values replaced while a reader held them, with their generations.
    retired: Vec<(u64, Arc<T>)>,
}

impl<T> Snapshot<T> {
    /// A snapshot holding `value`.
    pub(crate) fn new(value: Arc<T>) -> Self {
        super::membarrier::register();
        Snapshot {
            published: CachePadded::new(Published {
                generation: AtomicU64::new(1),
                pending: AtomicBool::new(false),
            }),
            readers: std::array::from_fn(|_| {
                CachePadded::new(Reader {
                    pin: AtomicU64::new(0),
                    generation: AtomicU64::new(0),
                    ptr: AtomicPtr::new(std::ptr::null_mut()),
                })
            }),
            #[cfg(not(all(test, relive_loom)))]
            shared: arc_swap::ArcSwap::new(Arc::clone(&value)),
            #[cfg(all(test, relive_loom))]
            fence: AtomicU64::new(0),
            state: Mutex::new(State { generation: 1, current: value, retired: Vec::new() }),
        }
    }

    /// Run `f` on the current value, which stays alive (and is not
    /// replaced for `f`) until `f` returns; `f` also gets this thread's
    /// index ([`thread_shard::index`]) for other per-thread cells.
    #[inline(always)]
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T, Option<usize>) -> R) -> R {
        let shard = thread_shard::index();
        self.read_at(
            shard,
            #[inline(always)]
            |value| f(value, shard),
        )
    }

    /// [`read`](Self::read) by the thread owning index `shard`. Private: the
    /// protocol needs each cell to have one owner, which `read` ensures by
    /// asking the thread-local (and the loom models by giving each modelled
    /// thread its own index).
    #[inline(always)]
    fn read_at<R>(&self, shard: Option<usize>, f: impl FnOnce(&T) -> R) -> R {
        let Some(reader) = shard.map(|i| &*self.readers[i]) else {
            return self.read_shared(f);
        };
        // ORDERING: the cell's pin is written by this thread only.
        if reader.pin.load(Ordering::Relaxed) != 0 {
            // A read nested in one of this thread (a pin is set): the outer
            // read's pin must stay until the outer read ends.
            return self.read_shared(f);
        }
        // ORDERING: the cache is written by this thread only (or by its
        // index's previous owner, before the hand-over's mutex).
        let cached = reader.generation.load(Ordering::Relaxed);
        // ORDERING: `Release`, so that a reclaim that sees a later value of
        // this pin also sees this thread's earlier reads of a value it
        // drops (a store is not an RMW: no release sequence carries it).
        reader.pin.store(cached, Ordering::Release);
        self.light();
        // ORDERING: the value behind `ptr` was made visible to this thread
        // by the lock it was cached under; what matters here is only the
        // fence pair (module docs, (b)).
        let ptr = if self.published.generation.load(Ordering::Acquire) == cached {
            reader.ptr.load(Ordering::Relaxed)
        } else {
            self.refill(reader)
        };
        let _end = ReadEnd { snapshot: self, reader };
        // SAFETY: `ptr` is `Arc::as_ptr` of the value of generation
        // `pin`, current or retired, and no reclaim drops a value whose
        // generation a reader's pin holds (module docs: (a) when `refill`
        // set it under the lock, (b) when the published generation still
        // equalled the pin after the pin and the light fence). The pin
        // stays until `_end` drops, after `f` returns (or unwinds).
        let value = unsafe { &*ptr };
        f(value)
    }

    /// Cache the current value in `reader` and pin it, under the lock.
    #[cold]
    fn refill(&self, reader: &Reader<T>) -> *mut T {
        let state = self.state.lock();
        let ptr = Arc::as_ptr(&state.current).cast_mut();
        // ORDERING: the lock orders these before any later store's scan.
        reader.generation.store(state.generation, Ordering::Relaxed);
        reader.ptr.store(ptr, Ordering::Relaxed);
        reader.pin.store(state.generation, Ordering::Release);
        ptr
    }

    /// A read without a cell of its own: arc-swap's guard keeps the value.
    /// (Under loom, which cannot see arc-swap's or `std`'s `Arc`
    /// synchronisation, the lock is held for the read instead.)
    #[cold]
    fn read_shared<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        #[cfg(not(all(test, relive_loom)))]
        let value = self.shared.load();
        #[cfg(all(test, relive_loom))]
        let value = self.state.lock();
        #[cfg(not(all(test, relive_loom)))]
        let value: &T = &value;
        #[cfg(all(test, relive_loom))]
        let value: &T = &value.current;
        f(value)
    }

    /// The current value.
    pub(crate) fn load_full(&self) -> Arc<T> {
        Arc::clone(&self.state.lock().current)
    }

    /// Replace the current value: reads that begin afterwards get `value`;
    /// the previous one drops now if no read holds it, else when the last
    /// read holding it ends (on that reader's thread). Never waits for a
    /// reader.
    pub(crate) fn store(&self, value: Arc<T>) {
        let dropped = {
            let mut state = self.state.lock();
            #[cfg(not(all(test, relive_loom)))]
            self.shared.store(Arc::clone(&value));
            let old = std::mem::replace(&mut state.current, value);
            let old_generation = state.generation;
            state.generation += 1;
            state.retired.push((old_generation, old));
            // ORDERING: `Release` for readers that take the new value from
            // `shared`/the lock anyway; what protects the old value is the
            // fence pair below (module docs).
            self.published.generation.store(state.generation, Ordering::Release);
            self.published.pending.store(true, Ordering::Relaxed);
            self.heavy();
            self.reclaim_locked(&mut state)
        };
        drop(dropped);
    }

    /// Take the retired values no reader's pin holds (to be dropped by the
    /// caller after the lock), and clear `pending` if none is left.
    fn reclaim_locked(&self, state: &mut State<T>) -> Vec<Arc<T>> {
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        for (generation, value) in state.retired.drain(..) {
            // ORDERING: `Acquire` pairs with a reader's `Release` stores of
            // its pin: its reads of the value happen before the drop.
            if self.readers.iter().any(|r| r.pin.load(Ordering::Acquire) == generation) {
                kept.push((generation, value));
            } else {
                dropped.push(value);
            }
        }
        state.retired = kept;
        if state.retired.is_empty() {
            // ORDERING: under the lock, which every write of `pending` holds.
            self.published.pending.store(false, Ordering::Relaxed);
        }
        dropped
    }

    /// The read side of the asymmetric fence.
    #[inline(always)]
    fn light(&self) {
        #[cfg(not(all(test, relive_loom)))]
        super::membarrier::light();
        #[cfg(all(test, relive_loom))]
        self.fence.fetch_add(0, Ordering::SeqCst);
    }

    /// The write side of the asymmetric fence.
    fn heavy(&self) {
        #[cfg(not(all(test, relive_loom)))]
        super::membarrier::heavy();
        #[cfg(all(test, relive_loom))]
        self.fence.fetch_add(0, Ordering::SeqCst);
    }
}

/// Ends a read: clears the pin, and reclaims if values wait.
struct ReadEnd<'a, T> {
    snapshot: &'a Snapshot<T>,
    reader: &'a Reader<T>,
}

impl<T> Drop for ReadEnd<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // ORDERING: `Release`: this read's accesses to the value happen
        // before a reclaim that sees the pin cleared.
        self.reader.pin.store(0, Ordering::Release);
        self.snapshot.light();
        // ORDERING: the fence pair with the store that set it (module docs).
        if self.snapshot.published.pending.load(Ordering::Relaxed) {
            self.snapshot.reclaim();
        }
    }
}

impl<T> Snapshot<T> {
    #[cold]
    fn reclaim(&self) {
        let dropped = self.reclaim_locked(&mut self.state.lock());
        drop(dropped);
    }
}

#[cfg(all(test, relive_loom))]
#[path = "snapshot_loom.rs"]
mod loom_models;
