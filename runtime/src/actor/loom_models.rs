//! Loom models of the mailbox and the scheduling state, as they are:
//! `cargo test` with `RUSTFLAGS="--cfg relive_loom"` (see `docs/testing.md`).
//!
//! Each model drives the real [`Mailbox`] and the real [`Sched`] the way
//! the runtime does — a sender pushes and, if its push was the first,
//! notifies (`cell::wake`); a worker runs a turn the way `turn::run` does
//! (start, try the body lock, take a batch, end with `finish_running(!
//! mailbox.is_empty())`); a suspender releases the body and reschedules if
//! mail is waiting (`cell::release`). What stands in for the rest: the run
//! queue is a counter, the body a loom mutex, a handler appends the
//! message's byte to a list. Under loom the mailbox's segment queue and
//! locks are `crate::sync`'s loom stand-ins (the queue's own algorithm is
//! crossbeam's, tested there).

use super::mailbox::{Mailbox, Refused, Wait};
use super::sched::{Notified, Sched};
use super::{Envelope, Payload};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::collections::VecDeque;

/// An actor as the protocol sees it.
struct Actor {
    sched: Sched,
    mailbox: Mailbox,
    run_queue: Mutex<u32>,
    /// Held by a suspender (an upgrade) between two messages.
    body: Mutex<()>,
    handled: Mutex<Vec<u8>>,
    /// Messages a turn takes at most (the real batch is 64).
    batch: usize,
}

fn env(n: u8) -> Envelope {
    Envelope { bytes: Payload::copy_from(&[n]), reply: None }
}

impl Actor {
    fn new(capacity: usize, batch: usize) -> Arc<Self> {
        Arc::new(Actor {
            sched: Sched::new(),
            mailbox: Mailbox::new(capacity),
            run_queue: Mutex::new(0),
            body: Mutex::new(()),
            handled: Mutex::new(Vec::new()),
            batch,
        })
    }

    /// `cell::wake`.
    fn wake(&self) {
        if self.sched.notify() == Notified::Schedule {
            *self.run_queue.lock().unwrap() += 1;
        }
    }

    /// A host thread's send (`ActorRef::cast`), waiting for room as `wait`
    /// says; whether it was accepted.
    fn send(&self, n: u8, wait: Wait) -> bool {
        match self.mailbox.push(env(n), wait) {
            Ok(first) => {
                if first {
                    self.wake();
                }
                true
            }
            Err(Refused::Full(_) | Refused::Closed) => false,
        }
    }

    /// One worker turn (`turn::run`), if the actor is queued; true if it ran.
    fn run_once(&self) -> bool {
        {
            let mut q = self.run_queue.lock().unwrap();
            if *q == 0 {
                return false;
            }
            *q -= 1;
        }
        if !self.sched.start_running() {
            return true;
        }
        let requeue = match self.body.try_lock() {
            Ok(_guard) => {
                let mut batch = VecDeque::new();
                self.mailbox.take_batch(&mut batch, self.batch);
                let mut handled = self.handled.lock().unwrap();
                handled.extend(batch.into_iter().map(|e| e.bytes[0]));
                drop(handled);
                self.sched.finish_running(!self.mailbox.is_empty())
            }
            // Suspended: the suspender reschedules on release.
            Err(_) => self.sched.finish_running(false),
        };
        if requeue {
            *self.run_queue.lock().unwrap() += 1;
        }
        true
    }

    /// `cell::release` after holding the body from outside a turn.
    fn suspend_and_release(&self) {
        let guard = self.body.lock().unwrap();
        drop(guard);
        if !self.mailbox.is_empty() {
            self.wake();
        }
    }

    /// Whatever interleaving happened, once everyone is done and the run
    /// queue is drained, every accepted message was handled exactly once,
    /// and in each sender's order.
    fn drain_and_check(&self, sent: &[u8]) {
        while self.run_once() {}
        assert!(self.mailbox.is_empty(), "a message was stranded in the mailbox of an idle actor");
        let handled = self.handled.lock().unwrap().clone();
        let mut sorted = handled.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, sent, "each message handled exactly once");
    }
}

/// Spawn `f` on a loom thread with a clone of `a`.
fn on<F: FnOnce(&Actor) + Send + 'static>(a: &Arc<Actor>, f: F) -> thread::JoinHandle<()> {
    let a = Arc::clone(a);
    thread::spawn(move || f(&a))
}

/// A push racing a worker's turn: the push either lands in the batch, or the
/// turn's end sees it (requeue), or the push finds the mailbox empty and
/// notifies — never stranded.
#[test]
fn loom_mailbox_push_vs_worker_turn() {
    loom::model(|| {
        let a = Actor::new(0, 64);
        assert!(a.send(1, Wait::No));
        let sender = on(&a, |a| assert!(a.send(2, Wait::No)));
        let worker = on(&a, |a| {
            a.run_once();
        });
        sender.join().unwrap();
        worker.join().unwrap();
        a.drain_and_check(&[1, 2]);
    });
}

