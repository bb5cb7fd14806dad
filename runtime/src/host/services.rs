//! The host services a module calls from inside a handler: who am I, send,
//! send by name, spawn, send later.
//!
//! A worker records, in thread-locals, the host it belongs to and the actor
//! whose turn it runs; the services read them. Outside an actor's turn (in
//! `init` on a host thread, or an instance run without actors) they answer
//! `NOT_IN_ACTOR`.

use super::HostShared;
use crate::actor::{ActorId, Envelope, ReplyTo};
use relive_codec::Fingerprint;
use relive_sdk::abi::service_status as status;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

thread_local! {
    static HOST: RefCell<Option<Arc<HostShared>>> = const { RefCell::new(None) };
    static ACTOR: Cell<u64> = const { Cell::new(0) };
    /// The reply channel of the call being handled, and the reply schema
    /// its caller expects, while its handler runs.
    static CALL: RefCell<Option<(ReplyTo, Fingerprint)>> = const { RefCell::new(None) };
}

/// A call whose reply a handler deferred.
#[derive(Debug)]
pub(crate) struct Pending {
    reply: ReplyTo,
    schema: Fingerprint,
    owner: ActorId,
}

/// Run a handler with the call's reply channel parked where `defer_reply`
/// can take it; hand back the channel unless the handler took it.
pub(crate) fn with_call<T>(
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

pub(crate) fn defer_reply() -> u64 {
    let Some((reply, schema)) = CALL.with(|c| c.borrow_mut().take()) else { return 0 };
    let owner = ActorId(ACTOR.with(Cell::get));
    HOST.with(|h| match &*h.borrow() {
        Some(host) => {
            // ORDERING: only uniqueness matters.
            let token = host.next_token.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            host.pending_replies.lock().insert(token, Pending { reply, schema, owner });
            token
        }
        None => 0,
    })
}

pub(crate) fn reply(token: u64, schema: u64, bytes: &[u8]) -> i32 {
    with_host(|host| {
        let mut pending = host.pending_replies.lock();
        match pending.get(&token) {
            None => status::NO_CALL,
            Some(p) if p.schema != Fingerprint::from_u64(schema) => status::SCHEMA_MISMATCH,
            Some(_) => {
                let p = pending.remove(&token).expect("present");
                drop(pending);
                let _ = p.reply.send(Ok(bytes.to_vec()));
                status::OK
            }
        }
    })
}

/// The actor exited: tell the callers whose replies it deferred.
pub(crate) fn fail_pending(host: &HostShared, owner: ActorId, reason: &crate::actor::ExitReason) {
    let mut pending = host.pending_replies.lock();
    if pending.is_empty() {
        return;
    }
    let tokens: Vec<u64> =
        pending.iter().filter(|(_, p)| p.owner == owner).map(|(t, _)| *t).collect();
    for t in tokens {
        if let Some(p) = pending.remove(&t) {
            let _ = p.reply.send(Err(crate::actor::ReplyError::Exited(reason.clone())));
        }
    }
}

/// Marks the calling worker as running `id` of `host` until dropped.
pub(crate) struct Turn;

impl Turn {
    pub(crate) fn enter(host: &Arc<HostShared>, id: ActorId) -> Turn {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            if h.as_ref().is_none_or(|cur| !Arc::ptr_eq(cur, host)) {
                *h = Some(Arc::clone(host));
            }
        });
        ACTOR.with(|a| a.set(id.0));
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        ACTOR.with(|a| a.set(0));
    }
}

fn with_host(f: impl FnOnce(&Arc<HostShared>) -> i32) -> i32 {
    if ACTOR.with(Cell::get) == 0 {
        return status::NOT_IN_ACTOR;
    }
    HOST.with(|h| match &*h.borrow() {
        Some(host) => f(host),
        None => status::NOT_IN_ACTOR,
    })
}

pub(crate) fn self_id() -> u64 {
    ACTOR.with(Cell::get)
}

/// Queue `msg` for actor `to` if `schema` is its message type.
pub(crate) fn deliver(host: &HostShared, to: ActorId, schema: Fingerprint, msg: &[u8]) -> i32 {
    let Some(cell) = host.cell(to) else { return status::NO_ACTOR };
    if cell.msg_schema != schema {
        return status::SCHEMA_MISMATCH;
    }
    let env = Envelope { bytes: crate::actor::Payload::copy_from(msg), reply: None };
    match cell.mailbox.push_overdraft(env) {
        Ok(first) => {
            if first {
                host.wake(&cell);
            }
            status::OK
        }
        Err(_) => status::NO_ACTOR,
    }
}

pub(crate) fn send(to: u64, schema: u64, msg: &[u8]) -> i32 {
    with_host(|host| deliver(host, ActorId(to), Fingerprint::from_u64(schema), msg))
}

pub(crate) fn send_named(name: &str, schema: u64, msg: &[u8]) -> i32 {
    with_host(|host| match host.whereis_id(name) {
        Some(id) => deliver(host, id, Fingerprint::from_u64(schema), msg),
        None => status::NO_ACTOR,
    })
}

pub(crate) fn spawn(module: &str, schema: u64, args: &[u8]) -> (i32, u64) {
    let mut id = 0;
    let code = with_host(|host| {
        match host.spawn_module(module, args, Fingerprint::from_u64(schema), None) {
            Ok(cell) => {
                id = cell.id.0;
                status::OK
            }
            Err(e) => {
                tracing::debug!(module, error = %e, "spawn from a module failed");
                status::SPAWN_FAILED
            }
        }
    });
    (code, id)
}

pub(crate) fn send_after(delay_ms: u64, to: u64, schema: u64, msg: &[u8]) -> i32 {
    with_host(|host| {
        let to = ActorId(to);
        let schema = Fingerprint::from_u64(schema);
        match host.cell(to) {
            None => status::NO_ACTOR,
            Some(cell) if cell.msg_schema != schema => status::SCHEMA_MISMATCH,
            Some(_) => {
                host.timers.schedule(
                    host,
                    std::time::Duration::from_millis(delay_ms),
                    to,
                    schema,
                    msg.to_vec(),
                );
                status::OK
            }
        }
    })
}
