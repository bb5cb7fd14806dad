//! The host services a module calls from inside a handler: who am I, send,
//! send by name, spawn, send later, defer a reply and answer it.
//!
//! A thread running an actor's turn (a worker, or a host thread running an
//! inline call) records, in thread-locals, the host it belongs to and the
//! actor whose turn it runs; the services read them. Outside an actor's turn
//! (in `init` on a host thread, or an instance run without actors) they
//! answer `NOT_IN_ACTOR`. The `extern "C"` side is in `ffi::host`; this is
//! the implementation it is given ([`install`]).

use super::HostShared;
use super::timers::Target;
use crate::actor::mailbox::Refused;
use crate::actor::{
    ActorCell, ActorId, Envelope, ExitReason, Payload, ReplyError, ReplyTo, SystemMsg, link,
    send_system, turn, wake,
};
use crate::code_server::Part;
use crate::ffi;
use parking_lot::Mutex;
use relive_codec::Fingerprint;
use relive_codec::variants::VariantList;
use relive_sdk::abi::service_status as status;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static HOST: RefCell<Option<Arc<HostShared>>> = const { RefCell::new(None) };
    static ACTOR: Cell<u64> = const { Cell::new(0) };
    /// Sends and deferred replies made by the handlers of the turn running
    /// on this thread (issue 14: sys, `messages_out`), added to the actor's
    /// count when the turn ends ([`take_sent`]).
    static SENT: Cell<u64> = const { Cell::new(0) };
}

/// How many messages the handlers of this thread's turn sent (and reset).
pub(crate) fn take_sent() -> u64 {
    SENT.with(|s| s.replace(0))
}

fn count_sent() {
    SENT.with(|s| s.set(s.get() + 1));
}

/// A call whose reply a handler deferred.
#[derive(Debug)]
struct Pending {
    reply: ReplyTo,
    schema: Fingerprint,
    owner: ActorId,
}

/// Calls whose replies a handler deferred, by token.
#[derive(Debug, Default)]
pub(crate) struct PendingReplies {
    calls: Mutex<HashMap<u64, Pending>>,
    next_token: AtomicU64,
}

impl PendingReplies {
    /// The actor exited: tell the callers whose replies it deferred.
    pub(crate) fn fail_owned_by(&self, owner: ActorId, reason: &ExitReason) {
        let failed: Vec<Pending> = {
            let mut calls = self.calls.lock();
            if calls.is_empty() {
                return;
            }
            calls.extract_if(|_, p| p.owner == owner).map(|(_, p)| p).collect()
        };
        for p in failed {
            let _ = p.reply.send(Err(ReplyError::Exited(reason.clone())));
        }
    }
}

/// Marks the calling thread as running `id` of `host` until dropped.
pub(crate) struct Turn {
    /// Whether to let go of the host when the turn ends.
    forget: bool,
}

impl Turn {
    /// A worker's turn: the host stays cached in the thread (a worker lives
    /// no longer than its host's scheduler), so the next turn need not
    /// touch its reference count.
    pub(crate) fn enter(host: &Arc<HostShared>, id: ActorId) -> Turn {
        Self::enter_with(host, id, false)
    }

    /// A turn run inline on a caller's thread: that thread may outlive the
    /// host, so the host is not kept there after the turn (it would keep
    /// the host's module table, and the lock of its state directory, alive
    /// after the `Host` is dropped).
    pub(crate) fn enter_inline(host: &Arc<HostShared>, id: ActorId) -> Turn {
        Self::enter_with(host, id, true)
    }

    fn enter_with(host: &Arc<HostShared>, id: ActorId, forget: bool) -> Turn {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            if h.as_ref().is_none_or(|cur| !Arc::ptr_eq(cur, host)) {
                *h = Some(Arc::clone(host));
            }
        });
        ACTOR.with(|a| a.set(id.0));
        Turn { forget }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        ACTOR.with(|a| a.set(0));
        if self.forget {
            // `take` first: the host must not drop inside the borrow.
            let host = HOST.with(|h| h.borrow_mut().take());
            drop(host);
        }
    }
}

