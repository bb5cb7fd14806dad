//! Actors: a mailbox, a body (a module instance or a host-native handler)
//! and the scheduling state that says who may touch what.
//!
//! # The state machine
//!
//! Scheduling state, one atomic byte per actor (`ActorCell::sched`):
//!
//! | state | meaning | who moves it out |
//! |---|---|---|
//! | `IDLE` | no mail being handled; not in any run queue | a sender (`notify`): → `SCHEDULED`, and it pushes the actor to a run queue |
//! | `SCHEDULED` | in exactly one run queue | the worker that pops it: → `RUNNING` |
//! | `RUNNING` | one worker is handling its mail | that worker: → `IDLE`, or → `SCHEDULED` (requeued) |
//! | `NOTIFIED` | running, and mail arrived meanwhile | that worker: → `SCHEDULED` (requeued) |
//! | `EXITED` | gone; never scheduled again | nobody |
//!
//! The actor is in a run queue at most once (only the `IDLE → SCHEDULED`
//! transition pushes it), and at most one worker runs it.
//!
//! Two more states are not scheduling states but hold on the body:
//! - **suspended**: someone other than a worker holds the body lock — the
//!   upgrade coordinator migrating it, or a debug call. The lock is only ever
//!   taken *between* two messages, so holding it is exactly "suspended at a
//!   message boundary". A worker that finds it held leaves the mail queued,
//!   and the holder reschedules the actor when it lets go
//!   (`ActorCell::release`).
//! - **migrating**: a suspended actor whose instance the coordinator has
//!   taken out and is running `code_change` on.
//!
//! # Who touches what
//! - the **mailbox** is shared (its own lock): senders push, the running
//!   worker takes batches;
//! - the **body** (the instance: state and version) only under its lock:
//!   the running worker, or a suspender;
//! - **control** (system messages, links, monitors) under its own lock, by
//!   anyone; the running worker applies system messages before normal mail,
//!   so they overtake it.
//!
//! # Why no message is lost
//! A message is either in the mailbox, in the running worker's batch, or
//! handled. A batch interrupted by an exit is answered (calls get an error);
//! an actor that exits closes its mailbox and answers what was queued.

mod actor_ref;
pub(crate) mod mailbox;
pub(crate) mod native;
mod sched;

pub(crate) use sched::Notified;
use sched::Sched;

pub use actor_ref::{
    ActorRef, AnyActor, CallError, CallFuture, CastFuture, DEFAULT_CALL_TIMEOUT, Monitor,
    MonitorFuture, SendError,
};
pub use mailbox::DEFAULT_CAPACITY;
pub use native::{NativeActor, NativeContext};

use crate::code_server::Instance;
use crate::sync::{AtomicBool, AtomicU64};
use mailbox::Mailbox;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// An actor's identity, unique within a host, never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub(crate) u64);

impl ActorId {
    /// The id with this number (as a module's `Context::spawn` returns it).
    pub fn from_raw(id: u64) -> Self {
        ActorId(id)
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// Why an actor exited (OTP's exit reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// It stopped by itself, or was stopped, normally.
    Normal,
    /// It was asked to shut down (by its supervisor or the host).
    Shutdown,
    /// Its handler panicked; the panic message.
    Panicked(String),
    /// It was killed (no cleanup; `kill` cannot be trapped).
    Killed,
    /// A migration to another version failed and it could not stay on its
    /// version (for instance: purged).
    FailedToMigrate(String),
    /// A linked actor exited abnormally and this one does not trap exits.
    Linked {
        /// The linked actor.
        from: ActorId,
        /// Its reason.
        reason: Box<ExitReason>,
    },
}

impl ExitReason {
    /// `Normal` and `Shutdown` are normal exits: links do not propagate them.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Panicked(m) => write!(f, "panicked: {m}"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::FailedToMigrate(m) => write!(f, "failed to migrate: {m}"),
            ExitReason::Linked { from, reason } => write!(f, "linked {from} exited: {reason}"),
        }
    }
}

/// Where a reply goes: the caller's one-shot channel. A reply to a caller
/// that gave up (timed out) is dropped by the channel: it can never reach a
/// later call, which has its own channel.
pub(crate) type ReplyTo = oneshot::Sender<Result<Vec<u8>, ReplyError>>;

/// Why a call got no reply bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyError {
    /// The actor exited before or while handling the message.
    Exited(ExitReason),
    /// The handler failed on this message (bad input, panic).
    Handler(crate::code_server::CallError),
}

/// One message in a mailbox: encoded bytes, and where the reply goes.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) bytes: Payload,
    pub(crate) reply: Option<ReplyTo>,
}

/// Encoded messages up to this many bytes travel inside the envelope.
const INLINE: usize = 30;

/// A message's encoded bytes: inline when short — most messages are a few
/// bytes — so a send allocates nothing and the worker frees nothing (an
/// allocation made on the sender's thread and freed on a worker's costs
/// more than the rest of a one-way send); on the heap otherwise.
pub(crate) enum Payload {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Vec<u8>),
}

