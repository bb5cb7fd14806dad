//! Ports: the host's named async services that modules do I/O through
//! (Erlang's ports; tokio underneath). Issue 15: port.
//!
//! A host registers a port with [`HostHandle::port`](super::HostHandle::port):
//! a name, and an async function from a request type to a response type
//! (both [`Schema`], their fingerprints kept). A module's handler calls
//! `ctx.request(name, &req)` (the `request` host service, [`Ports::request`]
//! here): the types are checked against the port's, the request gets an id,
//! and a task is spawned on the port's tokio runtime; the handler returns at
//! once. When the port's future ends — answered, failed, panicked, or cut
//! by the request's timeout — the task queues a [`PortReply`] for the actor
//! as a system message, and the actor's next turn hands it to the module's
//! `on_reply`, with whichever version the actor runs by then.
//!
//! # The steps of one request
//! 1. `request`: look the port up (`NO_PORT`), compare the module's request
//!    and response fingerprints with the port's (`SCHEMA_MISMATCH`), take a
//!    place among the host's requests in flight (`TOO_MANY_REQUESTS`), give
//!    it the next id, spawn the task. Nothing blocks.
//! 2. The task runs the port's future under the request's timeout, catching
//!    its panic. A [`Delivery`] guard owns the reply's address (host, actor,
//!    id): whatever ends the task — an outcome, or the task being dropped
//!    because its runtime shut down — the guard delivers exactly one reply
//!    (`CANCELLED` for a dropped task) and gives the place in flight back.
//! 3. Delivery: the actor's cell, if it still lives, gets
//!    `SystemMsg::PortReply`; if it exited (or the host is gone) the reply
//!    is dropped and counted as a dead letter.
//!
//! # Why an upgrade never waits for a request
//! The reply is not tied to the version that asked: it is a system message
//! queued on the actor's cell, applied on the actor's own turn by the body
//! the actor has then. An atomic upgrade holds the body lock between two
//! messages; a reply that arrives meanwhile waits in the cell's system
//! queue and is applied by the new version after the upgrade releases the
//! actor.
//!
//! # Registering twice, removing
//! A name is registered once: a second `port` with the same name is refused
//! ([`RegisterPortError::Exists`]). [`HostHandle::remove_port`](super::HostHandle::remove_port)
//! takes the name away: later requests get `NO_PORT`; requests already sent
//! run to their end on the port they were sent to. Then the name may be
//! registered again (a new database pool, say).

use super::HostShared;
use crate::actor::{ActorId, PortReply, SystemMsg, panic_message, send_system};
use futures_util::FutureExt;
use parking_lot::{Mutex, RwLock};
use relive_codec::{Fingerprint, Schema};
use relive_sdk::abi::{port_outcome, service_status as status};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// How many port requests a host has in flight at most unless told
/// otherwise ([`HostBuilder::max_port_requests`](super::HostBuilder::max_port_requests)).
pub const DEFAULT_MAX_PORT_REQUESTS: usize = 100_000;

/// Worker threads of the tokio runtime a host creates for its ports.
const OWN_RUNTIME_THREADS: usize = 2;

/// Why a port could not be registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterPortError {
    /// A port with this name is registered already (remove it first).
    #[error("a port named {0:?} is registered already")]
    Exists(String),
    /// The host's own tokio runtime for ports could not start.
    #[error("cannot start the host's port runtime")]
    Runtime(#[source] std::io::Error),
}

/// A port's answer, encoded, or its error's message.
type PortFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;

/// One registered port: its types and its function, type-erased.
struct Port {
    req: Fingerprint,
    resp: Fingerprint,
    /// The runtime its tasks run on, when its registration named one.
    handle: Option<Handle>,
    call: Box<dyn Fn(Vec<u8>) -> PortFuture + Send + Sync>,
    // issue 16: metrics
    /// Its requests by outcome (`OUTCOMES`), while it is registered.
    counts: Arc<[AtomicU64; OUTCOMES.len()]>,
}

// issue 16: metrics
/// The outcomes a port's requests are counted by (`relive_port_requests_total`):
/// the five a reply carries (`port_outcome`, by index), then the two
/// refusals at the request.
const OUTCOMES: [&str; 7] =
    ["ok", "failed", "panicked", "timeout", "cancelled", "schema_mismatch", "too_many_requests"];
