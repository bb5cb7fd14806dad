//! One turn of an actor, and its exit.
//!
//! A turn runs on a worker (or, for an inline call, on the calling host
//! thread) after the thread moved the actor `SCHEDULED → RUNNING`:
//! 1. take the body lock without waiting; if someone holds it (an upgrade, a
//!    debug call), leave the mail to them — they reschedule on release;
//! 2. apply system messages (stop, link exits), which overtake mail;
//! 3. take a batch of at most [`BATCH`] messages and handle them in order;
//!    a system message that arrives meanwhile overtakes the rest of the
//!    batch, which goes back to the front of the mailbox;
//! 4. give the body back and tell the scheduling state whether mail is left.
//!
//! An exit answers everything that will never be handled (calls get the
//! reason, casts are counted as dead letters), tells monitors and links, and
//! retires the actor from the system's indexes first.

use super::body::{Body, Panicked};
use super::cell::{ActorCell, send_system};
use super::envelope::{Envelope, ReplyError, ReplyTo};
use super::{ActorId, ExitReason, System};
use crate::code_server::ModuleCallError;
use relive_codec::Fingerprint;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Messages an actor handles per turn before it yields its thread
/// (fairness, like BEAM's reductions).
pub(crate) const BATCH: usize = 64;

/// Messages that overtake normal mail.
#[derive(Debug)]
pub(crate) enum SystemMsg {
    /// Exit with this reason.
    Stop(ExitReason),
    /// A linked actor exited.
    LinkExit { from: ActorId, reason: ExitReason },
    /// The system wants the actor on another version and could not take it
    /// at a message boundary in time: move it now, at this one.
    Move,
}

thread_local! {
    /// The reply channel of the call being handled, and the reply schema
    /// its caller expects, while its handler runs.
    static CALL: RefCell<Option<(ReplyTo, Fingerprint)>> = const { RefCell::new(None) };
}

/// Run a handler with the call's reply channel parked where a deferred
/// reply can take it ([`take_call`]); hand back the channel unless the
/// handler took it.
fn with_call<T>(
    reply: Option<ReplyTo>,
    schema: Fingerprint,
    handler: impl FnOnce() -> T,
) -> (T, Option<ReplyTo>) {
    let Some(reply) = reply else { return (handler(), None) };
    CALL.with(|c| *c.borrow_mut() = Some((reply, schema)));
    let out = handler();
    let back = CALL.with(|c| c.borrow_mut().take()).map(|(r, _)| r);
    (out, back)
}

/// Take the reply channel of the call being handled on this thread (and the
/// reply schema its caller expects): the handler answers it later.
pub(crate) fn take_call() -> Option<(ReplyTo, Fingerprint)> {
    CALL.with(|c| c.borrow_mut().take())
}