fn with_host<T>(outside: T, f: impl FnOnce(&Arc<HostShared>) -> T) -> T {
    if ACTOR.with(Cell::get) == 0 {
        return outside;
    }
    HOST.with(|h| match &*h.borrow() {
        Some(host) => f(host),
        None => outside,
    })
}

/// Who delivers a send from a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The handler, now (`send`, `send_named`).
    Handler,
    /// The timer thread, for a `send_after` that fired.
    Timer,
}

/// Queue `msg` for actor `to` if `schema` is its message type, as a send
/// from a handler: never waiting, past the bound only by the overdraft
/// allowance (`MAILBOX_FULL` beyond it; the sender keeps the message).
pub(crate) fn deliver(
    host: &HostShared,
    to: ActorId,
    schema: Fingerprint,
    msg: &[u8],
    origin: Origin,
) -> i32 {
    let Some(cell) = host.registry.lookup(to) else { return status::NO_ACTOR };
    if cell.msg_schema != schema
        && !host.grown_types(cell.module.as_deref(), false, cell.msg_schema, schema)
    {
        return status::SCHEMA_MISMATCH;
    }
    let env = Envelope { bytes: Payload::copy_from(msg), reply: None };
    let pushed = match origin {
        Origin::Handler => cell.mailbox.push_overdraft(env),
        Origin::Timer => cell.mailbox.push_delayed(env),
    };
    match pushed {
        Ok(first) => {
            if first {
                wake(host, &cell);
            }
            if origin == Origin::Handler {
                count_sent();
            }
            status::OK
        }
        Err(Refused::Full(_)) => status::MAILBOX_FULL,
        Err(Refused::Closed) => status::NO_ACTOR,
    }
}

// issue 15: interfaces that grow
impl HostShared {
    /// Whether two message (or, with `reply`, reply) fingerprints of
    /// `module` are versions of one type: both are prefixes of one variant
    /// list the module knows — its current version's, its old version's,
    /// or the widest it has had (so an actor started on release 1 still
    /// takes release 2's messages once release 3 runs and release 2 is
    /// purged). Module senders name their type by fingerprint only, so a
    /// sender on a type newer than every version loaded so far is refused.
    pub(crate) fn grown_types(
        &self,
        module: Option<&str>,
        reply: bool,
        a: Fingerprint,
        b: Fingerprint,
    ) -> bool {
        let Some(module) = module else { return false };
        let both = |l: &VariantList| l.has_prefix(a) && l.has_prefix(b);
        let loaded = [self.table.current(module), self.table.old(module)];
        if loaded.iter().flatten().any(|v| {
            if reply { v.reply_variants() } else { v.message_variants() }.is_some_and(both)
        }) {
            return true;
        }
        let part = if reply { Part::Reply } else { Part::Message };
        self.table.widest(module).is_some_and(|w| w.list(part).is_some_and(both))
    }
}

/// The services, as `ffi::host` calls them.
struct HostServices;

impl HostServices {
    /// Whether a `send_after` to `to` may be armed now: the target exists,
    /// takes `schema`, and has room — checked now, as a send would be; a
    /// timer that finds no room when it fires waits in the timer thread.
    fn send_after_check(&self, host: &HostShared, to: ActorId, schema: Fingerprint) -> i32 {
        match host.registry.lookup(to) {
            None => status::NO_ACTOR,
            Some(cell)
                if cell.msg_schema != schema
                    && !host.grown_types(
                        cell.module.as_deref(),
                        false,
                        cell.msg_schema,
                        schema,
                    ) =>
            {
                status::SCHEMA_MISMATCH
            }
            Some(cell) if cell.mailbox.refuse_if_overdrawn() => status::MAILBOX_FULL,
            Some(_) => status::OK,
        }
    }
}

impl ffi::host::Services for HostServices {
    fn self_id(&self) -> u64 {
        ACTOR.with(Cell::get)
    }

    fn send(&self, to: u64, schema: u64, msg: &[u8]) -> i32 {
        with_host(status::NOT_IN_ACTOR, |host| {
            deliver(host, ActorId(to), Fingerprint::from_u64(schema), msg, Origin::Handler)
        })
    }

