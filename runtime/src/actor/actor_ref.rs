//! `ActorRef<Msg, Reply>`: how the host and other actors reach an actor.

use super::cell::{ActorCell, wake};
use super::deadline::Deadline;
use super::envelope::{Envelope, Payload, ReplyError, ReplyTo};
use super::mailbox::{Refused, Wait};
use super::sched::Notified;
use super::{ActorId, ExitReason, System};
use crate::code_server::{Interface, ModuleCallError, Part, TypeMismatch, UnknownVariant};
use relive_codec::{CodecError, Fingerprint, Schema};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long a blocking caller spins for its reply before parking.
const REPLY_SPIN: Duration = Duration::from_micros(30);

/// The default timeout of [`ActorRef::call`], as OTP's `gen_server:call`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A message that was not delivered, handed back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError<M> {
    /// The mailbox is full (`try_cast`, or a wait that timed out), or, for a
    /// send from inside a handler, past its bound and overdraft allowance.
    #[error("mailbox full")]
    Full(M),
    /// The actor has exited.
    #[error("the actor has exited")]
    Exited(M),
    /// The message could not be encoded.
    #[error("encode failed: {1}")]
    Encode(M, CodecError),
}

impl<M> SendError<M> {
    /// The message, back.
    pub fn into_inner(self) -> M {
        match self {
            SendError::Full(m) | SendError::Exited(m) | SendError::Encode(m, _) => m,
        }
    }
}

/// Why a call got no reply.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<M> {
    /// Not delivered: the message is handed back.
    #[error("not delivered: {0}")]
    NotDelivered(SendError<M>),
    /// Delivered, but no reply came in time; a late reply is dropped.
    #[error("no reply within the timeout")]
    Timeout,
    /// The actor exited before it answered (it may have crashed on this
    /// very message).
    #[error("the actor exited before replying: {0}")]
    Exited(ExitReason),
    /// The handler could not handle this message (it did not decode).
    #[error(transparent)]
    Handler(ModuleCallError),
    /// The reply did not decode as `Reply`.
    #[error("reply: {0}")]
    Decode(CodecError),
    /// A call from inside a handler would block a worker thread (and could
    /// deadlock the scheduler); use `cast` and a reply message instead.
    #[error("call from inside a handler would block a worker thread")]
    FromHandler(M),
    /// The call was taken but its reply channel was dropped unanswered
    /// (for instance a deferred reply that was never sent).
    #[error("the call was dropped without a reply")]
    ReplyDropped,
    // issue 15: interfaces that grow
    /// The message's variant is one the version the actor runs does not
    /// have (the caller is typed on a newer interface, say during a gradual
    /// upgrade): refused before the module saw it.
    #[error(transparent)]
    UnknownVariant(UnknownVariant),
}

/// A typed reference to an actor.
///
/// Cheap to clone, `Send + Sync`. It stays valid across code upgrades (the
/// actor keeps its id and mailbox).
///
/// # Upgrade behaviour
/// Mail sent during an upgrade waits in the mailbox and is handled, in order,
/// by whichever version the actor runs when it gets to it; nothing is lost or
/// reordered per sender. The types were checked against the module when the
/// reference was typed; every later version must extend them or be extended
/// by them (loader step 6, interfaces that grow). A message of a variant the
/// version handling it lacks (the reference is typed on a newer interface)
/// is refused before the module sees it: [`CallError::UnknownVariant`], or a
/// dead letter for a cast.
pub struct ActorRef<M, R> {
    cell: Arc<ActorCell>,
    system: Arc<dyn System>,
    _types: PhantomData<fn(M) -> R>,
}

impl<M, R> Clone for ActorRef<M, R> {
    fn clone(&self) -> Self {
        ActorRef {
            cell: Arc::clone(&self.cell),
            system: Arc::clone(&self.system),
            _types: PhantomData,
        }
    }
}

impl<M, R> fmt::Debug for ActorRef<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("id", &self.cell.id)
            .field("module", &self.cell.module)
            .finish()
    }
}

impl<M, R> PartialEq for ActorRef<M, R> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<M, R> ActorRef<M, R> {
    /// A reference typed by the caller; the caller has checked the types
    /// against the actor's (see [`AnyActor::typed`]).
    pub(crate) fn new_unchecked(cell: Arc<ActorCell>, system: Arc<dyn System>) -> Self {
        ActorRef { cell, system, _types: PhantomData }
    }