/// One turn of `cell`, which this thread moved to `SCHEDULED`; true when the
/// actor must be requeued.
pub(crate) fn run(
    system: &dyn System,
    cell: &Arc<ActorCell>,
    batch: &mut VecDeque<Envelope>,
) -> bool {
    if !cell.sched.start_running() {
        return false;
    }
    let Some(mut body) = cell.body.try_lock() else {
        // Suspended by an upgrade or a debug call: the holder reschedules
        // the actor when it lets go.
        return cell.sched.finish_running(false);
    };
    if matches!(*body, Body::Exited(_)) {
        // It exited (killed from outside) after this thread picked it up.
        return false;
    }
    if apply_system(system, cell, &mut body) {
        return false;
    }
    cell.mailbox.take_batch(batch, BATCH);
    let mut reply = Vec::new();
    while let Some(env) = batch.pop_front() {
        let Envelope { bytes, reply: reply_to } = env;
        let is_call = reply_to.is_some();
        let (handled, reply_to) = with_call(reply_to, cell.reply_schema, || match &mut *body {
            Body::Module(inst) if is_call => inst.handle(&bytes).map(|r| {
                reply.clear();
                reply.extend_from_slice(r);
            }),
            Body::Module(inst) => inst.handle_cast(&bytes),
            Body::Native(h) => h.handle(cell.id, &bytes, &mut reply),
            Body::Exited(_) => unreachable!("an exited actor is never run"),
        });
        // ORDERING: a statistic.
        cell.handled.fetch_add(1, Ordering::Relaxed);
        if cell.is_exited() {
            // Killed while the handler overran the kill: the actor already
            // left (its mail was answered); this result is discarded.
            abandoned(system, cell, &mut body, reply_to, batch);
            return false;
        }
        match handled {
            Ok(()) => {
                if let Some(tx) = reply_to {
                    let _ = tx.send(Ok(std::mem::take(&mut reply)));
                }
            }
            Err(ModuleCallError::Panicked { message, .. }) => {
                let reason = ExitReason::Panicked(message);
                if let Some(tx) = reply_to {
                    let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
                }
                let rest: Vec<Envelope> = batch.drain(..).collect();
                exit(system, cell, &mut body, reason.clone());
                answer_undelivered(system, rest, &reason);
                return false;
            }
            Err(e) => {
                if let Some(tx) = reply_to {
                    let _ = tx.send(Err(ReplyError::Handler(e)));
                }
            }
        }
        // ORDERING: Acquire pairs with `send_system`'s Release.
        if cell.system_pending.load(Ordering::Acquire) {
            // A system message overtakes the rest of the batch.
            cell.mailbox.unshift(batch);
            if apply_system(system, cell, &mut body) {
                return false;
            }
        }
    }
    drop(body);
    cell.sched.finish_running(!cell.mailbox.is_empty())
}

/// Apply pending system messages; true if the actor exited.
fn apply_system(system: &dyn System, cell: &Arc<ActorCell>, body: &mut Body) -> bool {
    // ORDERING: Acquire pairs with `send_system`'s Release.
    if !cell.system_pending.swap(false, Ordering::Acquire) {
        return false;
    }
    loop {
        let (msg, trap) = {
            let mut c = cell.control.lock();
            (c.system.pop_front(), c.trap_exit)
        };
        let Some(msg) = msg else { return false };
        match msg {
            SystemMsg::Stop(reason) => {
                exit(system, cell, body, reason);
                return true;
            }
            SystemMsg::LinkExit { from, reason } if trap => {
                if let Body::Native(h) = body
                    && let Err(Panicked(message)) = h.on_exit(cell.id, from, &reason)
                {
                    exit(system, cell, body, ExitReason::Panicked(message));
                    return true;
                }
            }
            SystemMsg::LinkExit { from, reason } => {
                if !reason.is_normal() {
                    let reason = ExitReason::Linked { from, reason: Box::new(reason) };
                    exit(system, cell, body, reason);
                    return true;
                }
            }
            SystemMsg::Move => system.deferred_move(cell, body),
        }
        if matches!(body, Body::Exited(_)) {
            return true;
        }
    }
}

/// The end of a turn whose actor was killed while its handler ran on (see
/// [`exit_overrun`]): answer the call in hand and the rest of the batch with
/// the exit reason, drop the state, leave everything else as the kill left it.
fn abandoned(
    system: &dyn System,
    cell: &Arc<ActorCell>,
    body: &mut Body,
    reply_to: Option<ReplyTo>,
    batch: &mut VecDeque<Envelope>,
) {
    let reason = cell.control.lock().exit_reason.as_deref().cloned().unwrap_or(ExitReason::Killed);
    if let Some(tx) = reply_to {
        let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
    }
    answer_undelivered(system, batch.drain(..), &reason);
    // Dropping the instance frees its state with its own library.
    *body = Body::Exited(reason);
}

