//! `ExitReason`: why an actor stops or stopped, as module code sees it.
//!
//! Nothing Rust-specific crosses the module boundary: a reason travels as a
//! stable tag ([`crate::abi::exit_tag`]) and a UTF-8 text. The host maps its
//! own reasons onto these; a reason this SDK does not know arrives as
//! [`ExitReason::Other`] with the host's description.

use crate::abi::exit_tag;
use std::fmt;

/// Why an actor stops (OTP's exit reasons), in module code: what
/// [`Context::stop`](crate::Context::stop) asks for, and what
/// [`Module::terminate`](crate::Module::terminate) and the exit callbacks
/// are told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// A normal stop (OTP's `normal`): links do not propagate it.
    Normal,
    /// A shutdown (OTP's `shutdown`), e.g. by a supervisor or the host.
    Shutdown,
    /// A shutdown that says why (OTP's `{shutdown, Info}`).
    ShutdownWith(String),
    /// A reason of the module's own (OTP's `{stop, Reason, State}` with any
    /// other term): an abnormal exit.
    Custom(String),
    /// A handler (or `terminate`) panicked; its message.
    Panicked(String),
    /// Killed: no cleanup ran (never passed to `terminate`).
    Killed,
    /// The actor did not exist (OTP's `noproc`: a link or monitor to a dead
    /// actor or an unregistered name).
    NoProc,
    /// A reason of the host's that this SDK has no variant for; its text.
    Other(String),
}

impl ExitReason {
    /// Whether this is `Normal`, the one reason that does not take a linked
    /// actor that does not trap exits down (OTP's `normal`).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }

    /// Whether this is a clean stop (`Normal`, `Shutdown`, `ShutdownWith`):
    /// no crash; a `transient` child is not restarted after it. `Shutdown`
    /// and `ShutdownWith` still take linked actors that do not trap exits
    /// down, as in OTP.
    pub fn is_clean(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown | ExitReason::ShutdownWith(_))
    }

    /// The ABI's tag and text for this reason.
    pub fn to_abi(&self) -> (u32, &str) {
        match self {
            ExitReason::Normal => (exit_tag::NORMAL, ""),
            ExitReason::Shutdown => (exit_tag::SHUTDOWN, ""),
            ExitReason::ShutdownWith(s) => (exit_tag::SHUTDOWN_WITH, s),
            ExitReason::Custom(s) => (exit_tag::CUSTOM, s),
            ExitReason::Panicked(s) => (exit_tag::PANICKED, s),
            ExitReason::Killed => (exit_tag::KILLED, ""),
            ExitReason::NoProc => (exit_tag::NO_PROC, ""),
            ExitReason::Other(s) => (exit_tag::OTHER, s),
        }
    }

    /// The reason the ABI's `tag` and `text` stand for (an unknown tag is
    /// [`Other`](ExitReason::Other) with the text).
    pub fn from_abi(tag: u32, text: &str) -> Self {
        match tag {
            exit_tag::NORMAL => ExitReason::Normal,
            exit_tag::SHUTDOWN => ExitReason::Shutdown,
            exit_tag::SHUTDOWN_WITH => ExitReason::ShutdownWith(text.to_owned()),
            exit_tag::CUSTOM => ExitReason::Custom(text.to_owned()),
            exit_tag::PANICKED => ExitReason::Panicked(text.to_owned()),
            exit_tag::KILLED => ExitReason::Killed,
            exit_tag::NO_PROC => ExitReason::NoProc,
            _ => ExitReason::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::ShutdownWith(why) => write!(f, "shutdown: {why}"),
            ExitReason::Custom(why) | ExitReason::Other(why) => f.write_str(why),
            ExitReason::Panicked(m) => write!(f, "panicked: {m}"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ExitReason;

    #[test]
    fn every_reason_survives_the_abi_and_unknown_tags_are_other() {
        for r in [
            ExitReason::Normal,
            ExitReason::Shutdown,
            ExitReason::ShutdownWith("bye".into()),
            ExitReason::Custom("mine".into()),
            ExitReason::Panicked("boom".into()),
            ExitReason::Killed,
            ExitReason::NoProc,
            ExitReason::Other("linked 3 exited".into()),
        ] {
            let (tag, text) = r.to_abi();
            assert_eq!(ExitReason::from_abi(tag, text), r);
        }
        assert_eq!(ExitReason::from_abi(999, "x"), ExitReason::Other("x".into()));
    }
}
