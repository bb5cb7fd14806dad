//! The scheduler: N worker threads running tasks that are runnable.
//!
//! It is generic over what it runs (the host runs actors through it) and
//! knows nothing above it: a [`Run`] implementation, passed down at start,
//! runs one task and says whether it must go round again.
//!
//! - Each worker has a FIFO deque; tasks made runnable from outside go to a
//!   shared injector, tasks made runnable on a worker (a handler sending to
//!   an idle actor) go to that worker's own deque (handled on the same
//!   thread, warm in its cache). Idle workers steal from the injector and
//!   from each other.
//! - A task that must go round again goes to the back of its worker's deque
//!   (fairness: the host's turns take a bounded batch, like BEAM's reductions).
//! - A worker with nothing to do spins for a short while (waking a parked
//!   thread costs ~25 µs on our machines, more than most messages), then
//!   parks (`worker.rs`).
//!
//! # Workers come and go, N stay runnable
//! A worker can be **replaced**: a fresh thread takes its place at once, and
//! the old one leaves as soon as the task it is running returns, handing the
//! tasks left in its deque to the injector. The host replaces a worker stuck
//! in a handler that overran a kill (so it keeps N runnable workers), and
//! retires every worker after a library stayed mapped because of
//! thread-local destructors (so those run, on the old threads' exit, while
//! the library is still mapped). The set of workers is published through
//! `arc-swap`: stealing reads it without a lock; changes are serialised.
//!
//! # Parking without lost wake-ups
//! (`sleepers.rs`, checked by loom)
//! 1. the worker records itself in the idle list and increments `sleeping`
//!    (SeqCst, then a SeqCst fence);
//! 2. it checks every queue once more; if it finds work, it withdraws;
//! 3. otherwise it parks.
//!
//! A scheduler pushes the task first and reads `sleeping` after a SeqCst
//! fence: either the worker's recheck (2) sees the push, or the pusher sees
//! the sleeper and unparks it (an unpark before the park makes the park
//! return at once). A worker told to leave (replaced, or shutdown) is
//! unparked too, and checks why it woke before parking again.

mod sleepers;
mod worker;

use sleepers::{Sleepers, Unpark};

use arc_swap::ArcSwap;
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::sync::{Parker, Unparker};
use parking_lot::Mutex;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a drop of the scheduler waits for the workers to finish their
/// current task.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What a worker runs: the layer above calls back into this to run a task.
pub(crate) trait Run<T>: Send + Sync + 'static {
    /// Run `task` once; true if it must be requeued.
    fn run(&self, task: &T) -> bool;
}

static NEXT_SCHEDULER: AtomicUsize = AtomicUsize::new(1);

/// What a worker thread knows of itself.
struct Local {
    /// The scheduler it is a worker of.
    scheduler: usize,
    /// Its token there.
    token: u64,
    /// Its deque: a `Worker<T>` of that scheduler's task type.
    deque: Rc<dyn Any>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// One worker as the others see it.
pub(crate) struct Slot<T> {
    /// Unique in its scheduler, never 0.
    token: u64,
    stealer: Stealer<T>,
    unparker: Unparker,
    /// Set when it must leave after its current task.
    retiring: AtomicBool,
}

impl<T> Unpark for Arc<Slot<T>> {
    fn unpark(&self) {
        self.unparker.unpark();
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("token", &self.token).finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Shared<T> {
    id: usize,
    injector: Injector<T>,
    /// Every worker that has not left yet (retiring ones included, so their
    /// deques can still be stolen from).
    slots: ArcSwap<Vec<Arc<Slot<T>>>>,
    /// Serialises changes of `slots` and `threads`.
    changing: Mutex<Vec<(u64, JoinHandle<()>)>>,
    /// Parked workers.
    sleepers: Sleepers<Arc<Slot<T>>>,
    shutdown: AtomicBool,
    next_token: AtomicU64,
    /// Starts replacements; weak, since the runner may own what owns this.
    runner: Weak<dyn Run<T>>,
}

/// The calling worker's token and deque, if it is a worker of scheduler `id`.
fn local_deque<T: 'static>(id: usize) -> Option<Rc<dyn Any>> {
    LOCAL.with(|l| match &*l.borrow() {
        Some(l) if l.scheduler == id && l.deque.is::<Worker<T>>() => Some(Rc::clone(&l.deque)),
        _ => None,
    })
}

impl<T: Send + 'static> Shared<T> {
    /// Make `task` runnable.
    pub(crate) fn schedule(&self, task: T) {
        match local_deque::<T>(self.id) {
            Some(deque) => deque.downcast_ref::<Worker<T>>().expect("checked").push(task),
            None => self.injector.push(task),
        }
        self.sleepers.notify();
    }

