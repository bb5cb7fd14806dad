//! One worker's loop: find a task, run it, requeue it if it asks; spin, then
//! park, when there is nothing to do; leave when replaced or shut down.

use super::{LOCAL, Local, Run, Shared, Slot};
use crossbeam_deque::Worker;
use crossbeam_utils::sync::Parker;
use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Rounds of spinning (each a queue check and a short pause) before parking.
const SPINS: u32 = 200;

fn leaving<T>(shared: &Shared<T>, slot: &Slot<T>) -> bool {
    // ORDERING: `shutdown` is SeqCst everywhere; `retiring` is re-read every
    // round, and a late read only delays the leave by one task.
    shared.shutdown.load(Ordering::SeqCst) || slot.retiring.load(Ordering::Relaxed)
}

pub(super) fn run<T: Send + 'static>(
    shared: &Arc<Shared<T>>,
    slot: &Arc<Slot<T>>,
    deque: Worker<T>,
    parker: Parker,
    runner: &dyn Run<T>,
) {
    let deque: Rc<dyn Any> = Rc::new(deque);
    LOCAL.with(|l| {
        *l.borrow_mut() =
            Some(Local { scheduler: shared.id, token: slot.token, deque: Rc::clone(&deque) })
    });
    let local = deque.downcast_ref::<Worker<T>>().expect("a deque of this scheduler's tasks");
    while !leaving(shared, slot) {
        if let Some(task) = shared.find_work(slot.token, local) {
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
        for round in 0..SPINS {
            if shared.has_work() || leaving(shared, slot) {
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
        shared.sleepers.announce(Arc::clone(slot));
        if shared.has_work() || leaving(shared, slot) {
            shared.sleepers.withdraw(|s| Arc::ptr_eq(s, slot));
            continue;
        }
        parker.park();
        // Whoever woke us removed us from the idle list; a shutdown or a
        // replacement may not have.
        shared.sleepers.withdraw(|s| Arc::ptr_eq(s, slot));
    }
    // Leaving: what is left in the deque goes to the others.
    let mut handed = false;
    while let Some(task) = local.pop() {
        shared.injector.push(task);
        handed = true;
    }
    if handed {
        shared.sleepers.notify();
    }
    {
        let _changing = shared.changing.lock();
        shared.remove_slot(slot.token);
    }
    LOCAL.with(|l| *l.borrow_mut() = None);
    // The thread's own thread-local destructors run after this returns;
    // whoever must know they ran joins the thread (`Shared::join`).
}
