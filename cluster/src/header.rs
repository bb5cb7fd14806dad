//! The NATS headers of relive's messages: what a request carries (its kind,
//! the wire version, the fingerprints of the sender's types) and what a
//! reply says (its status, the node that answered, a refusal's details).

use async_nats::HeaderMap;
use relive_codec::Fingerprint;
use relive_runtime::ExitReason;
use relive_runtime::code_server::Part;

/// The version of relive's use of NATS (these headers and subjects). A host
/// refuses a message of another version with [`Status::Wire`].
/// Version 2 (decision 0030): casts carry [`SENDER`] and [`SEQ`], and one
/// that comes with a reply subject is acknowledged once delivered.
pub const WIRE_VERSION: &str = "2";

/// `call`, `cast`, `check` or `monitor`.
pub const KIND: &str = "Relive-Kind";
/// [`WIRE_VERSION`].
pub const WIRE: &str = "Relive-Wire";
/// The fingerprint of the sender's message type, 16 hex digits.
pub const MESSAGE_SCHEMA: &str = "Relive-Message-Schema";
/// The fingerprint of the sender's reply type.
pub const REPLY_SCHEMA: &str = "Relive-Reply-Schema";
/// The caller's timeout in milliseconds (the serving host waits no longer).
pub const TIMEOUT_MS: &str = "Relive-Timeout-Ms";
/// A cast's sender: one stream of casts (a `RemoteRef` and its clones),
/// unique in the cluster.
pub const SENDER: &str = "Relive-Sender";
/// A cast's sequence number in its sender's stream, from 1.
pub const SEQ: &str = "Relive-Seq";
/// The reply's [`Status`].
pub const STATUS: &str = "Relive-Status";
/// The node that answered.
pub const NODE: &str = "Relive-Node";
/// A refusal's or failure's text (an exit reason, a handler's error).
pub const REASON: &str = "Relive-Reason";
/// A type refusal: which type (`message`, `reply`).
pub const PART: &str = "Relive-Part";
/// A type refusal: the actor's fingerprint.
pub const EXPECTED: &str = "Relive-Expected";
/// A type refusal: what the actor is (module and version).
pub const TARGET: &str = "Relive-Target";
/// On a heartbeat: the host is leaving.
pub const GOODBYE: &str = "Relive-Goodbye";

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call: the reply is the answer.
    Call,
    /// A cast: no reply.
    Cast,
    /// Only the type check (resolving a remote reference).
    Check,
    /// Is the actor there now (setting up a monitor)?
    Monitor,
}

impl Kind {
    /// Its header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Call => "call",
            Kind::Cast => "cast",
            Kind::Check => "check",
            Kind::Monitor => "monitor",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "call" => Kind::Call,
            "cast" => Kind::Cast,
            "check" => Kind::Check,
            "monitor" => Kind::Monitor,
            _ => return None,
        })
    }
}

/// A reply's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The payload is the reply (or, to a check or monitor, empty).
    Ok,
    /// The sender's types are not the actor's: refused before delivery.
    Types,
    /// No actor of that name on this host now.
    NoProc,
    /// The actor exited before it replied; [`REASON`] says why.
    Exited,
    /// The handler could not handle the message; [`REASON`].
    Handler,
    /// The message's variant is one the running version lacks.
    UnknownVariant,
    /// The mailbox stayed full until the timeout.
    Full,
    /// No reply within the caller's timeout on the serving host.
    Timeout,
    /// The call was taken but dropped unanswered.
    Dropped,
    /// A request this host cannot read (headers missing or of another
    /// wire version); [`REASON`].
    Wire,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Types => "types",
            Status::NoProc => "noproc",
            Status::Exited => "exited",
            Status::Handler => "handler",
            Status::UnknownVariant => "unknown-variant",
            Status::Full => "full",
            Status::Timeout => "timeout",
            Status::Dropped => "dropped",
            Status::Wire => "wire",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => Status::Ok,
            "types" => Status::Types,
            "noproc" => Status::NoProc,
            "exited" => Status::Exited,
            "handler" => Status::Handler,
            "unknown-variant" => Status::UnknownVariant,
            "full" => Status::Full,
            "timeout" => Status::Timeout,
            "dropped" => Status::Dropped,
            "wire" => Status::Wire,
            _ => return None,
        })
    }
}

/// The headers of a request of `kind` by a sender typed `(message, reply)`.
pub fn request(kind: Kind, message: Fingerprint, reply: Fingerprint) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(KIND, kind.as_str());
    h.insert(WIRE, WIRE_VERSION);
    h.insert(MESSAGE_SCHEMA, message.to_string().as_str());
    h.insert(REPLY_SCHEMA, reply.to_string().as_str());
    h
}

/// A header's value.
pub(crate) fn get<'a>(h: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    h?.get(name).map(|v| v.as_str())
}

/// A fingerprint written by [`request`].
pub(crate) fn fingerprint(s: &str) -> Option<Fingerprint> {
    u64::from_str_radix(s, 16).ok().map(|v| Fingerprint(v.to_be_bytes()))
}

/// A type part written as `Part`'s display.
pub(crate) fn part(s: &str) -> Option<Part> {
    Some(match s {
        "message" => Part::Message,
        "reply" => Part::Reply,
        "init args" => Part::Args,
        _ => return None,
    })
}

/// An exit reason back from its text (`ExitReason`'s display): the reasons
/// with no text of their own come back as themselves, a panic and a
/// shutdown with a reason keep their text, any other as `Custom`.
pub fn exit_reason(text: &str) -> ExitReason {
    match text {
        "normal" => ExitReason::Normal,
        "shutdown" => ExitReason::Shutdown,
        "killed" => ExitReason::Killed,
        "noproc" => ExitReason::NoProc,
        _ => {
            if let Some(m) = text.strip_prefix("panicked: ") {
                ExitReason::Panicked(m.to_owned())
            } else if let Some(n) = text.strip_prefix("noconnection: ") {
                ExitReason::NoConnection(n.to_owned())
            } else if let Some(w) = text.strip_prefix("shutdown: ") {
                ExitReason::ShutdownWith(w.to_owned())
            } else {
                ExitReason::Custom(text.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_and_reasons_round_trip_through_their_text() {
        let f = Fingerprint::of::<(u32, String)>();
        assert_eq!(fingerprint(&f.to_string()), Some(f));
        assert_eq!(fingerprint("zz"), None);
        for r in [
            ExitReason::Normal,
            ExitReason::Shutdown,
            ExitReason::Killed,
            ExitReason::NoProc,
            ExitReason::Panicked("boom (at a.rs:1:2)".into()),
            ExitReason::ShutdownWith("done".into()),
            ExitReason::NoConnection("h2".into()),
            ExitReason::Custom("mine".into()),
        ] {
            assert_eq!(exit_reason(&r.to_string()), r);
        }
        for p in [Part::Message, Part::Reply, Part::Args] {
            assert_eq!(part(&p.to_string()), Some(p));
        }
        for s in ["ok", "types", "noproc", "exited", "handler", "unknown-variant", "full"] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
    }
}