    pub(crate) fn cell(&self) -> &Arc<ActorCell> {
        &self.cell
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The same reference without its message types.
    pub fn any(&self) -> AnyActor {
        AnyActor { cell: Arc::clone(&self.cell), system: Arc::clone(&self.system) }
    }

    /// Whether the actor has exited.
    pub fn is_exited(&self) -> bool {
        self.cell.is_exited()
    }

    /// Messages waiting in the mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.cell.mailbox.len()
    }

    /// Messages accepted past the mailbox bound (sends from handlers).
    pub fn mailbox_overdrafts(&self) -> u64 {
        self.cell.mailbox.overdrafts()
    }

    /// Sends from handlers refused because the mailbox was past its bound
    /// and its overdraft allowance (each handed back to its sender).
    pub fn mailbox_refusals(&self) -> u64 {
        self.cell.mailbox.refusals()
    }

    /// The mailbox bound (0: unbounded).
    pub fn mailbox_capacity(&self) -> usize {
        self.cell.mailbox.capacity()
    }

    /// Messages handled so far.
    pub fn handled(&self) -> u64 {
        // ORDERING: a statistic.
        self.cell.handled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A future resolved with the actor's exit reason (a monitor).
    pub fn monitor(&self) -> Monitor {
        Monitor(super::link::monitor(&self.cell))
    }
}

/// An actor reference without its message types (as supervisors keep their
/// children). Turn it back into a typed one with [`AnyActor::typed`].
#[derive(Clone)]
pub struct AnyActor {
    pub(crate) cell: Arc<ActorCell>,
    pub(crate) system: Arc<dyn System>,
}

impl fmt::Debug for AnyActor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyActor")
            .field("id", &self.cell.id)
            .field("module", &self.cell.module)
            .finish()
    }
}

impl AnyActor {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The module it runs (`None` for a host-native actor).
    pub fn module(&self) -> Option<&str> {
        self.cell.module.as_deref()
    }

    /// The name it is registered under now, if any.
    pub fn name(&self) -> Option<String> {
        self.cell.control.lock().name.clone()
    }

    /// Whether it has exited.
    pub fn is_exited(&self) -> bool {
        self.cell.is_exited()
    }

    /// A typed reference, once `M` and `R` are checked against the actor's
    /// message and reply types: for a module actor, compatible with its
    /// module's current version (one a prefix of the other: older and newer
    /// callers of an interface that grows), and recorded among the types
    /// callers use, which every later version is checked against.
    ///
    /// # Errors
    /// [`TypeMismatch`]: `M` or `R` is not the actor's type (or differs in
    /// a variant, named in its `variant`, from the module's or from what
    /// other callers use); nothing can then be sent with the wrong type.
    pub fn typed<M: Schema, R: Schema>(&self) -> Result<ActorRef<M, R>, TypeMismatch> {
        check_types::<M, R>(&*self.system, &self.cell)?;
        Ok(ActorRef::new_unchecked(Arc::clone(&self.cell), Arc::clone(&self.system)))
    }

    /// A future resolved with its exit reason.
    pub fn monitor(&self) -> Monitor {
        Monitor(super::link::monitor(&self.cell))
    }
}

/// Check the caller's `M` and `R` against `cell`'s message and reply types:
/// equal, or (issue 15, a module actor) compatible with its module's current
/// version — one a prefix of the other — and then recorded among the types
/// callers use.
pub(crate) fn check_types<M: Schema, R: Schema>(
    system: &dyn System,
    cell: &ActorCell,
) -> Result<(), TypeMismatch> {
    let (m, r) = (Fingerprint::of::<M>(), Fingerprint::of::<R>());
    if cell.msg_schema == m && cell.reply_schema == r {
        return Ok(());
    }
    if cell.module.is_some() {
        return system.caller_types(cell, Interface::of::<(), M, R>());
    }
    for (part, expected, found) in
        [(Part::Message, cell.msg_schema, m), (Part::Reply, cell.reply_schema, r)]
    {
        if expected != found {
            let target = format!("native actor {}", cell.id);
            return Err(TypeMismatch { target, part, expected, found, variant: None });
        }
    }
    Ok(())
}

/// Resolves with the exit reason of a monitored actor: `wait` blocks,
/// `.await` suspends.
#[derive(Debug)]
pub struct Monitor(pub(super) oneshot::Receiver<ExitReason>);

impl Monitor {
    // issue 18: remote monitors
    /// A monitor resolved by whoever holds the [`DownSender`] rather than by
    /// a local actor's exit: how a transport (`relive-cluster`) hands a
    /// remote actor's DOWN — its exit reason, or
    /// [`ExitReason::NoConnection`] when its host is gone — to the same
    /// `Monitor` a local actor gives.
    pub fn channel() -> (DownSender, Monitor) {
        let (tx, rx) = oneshot::channel();
        (DownSender(tx), Monitor(rx))
    }

