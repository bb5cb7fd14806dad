//! The types callers use with a module, and the one check of them against a
//! version: at load (loader step 6), at every typed spawn, and whenever an
//! untyped actor reference is given types.

use super::version::Version;
use relive_codec::{Fingerprint, Schema};
use std::fmt;

/// The types callers use with a module: checked against every new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Init arguments.
    pub args: Fingerprint,
    /// Messages.
    pub message: Fingerprint,
    /// Replies.
    pub reply: Fingerprint,
}

/// Which of a module's types a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The init arguments.
    Args,
    /// The messages.
    Message,
    /// The replies.
    Reply,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Args => "init args",
            Part::Message => "message",
            Part::Reply => "reply",
        })
    }
}

/// A caller's type is not the module's (or the actor's): refused before any
/// byte is sent, so a mismatch is never a mis-decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: the {part} type has schema {found}, {target}'s is {expected}")]
pub struct TypeMismatch {
    /// The module and version, or the actor, checked against.
    pub target: String,
    /// Which type.
    pub part: Part,
    /// The module's (or actor's) schema.
    pub expected: Fingerprint,
    /// The caller's.
    pub found: Fingerprint,
}

impl Interface {
    /// The interface of callers that use `Args`, `Msg` and `Reply`.
    pub const fn of<Args, Msg, Reply>() -> Self
    where
        Args: Schema + ?Sized,
        Msg: Schema + ?Sized,
        Reply: Schema + ?Sized,
    {
        Interface {
            args: Fingerprint::of::<Args>(),
            message: Fingerprint::of::<Msg>(),
            reply: Fingerprint::of::<Reply>(),
        }
    }

    /// The interface a version declares.
    pub fn of_version(v: &Version) -> Self {
        let s = v.schemas();
        Interface { args: s.args, message: s.message, reply: s.reply }
    }

    /// The first type in which `found` differs from `self` (messages, then
    /// replies, then init arguments), as `(part, self's, found's)`.
    pub fn first_difference(&self, found: &Interface) -> Option<(Part, Fingerprint, Fingerprint)> {
        [
            (Part::Message, self.message, found.message),
            (Part::Reply, self.reply, found.reply),
            (Part::Args, self.args, found.args),
        ]
        .into_iter()
        .find(|(_, e, f)| e != f)
    }

    /// Check a caller's interface (`self`) against `version`.
    ///
    /// # Errors
    /// The first type that differs.
    pub fn check(&self, version: &Version) -> Result<(), TypeMismatch> {
        match Interface::of_version(version).first_difference(self) {
            None => Ok(()),
            Some((part, expected, found)) => Err(TypeMismatch::new(version, part, expected, found)),
        }
    }

    /// Check one of a caller's types against `version`'s.
    ///
    /// # Errors
    /// The type differs.
    pub fn check_part(
        version: &Version,
        part: Part,
        found: Fingerprint,
    ) -> Result<(), TypeMismatch> {
        let own = Interface::of_version(version);
        let expected = match part {
            Part::Args => own.args,
            Part::Message => own.message,
            Part::Reply => own.reply,
        };
        if expected == found {
            Ok(())
        } else {
            Err(TypeMismatch::new(version, part, expected, found))
        }
    }
}

impl TypeMismatch {
    fn new(version: &Version, part: Part, expected: Fingerprint, found: Fingerprint) -> Self {
        TypeMismatch {
            target: format!("{} {}", version.name(), version.version()),
            part,
            expected,
            found,
        }
    }
}
