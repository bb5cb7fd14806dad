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
//!   parks.
//!
//! # Parking without lost wake-ups
//! 1. the worker records itself in the idle list and increments `sleeping`
//!    (SeqCst);
//! 2. it checks every queue once more; if it finds work, it withdraws;
//! 3. otherwise it parks.
//!
//! A scheduler pushes the actor first and reads `sleeping` after a SeqCst
//! fence: either the worker's recheck (2) sees the push, or the pusher sees
//! the sleeper and unparks it (an unpark before the park makes the park
//! return at once).

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::sync::{Parker, Unparker};
use parking_lot::Mutex;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread::JoinHandle;

/// Rounds of spinning (each a queue check and a short pause) before parking.
const SPIN_ROUNDS: u32 = 200;

/// What a worker runs: the layer above calls back into this to run a task.
pub(crate) trait Run<T>: Send + Sync + 'static {
    /// Run `task` once; true if it must be requeued.
    fn run(&self, task: &T) -> bool;
}

static NEXT_SCHEDULER: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The scheduler this thread is a worker of, and its deque (a
    /// `Worker<T>` of that scheduler's task type).
    static LOCAL: RefCell<Option<(usize, Rc<dyn Any>)>> = const { RefCell::new(None) };
}

#[derive(Debug)]
pub(crate) struct Shared<T> {
    id: usize,
    injector: Injector<T>,
    stealers: Vec<Stealer<T>>,
    unparkers: Vec<Unparker>,
    idle: Mutex<Vec<usize>>,
    sleeping: AtomicUsize,
    shutdown: AtomicBool,
}

/// The calling worker's deque, if it is a worker of scheduler `id`.
fn local_deque<T: 'static>(id: usize) -> Option<Rc<dyn Any>> {
    LOCAL.with(|l| match &*l.borrow() {
        Some((sid, deque)) if *sid == id && deque.is::<Worker<T>>() => Some(Rc::clone(deque)),
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
        // ORDERING: SeqCst fence between the push and the read of `sleeping`,
        // pairing with the worker's SeqCst increment before its recheck.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        let index = self.idle.lock().pop();
        if let Some(i) = index {
            // ORDERING: SeqCst, as every access to `sleeping`.
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            self.unparkers[i].unpark();
        }
    }

    /// Whether the calling thread is one of this scheduler's workers.
    pub(crate) fn on_worker(&self) -> bool {
        LOCAL.with(|l| matches!(&*l.borrow(), Some((id, _)) if *id == self.id))
    }

    fn find_work(&self, me: usize, local: &Worker<T>) -> Option<T> {
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
            for (i, s) in self.stealers.iter().enumerate() {
                if i == me {
                    continue;
                }
                match s.steal_batch_and_pop(local) {
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
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}

/// The worker threads of one scheduler.
#[derive(Debug)]
pub(crate) struct Scheduler<T> {
    shared: Arc<Shared<T>>,
    threads: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Scheduler<T> {
    /// Start `workers` threads running tasks through `runner`.
    pub(crate) fn start(workers: usize, runner: Arc<dyn Run<T>>) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let deques: Vec<Worker<T>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let shared = Arc::new(Shared {
            // ORDERING: only uniqueness matters.
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            injector: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            unparkers: parkers.iter().map(|p| p.unparker().clone()).collect(),
            idle: Mutex::new(Vec::with_capacity(workers)),
            sleeping: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(workers);
        for (i, (deque, parker)) in deques.into_iter().zip(parkers).enumerate() {
            let shared = Arc::clone(&shared);
            let runner = Arc::clone(&runner);
            let t = std::thread::Builder::new()
                .name(format!("relive-worker-{i}"))
                .spawn(move || worker_loop(i, deque, parker, &shared, &*runner))?;
            threads.push(t);
        }
        Ok(Scheduler { shared, threads })
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }
}

impl<T> Scheduler<T> {
    pub(crate) fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Stop the workers after their current turn and join them.
    pub(crate) fn shutdown(&mut self) {
        // ORDERING: SeqCst so parked workers that wake see it.
        self.shared.shutdown.store(true, Ordering::SeqCst);
        for u in &self.shared.unparkers {
            u.unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<T> Drop for Scheduler<T> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker_loop<T: Send + 'static>(
    me: usize,
    deque: Worker<T>,
    parker: Parker,
    shared: &Shared<T>,
    runner: &dyn Run<T>,
) {
    let deque: Rc<dyn Any> = Rc::new(deque);
    LOCAL.with(|l| *l.borrow_mut() = Some((shared.id, Rc::clone(&deque))));
    let local = deque.downcast_ref::<Worker<T>>().expect("a deque of this scheduler's tasks");
    // ORDERING (all loads of `shutdown` here): SeqCst, set once at shutdown.
    while !shared.shutdown.load(Ordering::SeqCst) {
        if let Some(task) = shared.find_work(me, local) {
            // A task that panics (a bug above this layer) must not take the
            // worker with it: the host keeps its N workers.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&task))) {
                Ok(true) => local.push(task),
                Ok(false) => {}
                Err(_) => tracing::error!("a scheduled task panicked; the worker goes on"),
            }
            continue;
        }
        // Nothing to do: spin briefly, then park.
        let mut found = false;
        for round in 0..SPIN_ROUNDS {
            if shared.has_work() || shared.shutdown.load(Ordering::SeqCst) {
                found = true;
                break;
            }
            if round % 16 == 15 {
                std::thread::yield_now();
            } else {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
            }
        }
        if found {
            continue;
        }
        shared.idle.lock().push(me);
        // ORDERING: SeqCst, pairing with the fence in `schedule`.
        shared.sleeping.fetch_add(1, Ordering::SeqCst);
        if shared.has_work() || shared.shutdown.load(Ordering::SeqCst) {
            let mut idle = shared.idle.lock();
            if let Some(pos) = idle.iter().position(|&i| i == me) {
                idle.swap_remove(pos);
                shared.sleeping.fetch_sub(1, Ordering::SeqCst);
            }
            continue;
        }
        parker.park();
        // Whoever woke us removed us from the idle list; a shutdown may not have.
        let mut idle = shared.idle.lock();
        if let Some(pos) = idle.iter().position(|&i| i == me) {
            idle.swap_remove(pos);
            shared.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
    }
    LOCAL.with(|l| *l.borrow_mut() = None);
}