    /// Whether the calling thread is one of this scheduler's workers.
    pub(crate) fn on_worker(&self) -> bool {
        self.current_worker() != 0
    }

    /// The token of the worker running on the calling thread, 0 if none.
    pub(crate) fn current_worker(&self) -> u64 {
        LOCAL.with(|l| match &*l.borrow() {
            Some(l) if l.scheduler == self.id => l.token,
            _ => 0,
        })
    }

    /// Workers that run tasks and are not leaving.
    pub(crate) fn workers(&self) -> usize {
        // ORDERING: a count for views; each flag is re-read by its worker.
        self.slots.load().iter().filter(|s| !s.retiring.load(Ordering::Relaxed)).count()
    }

    fn find_work(&self, me: u64, local: &Worker<T>) -> Option<T> {
        if let Some(c) = local.pop() {
            return Some(c);
        }
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(local) {
                Steal::Success(c) => return Some(c),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for s in self.slots.load().iter() {
                if s.token == me {
                    continue;
                }
                match s.stealer.steal_batch_and_pop(local) {
                    Steal::Success(c) => return Some(c),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.slots.load().iter().any(|s| !s.stealer.is_empty())
    }

    /// Start one worker thread (with `changing` held).
    fn start_worker(
        self: &Arc<Self>,
        threads: &mut Vec<(u64, JoinHandle<()>)>,
        runner: Arc<dyn Run<T>>,
    ) -> std::io::Result<u64> {
        // ORDERING: only uniqueness matters.
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let deque = Worker::new_fifo();
        let parker = Parker::new();
        let slot = Arc::new(Slot {
            token,
            stealer: deque.stealer(),
            unparker: parker.unparker().clone(),
            retiring: AtomicBool::new(false),
        });
        let mut slots: Vec<Arc<Slot<T>>> = self.slots.load().iter().cloned().collect();
        slots.push(Arc::clone(&slot));
        self.slots.store(Arc::new(slots));
        // Workers that left are joined here at the latest (a replaced one
        // may never be joined by whoever replaced it).
        for (_, h) in threads.extract_if(.., |(_, h)| h.is_finished()) {
            let _ = h.join();
        }
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name(format!("relive-worker-{token}"))
            .spawn(move || worker::run(&shared, &slot, deque, parker, &*runner));
        match spawned {
            Ok(t) => {
                threads.push((token, t));
                Ok(token)
            }
            Err(e) => {
                self.remove_slot(token);
                Err(e)
            }
        }
    }

    fn remove_slot(&self, token: u64) {
        let slots: Vec<Arc<Slot<T>>> =
            self.slots.load().iter().filter(|s| s.token != token).cloned().collect();
        self.slots.store(Arc::new(slots));
    }

    /// Replace the worker `token`: a fresh worker starts now, and the old one
    /// leaves once its current task returns. True if it was replaced; false
    /// if there is no such worker, it is leaving already, or the scheduler
    /// is shutting down.
    pub(crate) fn replace(self: &Arc<Self>, token: u64) -> bool {
        self.replace_one(token).is_some()
    }

    fn replace_one(self: &Arc<Self>, token: u64) -> Option<u64> {
        let runner = self.runner.upgrade()?;
        let mut threads = self.changing.lock();
        // ORDERING: SeqCst, as `shutdown` everywhere.
        if self.shutdown.load(Ordering::SeqCst) {
            return None;
        }
        let old = self.slots.load().iter().find(|s| s.token == token).cloned()?;
        // ORDERING: Relaxed: `changing` serialises this with other changes;
        // the old worker re-reads the flag at the top of its loop.
        if old.retiring.swap(true, Ordering::Relaxed) {
            return None;
        }
        if let Err(e) = self.start_worker(&mut threads, runner) {
            tracing::error!(error = %e, "no thread to replace a worker with; one fewer runs");
        }
        // If it is parked, it must wake to leave.
        old.unparker.unpark();
        Some(token)
    }

    /// Replace every worker (see [`replace`](Self::replace)); the tokens of
    /// the workers that leave, to [`join`](Self::join) them.
    pub(crate) fn replace_all(self: &Arc<Self>) -> Vec<u64> {
        let tokens: Vec<u64> = self
            .slots
            .load()
            .iter()
            // ORDERING: as in `replace`.
            .filter(|s| !s.retiring.load(Ordering::Relaxed))
            .map(|s| s.token)
            .collect();
        tokens.into_iter().filter_map(|t| self.replace_one(t)).collect()
    }

    /// Wait until the threads of the workers `tokens` have ended completely
    /// (their thread-local destructors run), or `deadline`; whether all did.
    /// A worker still in a task at the deadline is left to end later.
    pub(crate) fn join(&self, tokens: &[u64], deadline: Instant) -> bool {
        loop {
            let finished: Vec<JoinHandle<()>> = {
                let mut threads = self.changing.lock();
                threads
                    .extract_if(.., |(t, h)| tokens.contains(t) && h.is_finished())
                    .map(|(_, h)| h)
                    .collect()
            };
            for h in finished {
                let _ = h.join();
            }
            let pending = self.changing.lock().iter().filter(|(t, _)| tokens.contains(t)).count();
            if pending == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The worker threads of one scheduler.
#[derive(Debug)]
pub(crate) struct Scheduler<T> {
    shared: Arc<Shared<T>>,
    /// Keeps the runner alive while the scheduler is (workers hold clones).
    _runner: Arc<dyn Run<T>>,
}

impl<T> std::fmt::Debug for dyn Run<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Run")
    }
}

impl<T: Send + 'static> Scheduler<T> {
    /// Start `workers` threads running tasks through `runner`.
    pub(crate) fn start(workers: usize, runner: Arc<dyn Run<T>>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            // ORDERING: only uniqueness matters.
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            injector: Injector::new(),
            slots: ArcSwap::from_pointee(Vec::new()),
            changing: Mutex::new(Vec::new()),
            sleepers: Sleepers::new(workers),
            shutdown: AtomicBool::new(false),
            next_token: AtomicU64::new(1),
            runner: Arc::downgrade(&runner),
        });
        {
            let mut threads = shared.changing.lock();
            for _ in 0..workers.max(1) {
                shared.start_worker(&mut threads, Arc::clone(&runner))?;
            }
        }
        Ok(Scheduler { shared, _runner: runner })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }
}

impl<T> Scheduler<T> {
    /// Workers that run tasks and are not leaving.
    pub(crate) fn workers(&self) -> usize {
        // ORDERING: as in `Shared::workers`.
        self.shared.slots.load().iter().filter(|s| !s.retiring.load(Ordering::Relaxed)).count()
    }

    /// Stop the workers after their current task and join them, waiting at
    /// most a few seconds: a worker stuck in a task that never returns is
    /// left behind (detached), never waited for forever.
    pub(crate) fn shutdown(&mut self, wait: Duration) {
        // ORDERING: SeqCst so parked workers that wake see it.
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for s in self.shared.slots.load().iter() {
            s.unparker.unpark();
        }
        let threads = std::mem::take(&mut *self.shared.changing.lock());
        let deadline = Instant::now() + wait;
        for (token, t) in threads {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!(
                    worker = token,
                    "a worker is still in a task at shutdown; left behind"
                );
            }
        }
    }
}

impl<T> Drop for Scheduler<T> {
    fn drop(&mut self) {
        self.shutdown(SHUTDOWN_WAIT);
    }
}
