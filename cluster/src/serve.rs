//! Serving a local actor to the cluster: the subscriptions of one
//! registered name, the check of each message's types against the actor's
//! current declaration, delivery, the reply, and the exits published.
//!
//! Casts are delivered in the order they arrive (on this task, each waiting
//! for room in the mailbox: never a reordering); a cast that comes with a
//! reply subject is acknowledged once delivered, which is the sender's
//! credit (decision 0030, `flow`), and each cast's sequence number is
//! checked so that a loss is counted and logged. Calls are delivered in
//! arrival order too and then awaited on tasks of their own, so a slow
//! handler does not hold the next message back.

use crate::bound::{Bound, Elapsed, WaitError};
use crate::cluster::Shared;
use crate::error::RegisterError;
use crate::flow::Sequences;
use crate::header::{self, Kind, Status};
use crate::subject::POOL_QUEUE;
use async_nats::{HeaderMap, Message};
use futures_util::StreamExt;
use relive_codec::Fingerprint;
use relive_runtime::actor::CallError;
use relive_runtime::{ActorId, EncodedRef, TypeMismatch};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// One name served: its tasks, stopped by [`stop`](Self::stop) (or, less
/// politely, when this drops).
pub(crate) struct Registration {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serve: JoinHandle<()>,
    downs: JoinHandle<()>,
}

impl Registration {
    /// Unsubscribe, answer what had already arrived, and stop: after this
    /// no message to the name reaches this host (the pool's other members
    /// get them).
    pub(crate) async fn stop(mut self, within: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let serve = &mut self.serve;
        if tokio::time::timeout(within, serve).await.is_err() {
            self.serve.abort();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.serve.abort();
        self.downs.abort();
    }
}

pub(crate) async fn start(shared: Arc<Shared>, name: &str) -> Result<Registration, RegisterError> {
    let client = &shared.client;
    let pool = shared.subjects.pool(name);
    let own = shared.subjects.node(&shared.node, name);
    // Registering ends within the call timeout: async-nats' subscribe waits
    // for room in its command channel, which a lost connection fills.
    let bound = Bound::after(shared.call_timeout);
    let sub_err = |subject: &str| {
        let subject = subject.to_owned();
        move |source| RegisterError::Subscribe { subject, source }
    };
    let late = |subject: &str| {
        let subject = subject.to_owned();
        move |Elapsed(timeout)| RegisterError::Timeout { subject, timeout }
    };
    let pooled = bound
        .run(client.queue_subscribe(pool.clone(), POOL_QUEUE.to_owned()))
        .await
        .map_err(late(&pool))?
        .map_err(sub_err(&pool))?;
    let pinned = bound
        .run(client.subscribe(own.clone()))
        .await
        .map_err(late(&own))?
        .map_err(sub_err(&own))?;
    // Subscribed on the server before `register` returns: a call made right
    // after finds this host. (Dropped on an error: unsubscribed.)
    crate::synced::synced(client, bound).await.map_err(|e| match e {
        WaitError::Elapsed(timeout) => RegisterError::Timeout { subject: pool.clone(), timeout },
        WaitError::Nats(source) => RegisterError::Nats { subject: pool.clone(), source },
    })?;
    let messages = futures_util::stream::select(pooled, pinned);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    Ok(Registration {
        stop: Some(stop),
        serve: tokio::spawn(serve(Arc::clone(&shared), name.to_owned(), messages, stopped)),
        downs: tokio::spawn(publish_downs(shared, name.to_owned())),
    })
}

/// One served name's state on its task.
struct Served {
    name: String,
    /// This host's own subject for the name (where a sender's every cast
    /// arrives).
    own: String,
    cache: Option<Cached>,
    sequences: Sequences,
}

/// The reference last used, kept while the actor and the types are the same.
struct Cached {
    id: ActorId,
    types: (Fingerprint, Fingerprint),
    actor: EncodedRef,
}

/// Why a message was not delivered.
enum Refusal {
    Wire(String),
    NoProc,
    Types(TypeMismatch),
}

type Messages = futures_util::stream::Select<async_nats::Subscriber, async_nats::Subscriber>;

async fn serve(
    shared: Arc<Shared>,
    name: String,
    mut messages: Messages,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let own = shared.subjects.node(&shared.node, &name);
    let mut served =
        Served { name, own, cache: None, sequences: Sequences::new(shared.remembered_senders) };
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            m = messages.next() => match m {
                Some(m) => handle(&shared, &mut served, m).await,
                None => return,
            },
        }
    }
    let (pooled, pinned) = messages.get_mut();
    let bound = Bound::after(shared.call_timeout);
    let _ = bound.run(pooled.unsubscribe()).await;
    let _ = bound.run(pinned.unsubscribe()).await;
    let _ = bound.run(shared.client.flush()).await;
    // What the server had sent before the unsubscribe is answered still.
    while let Ok(Some(m)) = tokio::time::timeout(shared.heartbeat, messages.next()).await {
        handle(&shared, &mut served, m).await;
    }
}