impl Payload {
    /// Copy `bytes` (inline when short).
    pub(crate) fn copy_from(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut inline = [0u8; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Payload::Inline { len: bytes.len() as u8, bytes: inline }
        } else {
            Payload::Heap(bytes.to_vec())
        }
    }

    /// Encode `msg`, inline when it fits.
    pub(crate) fn encode<M: serde::Serialize + ?Sized>(
        msg: &M,
    ) -> Result<Self, relive_codec::CodecError> {
        let mut inline = [0u8; INLINE];
        match relive_codec::encode_to_slice(msg, &mut inline)? {
            Some(len) => Ok(Payload::Inline { len: len as u8, bytes: inline }),
            None => {
                let mut heap = Vec::new();
                relive_codec::encode_into(msg, &mut heap)?;
                Ok(Payload::Heap(heap))
            }
        }
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Payload::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Payload::Heap(v) => v,
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// What an actor runs.
pub(crate) enum Body {
    /// A module instance (its state and the version it runs).
    Module(Instance),
    /// A host-native handler.
    Native(Box<dyn native::NativeHandler>),
    /// Gone.
    Exited(ExitReason),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Module(i) => f.debug_tuple("Module").field(&i.version().version()).finish(),
            Body::Native(_) => f.write_str("Native"),
            Body::Exited(r) => f.debug_tuple("Exited").field(r).finish(),
        }
    }
}

/// Messages that overtake normal mail.
#[derive(Debug)]
pub(crate) enum SystemMsg {
    /// Exit with this reason.
    Stop(ExitReason),
    /// A linked actor exited.
    LinkExit { from: ActorId, reason: ExitReason },
}

/// Links, monitors and system messages of one actor.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) system: VecDeque<SystemMsg>,
    pub(crate) links: std::collections::BTreeSet<ActorId>,
    pub(crate) monitors: Vec<oneshot::Sender<ExitReason>>,
    pub(crate) trap_exit: bool,
    pub(crate) name: Option<String>,
}

/// One actor.
#[derive(Debug)]
pub(crate) struct ActorCell {
    pub(crate) id: ActorId,
    /// The module it runs (`None` for host-native actors).
    pub(crate) module: Option<Arc<str>>,
    /// The schema of the messages it takes (fixed for its life: every
    /// version of its module must keep it).
    pub(crate) msg_schema: relive_codec::Fingerprint,
    /// The schema of its replies (fixed likewise).
    pub(crate) reply_schema: relive_codec::Fingerprint,
    pub(crate) sched: Sched,
    pub(crate) mailbox: Mailbox,
    pub(crate) body: Mutex<Body>,
    pub(crate) control: Mutex<Control>,
    /// Set when a system message is queued, so the worker checks for one
    /// between messages without taking the control lock.
    pub(crate) system_pending: AtomicBool,
    pub(crate) handled: AtomicU64,
}

impl ActorCell {
    pub(crate) fn new(
        id: ActorId,
        module: Option<Arc<str>>,
        schemas: (relive_codec::Fingerprint, relive_codec::Fingerprint),
        body: Body,
        capacity: usize,
    ) -> Self {
        ActorCell {
            id,
            module,
            msg_schema: schemas.0,
            reply_schema: schemas.1,
            sched: Sched::new(),
            mailbox: Mailbox::new(capacity),
            body: Mutex::new(body),
            control: Mutex::new(Control::default()),
            system_pending: AtomicBool::new(false),
            handled: AtomicU64::new(0),
        }
    }

    /// Mail or a system message arrived: decide whether to schedule.
    pub(crate) fn notify(&self) -> Notified {
        self.sched.notify()
    }

    /// A worker popped the actor: `SCHEDULED → RUNNING`. False if exited.
    pub(crate) fn start_running(&self) -> bool {
        self.sched.start_running()
    }

    /// The worker is done with this turn; true when it must requeue the actor.
    pub(crate) fn finish_running(&self, more: bool) -> bool {
        self.sched.finish_running(more)
    }

    pub(crate) fn is_exited(&self) -> bool {
        self.sched.is_exited()
    }

    pub(crate) fn mark_exited(&self) {
        self.sched.mark_exited();
    }

    pub(crate) fn revive(&self) {
        self.sched.revive();
    }

    /// Lock the body from outside a worker (suspending the actor at its next
    /// message boundary). Hand the guard back to [`release`](Self::release).
    pub(crate) fn suspend(&self) -> MutexGuard<'_, Body> {
        self.body.lock()
    }

    /// Like [`suspend`](Self::suspend), giving up at `deadline`.
    pub(crate) fn suspend_until(
        &self,
        deadline: std::time::Instant,
    ) -> Option<MutexGuard<'_, Body>> {
        self.body.try_lock_until(deadline)
    }
}
