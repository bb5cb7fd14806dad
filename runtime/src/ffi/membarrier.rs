//! issue 17: an asymmetric fence (decision 0031) — a [`light`] fence that
//! costs a compiler barrier on a hot read path, paired with a [`heavy`]
//! fence on the rare writing side that makes every other running thread of
//! the process execute a full memory barrier (`membarrier(2)`,
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED`).
//!
//! The pair gives what two `fence(SeqCst)` would give (the store-buffer
//! pattern cannot lose both stores): if a thread stores `a` then runs
//! [`light`] then loads `b`, and another stores `b` then runs [`heavy`]
//! then loads `a`, at least one of the two loads sees the other's store.
//!
//! Where the kernel does not offer the private expedited command (not
//! Linux, an old kernel, a sandbox refusing the call), [`register`] says so
//! and both fences are `fence(SeqCst)`: correct, only slower on the read
//! path.
//!
//! Under the loom models (`--cfg relive_loom`) the pair is a read-modify-write
//! of one shared location (see `snapshot.rs`), which loom models exactly.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering, compiler_fence, fence};

/// `MEMBARRIER_CMD_QUERY` (linux/membarrier.h).
#[cfg(target_os = "linux")]
const CMD_QUERY: libc::c_int = 0;
/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
#[cfg(target_os = "linux")]
const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
#[cfg(target_os = "linux")]
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Whether [`heavy`] is the kernel's barrier (and [`light`] only a compiler
/// barrier). Written once, inside [`REGISTER`], before any fence pair that
/// relies on it can run (see [`register`]).
static EXPEDITED: AtomicBool = AtomicBool::new(false);
static REGISTER: Once = Once::new();

/// Register this process for the expedited barrier, once. Call it before
/// handing out anything whose readers use [`light`]: the [`Once`] makes the
/// choice visible to every thread that later reaches such a reader through
/// any synchronisation.
pub(crate) fn register() {
    REGISTER.call_once(|| EXPEDITED.store(try_register(), Ordering::Relaxed));
}

#[cfg(target_os = "linux")]
fn try_register() -> bool {
    // SAFETY: `membarrier(2)` takes two integers (and, since Linux 5.10, a
    // cpu id, ignored without `MEMBARRIER_CMD_FLAG_CPU`); it touches no
    // memory of ours. A kernel without it returns -1 (ENOSYS).
    let supported = unsafe { libc::syscall(libc::SYS_membarrier, CMD_QUERY, 0, 0) };
    if supported < 0 || supported & libc::c_long::from(CMD_PRIVATE_EXPEDITED) == 0 {
        return false;
    }
    // SAFETY: as above; registering only enables the private expedited
    // command for this process.
    unsafe { libc::syscall(libc::SYS_membarrier, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn try_register() -> bool {
    false
}

/// The read side's fence: a compiler barrier when [`heavy`] is the
/// kernel's, else `fence(SeqCst)`.
#[inline(always)]
pub(crate) fn light() {
    // ORDERING: `EXPEDITED` is written once before any reader exists
    // (`register`), so a relaxed load sees its final value.
    if EXPEDITED.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The write side's fence: every thread of this process that is running
/// executes a full memory barrier before this returns (threads not running
/// pass one when they are next scheduled).
pub(crate) fn heavy() {
    fence(Ordering::SeqCst);
    if EXPEDITED.load(Ordering::Relaxed) {
        expedited();
    }
}

#[cfg(target_os = "linux")]
fn expedited() {
    // SAFETY: as in `try_register`; this process registered (EXPEDITED is
    // set only then), so the kernel does not refuse the command.
    let done = unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0, 0) };
    if done != 0 {
        // The readers rely on this barrier for memory safety: without it a
        // library could be unloaded under a running call. The kernel
        // promised it at registration; if it breaks that, stop.
        eprintln!(
            "relive: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration: {}",
            std::io::Error::last_os_error()
        );
        std::process::abort();
    }
}

#[cfg(not(target_os = "linux"))]
fn expedited() {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_expedited_barrier_registers_and_runs_here() {
        super::register();
        super::heavy();
        super::light();
        // Linux has had the command since 4.14: on the machines relive
        // runs on, the read path is the cheap one.
        #[cfg(target_os = "linux")]
        assert!(super::EXPEDITED.load(std::sync::atomic::Ordering::Relaxed));
    }
}
