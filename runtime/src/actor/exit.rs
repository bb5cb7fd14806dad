//! `ExitReason`: why an actor exited (OTP's exit reasons).

use super::ActorId;
use std::fmt;

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
    /// It was linked to an actor that did not exist any more (OTP's `noproc`).
    NoProc,
    /// It asked to shut down with a reason of its own (OTP's
    /// `{shutdown, Info}`): a clean stop, like `Shutdown`, that says why.
    ShutdownWith(String),
    /// It stopped with a reason of its own (OTP's `{stop, Reason, State}`
    /// with any other term): an abnormal exit.
    Custom(String),
    // issue 18: remote actors
    /// The host it runs on became unreachable (OTP's `noconnection`): no
    /// heartbeat within the deadline, or the cluster had no responder for
    /// it. The node's name.
    NoConnection(String),
}

impl ExitReason {
    /// Only `Normal` is a normal exit: links do not propagate it. Every
    /// other reason, `Shutdown` included, makes a linked actor that does
    /// not trap exits exit too (OTP: only `normal` is not propagated).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }

    /// A clean stop, reported without a crash report (OTP's `normal`,
    /// `shutdown` and `{shutdown, Info}`), also when it reached this actor
    /// through a link.
    pub fn is_clean(&self) -> bool {
        match self {
            ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_) => true,
            ExitReason::Linked { reason, .. } => reason.is_clean(),
            _ => false,
        }
    }
}

// issue 14: gen_server
impl ExitReason {
    /// The reason as the module ABI carries it: a tag and a text
    /// (`relive_sdk::abi::exit_tag`). A `Linked` reason goes as the reason
    /// it wraps (OTP's bare reason: a module's `terminate` sees `shutdown`
    /// for a linked shutdown); reasons the ABI has no tag for go as `OTHER`
    /// with their description.
    pub(crate) fn to_abi(&self) -> (u32, String) {
        use relive_sdk::abi::exit_tag as t;
        match self {
            ExitReason::Linked { reason, .. } => reason.to_abi(),
            ExitReason::Normal => (t::NORMAL, String::new()),
            ExitReason::Shutdown => (t::SHUTDOWN, String::new()),
            ExitReason::ShutdownWith(s) => (t::SHUTDOWN_WITH, s.clone()),
            ExitReason::Custom(s) => (t::CUSTOM, s.clone()),
            ExitReason::Panicked(s) => (t::PANICKED, s.clone()),
            ExitReason::Killed => (t::KILLED, String::new()),
            ExitReason::NoProc => (t::NO_PROC, String::new()),
            other => (t::OTHER, other.to_string()),
        }
    }

    /// The reason a module asks to stop with (`ctx.stop`). Only a kill is
    /// a kill: a module's `killed` is a reason of its own, and so is any tag
    /// this host does not know.
    pub(crate) fn from_module(tag: u32, text: &str) -> Self {
        use relive_sdk::abi::exit_tag as t;
        match tag {
            t::NORMAL => ExitReason::Normal,
            t::SHUTDOWN => ExitReason::Shutdown,
            t::SHUTDOWN_WITH => ExitReason::ShutdownWith(text.to_owned()),
            t::PANICKED => ExitReason::Panicked(text.to_owned()),
            t::NO_PROC => ExitReason::NoProc,
            t::KILLED => ExitReason::Custom("killed".to_owned()),
            _ => ExitReason::Custom(text.to_owned()),
        }
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
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::ShutdownWith(why) => write!(f, "shutdown: {why}"),
            ExitReason::Custom(why) => f.write_str(why),
            ExitReason::NoConnection(node) => write!(f, "noconnection: {node}"),
        }
    }
}