const SCHEMA_MISMATCH: usize = 5;
const TOO_MANY: usize = 6;

fn count(counts: &[AtomicU64], i: usize) {
    if let Some(c) = counts.get(i) {
        // ORDERING: a statistic.
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The host's ports: the registry by name, the runtime, the requests in
/// flight.
pub(crate) struct Ports {
    table: RwLock<HashMap<String, Arc<Port>>>,
    /// The runtime given by `HostBuilder::port_runtime`, if any.
    default_handle: Option<Handle>,
    /// The runtime the host created (lazily, at the first port registered
    /// without a runtime of its own); taken and shut down with the host.
    own: Mutex<Option<Runtime>>,
    own_handle: OnceLock<Handle>,
    next_id: AtomicU64,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
    // issue 16: metrics
    /// Requests to a port that is not registered.
    no_port: AtomicU64,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports")
            .field("ports", &self.table.read().keys().collect::<Vec<_>>())
            // ORDERING: a statistic.
            .field("in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Ports {
    pub(crate) fn new(default_handle: Option<Handle>, max_in_flight: usize) -> Self {
        Ports {
            table: RwLock::new(HashMap::new()),
            default_handle,
            own: Mutex::new(None),
            own_handle: OnceLock::new(),
            next_id: AtomicU64::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight,
            no_port: AtomicU64::new(0),
        }
    }

    /// The runtime a port registered without one runs on: the builder's,
    /// else the host's own, created now if need be.
    fn runtime(&self) -> Result<Handle, RegisterPortError> {
        if let Some(h) = &self.default_handle {
            return Ok(h.clone());
        }
        if let Some(h) = self.own_handle.get() {
            return Ok(h.clone());
        }
        let mut own = self.own.lock();
        if own.is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(OWN_RUNTIME_THREADS)
                .thread_name("relive-port")
                .enable_all()
                .build()
                .map_err(RegisterPortError::Runtime)?;
            let _ = self.own_handle.set(rt.handle().clone());
            *own = Some(rt);
        }
        Ok(self.own_handle.get().expect("set with the runtime").clone())
    }

    /// Register `call` as port `name` (on `handle`, or the default runtime).
    pub(crate) fn register<Req, Resp, E, F, Fut>(
        &self,
        name: &str,
        handle: Option<Handle>,
        call: F,
    ) -> Result<(), RegisterPortError>
    where
        Req: DeserializeOwned + Schema + Send + 'static,
        Resp: Serialize + Schema + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        F: Fn(Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, E>> + Send + 'static,
    {
        let handle = match handle {
            Some(h) => Some(h),
            None => Some(self.runtime()?),
        };
        let call = Arc::new(call);
        let erased = move |bytes: Vec<u8>| -> PortFuture {
            let call = Arc::clone(&call);
            Box::pin(async move {
                let req: Req = relive_codec::decode(&bytes)
                    .map_err(|e| format!("the request did not decode: {e}"))?;
                let resp = call(req).await.map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                relive_codec::encode_into(&resp, &mut out)
                    .map_err(|e| format!("the response did not encode: {e}"))?;
                Ok(out)
            })
        };
        let port = Port {
            req: Fingerprint::of::<Req>(),
            resp: Fingerprint::of::<Resp>(),
            handle,
            call: Box::new(erased),
            counts: Arc::default(),
        };
        let mut table = self.table.write();
        if table.contains_key(name) {
            return Err(RegisterPortError::Exists(name.to_owned()));
        }
        table.insert(name.to_owned(), Arc::new(port));
        Ok(())
    }

    /// Take the name away; whether there was such a port.
    pub(crate) fn remove(&self, name: &str) -> bool {
        self.table.write().remove(name).is_some()
    }

    /// The names of the registered ports, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.table.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// How many requests are in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        // ORDERING: a statistic.
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Step 1 of a request from `actor` (the module's turn is running): a
    /// `service_status` code and the request's id.
    pub(crate) fn request(
        &self,
        host: &Arc<HostShared>,
        (actor, incarnation): (ActorId, u64),
        name: &str,
        (req, resp): (Fingerprint, Fingerprint),
        bytes: &[u8],
        timeout: Duration,
    ) -> (i32, u64) {
        let Some(port) = self.table.read().get(name).cloned() else {
            // ORDERING: a statistic.
            self.no_port.fetch_add(1, Ordering::Relaxed);
            return (status::NO_PORT, 0);
        };
        if port.req != req || port.resp != resp {
            count(&*port.counts, SCHEMA_MISMATCH);
            return (status::SCHEMA_MISMATCH, 0);
        }
        // ORDERING: only the count matters; the place is given back by the
        // delivery guard.
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            count(&*port.counts, TOO_MANY);
            return (status::TOO_MANY_REQUESTS, 0);
        }
        // ORDERING: only uniqueness matters.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let delivery = Delivery {
            host: Arc::downgrade(host),
            actor,
            incarnation,
            id,
            in_flight: Arc::clone(&self.in_flight),
            done: false,
            counts: Arc::clone(&port.counts),
        };
        let handle = port.handle.clone().expect("a registered port has a runtime");
        let future = (port.call)(bytes.to_vec());
        let resp_schema = port.resp;
        handle.spawn(async move {
            let mut delivery = delivery;
            let ran = tokio::time::timeout(timeout, AssertUnwindSafe(future).catch_unwind()).await;
            let (outcome, schema, bytes) = match ran {
                Ok(Ok(Ok(out))) => (port_outcome::OK, resp_schema, out),
                Ok(Ok(Err(message))) => {
                    (port_outcome::FAILED, Fingerprint::from_u64(0), message.into_bytes())
                }
                Ok(Err(payload)) => {
                    let message = panic_message(&*payload);
                    (port_outcome::PANICKED, Fingerprint::from_u64(0), message.into_bytes())
                }
                Err(_elapsed) => (port_outcome::TIMEOUT, Fingerprint::from_u64(0), Vec::new()),
            };
            delivery.deliver(outcome, schema, bytes);
        });
        (status::OK, id)
    }

    // issue 16: metrics
    /// Requests so far by (port, outcome), for every registered port (and
    /// `("", "no_port")` for names nobody registered), sorted.
    pub(crate) fn request_counts(&self) -> Vec<(String, &'static str, u64)> {
        let table = self.table.read();
        let mut names: Vec<&String> = table.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                // ORDERING: a statistic.
                let n = table[name].counts[i].load(Ordering::Relaxed);
                out.push((name.clone(), *outcome, n));
            }
        }
        // ORDERING: a statistic.
        out.push((String::new(), "no_port", self.no_port.load(Ordering::Relaxed)));
        out
    }

    /// Shut the host's own runtime down (without waiting: its tasks are
    /// dropped, and their replies, to actors that are gone by now, with
    /// them). A runtime the caller passed is the caller's.
    pub(crate) fn shutdown(&self) {
        if let Some(rt) = self.own.lock().take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Ports {
    fn drop(&mut self) {
        // Never a blocking drop: the last reference to the host may go on
        // one of this very runtime's threads (a delivering task).
        self.shutdown();
    }
}

/// Where one request's reply goes; delivers exactly one (step 2).
struct Delivery {
    host: Weak<HostShared>,
    actor: ActorId,
    incarnation: u64,
    id: u64,
    in_flight: Arc<AtomicUsize>,
    done: bool,
    // issue 16: metrics
    counts: Arc<[AtomicU64; OUTCOMES.len()]>,
}

impl Delivery {
    fn deliver(&mut self, outcome: u32, schema: Fingerprint, bytes: Vec<u8>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // issue 16: metrics — the outcome codes are `OUTCOMES`' indexes.
        count(&*self.counts, outcome as usize);
        // ORDERING: a count (see `Ports::request`).
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Some(host) = self.host.upgrade() else { return };
        let reply =
            PortReply { id: self.id, incarnation: self.incarnation, outcome, schema, bytes };
        match host.registry.lookup(self.actor) {
            // ORDERING: see `ActorCell::incarnation`; the actor's turn checks
            // again (a restart may come between this and the push).
            Some(cell)
                if !cell.is_exited()
                    && cell.incarnation.load(Ordering::Relaxed) == self.incarnation =>
            {
                send_system(&*host, &cell, SystemMsg::PortReply(reply));
            }
            _ => {
                // ORDERING: a statistic.
                host.dead_letters.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // The task was dropped before its future ended: its runtime shut
        // down (or has no timer, so the timeout could not start).
        let why = b"the port's task was dropped before it answered (its runtime shut down)";
        self.deliver(port_outcome::CANCELLED, Fingerprint::from_u64(0), why.to_vec());
    }
}