    fn send_named(&self, name: &str, schema: u64, msg: &[u8]) -> i32 {
        with_host(status::NOT_IN_ACTOR, |host| match host.registry.whereis(name) {
            Some(id) => deliver(host, id, Fingerprint::from_u64(schema), msg, Origin::Handler),
            None => status::NO_ACTOR,
        })
    }

    fn spawn(&self, module: &str, schema: u64, args: &[u8]) -> (i32, u64) {
        with_host((status::NOT_IN_ACTOR, 0), |host| {
            match host.spawn_module(module, args, Fingerprint::from_u64(schema), None, None) {
                Ok(cell) => (status::OK, cell.id.0),
                Err(e) => {
                    tracing::debug!(module, error = %e, "spawn from a module failed");
                    (status::SPAWN_FAILED, 0)
                }
            }
        })
    }

    fn send_after(&self, delay_ms: u64, to: u64, schema: u64, msg: &[u8]) -> i32 {
        self.send_after_ref(delay_ms, Ok(to), schema, msg).0
    }

    fn defer_reply(&self) -> u64 {
        with_host(0, |host| {
            let Some((reply, schema)) = turn::take_call() else { return 0 };
            let owner = ActorId(ACTOR.with(Cell::get));
            let pending = &host.pending;
            // ORDERING: only uniqueness matters.
            let token = pending.next_token.fetch_add(1, Ordering::Relaxed) + 1;
            pending.calls.lock().insert(token, Pending { reply, schema, owner });
            token
        })
    }

    fn reply(&self, token: u64, schema: u64, bytes: &[u8]) -> i32 {
        with_host(status::NOT_IN_ACTOR, |host| {
            let mut calls = host.pending.calls.lock();
            match calls.get(&token) {
                None => status::NO_CALL,
                Some(p)
                    if p.schema != Fingerprint::from_u64(schema)
                        && !host.grown_types(
                            host.registry
                                .lookup(p.owner)
                                .as_deref()
                                .and_then(|c| c.module.as_deref()),
                            true,
                            p.schema,
                            Fingerprint::from_u64(schema),
                        ) =>
                {
                    status::SCHEMA_MISMATCH
                }
                Some(_) => {
                    let p = calls.remove(&token).expect("present");
                    drop(calls);
                    let _ = p.reply.send(Ok(bytes.to_vec()));
                    count_sent();
                    status::OK
                }
            }
        })
    }

    // issue 14: gen_server

    fn stop_self(&self, tag: u32, text: &str) -> i32 {
        with_self(status::NOT_IN_ACTOR, |host, me| {
            // A system message to itself: applied once the handler returns,
            // after the reply of a call is sent.
            send_system(&**host, &me, SystemMsg::Stop(ExitReason::from_module(tag, text)));
            status::OK
        })
    }

    fn link(&self, id: u64, on: bool) -> i32 {
        with_self(status::NOT_IN_ACTOR, |host, me| {
            match (host.registry.lookup(ActorId(id)), on) {
                (Some(other), true) => link::link(&**host, &me, &other),
                (Some(other), false) => link::unlink(&me, &other),
                // OTP's link to a process that is gone: a `noproc` exit.
                (None, true) => send_system(
                    &**host,
                    &me,
                    SystemMsg::LinkExit { from: ActorId(id), reason: ExitReason::NoProc },
                ),
                (None, false) => {}
            }
            status::OK
        })
    }

    fn monitor(&self, target: Result<u64, &str>) -> (i32, u64) {
        with_self((status::NOT_IN_ACTOR, 0), |host, me| {
            let (cell, who) = match target {
                Ok(id) => (host.registry.lookup(ActorId(id)), ActorId(id)),
                Err(name) => {
                    let id = host.registry.whereis(name);
                    (id.and_then(|id| host.registry.lookup(id)), id.unwrap_or(ActorId(0)))
                }
            };
            (status::OK, link::monitor_actor(&**host, &me, cell, who))
        })
    }

