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
use super::sys::{self, TraceKind};
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
    /// An OTP `sys` request (issue 14: `actor::sys`).
    Sys(super::sys::SysRequest),
    // issue 14: gen_server
    /// An actor this one monitors exited (or did not exist: `NoProc`).
    Down { mref: u64, who: ActorId, reason: ExitReason },
    /// The idle timer `tref`, set when the actor had handled `handled`
    /// messages, fired: if it is still the actor's and no message came
    /// since, the module's `on_timeout` runs.
    Idle { tref: u64, handled: u64 },
    // issue 15: port
    /// A port answered a request this actor made: the module's `on_reply`
    /// runs (a version without one drops it, as a dead letter).
    PortReply(super::PortReply),
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
    let _message = InMessage::enter();
    let Some(reply) = reply else { return (handler(), None) };
    CALL.with(|c| *c.borrow_mut() = Some((reply, schema)));
    let out = handler();
    let back = CALL.with(|c| c.borrow_mut().take()).map(|(r, _)| r);
    (out, back)
}

// issue 14: gen_server
thread_local! {
    /// Whether this thread runs a message's handler (not a callback such as
    /// `terminate`, `on_exit`, `on_down` or `on_timeout`).
    static IN_MESSAGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as running a message's handler until dropped.
struct InMessage;

impl InMessage {
    fn enter() -> InMessage {
        IN_MESSAGE.with(|m| m.set(true));
        InMessage
    }
}

impl Drop for InMessage {
    fn drop(&mut self) {
        IN_MESSAGE.with(|m| m.set(false));
    }
}

/// Whether the calling thread runs a message's handler: that message is
/// counted in the actor's `handled` once the handler returns.
pub(crate) fn in_message() -> bool {
    IN_MESSAGE.with(std::cell::Cell::get)
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
    // ORDERING: a statistic.
    cell.turns.fetch_add(1, Ordering::Relaxed);
    if apply_system(system, cell, &mut body) {
        return false;
    }
    if sys::is_suspended(cell) {
        // Suspended by `sys`: system messages only; the mail stays queued.
        drop(body);
        return cell.sched.finish_running(false);
    }
    let taken = cell.mailbox.take_batch(batch, BATCH);
    // issue 16: metrics — what this turn handled, added to its version's
    // counters in one go (before anything can change the body's version).
    let mut tally = Tally::new(cell.metrics, taken.sample);
    if tally.on
        && let Body::Module(inst) = &*body
    {
        inst.version().metrics().mailbox_depth(taken.depth as u64);
    }
    let mut reply = Vec::new();
    while let Some(env) = batch.pop_front() {
        let Envelope { bytes, reply: reply_to } = env;
        let is_call = reply_to.is_some();
        let timed = tally.next(is_call);
        sys::trace(cell, if is_call { TraceKind::Call } else { TraceKind::Cast }, &bytes);
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
        if let Some((pushed, started)) = timed
            && let Body::Module(inst) = &*body
        {
            let now = std::time::Instant::now();
            inst.version().metrics().sampled(started - pushed, now - started);
        }
        if cell.is_exited() {
            tally.flush(&body);
            // Killed while the handler overran the kill: the actor already
            // left (its mail was answered); this result is discarded. A
            // panic is still reported: nothing else reports it.
            if let (Err(ModuleCallError::Panicked { message, .. }), Body::Module(inst)) =
                (&handled, &*body)
            {
                report_panic(cell, Some(&inst.version().version().to_string()), message);
            }
            abandoned(system, cell, &mut body, reply_to, batch);
            return false;
        }
        match handled {
            Ok(()) => {
                if let Some(tx) = reply_to {
                    // issue 16: metrics — counted before the caller can
                    // look: what a caller's reply followed is in the counts.
                    tally.flush(&body);
                    sys::trace(cell, TraceKind::Reply, &reply);
                    // ORDERING: a statistic.
                    cell.sent.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Ok(std::mem::take(&mut reply))).is_err() {
                        // The caller had gone (it timed out): a failed call.
                        call_failed(cell, &body);
                    }
                }
            }
            Err(ModuleCallError::Panicked { message, .. }) => {
                tally.flush(&body);
                let reason = ExitReason::Panicked(message);
                if let Some(tx) = reply_to {
                    let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
                }
                let rest: Vec<Envelope> = batch.drain(..).collect();
                let reason = stop(system, cell, &mut body, reason);
                answer_undelivered(system, rest, &reason);
                return false;
            }
            Err(e) => {
                if let Some(tx) = reply_to {
                    tally.flush(&body);
                    call_failed(cell, &body);
                    let _ = tx.send(Err(ReplyError::Handler(e)));
                } else if let ModuleCallError::UnknownVariant(u) = &e {
                    // issue 15: a cast nobody can be told about: a dead
                    // letter, never handed to a version that cannot read it.
                    tracing::warn!(actor = %cell.id, error = %u, "cast refused: unknown variant");
                    system.dead_letters(1);
                }
            }
        }
        // ORDERING: Acquire pairs with `send_system`'s Release.
        if cell.system_pending.load(Ordering::Acquire) {
            // A system message overtakes the rest of the batch (and may
            // move the actor to another version: count on this one first).
            tally.flush(&body);
            cell.mailbox.unshift(batch);
            // issue 14: gen_server
            if !system.on_worker() {
                // A host thread running an inline call has its reply: what
                // the system message runs (a module's `terminate` after
                // `ctx.stop`) is a worker's, not the caller's to wait for.
                drop(body);
                return cell.sched.finish_running(true);
            }
            if apply_system(system, cell, &mut body) {
                return false;
            }
            if sys::is_suspended(cell) {
                drop(body);
                return cell.sched.finish_running(false);
            }
        }
    }
    tally.flush(&body);
    drop(body);
    cell.sched.finish_running(!cell.mailbox.is_empty())
}