async fn handle(shared: &Arc<Shared>, served: &mut Served, m: Message) {
    let h = m.headers.as_ref();
    let kind = header::get(h, header::KIND).and_then(Kind::parse);
    let name = served.name.as_str();
    if kind == Some(Kind::Cast) {
        let pinned = m.subject.as_str() == served.own;
        served.sequences.note(&shared.counters, name, h, pinned);
    }
    let resolved = match kind {
        None => Err(Refusal::Wire("no Relive-Kind header".into())),
        Some(kind) => resolve(shared, name, &mut served.cache, h, kind),
    };
    let (kind, actor) = match resolved {
        Ok(ok) => ok,
        Err(refusal) => {
            if kind == Some(Kind::Cast) {
                // A cast: there is no one to tell (an acknowledgement only
                // gives credit back); counted in the log.
                tracing::warn!(name, "cluster: cast refused: {}", refusal_text(&refusal));
            }
            respond(shared, &m, refused(shared, refusal), Vec::new()).await;
            return;
        }
    };
    match kind {
        Kind::Cast => {
            match actor.cast_async(m.payload.to_vec()).await {
                Ok(()) => shared.counters.delivered(),
                Err(e) => tracing::warn!(name, "cluster: cast not delivered: {e}"),
            }
            // With a reply subject: the sender's credit, now that this cast
            // and every one before it left the subscription's buffer.
            respond(shared, &m, ok_headers(shared), Vec::new()).await;
        }
        Kind::Check | Kind::Monitor => {
            respond(shared, &m, ok_headers(shared), Vec::new()).await;
        }
        Kind::Call => {
            let timeout = header::get(h, header::TIMEOUT_MS)
                .and_then(|t| t.parse().ok())
                .map_or(shared.call_timeout, Duration::from_millis);
            let call = actor.call_async_timeout(m.payload.to_vec(), timeout);
            let shared = Arc::clone(shared);
            tokio::spawn(async move {
                let (headers, payload) = match call.await {
                    Ok(bytes) => (ok_headers(&shared), bytes),
                    Err(e) => (call_failed(&shared, e), Vec::new()),
                };
                respond(&shared, &m, headers, payload).await;
            });
        }
    }
}

/// The actor under `name` now, checked against the message's types.
fn resolve(
    shared: &Shared,
    name: &str,
    cache: &mut Option<Cached>,
    h: Option<&HeaderMap>,
    kind: Kind,
) -> Result<(Kind, EncodedRef), Refusal> {
    match header::get(h, header::WIRE) {
        Some(header::WIRE_VERSION) => {}
        other => {
            let v = other.unwrap_or("none");
            return Err(Refusal::Wire(format!(
                "wire version {v}, this host reads {}",
                header::WIRE_VERSION
            )));
        }
    }
    let fp = |name| header::get(h, name).and_then(header::fingerprint);
    let (Some(m), Some(r)) = (fp(header::MESSAGE_SCHEMA), fp(header::REPLY_SCHEMA)) else {
        return Err(Refusal::Wire("missing or unreadable schema fingerprints".into()));
    };
    let Some(any) = shared.host.whereis_any(name) else { return Err(Refusal::NoProc) };
    if any.is_exited() {
        return Err(Refusal::NoProc);
    }
    if let Some(c) = cache.as_ref()
        && c.id == any.id()
        && c.types == (m, r)
    {
        return Ok((kind, c.actor.clone()));
    }
    let actor = any.encoded(m, r).map_err(Refusal::Types)?;
    *cache = Some(Cached { id: any.id(), types: (m, r), actor: actor.clone() });
    Ok((kind, actor))
}