    fn demonitor(&self, mref: u64) -> i32 {
        with_self(status::NOT_IN_ACTOR, |host, me| {
            link::demonitor(&**host, &me, mref);
            status::OK
        })
    }

    fn send_after_ref(
        &self,
        delay_ms: u64,
        to: Result<u64, &str>,
        schema: u64,
        msg: &[u8],
    ) -> (i32, u64) {
        with_host((status::NOT_IN_ACTOR, 0), |host| {
            let fp = Fingerprint::from_u64(schema);
            let target = match to {
                Ok(id) => {
                    let code = self.send_after_check(host, ActorId(id), fp);
                    if code != status::OK {
                        return (code, 0);
                    }
                    Target::Actor(ActorId(id))
                }
                // Resolved when it fires.
                Err(name) => Target::Name(name.to_owned()),
            };
            let delay = std::time::Duration::from_millis(delay_ms);
            (status::OK, host.timers.schedule(host, delay, target, fp, msg.to_vec()))
        })
    }

    fn timer(&self, tref: u64, cancel: bool) -> (i32, u64) {
        with_host((status::NOT_IN_ACTOR, 0), |host| {
            let left = if cancel { host.timers.cancel(tref) } else { host.timers.read(tref) };
            match left {
                // Rounded up: a timer that has not fired has time left.
                Some(d) => {
                    (status::OK, u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
                }
                None => (status::NO_TIMER, 0),
            }
        })
    }

    fn idle_timeout(&self, ms: u64) -> i32 {
        with_self(status::NOT_IN_ACTOR, |host, me| {
            let old = me.control.lock().ext.as_mut().and_then(|e| e.idle_timer.take());
            if let Some(old) = old {
                host.timers.cancel(old);
            }
            if ms == u64::MAX {
                return status::OK;
            }
            // A message's handler that sets it has not been counted yet
            // (a callback such as `on_timeout` is not a message).
            // ORDERING: written only by this actor's turns, this one included.
            let handled = me.handled.load(Ordering::Relaxed) + u64::from(turn::in_message());
            let delay = std::time::Duration::from_millis(ms);
            let target = Target::Idle { actor: me.id, handled };
            let tref =
                host.timers.schedule(host, delay, target, Fingerprint::from_u64(0), Vec::new());
            me.control.lock().ext().idle_timer = Some(tref);
            status::OK
        })
    }

    // issue 15: port
    fn request(
        &self,
        port: &str,
        (req, resp): (u64, u64),
        bytes: &[u8],
        timeout_ms: u64,
    ) -> (i32, u64) {
        with_self((status::NOT_IN_ACTOR, 0), |host, me| {
            let schemas = (Fingerprint::from_u64(req), Fingerprint::from_u64(resp));
            // Bounded always: the SDK clamps it, a foreign caller is clamped here.
            let max = relive_sdk::MAX_REQUEST_TIMEOUT;
            let timeout = std::time::Duration::from_millis(timeout_ms.max(1)).min(max);
            // ORDERING: written by a respawn, which this turn comes after.
            let incarnation = me.incarnation.load(crate::sync::Ordering::Relaxed);
            host.ports.request(host, (me.id, incarnation), port, schemas, bytes, timeout)
        })
    }

    fn trap_exit(&self, on: bool) -> (i32, bool) {
        with_self((status::NOT_IN_ACTOR, false), |_, me| {
            let old = std::mem::replace(&mut me.control.lock().trap_exit, on);
            (status::OK, old)
        })
    }
}

// issue 14: gen_server
/// The cell of the actor whose turn this thread runs, with its host.
fn with_self<T>(outside: T, f: impl FnOnce(&Arc<HostShared>, Arc<ActorCell>) -> T) -> T {
    let id = ActorId(ACTOR.with(Cell::get));
    with_host(None, |host| host.registry.lookup(id).map(|cell| (Arc::clone(host), cell)))
        .map_or(outside, |(host, cell)| f(&host, cell))
}

/// Give the `ffi` layer the host's services (once per process).
pub(crate) fn install() {
    static SERVICES: HostServices = HostServices;
    ffi::host::set_services(&SERVICES);
}