// issue 16: metrics
/// What one turn handled, not yet added to its version's counters, and
/// the position of the mailbox's timed message in the batch. Per message
/// it adds whether it was a call and compares its index with the timed
/// one's; the casts are the rest of the messages seen, worked out at
/// `flush`.
#[derive(Debug)]
struct Tally {
    /// Metrics are on for this actor.
    on: bool,
    /// Messages of the batch seen so far.
    seen: usize,
    /// `seen` at the last flush.
    flushed: usize,
    /// Calls among the messages seen since the last flush.
    calls: u64,
    /// The timed message's index in the batch (`usize::MAX`: none left).
    sample_at: usize,
    /// When the timed message was pushed.
    pushed: Option<std::time::Instant>,
}

impl Tally {
    fn new(on: bool, sample: Option<(usize, std::time::Instant)>) -> Self {
        let (sample_at, pushed) = match sample {
            Some((at, pushed)) if on => (at, Some(pushed)),
            _ => (usize::MAX, None),
        };
        Tally { on, seen: 0, flushed: 0, calls: 0, sample_at, pushed }
    }

    /// Count the next message of the batch; for the timed one, when it was
    /// pushed and when its handling starts (now).
    fn next(&mut self, is_call: bool) -> Option<(std::time::Instant, std::time::Instant)> {
        if !self.on {
            return None;
        }
        self.calls += u64::from(is_call);
        let i = self.seen;
        self.seen += 1;
        if i != self.sample_at {
            return None;
        }
        self.sample_at = usize::MAX;
        self.pushed.map(|pushed| (pushed, std::time::Instant::now()))
    }