fn refusal_text(r: &Refusal) -> String {
    match r {
        Refusal::Wire(w) => w.clone(),
        Refusal::NoProc => "noproc".into(),
        Refusal::Types(t) => t.to_string(),
    }
}

fn with_status(shared: &Shared, status: Status) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::STATUS, status.as_str());
    h.insert(header::NODE, shared.node.as_str());
    h
}

fn ok_headers(shared: &Shared) -> HeaderMap {
    with_status(shared, Status::Ok)
}

fn refused(shared: &Shared, refusal: Refusal) -> HeaderMap {
    match refusal {
        Refusal::Wire(why) => {
            let mut h = with_status(shared, Status::Wire);
            h.insert(header::REASON, why.as_str());
            h
        }
        Refusal::NoProc => with_status(shared, Status::NoProc),
        Refusal::Types(t) => {
            let mut h = with_status(shared, Status::Types);
            h.insert(header::PART, t.part.to_string().as_str());
            h.insert(header::EXPECTED, t.expected.to_string().as_str());
            h.insert(header::TARGET, t.target.as_str());
            h.insert(header::REASON, t.to_string().as_str());
            h
        }
    }
}

fn call_failed(shared: &Shared, e: CallError<Vec<u8>>) -> HeaderMap {
    let (status, reason) = match e {
        CallError::Exited(r) => (Status::Exited, r.to_string()),
        CallError::Handler(e) => (Status::Handler, e.to_string()),
        CallError::UnknownVariant(u) => (Status::UnknownVariant, u.to_string()),
        CallError::Timeout => (Status::Timeout, String::new()),
        CallError::NotDelivered(relive_runtime::SendError::Full(_)) => {
            (Status::Full, String::new())
        }
        CallError::NotDelivered(_) => (Status::NoProc, String::new()),
        other => (Status::Dropped, other.to_string()),
    };
    let mut h = with_status(shared, status);
    if !reason.is_empty() {
        h.insert(header::REASON, reason.as_str());
    }
    h
}

/// Answer `m` (when it has a reply subject), waiting up to the call
/// timeout for the client to take the publish: a reply the caller has
/// given up on by then is not worth holding the next message back.
async fn respond(shared: &Shared, m: &Message, headers: HeaderMap, payload: Vec<u8>) {
    let Some(reply) = m.reply.clone() else { return };
    let publish = shared.client.publish_with_headers(reply, headers, payload.into());
    match Bound::after(shared.call_timeout).run(publish).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "cluster: reply not sent"),
        Err(Elapsed(t)) => tracing::debug!(timeout = ?t, "cluster: reply not sent in time"),
    }
}

/// Publish each exit of the actor registered under `name` on
/// `relive.<cluster>.down.<node>.<name>`, then follow the next actor
/// registered under it (a supervisor's restart).
async fn publish_downs(shared: Arc<Shared>, name: String) {
    let subject = shared.subjects.down(&shared.node, &name);
    let mut last: Option<ActorId> = None;
    loop {
        match shared.host.whereis_any(&name) {
            Some(any) if Some(any.id()) != last => {
                last = Some(any.id());
                let reason = any.monitor().await;
                let text = reason.to_string();
                let publish = shared.client.publish(subject.clone(), text.into());
                match Bound::after(shared.call_timeout).run(publish).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(name, error = %e, "cluster: exit not published"),
                    Err(Elapsed(t)) => {
                        tracing::warn!(name, timeout = ?t, "cluster: exit not published in time");
                    }
                }
            }
            _ => tokio::time::sleep(shared.heartbeat / 4).await,
        }
    }
}
