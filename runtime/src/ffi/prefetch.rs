//! issue 19: a hint that memory will be used soon — the one kind of read a
//! locked instruction does not wait for.
//!
//! A pass over 100 k actors (an upgrade's suspension and commit) misses the
//! cache on every actor's cell, and each step of it takes a lock or lets
//! one go: a locked instruction, after which no load may complete before it
//! does, and before which every earlier load must have. A plain load of the
//! cells ahead therefore only moves the wait; `PREFETCHT0` is not ordered
//! with locked instructions or fences (Intel SDM, vol. 2, `PREFETCHh`), so
//! the next cells' misses are in flight while this one's lock is taken.

/// Ask for the cache line holding `at` to be brought in. A hint only: it
/// changes no value, and where the target has no such instruction it does
/// nothing.
#[inline(always)]
pub(crate) fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `PREFETCHT0` never faults and has no effect visible to the
    // program but timing; its address comes from a live reference anyway.
    // SSE, which it belongs to, is part of every x86-64 CPU.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(at).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefetch_changes_nothing() {
        let cells: Vec<u64> = (0..1000).collect();
        for c in &cells {
            super::prefetch(c);
        }
        assert!(cells.iter().copied().eq(0..1000));
    }
}
