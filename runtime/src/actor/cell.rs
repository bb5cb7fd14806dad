//! `ActorCell`: one actor's mailbox, body and control, and the two moves
//! that anyone touching it from outside a turn must make through here
//! (wake it, hand its body back).

use super::body::Body;
use super::mailbox::Mailbox;
use super::sched::{Notified, Sched};
use super::turn::SystemMsg;
use super::{ActorId, System};
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use parking_lot::{Mutex, MutexGuard};
use relive_codec::Fingerprint;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Links, monitors and system messages of one actor.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) system: VecDeque<SystemMsg>,
    pub(crate) links: BTreeSet<ActorId>,
    pub(crate) monitors: Vec<oneshot::Sender<super::ExitReason>>,
    pub(crate) trap_exit: bool,
    pub(crate) name: Option<String>,
    /// Why it exited, once it has (monitors made later are told this).
    pub(crate) exit_reason: Option<Box<super::ExitReason>>,
    /// What modules' monitors, idle timeouts and `sys` suspension add
    /// (issue 14); most actors never use it, so it is allocated on first
    /// use and an idle actor stays small.
    pub(crate) ext: Option<Box<ControlExt>>,
}

/// The rarely used part of [`Control`].
#[derive(Debug, Default)]
pub(crate) struct ControlExt {
    /// Actors monitoring this one: (monitor reference, watcher).
    pub(crate) watchers: Vec<(u64, ActorId)>,
    /// Monitors this actor made: reference → the actor watched.
    pub(crate) monitoring: std::collections::HashMap<u64, ActorId>,
    /// The reference of its idle timer, if one is set.
    pub(crate) idle_timer: Option<u64>,
    /// What waits while `sys` has the actor suspended: trapped exits, downs
    /// and idle timeouts (plain messages in OTP, which a suspended process
    /// leaves queued); back in front of `system` on resume.
    pub(crate) parked: VecDeque<SystemMsg>,
}

impl Control {
    /// The rarely used part, allocated now if it was not.
    pub(crate) fn ext(&mut self) -> &mut ControlExt {
        self.ext.get_or_insert_with(Box::default)
    }

    /// The reference of its idle timer, if one is set.
    pub(crate) fn idle_timer(&self) -> Option<u64> {
        self.ext.as_ref().and_then(|e| e.idle_timer)
    }

    /// Remove monitor `mref` this actor made; the actor it watched, if the
    /// monitor was still there.
    pub(crate) fn take_monitor(&mut self, mref: u64) -> Option<ActorId> {
        self.ext.as_mut().and_then(|e| e.monitoring.remove(&mref))
    }
}

/// One actor.
#[derive(Debug)]
pub(crate) struct ActorCell {
    pub(crate) id: ActorId,
    /// The module it runs (`None` for host-native actors).
    pub(crate) module: Option<Arc<str>>,
    /// The schema of the messages it took when it started (every later
    /// version of its module extends it: issue 15, interfaces that grow).
    pub(crate) msg_schema: Fingerprint,
    /// The schema of its replies when it started (likewise).
    pub(crate) reply_schema: Fingerprint,
    pub(crate) sched: Sched,
    pub(crate) mailbox: Mailbox,
    pub(crate) body: Mutex<Body>,
    pub(crate) control: Mutex<Control>,
    /// Set when a system message is queued, so the worker checks for one
    /// between messages without taking the control lock.
    pub(crate) system_pending: AtomicBool,
    /// Messages handled (OTP's `messages_in`).
    pub(crate) handled: AtomicU64,
    // issue 14: sys
    /// Replies and sends from its handlers (OTP's `messages_out`).
    pub(crate) sent: AtomicU64,
    /// Turns run (the closest to OTP's `reductions`).
    pub(crate) turns: AtomicU64,
    /// Suspended by `sys` (`actor::sys`): set and cleared only by its turns.
    pub(crate) suspended: AtomicBool,
    /// Whether `trace` holds a ring (checked per message without the lock).
    pub(crate) tracing: AtomicBool,
    /// The trace ring, while tracing.
    pub(crate) trace: Mutex<Option<Box<super::sys::TraceRing>>>,
    // end issue 14: sys
    /// The serial of the version its body runs (0: none), kept by whoever
    /// changes the body's version, so that views need not lock the body.
    pub(crate) version: AtomicU64,
    // issue 15: port
    /// Which incarnation of the actor this is: a restart in place keeps the
    /// id and bumps this, so that a port reply meant for the crashed
    /// incarnation is not handed to the new one.
    pub(crate) incarnation: AtomicU64,
    // issue 16: metrics
    /// Whether its turns add to its version's counters
    /// (`HostBuilder::metrics`); its mailbox times samples then too.
    pub(crate) metrics: bool,
}

