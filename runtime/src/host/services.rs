//! The host services a module calls from inside a handler: who am I, send,
//! send by name, spawn, send later.
//!
//! A worker records, in thread-locals, the host it belongs to and the actor
//! whose turn it runs; the services read them. Outside an actor's turn (in
//! `init` on a host thread, or an instance run without actors) they answer
//! `NOT_IN_ACTOR`.

use super::HostShared;
use crate::actor::{ActorId, Envelope};
use relive_codec::Fingerprint;
use relive_sdk::abi::service_status as status;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

thread_local! {
    static HOST: RefCell<Option<Arc<HostShared>>> = const { RefCell::new(None) };
    static ACTOR: Cell<u64> = const { Cell::new(0) };
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
    let env = Envelope { bytes: msg.to_vec(), reply: None };
    match cell.mailbox.push_overdraft(env) {
        Ok(()) => {
            host.wake(&cell);
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