    /// Block until the actor exits, or `timeout` passes (`None`).
    pub fn wait(self, timeout: Duration) -> Option<ExitReason> {
        self.0.recv_timeout(timeout).ok()
    }
}

// issue 18: remote monitors
/// The sending half of [`Monitor::channel`]: delivers one DOWN.
#[derive(Debug)]
pub struct DownSender(oneshot::Sender<ExitReason>);

impl DownSender {
    /// Resolve the monitor with `reason`. A monitor already dropped is not
    /// waiting for it: the reason is dropped too.
    pub fn send(self, reason: ExitReason) {
        let _ = self.0.send(reason);
    }
}

impl std::future::IntoFuture for Monitor {
    type Output = ExitReason;
    type IntoFuture = MonitorFuture;

    fn into_future(self) -> MonitorFuture {
        MonitorFuture(self.0.into_future())
    }
}

/// `Monitor` as a future.
#[derive(Debug)]
pub struct MonitorFuture(oneshot::AsyncReceiver<ExitReason>);

impl Future for MonitorFuture {
    type Output = ExitReason;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitReason> {
        // The sender is only ever dropped unsent when the whole system goes.
        Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap_or(ExitReason::Shutdown))
    }
}

impl<M: Serialize, R: DeserializeOwned> ActorRef<M, R> {
    fn send(&self, msg: M, reply: Option<ReplyTo>, wait: Wait) -> Result<(), SendError<M>> {
        self.send_as(msg, reply, wait, false)
    }

    /// Encode and push: from a worker thread (a handler) without waiting,
    /// past the bound if need be but not past the overdraft allowance; from
    /// a host thread as `wait` says. For a
    /// blocking call (`inline`), the calling thread may run the turn itself.
    fn send_as(
        &self,
        msg: M,
        reply: Option<ReplyTo>,
        wait: Wait,
        inline: bool,
    ) -> Result<(), SendError<M>> {
        let bytes = match Payload::encode(&msg) {
            Ok(b) => b,
            Err(e) => return Err(SendError::Encode(msg, e)),
        };
        let env = Envelope { bytes, reply };
        let cell = &self.cell;
        let pushed = if self.system.on_worker() {
            cell.mailbox.push_overdraft(env)
        } else {
            cell.mailbox.push(env, wait)
        };
        match pushed {
            Ok(false) => Ok(()),
            Ok(true) => {
                if inline && cell.module.is_some() {
                    // Host-native actors (supervisors) always run on workers.
                    if cell.notify() == Notified::Schedule
                        && self.system.run_inline(cell).unwrap_or(true)
                    {
                        self.system.schedule(Arc::clone(cell));
                    }
                } else {
                    wake(&*self.system, cell);
                }
                Ok(())
            }
            Err(Refused::Full(_)) => Err(SendError::Full(msg)),
            Err(Refused::Closed) => Err(SendError::Exited(msg)),
        }
    }

    /// Send `msg` one way. From a host thread, waits while the mailbox is
    /// full; from inside a handler, never waits: it is accepted past the
    /// bound up to the overdraft allowance, and refused beyond it (see the
    /// mailbox docs).
    ///
    /// # Errors
    /// The actor has exited, or ([`SendError::Full`]) a send from inside a
    /// handler found the mailbox past its allowance: the message is handed
    /// back.
    ///
    /// # Upgrade behaviour
    /// Accepted while the actor is suspended for an upgrade (room
    /// permitting); handled, in order, by the version it runs afterwards.
    pub fn cast(&self, msg: M) -> Result<(), SendError<M>> {
        self.send(msg, None, Wait::Until(None))
    }

    /// Send `msg` one way if there is room now.
    ///
    /// # Errors
    /// [`SendError::Full`] or [`SendError::Exited`], with the message.
    pub fn try_cast(&self, msg: M) -> Result<(), SendError<M>> {
        self.send(msg, None, Wait::No)
    }

    /// Send `msg` one way, awaiting room in the mailbox. Polled on a worker
    /// (inside a handler) it never waits: as [`cast`](Self::cast) there, it
    /// resolves to [`SendError::Full`] past the overdraft allowance.
    pub fn cast_async(&self, msg: M) -> CastFuture<M, R> {
        CastFuture { actor: self.clone(), msg: Some(msg), env: None }
    }