    /// Add what was counted to the version `body` runs, and start again.
    fn flush(&mut self, body: &Body) {
        let seen = (self.seen - self.flushed) as u64;
        if seen == 0 {
            return;
        }
        if let Body::Module(inst) = body {
            inst.version().metrics().handled(seen - self.calls, self.calls);
        }
        self.flushed = self.seen;
        self.calls = 0;
    }
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
        if sys::is_suspended(cell) && waits_while_suspended(&msg, trap) {
            cell.control.lock().ext().parked.push_back(msg);
            continue;
        }
        match msg {
            SystemMsg::Stop(reason) => {
                stop(system, cell, body, reason);
                return true;
            }
            SystemMsg::LinkExit { from, reason } if trap => {
                let panicked = match body {
                    Body::Native(h) => h.on_exit(cell.id, from, &reason).err().map(|p| p.0),
                    Body::Module(inst) => callback_panic(inst.on_exit(from, &reason)),
                    Body::Exited(_) => None,
                };
                if let Some(message) = panicked {
                    stop(system, cell, body, ExitReason::Panicked(message));
                    return true;
                }
            }
            SystemMsg::LinkExit { from, reason } => {
                if !reason.is_normal() {
                    let reason = ExitReason::Linked { from, reason: Box::new(reason) };
                    stop(system, cell, body, reason);
                    return true;
                }
            }
            SystemMsg::Move => system.deferred_move(cell, body),
            SystemMsg::Sys(req) => sys::apply(cell, body, req),
            SystemMsg::Idle { tref, handled } => {
                let current = {
                    let mut c = cell.control.lock();
                    // ORDERING: the counter is only written by this
                    // actor's turns, and this is one.
                    let idle = c.idle_timer() == Some(tref)
                        && cell.handled.load(Ordering::Relaxed) == handled
                        && cell.mailbox.is_empty();
                    if c.idle_timer() == Some(tref) {
                        c.ext().idle_timer = None;
                    }
                    idle
                };
                if current
                    && let Body::Module(inst) = body
                    && let Some(message) = callback_panic(inst.on_timeout())
                {
                    stop(system, cell, body, ExitReason::Panicked(message));
                    return true;
                }
            }
            // issue 15: port
            SystemMsg::PortReply(r) => {
                // ORDERING: see `ActorCell::incarnation`.
                if r.incarnation != cell.incarnation.load(Ordering::Relaxed) {
                    tracing::debug!(actor = %cell.id, request = r.id, "port reply to an earlier incarnation dropped");
                    system.dead_letters(1);
                    continue;
                }
                let handled = match body {
                    Body::Module(inst) => inst.on_reply(&r),
                    _ => Ok(false),
                };
                match handled {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            actor = %cell.id,
                            request = r.id,
                            "port reply dropped: the actor's version has no on_reply (built before ports)"
                        );
                        system.dead_letters(1);
                    }
                    Err(ModuleCallError::Panicked { message, .. }) => {
                        stop(system, cell, body, ExitReason::Panicked(message));
                        return true;
                    }
                    Err(e) => tracing::warn!(actor = %cell.id, error = %e, "on_reply failed"),
                }
            }
            SystemMsg::Down { mref, who, reason } => {
                // A monitor removed meanwhile (`demonitor`) delivers nothing,
                // even when its down was already on its way.
                let live = cell.control.lock().take_monitor(mref).is_some();
                if live
                    && let Body::Module(inst) = body
                    && let Some(message) = callback_panic(inst.on_down(mref, who, &reason))
                {
                    stop(system, cell, body, ExitReason::Panicked(message));
                    return true;
                }
            }
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
    count_crash(cell, body, &reason);
    if let Some(tx) = reply_to {
        let _ = tx.send(Err(ReplyError::Exited(reason.clone())));
    }
    answer_undelivered(system, batch.drain(..), &reason);
    // Dropping the instance frees its state with its own library.
    *body = Body::Exited(reason);
}

/// Whether `msg` waits while `sys` has the actor suspended: what OTP
/// delivers as a plain message (a trapped exit, a down, a gen_server
/// timeout), which a suspended process leaves in its queue. Stops, exit
/// signals that kill, moves and `sys` requests are applied at once.
fn waits_while_suspended(msg: &SystemMsg, trap: bool) -> bool {
    match msg {
        SystemMsg::Down { .. } | SystemMsg::Idle { .. } => true,
        // issue 15: port — a reply is mail in OTP (a port's message).
        SystemMsg::PortReply(_) => true,
        SystemMsg::LinkExit { .. } => trap,
        _ => false,
    }
}

// issue 14: gen_server
/// The panic message of a failed module callback (`on_exit`, `on_down`);
/// other failures are logged and ignored, as a cast's would be.
fn callback_panic(result: Result<(), ModuleCallError>) -> Option<String> {
    match result {
        Ok(()) => None,
        Err(ModuleCallError::Panicked { message, .. }) => Some(message),
        Err(e) => {
            tracing::warn!(error = %e, "a module's exit callback failed");
            None
        }
    }
}

