//! The concurrency primitives the actor core uses, in one place: `std`'s
//! (and `parking_lot`'s, `crossbeam-queue`'s) normally, loom's when the loom
//! models run (`--cfg relive_loom`, tests only).
//!
//! What the models check is the code above these primitives, not the
//! primitives: under loom, [`Queue`] is a loom mutex around a `VecDeque`
//! with `SegQueue`'s interface (`crossbeam-queue` is not loom-aware; its own
//! tests cover it), and [`Mutex`]/[`Condvar`] are loom's behind
//! `parking_lot`'s interface. Everything the mailbox and the scheduling
//! state do with atomics, fences, locks and the queue is modelled.

#[cfg(not(all(test, relive_loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(all(test, relive_loom))]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(not(all(test, relive_loom)))]
pub(crate) use crossbeam_queue::SegQueue as Queue;
#[cfg(not(all(test, relive_loom)))]
pub(crate) use parking_lot::{Condvar, Mutex};

/// A [`Queue`] allocated on its first push (issue 19): until then it is one
/// null pointer, so an actor that never got mail does not carry the queue's
/// two cache-padded (128-byte aligned) ends. The allocation is installed
/// lock-free (`once_cell::race::OnceBox`: one compare-and-swap; a push that
/// loses the race frees its own). Once there, the queue stays for the
/// owner's life; nothing is ever taken out of the cell, so a reference to
/// the queue is valid as long as the cell.
#[derive(Debug)]
pub(crate) struct LazyQueue<T>(once_cell::race::OnceBox<Queue<T>>);

impl<T> LazyQueue<T> {
    pub(crate) const fn new() -> Self {
        LazyQueue(once_cell::race::OnceBox::new())
    }

    pub(crate) fn push(&self, value: T) {
        self.0.get_or_init(|| Box::new(Queue::new())).push(value);
    }

    /// `None` when empty, and when nothing was ever pushed.
    pub(crate) fn pop(&self) -> Option<T> {
        self.0.get()?.pop()
    }
}

/// Give the processor to another thread (a loom yield in the models).
pub(crate) fn yield_now() {
    #[cfg(not(all(test, relive_loom)))]
    std::thread::yield_now();
    #[cfg(all(test, relive_loom))]
    loom::thread::yield_now();
}

#[cfg(all(test, relive_loom))]
pub(crate) use self::loom_shim::{Condvar, Mutex, Queue};

/// Loom's primitives behind the interfaces the runtime uses.
#[cfg(all(test, relive_loom))]
mod loom_shim {
    use std::collections::VecDeque;
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    /// An unbounded MPMC FIFO with `SegQueue`'s interface.
    #[derive(Debug)]
    pub(crate) struct Queue<T>(loom::sync::Mutex<VecDeque<T>>);

    impl<T> Queue<T> {
        pub(crate) fn new() -> Self {
            Queue(loom::sync::Mutex::new(VecDeque::new()))
        }

        pub(crate) fn push(&self, value: T) {
            self.0.lock().unwrap().push_back(value);
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_front()
        }
    }

    /// A mutex with `parking_lot`'s interface (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Its guard; `None` only while a [`Condvar`] waits with it.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap()))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("held")
        }
    }

    /// What a timed wait found.
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    /// A condition variable with `parking_lot`'s interface. A deadline is
    /// not modelled: a timed wait waits as an untimed one.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("held");
            guard.0 = Some(self.0.wait(inner).unwrap());
        }

        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }

        pub(crate) fn notify_all(&self) -> bool {
            self.0.notify_all();
            true
        }
    }
}
