//! `EncodedRef` (issue 18): an actor reached with messages that are already
//! encoded, for a transport that carries a caller's bytes together with the
//! fingerprints of the caller's types (`relive-cluster`, over NATS).
//!
//! The types are checked exactly as for a typed [`ActorRef`]
//! (`AnyActor::typed`): against the actor's own types, or for a module actor
//! against its module's current version and then recorded among the types
//! callers use, which every later version must stay compatible with. Only
//! the fingerprints are known here, not the caller's variant lists, so a
//! caller's type passes when it is the module's, or one of its variant
//! prefixes (an older interface); a caller typed on a *newer* interface
//! than the running version is refused ([`TypeMismatch`]) rather than
//! served for the variants both know.
//!
//! [`ActorRef`]: super::ActorRef

use super::actor_ref::{deadline_after, poll_push_to, reply_bytes};
use super::cell::ActorCell;
use super::deadline::Deadline;
use super::envelope::{Envelope, Payload, ReplyError};
use super::{ActorId, AnyActor, CallError, Monitor, SendError, System};
use crate::code_server::{Interface, Part, TypeMismatch};
use relive_codec::Fingerprint;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A reference to an actor that takes encoded messages and gives encoded
/// replies, once the fingerprints of the sender's types were checked
/// ([`AnyActor::encoded`]).
///
/// The bytes must be the `relive_codec` encoding of a value of the type
/// whose fingerprint was checked; a handler that cannot decode them answers
/// with [`CallError::Handler`] (a cast: a dead letter), as for any message.
#[derive(Clone)]
pub struct EncodedRef {
    cell: Arc<ActorCell>,
    system: Arc<dyn System>,
    message: Fingerprint,
    reply: Fingerprint,
}

impl fmt::Debug for EncodedRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedRef")
            .field("id", &self.cell.id)
            .field("module", &self.cell.module)
            .field("message", &self.message)
            .field("reply", &self.reply)
            .finish()
    }
}

impl AnyActor {
    // issue 18: remote actors
    /// A reference for encoded messages of the type fingerprinted `message`
    /// with replies fingerprinted `reply`, once both are checked against the
    /// actor's types as [`typed`](Self::typed) checks them (see the module
    /// docs for what a fingerprint alone can show).
    ///
    /// # Errors
    /// [`TypeMismatch`]: the fingerprints are not the actor's types nor (a
    /// module actor) compatible with its module's current version.
    pub fn encoded(
        &self,
        message: Fingerprint,
        reply: Fingerprint,
    ) -> Result<EncodedRef, TypeMismatch> {
        check_fingerprints(&*self.system, &self.cell, message, reply)?;
        Ok(EncodedRef {
            cell: Arc::clone(&self.cell),
            system: Arc::clone(&self.system),
            message,
            reply,
        })
    }
}

/// As `check_types`, for a caller known only by its types' fingerprints.
fn check_fingerprints(
    system: &dyn System,
    cell: &ActorCell,
    message: Fingerprint,
    reply: Fingerprint,
) -> Result<(), TypeMismatch> {
    if cell.msg_schema == message && cell.reply_schema == reply {
        return Ok(());
    }
    if cell.module.is_some() {
        // The init args are replaced by the version's own in the check.
        let interface = Interface {
            args: Fingerprint::of::<()>(),
            message,
            reply,
            message_schema: None,
            reply_schema: None,
        };
        return system.caller_types(cell, interface);
    }
    for (part, expected, found) in
        [(Part::Message, cell.msg_schema, message), (Part::Reply, cell.reply_schema, reply)]
    {
        if expected != found {
            let target = format!("native actor {}", cell.id);
            return Err(TypeMismatch { target, part, expected, found, variant: None });
        }
    }
    Ok(())
}

impl EncodedRef {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The fingerprints checked: the message's, the reply's.
    pub fn fingerprints(&self) -> (Fingerprint, Fingerprint) {
        (self.message, self.reply)
    }

    /// The module the actor runs (`None` for a host-native actor).
    pub fn module(&self) -> Option<&str> {
        self.cell.module.as_deref()
    }

    /// Whether the actor has exited.
    pub fn is_exited(&self) -> bool {
        self.cell.is_exited()
    }

    /// A future resolved with the actor's exit reason.
    pub fn monitor(&self) -> Monitor {
        Monitor(super::link::monitor(&self.cell))
    }

    /// Send `bytes` one way, awaiting room in the mailbox (as
    /// [`ActorRef::cast_async`](super::ActorRef::cast_async)).
    ///
    /// # Errors
    /// [`SendError::Exited`] (or, polled on a worker, [`SendError::Full`]),
    /// with the bytes.
    pub fn cast_async(&self, bytes: Vec<u8>) -> EncodedCastFuture {
        let env = Envelope { bytes: Payload::copy_from(&bytes), reply: None };
        EncodedCastFuture { actor: self.clone(), msg: Some(bytes), env: Some(env) }
    }

    /// Send `bytes` and await the reply's bytes for up to `timeout`, counted
    /// from this call (for room and for the reply), as
    /// [`ActorRef::call_async_timeout`](super::ActorRef::call_async_timeout).
    ///
    /// # Errors
    /// As a typed call's: [`CallError::NotDelivered`] with the bytes,
    /// [`CallError::Timeout`], [`CallError::Exited`],
    /// [`CallError::Handler`], [`CallError::UnknownVariant`],
    /// [`CallError::ReplyDropped`]; never `Decode` (the reply is not
    /// decoded here).
    pub fn call_async_timeout(&self, bytes: Vec<u8>, timeout: Duration) -> EncodedCallFuture {
        let (tx, rx) = oneshot::channel();
        let env = Envelope { bytes: Payload::copy_from(&bytes), reply: Some(tx) };
        EncodedCallFuture {
            actor: self.clone(),
            msg: Some(bytes),
            env: Some(env),
            rx: std::future::IntoFuture::into_future(rx),
            sent: false,
            deadline: deadline_after(timeout),
            timer: Deadline::default(),
        }
    }
}

/// The future of [`EncodedRef::cast_async`].
#[derive(Debug)]
pub struct EncodedCastFuture {
    actor: EncodedRef,
    msg: Option<Vec<u8>>,
    env: Option<Envelope>,
}

impl Future for EncodedCastFuture {
    type Output = Result<(), SendError<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_push_to(&this.actor.cell, &this.actor.system, &mut this.msg, &mut this.env, cx)
    }
}

/// The future of [`EncodedRef::call_async_timeout`].
#[derive(Debug)]
pub struct EncodedCallFuture {
    actor: EncodedRef,
    msg: Option<Vec<u8>>,
    env: Option<Envelope>,
    rx: oneshot::AsyncReceiver<Result<Vec<u8>, ReplyError>>,
    sent: bool,
    deadline: Instant,
    timer: Deadline,
}

impl Future for EncodedCallFuture {
    type Output = Result<Vec<u8>, CallError<Vec<u8>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.sent {
            let a = &this.actor;
            match poll_push_to(&a.cell, &a.system, &mut this.msg, &mut this.env, cx) {
                Poll::Pending if Instant::now() >= this.deadline => {
                    this.timer.disarm();
                    this.env = None;
                    let msg = this.msg.take().unwrap_or_default();
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
        let answer = match Pin::new(&mut this.rx).poll(cx) {
            Poll::Ready(Ok(result)) => reply_bytes(result),
            Poll::Ready(Err(_)) => Err(CallError::ReplyDropped),
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
