//! Links and monitors (OTP's `link/1` and `monitor/2`).
//!
//! A link exists before the linked actor can run, or the linker hears
//! `noproc` (ARCHITECTURE.md, invariant 16): links are made under both
//! actors' control locks, taken in id order, and an exit marks the actor
//! exited and then takes its links under the same lock.

use super::cell::{ActorCell, send_system};
use super::turn::SystemMsg;
use super::{ActorId, ExitReason, System};
use std::sync::Arc;

/// Link `a` and `b` under both control locks (taken in id order), so that
/// an exit either finds the link or happened before it was made. False, and
/// nothing linked, if `a` (or, with `check_b`, `b`) has exited.
pub(crate) fn link_cells(a: &ActorCell, b: &ActorCell, check_b: bool) -> bool {
    if a.id == b.id {
        return !a.is_exited();
    }
    let (first, second) = if a.id < b.id { (a, b) } else { (b, a) };
    let mut c1 = first.control.lock();
    let mut c2 = second.control.lock();
    if a.is_exited() || (check_b && b.is_exited()) {
        return false;
    }
    c1.links.insert(second.id);
    c2.links.insert(first.id);
    true
}

/// Link two actors: when one exits abnormally, the other exits too (or,
/// trapping exits, is told). Linking to an actor that has exited delivers a
/// `noproc` exit to the live one, as in OTP.
pub(crate) fn link(system: &dyn System, a: &Arc<ActorCell>, b: &Arc<ActorCell>) {
    if !link_cells(a, b, true) {
        let (dead, alive) = if a.is_exited() { (a, b) } else { (b, a) };
        send_system(
            system,
            alive,
            SystemMsg::LinkExit { from: dead.id, reason: ExitReason::NoProc },
        );
    }
}

/// Remove a link between two actors. Once this returns, the link has no
/// effect on either (OTP's `unlink/1`): an exit signal still queued from the
/// other is dropped, and one on its way is not sent (see `turn::tell`).
pub(crate) fn unlink(a: &ActorCell, b: &ActorCell) {
    for (me, other) in [(a, b), (b, a)] {
        let mut c = me.control.lock();
        c.links.remove(&other.id);
        c.system.retain(|m| !matches!(m, SystemMsg::LinkExit { from, .. } if *from == other.id));
    }
}

/// A receiver of `cell`'s exit reason: at once if it has exited already.
pub(crate) fn monitor(cell: &ActorCell) -> oneshot::Receiver<ExitReason> {
    let (tx, rx) = oneshot::channel();
    let mut c = cell.control.lock();
    match &c.exit_reason {
        Some(reason) => {
            let _ = tx.send((**reason).clone());
        }
        None => c.monitors.push(tx),
    }
    rx
}

// issue 14: gen_server

/// Monitor references, unique in the process (so in every host).
static NEXT_MONITOR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// `watcher` monitors `target` (an actor's own monitor, OTP's
/// `monitor(process, Target)`): when `target` exits, `watcher` gets a
/// `Down` system message with the returned reference. A target that does
/// not exist (`None`) or has exited gives a `NoProc` down at once; `who`
/// names it (0 for an unregistered name).
pub(crate) fn monitor_actor(
    system: &dyn System,
    watcher: &Arc<ActorCell>,
    target: Option<Arc<ActorCell>>,
    who: ActorId,
) -> u64 {
    // ORDERING: only uniqueness matters.
    let mref = NEXT_MONITOR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let watching = target.filter(|t| {
        let mut c = t.control.lock();
        if c.exit_reason.is_some() || t.is_exited() {
            return false;
        }
        c.ext().watchers.push((mref, watcher.id));
        true
    });
    match watching {
        // Lock by lock, never both: a down that comes first finds no entry
        // here and is delivered all the same.
        Some(t) => {
            watcher.control.lock().ext().monitoring.insert(mref, t.id);
        }
        None => {
            watcher.control.lock().ext().monitoring.insert(mref, who);
            send_system(system, watcher, SystemMsg::Down { mref, who, reason: ExitReason::NoProc })
        }
    }
    mref
}

/// Remove monitor `mref` of `watcher`, and its `Down` if it is queued
/// (OTP's `demonitor(Ref, [flush])`).
pub(crate) fn demonitor(system: &dyn System, watcher: &ActorCell, mref: u64) {
    let target = {
        let mut c = watcher.control.lock();
        c.system.retain(|m| !matches!(m, SystemMsg::Down { mref: r, .. } if *r == mref));
        c.take_monitor(mref)
    };
    if let Some(t) = target.and_then(|id| system.lookup(id)) {
        forget_watcher(&t, mref);
    }
}

/// `target` is no longer watched through monitor `mref`.
pub(crate) fn forget_watcher(target: &ActorCell, mref: u64) {
    if let Some(e) = target.control.lock().ext.as_mut() {
        e.watchers.retain(|(r, _)| *r != mref);
    }
}