/// Two senders pushing behind mail that is already queued (so neither may
/// be the one that notifies) while a worker takes one message per turn: no
/// message is stranded, and one sender's two messages keep their order.
#[test]
fn loom_pushes_behind_queued_mail_vs_partial_turns() {
    loom::model(|| {
        let a = Actor::new(0, 1);
        assert!(a.send(1, Wait::No));
        let s1 = on(&a, |a| {
            assert!(a.send(2, Wait::No));
            assert!(a.send(3, Wait::No));
        });
        let worker = on(&a, |a| {
            a.run_once();
        });
        s1.join().unwrap();
        worker.join().unwrap();
        a.drain_and_check(&[1, 2, 3]);
        let handled = a.handled.lock().unwrap().clone();
        let pos = |n| handled.iter().position(|&m| m == n).unwrap();
        assert!(pos(2) < pos(3), "per-sender FIFO");
    });
}

/// Mail pushed while an upgrade holds the body lock: the turn that finds it
/// locked leaves the mail; the suspender's release reschedules.
#[test]
fn loom_mailbox_push_vs_suspend() {
    loom::model(|| {
        let a = Actor::new(0, 64);
        assert!(a.send(1, Wait::No));
        let suspender = on(&a, Actor::suspend_and_release);
        let sender = on(&a, |a| assert!(a.send(2, Wait::No)));
        let worker = on(&a, |a| {
            a.run_once();
        });
        suspender.join().unwrap();
        sender.join().unwrap();
        worker.join().unwrap();
        a.drain_and_check(&[1, 2]);
    });
}

/// The bound is exact for host senders: two racing `try_cast`s into a
/// mailbox with room for one; exactly one is accepted.
#[test]
fn loom_mailbox_bound_is_exact_for_host_senders() {
    loom::model(|| {
        let a = Actor::new(1, 64);
        let s1 = {
            let a = Arc::clone(&a);
            thread::spawn(move || a.send(1, Wait::No))
        };
        let s2 = a.send(2, Wait::No);
        let s1 = s1.join().unwrap();
        assert!(s1 ^ s2, "exactly one of two sends fits a mailbox of one");
        assert_eq!(a.mailbox.len(), 1);
    });
}

/// A host sender waiting for room in a full mailbox while the worker takes
/// the batch: the sender is woken (loom reports a deadlock if it sleeps on)
/// and its message handled.
#[test]
fn loom_mailbox_full_sender_is_woken_by_the_turn() {
    loom::model(|| {
        let a = Actor::new(1, 64);
        assert!(a.send(1, Wait::No));
        let sender = on(&a, |a| assert!(a.send(2, Wait::Until(None))));
        let worker = on(&a, |a| {
            a.run_once();
        });
        sender.join().unwrap();
        worker.join().unwrap();
        a.drain_and_check(&[1, 2]);
    });
}

/// A push racing the actor's exit (`close`): it is either refused, or
/// returned by `close` to be answered — never left in a closed mailbox.
#[test]
fn loom_mailbox_push_vs_close() {
    loom::model(|| {
        let a = Actor::new(0, 64);
        assert!(a.send(1, Wait::No));
        let sender = {
            let a = Arc::clone(&a);
            thread::spawn(move || a.send(2, Wait::No))
        };
        let closed: Vec<u8> = a.mailbox.close().into_iter().map(|e| e.bytes[0]).collect();
        let accepted = sender.join().unwrap();
        let expected: &[u8] = if accepted { &[1, 2] } else { &[1] };
        assert_eq!(closed, expected, "every accepted message is returned by close");
        assert!(a.mailbox.is_empty());
    });
}

/// The body lock carries state and version together: a worker that picks
/// the actor up sees either (old state, old version) or (new state, new
/// version), never a mix.
#[test]
fn loom_version_pickup_vs_upgrade_commit() {
    loom::model(|| {
        let body = Arc::new(Mutex::new((1u32, 1u32)));
        let upgrader = {
            let body = Arc::clone(&body);
            thread::spawn(move || {
                let mut b = body.lock().unwrap();
                let migrated = b.0 + 1; // code_change of the state
                *b = (migrated, 2);
            })
        };
        let worker = {
            let body = Arc::clone(&body);
            thread::spawn(move || {
                let b = body.lock().unwrap();
                assert_eq!(b.0, b.1, "state and version always match");
            })
        };
        upgrader.join().unwrap();
        worker.join().unwrap();
    });
}