    /// Send `msg` and wait up to [`DEFAULT_CALL_TIMEOUT`] for the reply.
    ///
    /// # Errors
    /// [`CallError`]; a reply that comes after the timeout is dropped.
    ///
    /// # Upgrade behaviour
    /// A call made during an upgrade waits for it (the time counts against
    /// the timeout) and is answered by the version the actor runs after it.
    pub fn call(&self, msg: M) -> Result<R, CallError<M>> {
        self.call_timeout(msg, DEFAULT_CALL_TIMEOUT)
    }

    /// Send `msg` and wait up to `timeout` (for room and for the reply).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn call_timeout(&self, msg: M, timeout: Duration) -> Result<R, CallError<M>> {
        if self.system.on_worker() {
            return Err(CallError::FromHandler(msg));
        }
        let deadline = deadline_after(timeout);
        let (tx, rx) = oneshot::channel();
        self.send_as(msg, Some(tx), Wait::Until(Some(deadline)), true)
            .map_err(CallError::NotDelivered)?;
        let sent = Instant::now();
        if sent > deadline {
            // The turn ran inline and overran the deadline: as from a worker,
            // the reply is too late and is dropped.
            return Err(CallError::Timeout);
        }
        // Most replies come within microseconds: spin for a short while
        // before parking, since a wake-up costs ~25 µs here (two of them per
        // round trip if both sides park).
        let spin_until = sent + REPLY_SPIN;
        loop {
            match rx.try_recv() {
                Ok(result) => return decode_reply(result),
                Err(oneshot::TryRecvError::Disconnected) => return Err(CallError::ReplyDropped),
                Err(oneshot::TryRecvError::Empty) => {}
            }
            if Instant::now() >= spin_until {
                break;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(result) => decode_reply(result),
            Err(oneshot::RecvTimeoutError::Timeout) => Err(CallError::Timeout),
            Err(oneshot::RecvTimeoutError::Disconnected) => Err(CallError::ReplyDropped),
        }
    }

    /// Send `msg` and await the reply, on any executor, for up to
    /// [`DEFAULT_CALL_TIMEOUT`] (as [`call`](Self::call)). Never blocks the
    /// thread that polls it: a full mailbox and the reply are both awaited
    /// (the timeout is kept by a runtime thread that wakes the task, not by
    /// an executor's timer).
    ///
    /// # Errors
    /// As [`call`](Self::call): [`CallError::NotDelivered`] with the message
    /// (also when the mailbox stayed full until the deadline),
    /// [`CallError::Timeout`] when the reply did not come in time (a late
    /// reply is dropped), and the others.
    ///
    /// # Upgrade behaviour
    /// As [`call`](Self::call): a call made during an upgrade waits for it.
    pub fn call_async(&self, msg: M) -> CallFuture<M, R> {
        self.call_async_timeout(msg, DEFAULT_CALL_TIMEOUT)
    }

    // issue 20: async forms
    /// [`call_async`](Self::call_async) with its own timeout, counted from
    /// this call (for room and for the reply).
    ///
    /// # Errors
    /// As [`call_async`](Self::call_async).
    ///
    /// # Upgrade behaviour
    /// As [`call`](Self::call).
    pub fn call_async_timeout(&self, msg: M, timeout: Duration) -> CallFuture<M, R> {
        CallFuture {
            actor: self.clone(),
            msg: Some(msg),
            env: None,
            rx: None,
            sent: false,
            deadline: deadline_after(timeout),
            timer: Deadline::default(),
        }
    }
}

/// `now + timeout`, or a century from now for a timeout too long to add
/// (`Duration::MAX` means "as long as it takes", not a panic).
pub(super) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

fn decode_reply<M, R: DeserializeOwned>(
    result: Result<Vec<u8>, ReplyError>,
) -> Result<R, CallError<M>> {
    // issue 15: a reply variant `R` does not have (the actor's version
    // appended it) fails to decode: `CallError::Decode`, never a guess.
    reply_bytes(result).and_then(|bytes| relive_codec::decode(&bytes).map_err(CallError::Decode))
}

/// The reply's bytes, or why there are none.
pub(super) fn reply_bytes<M>(result: Result<Vec<u8>, ReplyError>) -> Result<Vec<u8>, CallError<M>> {
    match result {
        Ok(bytes) => Ok(bytes),
        Err(ReplyError::Handler(ModuleCallError::UnknownVariant(u))) => {
            Err(CallError::UnknownVariant(u))
        }
        Err(ReplyError::Exited(reason)) => Err(CallError::Exited(reason)),
        Err(ReplyError::Handler(e)) => Err(CallError::Handler(e)),
    }
}

