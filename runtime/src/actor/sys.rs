//! OTP's `sys` on one actor (issue 14): suspend and resume, the state as
//! JSON (get and replace), and a bounded trace of messages in and out.
//!
//! Every request that touches the body is a system message
//! ([`SystemMsg::Sys`](super::SystemMsg)) the actor applies on its own turn,
//! between two messages, as an OTP process handles `{system, From, Msg}`: so
//! it never races a handler, it is ordered with the rest of the actor's
//! system messages, and whoever asked waits for the answer with a deadline
//! (a stuck actor is a timeout, never a hang: docs/decisions/0006).
//!
//! A **suspended** actor (a flag in its cell, set and cleared only by its own
//! turn) still applies system messages — stop, link exits, a deferred move,
//! and `sys` requests, so get and replace work while it is suspended — but
//! takes no mail: its mail stays queued, in order, until it resumes (or is
//! answered by its exit). Suspending or resuming twice is no error.
//!
//! The counters ([`ActorCell::sent`](super::ActorCell), `turns`, `handled`)
//! are always on: relaxed increments on the cell's own cache line. The
//! trace is opt-in per actor: off, it costs one relaxed load per message.

use super::body::Body;
use super::cell::ActorCell;
use crate::code_server::ModuleCallError;
use crate::sync::Ordering;
use std::collections::VecDeque;

/// What a `sys` request asks of the actor.
#[derive(Debug)]
pub(crate) enum SysOp {
    /// Take no more mail until `Resume`.
    Suspend,
    /// Take mail again.
    Resume,
    /// The state as JSON.
    GetState,
    /// Replace the state with this JSON (through the module); answers the
    /// new state as JSON.
    ReplaceState(String),
    /// The trace's events, rendered.
    GetTrace,
}

/// What a `sys` request produced.
#[derive(Debug)]
pub(crate) enum SysAnswer {
    /// Suspended or resumed.
    Done,
    /// The state as JSON (from the module).
    State(String),
    /// The traced events, oldest first (`None`: tracing is off).
    Trace(Option<Vec<TraceEvent>>),
}

/// Why a `sys` request was refused (the actor keeps running, its state
/// unchanged).
#[derive(Debug)]
pub(crate) enum SysRefused {
    /// A host-native actor has no module state.
    NotAModule,
    /// The module refused, failed or panicked in its `sys` function, or
    /// does not have it.
    Module(ModuleCallError),
}

/// Where the answer to a `sys` request goes.
pub(crate) type SysReply = oneshot::Sender<Result<SysAnswer, SysRefused>>;

/// One `sys` request, as a system message carries it.
#[derive(Debug)]
pub(crate) struct SysRequest {
    pub(crate) op: SysOp,
    pub(crate) reply: SysReply,
}

/// Which way a traced message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A cast came in (OTP's `{in, Msg}`).
    Cast,
    /// A call came in (OTP's `{in, Msg, From}`).
    Call,
    /// The actor answered a call (OTP's `{out, Reply, To}`).
    Reply,
}

/// One traced event (OTP's `sys` debug event), oldest first in a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// Its position in the actor's trace since tracing started (0, 1, …):
    /// gaps at the start are events the bounded ring let go.
    pub seq: u64,
    /// In (cast, call) or out (reply).
    pub kind: TraceKind,
    /// The message or reply as JSON, rendered by the module (for a
    /// host-native actor, or a module built before `sys`, a JSON string of
    /// the encoded bytes in hex).
    pub message: serde_json::Value,
}

/// The events recorded while tracing, encoded (rendered only when asked).
#[derive(Debug)]
pub(crate) struct TraceRing {
    cap: usize,
    next: u64,
    events: VecDeque<(u64, TraceKind, Vec<u8>)>,
}

impl TraceRing {
    /// A ring keeping the last `cap` events (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        TraceRing { cap, next: 0, events: VecDeque::with_capacity(cap.min(1024)) }
    }

    /// Keep the last `cap` events from now on (dropping the oldest if needed).
    pub(crate) fn resize(&mut self, cap: usize) {
        self.cap = cap.max(1);
        while self.events.len() > self.cap {
            self.events.pop_front();
        }
    }

    fn push(&mut self, kind: TraceKind, bytes: &[u8]) {
        if self.events.len() == self.cap {
            self.events.pop_front();
        }
        self.events.push_back((self.next, kind, bytes.to_vec()));
        self.next += 1;
    }
}

/// Record one event if `cell` is being traced (one relaxed load otherwise).
pub(crate) fn trace(cell: &ActorCell, kind: TraceKind, bytes: &[u8]) {
    // ORDERING: a switch for a debug aid; the ring's lock orders the events.
    if cell.tracing.load(Ordering::Relaxed)
        && let Some(ring) = cell.trace.lock().as_mut()
    {
        ring.push(kind, bytes);
    }
}

/// Whether `cell` is suspended by `sys` (read by its own turn, and by views).
pub(crate) fn is_suspended(cell: &ActorCell) -> bool {
    // ORDERING: written only by the actor's own turns, which the body lock
    // orders; other readers take it as a hint.
    cell.suspended.load(Ordering::Relaxed)
}

/// Apply one `sys` request on the actor's turn (`body` is its locked body).
pub(crate) fn apply(cell: &ActorCell, body: &mut Body, req: SysRequest) {
    // The caller gave up (its wait timed out): a request nobody waits for
    // any more does nothing, so that a `suspend` or `replace_state` that
    // answered `Timeout` does not take effect later.
    if req.reply.is_closed() {
        return;
    }
    let answer = match req.op {
        SysOp::Suspend | SysOp::Resume => {
            let suspend = matches!(req.op, SysOp::Suspend);
            // ORDERING: see `is_suspended`.
            cell.suspended.store(suspend, Ordering::Relaxed);
            if !suspend {
                // What waited goes back in front of the system queue, in
                // order; the turn applying this request takes it up next.
                let mut c = cell.control.lock();
                let parked = c.ext.as_mut().map(|e| std::mem::take(&mut e.parked));
                for m in parked.unwrap_or_default().into_iter().rev() {
                    c.system.push_front(m);
                }
            }
            Ok(SysAnswer::Done)
        }
        SysOp::GetState => match body {
            Body::Module(inst) => {
                inst.state_json().map(SysAnswer::State).map_err(SysRefused::Module)
            }
            _ => Err(SysRefused::NotAModule),
        },
        SysOp::ReplaceState(json) => match body {
            Body::Module(inst) => inst
                .replace_state_json(&json)
                .and_then(|()| inst.state_json())
                .map(SysAnswer::State)
                .map_err(SysRefused::Module),
            _ => Err(SysRefused::NotAModule),
        },
        SysOp::GetTrace => {
            let events: Option<Vec<_>> =
                cell.trace.lock().as_ref().map(|r| r.events.iter().cloned().collect());
            Ok(SysAnswer::Trace(events.map(|events| {
                events
                    .into_iter()
                    .map(|(seq, kind, bytes)| TraceEvent {
                        seq,
                        kind,
                        message: render(body, kind == TraceKind::Reply, &bytes),
                    })
                    .collect()
            })))
        }
    };
    let _ = req.reply.send(answer);
}

/// A traced message as JSON: by the module when it can, else its bytes in hex.
fn render(body: &Body, reply: bool, bytes: &[u8]) -> serde_json::Value {
    if let Body::Module(inst) = body
        && let Ok(json) = inst.to_json(reply, bytes)
        && let Ok(value) = serde_json::from_str(&json)
    {
        return value;
    }
    serde_json::Value::String(hex::encode(bytes))
}
