//! issue 19: a large buffer's memory made present before a pause writes it
//! (docs/decisions/0039-prefaulted-upgrade-buffers.md).
//!
//! An atomic upgrade of 100 k actors writes ~28 MB of fresh buffers while
//! the actors are suspended (a job per actor, the held actors, the kept
//! snapshots). Written as they come, that is one page fault per 4 KiB, ~7 k
//! faults, about 1.3 µs each on the benchmark VM: half of the suspension.
//! [`prefault`] asks the kernel, before the pause, to fault the buffer's
//! spare capacity in at once (`MADV_POPULATE_WRITE`, Linux 5.14), which an
//! upgrade does on another core while it lists the actors. A hint: refused
//! (an older kernel, no memory at hand), the buffer only faults as it is
//! written, as before.

/// Make the memory of `buf`'s spare capacity present, so that filling it up
/// to its capacity takes no page fault. Contents are unchanged: the spare
/// capacity stays uninitialised to Rust, as before. Whether the kernel did
/// it (a hint: callers go on either way).
pub(crate) fn prefault<T>(buf: &mut Vec<T>) -> bool {
    #[cfg(target_os = "linux")]
    {
        let spare = buf.spare_capacity_mut();
        let len = std::mem::size_of_val(spare);
        let start = spare.as_mut_ptr() as usize;
        let page = rustix::param::page_size();
        // The whole pages inside the spare capacity, none outside it.
        let (first, end) = (start.next_multiple_of(page), (start + len) / page * page);
        if end <= first {
            return true;
        }
        // SAFETY: `first..end` is whole pages inside the spare capacity of
        // `buf`, memory this `&mut` borrow owns and nothing reads (it is
        // uninitialised to Rust). `MADV_POPULATE_WRITE` faults the pages in
        // as a write would, without writing: present pages keep their
        // bytes, absent ones come in zeroed; the mapping is unchanged. A
        // refusal (`EINVAL` before Linux 5.14, `ENOMEM`) is an error
        // return, ignored: the pages then fault as they are written.
        let done = unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_POPULATE_WRITE)
        };
        done == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = buf;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefaulted_buffer_fills_and_keeps_what_it_held() {
        for (held, capacity) in [(0u64, 0usize), (3, 10), (1000, 4 << 20), (5, 1 << 20)] {
            let mut buf: Vec<u64> = Vec::with_capacity(capacity);
            buf.extend(0..held);
            prefault(&mut buf);
            assert_eq!(buf, (0..held).collect::<Vec<_>>());
            buf.extend(held..capacity as u64);
            assert!(buf.iter().copied().eq(0..capacity as u64));
        }
    }

    /// This thread's minor page faults so far (`/proc/thread-self/stat`,
    /// the tenth field).
    #[cfg(target_os = "linux")]
    fn minor_faults() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 1..];
        after_name.split_whitespace().nth(7).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_prefaulted_buffer_takes_no_page_fault_as_it_fills() {
        const LEN: usize = 4 << 20; // 32 MiB: 8 k pages of 4 KiB
        let mut buf: Vec<u64> = Vec::with_capacity(LEN);
        if !prefault(&mut buf) {
            eprintln!("SKIPPED: the kernel refused MADV_POPULATE_WRITE (before Linux 5.14?)");
            return;
        }
        let before = minor_faults();
        buf.extend(0..LEN as u64);
        let faults = minor_faults() - before;
        assert!(faults < 256, "{faults} page faults filling a buffer made present");
    }
}