/// Push for an async sender: encode once, then try; on a full mailbox keep
/// the envelope and register the waker.
fn poll_push<M: Serialize, R>(
    actor: &ActorRef<M, R>,
    msg: &mut Option<M>,
    env: &mut Option<Envelope>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<M>>> {
    poll_push_to(&actor.cell, &actor.system, msg, env, cx)
}

/// [`poll_push`] to a cell (issue 18: also for already encoded messages,
/// `M = Vec<u8>`).
pub(super) fn poll_push_to<M>(
    cell: &Arc<ActorCell>,
    system: &Arc<dyn System>,
    msg: &mut Option<M>,
    env: &mut Option<Envelope>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<M>>> {
    let Some(e) = env.take() else { unreachable!("envelope made before the first poll") };
    let on_worker = system.on_worker();
    let pushed = if on_worker {
        cell.mailbox.push_overdraft(e)
    } else {
        cell.mailbox.push_or_register(e, cx.waker())
    };
    match pushed {
        Ok(first) => {
            if first {
                wake(&**system, cell);
            }
            msg.take();
            Poll::Ready(Ok(()))
        }
        Err(Refused::Full(_)) if on_worker => {
            // No waker was registered: a worker does not wait for room.
            Poll::Ready(Err(SendError::Full(msg.take().expect("message kept until sent"))))
        }
        Err(Refused::Full(e)) => {
            *env = Some(e);
            Poll::Pending
        }
        Err(Refused::Closed) => {
            Poll::Ready(Err(SendError::Exited(msg.take().expect("message kept until sent"))))
        }
    }
}

fn envelope<M: Serialize>(
    msg: &mut Option<M>,
    reply: Option<ReplyTo>,
) -> Result<Envelope, SendError<M>> {
    let m = msg.as_ref().expect("polled after completion");
    match Payload::encode(m) {
        Ok(bytes) => Ok(Envelope { bytes, reply }),
        Err(e) => Err(SendError::Encode(msg.take().expect("message present"), e)),
    }
}

/// The future of [`ActorRef::cast_async`].
#[derive(Debug)]
pub struct CastFuture<M, R> {
    actor: ActorRef<M, R>,
    msg: Option<M>,
    env: Option<Envelope>,
}

impl<M: Serialize + Unpin, R> Future for CastFuture<M, R> {
    type Output = Result<(), SendError<M>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.env.is_none() {
            match envelope(&mut this.msg, None) {
                Ok(e) => this.env = Some(e),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        poll_push(&this.actor, &mut this.msg, &mut this.env, cx)
    }
}

/// The future of [`ActorRef::call_async`].
#[derive(Debug)]
pub struct CallFuture<M, R> {
    actor: ActorRef<M, R>,
    msg: Option<M>,
    env: Option<Envelope>,
    rx: Option<oneshot::AsyncReceiver<Result<Vec<u8>, ReplyError>>>,
    sent: bool,
    // issue 20: async forms
    deadline: Instant,
    timer: Deadline,
}

impl<M: Serialize + Unpin, R: DeserializeOwned> Future for CallFuture<M, R> {
    type Output = Result<R, CallError<M>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.sent {
            if this.env.is_none() {
                let (tx, rx) = oneshot::channel();
                match envelope(&mut this.msg, Some(tx)) {
                    Ok(e) => this.env = Some(e),
                    Err(e) => return Poll::Ready(Err(CallError::NotDelivered(e))),
                }
                this.rx = Some(std::future::IntoFuture::into_future(rx));
            }
            match poll_push(&this.actor, &mut this.msg, &mut this.env, cx) {
                Poll::Pending if Instant::now() >= this.deadline => {
                    // As a blocking call whose wait for room timed out.
                    this.timer.disarm();
                    this.env = None;
                    let msg = this.msg.take().expect("message kept until sent");
                    return Poll::Ready(Err(CallError::NotDelivered(SendError::Full(msg))));
                }
                Poll::Pending => {
                    this.timer.arm(this.deadline, cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    this.timer.disarm();
                    return Poll::Ready(Err(CallError::NotDelivered(e)));
                }
                Poll::Ready(Ok(())) => this.sent = true,
            }
        }
        let rx = this.rx.as_mut().expect("receiver made with the envelope");
        let answer = match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(result)) => decode_reply(result),
            Poll::Ready(Err(_)) => Err(CallError::ReplyDropped),
            // The reply is dropped when it comes: the receiver goes with us.
            Poll::Pending if Instant::now() >= this.deadline => Err(CallError::Timeout),
            Poll::Pending => {
                this.timer.arm(this.deadline, cx.waker());
                return Poll::Pending;
            }
        };
        this.timer.disarm();
        Poll::Ready(answer)
    }
}