impl ActorCell {
    pub(crate) fn new(
        id: ActorId,
        module: Option<Arc<str>>,
        schemas: (Fingerprint, Fingerprint),
        body: Body,
        capacity: usize,
        metrics: bool,
    ) -> Self {
        let version = match &body {
            Body::Module(i) => i.version().serial(),
            _ => 0,
        };
        ActorCell {
            id,
            module,
            msg_schema: schemas.0,
            reply_schema: schemas.1,
            sched: Sched::new(),
            mailbox: Mailbox::sampled(
                capacity,
                if metrics { crate::code_server::SAMPLE_EVERY } else { 0 },
            ),
            body: Mutex::new(body),
            control: Mutex::new(Control::default()),
            system_pending: AtomicBool::new(false),
            handled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            turns: AtomicU64::new(0),
            suspended: AtomicBool::new(false),
            tracing: AtomicBool::new(false),
            trace: Mutex::new(None),
            version: AtomicU64::new(version),
            incarnation: AtomicU64::new(0),
            metrics,
        }
    }

    /// Mail or a system message arrived: decide whether to schedule.
    pub(crate) fn notify(&self) -> Notified {
        self.sched.notify()
    }

    pub(crate) fn is_exited(&self) -> bool {
        self.sched.is_exited()
    }

    /// The serial of the version its body runs, as last recorded.
    pub(crate) fn version_serial(&self) -> u64 {
        // ORDERING: a hint for views and indexes; the body lock is the truth.
        self.version.load(Ordering::Relaxed)
    }

    /// Record the version its body runs now (see [`version_serial`](Self::version_serial)).
    pub(crate) fn set_version_serial(&self, serial: u64) {
        // ORDERING: as in `version_serial`.
        self.version.store(serial, Ordering::Relaxed);
    }

    /// Ask for the words a suspension and a release use (the body's lock,
    /// the recorded version, the mailbox, the pending flag) to be brought
    /// into the cache, so that a pass over many actors has the next ones'
    /// cells on their way while it works on this one: at 100 k actors the
    /// cells do not fit in it, and each step of a pass takes or lets go of
    /// a lock, a full barrier that plain loads ahead would wait behind
    /// ([`ffi::prefetch`](crate::ffi::prefetch)).
    pub(crate) fn prefetch(&self) {
        use crate::ffi::prefetch::prefetch;
        prefetch(&self.body);
        prefetch(&self.version);
        prefetch(&self.mailbox);
        prefetch(&self.system_pending);
    }

    /// Lock the body from outside a turn — suspend the actor at its next
    /// message boundary — giving up at `deadline` (every wait for a body is
    /// bounded: a handler may never return). Hand the guard back through
    /// [`release`].
    pub(crate) fn suspend_until(
        &self,
        deadline: std::time::Instant,
    ) -> Option<MutexGuard<'_, Body>> {
        self.body.try_lock_until(deadline)
    }
}

/// Schedule `cell` if `notify` says so.
pub(crate) fn wake(system: &dyn System, cell: &Arc<ActorCell>) {
    if cell.notify() == Notified::Schedule {
        system.schedule(Arc::clone(cell));
    }
}

/// Hand back a body locked outside a turn, rescheduling the actor if mail or
/// a system message arrived meanwhile: a turn that found the body locked
/// left its mail to the holder (ARCHITECTURE.md, invariant 13).
pub(crate) fn release(system: &dyn System, cell: &Arc<ActorCell>, guard: MutexGuard<'_, Body>) {
    drop(guard);
    // ORDERING: Acquire pairs with `send_system`'s Release.
    if !cell.mailbox.is_empty() || cell.system_pending.load(Ordering::Acquire) {
        wake(system, cell);
    }
}

/// Queue a system message and make sure the actor runs to apply it.
pub(crate) fn send_system(system: &dyn System, cell: &Arc<ActorCell>, msg: SystemMsg) {
    if cell.is_exited() {
        return;
    }
    cell.control.lock().system.push_back(msg);
    // ORDERING: Release after the push (under the control lock); the
    // worker's Acquire swap then finds the message.
    cell.system_pending.store(true, Ordering::Release);
    wake(system, cell);
}
