//! The interface of the `port_user` fixture module (`port_user`,
//! `port_user_v2`) and the types of the ports its tests register.

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// What a port registered by the tests is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum Mode {
    /// Answer `n + 1`.
    Answer,
    /// Return an error with this message.
    Fail(String),
    /// Panic with this message.
    Panic(String),
}

/// A request to a test port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Ask {
    /// The number to answer from.
    pub n: u64,
    /// How long the port sleeps (on its runtime) before it acts.
    pub delay_ms: u64,
    /// What it does then.
    pub mode: Mode,
}

impl Ask {
    /// Answer `n + 1` after `delay_ms`.
    pub fn answer(n: u64, delay_ms: u64) -> Self {
        Ask { n, delay_ms, mode: Mode::Answer }
    }
}

/// A test port's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Answer(pub u64);

/// Not a test port's response type (for schema mismatches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct WrongAnswer(pub String);

/// How a request ended, as the module saw it in `on_reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum Outcome {
    /// The port's answer.
    Answered(u64),
    /// `PortError::Timeout`.
    Timeout,
    /// `PortError::Failed`, its message.
    Failed(String),
    /// `PortError::Panicked`, its message.
    Panicked(String),
    /// `PortError::Cancelled`.
    Cancelled(String),
    /// `PortError::SchemaMismatch`.
    SchemaMismatch,
    /// Any other error, displayed.
    Other(String),
}

/// One reply the module handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Record {
    /// The request's id.
    pub id: u64,
    /// The module version that handled the reply.
    pub version: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// The module's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PortMsg {
    /// Send `ask` to `port` (with this timeout, else the default); answers
    /// `Sent(id)` or `Refused`.
    Ask {
        /// The port's name.
        port: String,
        /// The request.
        ask: Ask,
        /// The request's timeout in milliseconds.
        timeout_ms: Option<u64>,
    },
    /// Send `ask` naming `WrongAnswer` as the response type.
    AskWrongType {
        /// The port's name.
        port: String,
    },
    /// Send `ask` and decode its response as `WrongAnswer` when it comes.
    AskDecodeWrong {
        /// The port's name.
        port: String,
        /// The request.
        ask: Ask,
    },
    /// Send `ask`, defer this call's reply and answer it with `Done` when
    /// the port answers.
    AskAndWait {
        /// The port's name.
        port: String,
        /// The request.
        ask: Ask,
    },
    /// `n` requests of `Ask::answer(i, 0)` one after the other (each sent
    /// from the previous one's `on_reply`); answers `Done` after the last.
    Chain {
        /// The port's name.
        port: String,
        /// How many.
        n: u64,
    },
    /// The replies handled so far.
    Replies,
    /// How many replies were handled so far.
    Count,
}

/// The module's replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PortReply {
    /// The request was sent with this id.
    Sent(u64),
    /// `ctx.request` refused, displayed.
    Refused(String),
    /// The answer to a deferred call.
    Done(Record),
    /// The replies handled so far.
    Replies(Vec<Record>),
    /// How many.
    Count(u64),
    /// Deferred: never seen by a caller.
    Deferred,
}
