//! Actors: a mailbox, a body (a module instance or a host-native handler)
//! and the scheduling state that says who may touch what.
//!
//! This layer sits on the code server (an actor's body holds an
//! [`Instance`] of a `Version`) and below the host, which composes actors
//! into a running system. What it needs from above — a run queue, a
//! registry, notices of exits — it asks through the [`System`] trait the
//! host implements; it never imports the host.
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
//!   (`cell::release`).
//! - **migrating**: a suspended actor whose instance the coordinator has
//!   taken out and is running `code_change` on.
//!
//! And one more that is a flag, not a lock: **suspended by `sys`**
//! (`ActorCell::suspended`, OTP's `sys:suspend`; see `sys.rs`). Its turns
//! apply system messages but take no mail, which stays queued; only its own
//! turn sets or clears the flag, on a `sys` system message.
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
pub(crate) mod body;
pub(crate) mod cell;
// issue 20: async forms
mod deadline;
mod envelope;
// issue 18: remote actors
mod encoded_ref;
mod exit;
mod id;
mod instance;
pub(crate) mod link;
#[cfg(all(test, relive_loom))]
mod loom_models;
pub(crate) mod mailbox;
// issue 15: port
mod port_reply;
pub(crate) mod sched;
pub(crate) mod sys;
mod system;
pub(crate) mod turn;

pub(crate) use actor_ref::check_types;
pub use actor_ref::{
    ActorRef, AnyActor, CallError, CallFuture, CastFuture, DEFAULT_CALL_TIMEOUT, Monitor,
    MonitorFuture, SendError,
};
// issue 18: remote actors
pub use actor_ref::DownSender;
pub(crate) use body::{Body, NativeBody, Panicked, panic_message};
pub(crate) use cell::{ActorCell, release, send_system, wake};
pub use encoded_ref::{EncodedCallFuture, EncodedCastFuture, EncodedRef};
pub(crate) use envelope::{Envelope, Payload, ReplyError, ReplyTo};
pub use exit::ExitReason;
pub use id::ActorId;
pub(crate) use instance::NewState;
pub use instance::{Instance, MigrateFailed};
pub use mailbox::DEFAULT_CAPACITY;
// issue 15: port
pub(crate) use port_reply::PortReply;
pub use sys::{TraceEvent, TraceKind};
pub(crate) use system::System;
pub(crate) use turn::SystemMsg;