/// The actor stops from its own turn: the module's `terminate` runs first
/// (not on a kill, and only in a version that has one), then it [`exit`]s.
/// A panicking `terminate` makes the panic the exit reason. Returns the
/// reason it exited with.
pub(crate) fn stop(
    system: &dyn System,
    cell: &Arc<ActorCell>,
    body: &mut Body,
    reason: ExitReason,
) -> ExitReason {
    let mut reason = reason;
    if reason != ExitReason::Killed
        && !cell.is_exited()
        && let Body::Module(inst) = body
    {
        match inst.terminate(&reason) {
            Ok(()) => {}
            Err(ModuleCallError::Panicked { message, .. }) => {
                reason = ExitReason::Panicked(message);
            }
            Err(e) => tracing::warn!(actor = %cell.id, error = %e, "terminate failed"),
        }
    }
    exit(system, cell, body, reason.clone());
    reason
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
        let gone = gone.unwrap_or(reason);
        count_crash(cell, body, &gone);
        *body = Body::Exited(gone);
        return;
    }
    if let Body::Native(h) = body
        && let Err(Panicked(message)) = h.on_stop(cell.id, &reason)
    {
        tracing::error!(actor = %cell.id, panic = %message, "a native actor's on_stop panicked");
    }
    // issue 20: module panics are log events
    let version = match &*body {
        Body::Module(inst) => Some(inst.version().version().to_string()),
        _ => None,
    };
    count_crash(cell, body, &reason);
    // Dropping the instance frees its state with its own library.
    *body = Body::Exited(reason.clone());
    cell.sched.mark_exited();
    answer_undelivered(system, cell.mailbox.close(), &reason);
    let gone = {
        let mut c = cell.control.lock();
        clear_system(system, &mut c);
        c.exit_reason = Some(Box::new(reason.clone()));
        Gone::take(&mut c)
    };
    tell(system, cell, gone, &reason);
    if let ExitReason::Panicked(text) = &reason {
        report_panic(cell, version.as_deref(), text);
    } else if !reason.is_clean() {
        tracing::warn!(actor = %cell.id, module = cell.module.as_deref(), %reason, "actor exited");
    }
}

// issue 18 §2: a fleet's judge counts failed calls beside crashes
/// A call handled on `body`'s version got its caller an error, or its
/// caller had gone: a failed call of that version.
fn call_failed(cell: &ActorCell, body: &Body) {
    if cell.metrics
        && let Body::Module(inst) = body
    {
        inst.version().metrics().call_failed();
    }
}

// issue 16: metrics
/// An actor leaves its body `body` with `reason`: an exit that is not
/// clean counts as a crash of the version it ran.
fn count_crash(cell: &ActorCell, body: &Body, reason: &ExitReason) {
    if cell.metrics
        && !reason.is_clean()
        && let Body::Module(inst) = body
    {
        inst.version().metrics().crashed();
    }
}

// issue 20: module panics are log events
/// The one report of a module's panic (a module library's own hook printed
/// nothing): the module, the version it ran, the actor, the payload and
/// where it panicked, as fields of one `ERROR` event, target
/// `relive::panic`.
fn report_panic(cell: &ActorCell, version: Option<&str>, text: &str) {
    let (message, location) = split_location(text);
    // The payload is the event's message; the target names the event.
    tracing::error!(
        target: "relive::panic",
        module = cell.module.as_deref(),
        version,
        actor = %cell.id,
        location,
        "{message}"
    );
}

// issue 20: module panics are log events
/// A panic's text as the SDK's guard reports it, `payload (at file:line:col)`,
/// split into the payload and the location (none when the module noted none:
/// a module linked into the host, whose panics the host's own hook reports).
pub(crate) fn split_location(text: &str) -> (&str, Option<&str>) {
    match text.strip_suffix(')').and_then(|t| t.rsplit_once(" (at ")) {
        Some((message, at)) if at.rsplit(':').nth(1).is_some_and(|l| l.parse::<u32>().is_ok()) => {
            (message, Some(at))
        }
        _ => (text, None),
    }
}