/// The actor exits: its body goes, its mailbox is answered, it leaves the
/// system's indexes, its monitors and links are told. `body` is its locked
/// body; a no-op if it already exited.
pub(crate) fn exit(
    system: &dyn System,
    cell: &Arc<ActorCell>,
    body: &mut Body,
    reason: ExitReason,
) {
    if matches!(body, Body::Exited(_)) {
        return;
    }
    if cell.is_exited() {
        // It was killed while its handler overran the kill (`exit_overrun`
        // did everything else already): only the state is left to drop.
        let gone = cell.control.lock().exit_reason.as_deref().cloned();
        *body = Body::Exited(gone.unwrap_or(reason));
        return;
    }
    if let Body::Native(h) = body
        && let Err(Panicked(message)) = h.on_stop(cell.id, &reason)
    {
        tracing::error!(actor = %cell.id, panic = %message, "a native actor's on_stop panicked");
    }
    // Dropping the instance frees its state with its own library.
    *body = Body::Exited(reason.clone());
    cell.sched.mark_exited();
    answer_undelivered(system, cell.mailbox.close(), &reason);
    let (links, monitors, name) = {
        let mut c = cell.control.lock();
        c.system.clear();
        c.exit_reason = Some(Box::new(reason.clone()));
        (std::mem::take(&mut c.links), std::mem::take(&mut c.monitors), c.name.take())
    };
    tell(system, cell, Gone { links, monitors, name }, &reason);
    if !reason.is_clean() {
        tracing::warn!(actor = %cell.id, module = cell.module.as_deref(), %reason, "actor exited");
    }
}

/// The actor exits with `reason` *without* its body: a handler holds it and
/// overran the kill. It is marked exited, its mailbox is answered, it leaves
/// the system's indexes, its monitors and links are told — everything
/// [`exit`] does but drop the state, which the overrunning turn does when
/// its handler returns (and discards the handler's result).
pub(crate) fn exit_overrun(system: &dyn System, cell: &Arc<ActorCell>, reason: ExitReason) {
    let (links, monitors, name) = {
        let mut c = cell.control.lock();
        if c.exit_reason.is_some() || cell.is_exited() {
            return;
        }
        c.system.clear();
        c.exit_reason = Some(Box::new(reason.clone()));
        cell.sched.mark_exited();
        (std::mem::take(&mut c.links), std::mem::take(&mut c.monitors), c.name.take())
    };
    answer_undelivered(system, cell.mailbox.close(), &reason);
    tell(system, cell, Gone { links, monitors, name }, &reason);
    tracing::warn!(actor = %cell.id, module = cell.module.as_deref(), %reason,
        "actor killed while its handler overran the kill; the handler's result will be discarded");
}

/// What an exiting actor took out of its control: who to tell, and its name.
struct Gone {
    links: std::collections::BTreeSet<ActorId>,
    monitors: Vec<oneshot::Sender<ExitReason>>,
    name: Option<String>,
}

/// The end of every exit: leave the indexes, then tell the monitors and the
/// linked actors. Leaving first: whoever is told must not still find the
/// actor by name.
fn tell(system: &dyn System, cell: &Arc<ActorCell>, gone: Gone, reason: &ExitReason) {
    system.retire(cell, gone.name, reason);
    for m in gone.monitors {
        let _ = m.send(reason.clone());
    }
    for id in gone.links {
        if let Some(other) = system.lookup(id) {
            other.control.lock().links.remove(&cell.id);
            let msg = SystemMsg::LinkExit { from: cell.id, reason: reason.clone() };
            send_system(system, &other, msg);
        }
    }
}

/// Answer mail that will never be handled: calls get the exit reason,
/// casts are counted as dead letters.
pub(crate) fn answer_undelivered(
    system: &dyn System,
    msgs: impl IntoIterator<Item = Envelope>,
    reason: &ExitReason,
) {
    let mut dead = 0;
    for env in msgs {
        match env.reply {
            Some(tx) => {
                let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
            }
            None => dead += 1,
        }
    }
    if dead > 0 {
        system.dead_letters(dead);
    }
}
