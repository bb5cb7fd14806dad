//! The scheduler: N worker threads running actors that have mail.
//!
//! - Each worker has a FIFO deque; actors made runnable from outside go to a
//!   shared injector, actors made runnable by a handler on a worker go to
//!   that worker's own deque (the message is handled on the same thread,
//!   warm in its cache). Idle workers steal from the injector and from each
//!   other.
//! - A worker runs an actor for at most [`BATCH`] messages, then puts it at
//!   the back of its deque (fairness, like BEAM's reductions).
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

use crate::actor::ActorCell;
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::sync::{Parker, Unparker};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread::JoinHandle;

/// Messages an actor handles per turn before it yields its worker.
pub(crate) const BATCH: usize = 64;

/// Rounds of spinning (each a queue check and a short pause) before parking.
const SPIN_ROUNDS: u32 = 200;

/// What a worker runs: the host calls back into this to run an actor.
pub(crate) trait RunActor: Send + Sync + 'static {
    /// Run one turn of `cell`; true if it must be requeued.
    fn run(&self, cell: &Arc<ActorCell>) -> bool;
}

static NEXT_SCHEDULER: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The deque of the worker running on this thread, if any.
    static LOCAL: RefCell<Option<(usize, Worker<Arc<ActorCell>>)>> = const { RefCell::new(None) };
}

#[derive(Debug)]
pub(crate) struct Shared {
    id: usize,
    injector: Injector<Arc<ActorCell>>,
    stealers: Vec<Stealer<Arc<ActorCell>>>,
    unparkers: Vec<Unparker>,
    idle: Mutex<Vec<usize>>,
    sleeping: AtomicUsize,
    shutdown: AtomicBool,
}

impl Shared {
    /// Make `cell` runnable (it was just moved to `SCHEDULED`).
    pub(crate) fn schedule(&self, cell: Arc<ActorCell>) {
        let pushed_locally = LOCAL.with(|l| match &*l.borrow() {
            Some((id, worker)) if *id == self.id => {
                worker.push(cell.clone());
                true
            }
            _ => false,
        });
        if !pushed_locally {
            self.injector.push(cell);
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

    fn find_work(&self, me: usize, local: &Worker<Arc<ActorCell>>) -> Option<Arc<ActorCell>> {
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

/// The worker threads of one host.
#[derive(Debug)]
pub(crate) struct Scheduler {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Start `workers` threads running actors through `runner`.
    pub(crate) fn start(workers: usize, runner: Arc<dyn RunActor>) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let deques: Vec<Worker<Arc<ActorCell>>> =
            (0..workers).map(|_| Worker::new_fifo()).collect();
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

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

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

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker_loop(
    me: usize,
    deque: Worker<Arc<ActorCell>>,
    parker: Parker,
    shared: &Shared,
    runner: &dyn RunActor,
) {
    LOCAL.with(|l| *l.borrow_mut() = Some((shared.id, deque)));
    let pop = || LOCAL.with(|l| l.borrow().as_ref().and_then(|(_, d)| shared.find_work(me, d)));
    let requeue = |cell| LOCAL.with(|l| l.borrow().as_ref().map(|(_, d)| d.push(cell)));
    // ORDERING (all loads of `shutdown` here): SeqCst, set once at shutdown.
    while !shared.shutdown.load(Ordering::SeqCst) {
        if let Some(cell) = pop() {
            if runner.run(&cell) {
                requeue(cell);
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