/// The actor exits with `reason` *without* its body: a handler holds it and
/// overran the kill. It is marked exited, its mailbox is answered, it leaves
/// the system's indexes, its monitors and links are told — everything
/// [`exit`] does but drop the state, which the overrunning turn does when
/// its handler returns (and discards the handler's result).
pub(crate) fn exit_overrun(system: &dyn System, cell: &Arc<ActorCell>, reason: ExitReason) {
    let gone = {
        let mut c = cell.control.lock();
        if c.exit_reason.is_some() || cell.is_exited() {
            return;
        }
        clear_system(system, &mut c);
        c.exit_reason = Some(Box::new(reason.clone()));
        cell.sched.mark_exited();
        Gone::take(&mut c)
    };
    answer_undelivered(system, cell.mailbox.close(), &reason);
    tell(system, cell, gone, &reason);
    tracing::warn!(actor = %cell.id, module = cell.module.as_deref(), %reason,
        "actor killed while its handler overran the kill; the handler's result will be discarded");
}

/// Drop an exiting actor's pending system messages; port replies among
/// them (issue 15: port) are counted as dead letters.
fn clear_system(system: &dyn System, c: &mut super::cell::Control) {
    let replies = c.system.drain(..).filter(|m| matches!(m, SystemMsg::PortReply(_))).count();
    if replies > 0 {
        system.dead_letters(replies as u64);
    }
}

/// What an exiting actor took out of its control: who to tell, and its name.
struct Gone {
    links: std::collections::BTreeSet<ActorId>,
    monitors: Vec<oneshot::Sender<ExitReason>>,
    name: Option<String>,
    // issue 14: gen_server
    watchers: Vec<(u64, ActorId)>,
    monitoring: std::collections::HashMap<u64, ActorId>,
}

impl Gone {
    /// Take who to tell out of an exiting actor's control.
    fn take(c: &mut super::cell::Control) -> Gone {
        let ext = c.ext.take().map(|e| *e).unwrap_or_default();
        Gone {
            links: std::mem::take(&mut c.links),
            monitors: std::mem::take(&mut c.monitors),
            name: c.name.take(),
            // The parked callbacks and the idle timer go with it.
            watchers: ext.watchers,
            monitoring: ext.monitoring,
        }
    }
}

/// The end of every exit: leave the indexes, then tell the monitors and the
/// linked actors. Leaving first: whoever is told must not still find the
/// actor by name.
fn tell(system: &dyn System, cell: &Arc<ActorCell>, gone: Gone, reason: &ExitReason) {
    system.retire(cell, gone.name, reason);
    for m in gone.monitors {
        let _ = m.send(reason.clone());
    }
    // issue 14: gen_server
    for (mref, watcher) in gone.watchers {
        if let Some(w) = system.lookup(watcher) {
            let msg = SystemMsg::Down { mref, who: cell.id, reason: reason.clone() };
            send_system(system, &w, msg);
        }
    }
    // Its own monitors die with it.
    for (mref, target) in gone.monitoring {
        if let Some(t) = system.lookup(target) {
            super::link::forget_watcher(&t, mref);
        }
    }
    for id in gone.links {
        if let Some(other) = system.lookup(id) {
            // An `unlink` that came first wins: once it returned, the link
            // has no effect on its caller (OTP's `unlink/1` guarantee).
            let linked = other.control.lock().links.remove(&cell.id);
            if linked {
                let msg = SystemMsg::LinkExit { from: cell.id, reason: reason.clone() };
                send_system(system, &other, msg);
            }
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

#[cfg(test)]
mod split_location_tests {
    use super::split_location;

    #[test]
    fn a_panic_text_splits_into_payload_and_location() {
        assert_eq!(
            split_location("boom (at src/lib.rs:57:36)"),
            ("boom", Some("src/lib.rs:57:36"))
        );
        assert_eq!(split_location("a (at b) (at x.rs:1:2)"), ("a (at b)", Some("x.rs:1:2")));
        assert_eq!(split_location("no place (at noon)"), ("no place (at noon)", None));
        assert_eq!(split_location("plain"), ("plain", None));
    }
}
