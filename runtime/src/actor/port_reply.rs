//! A port's answer on its way to the actor that asked (issue 15: port).
//!
//! The host's port task builds one when the port's future ends (answered,
//! failed, panicked, timed out or cancelled) and queues it for the actor as
//! a system message; the actor's own turn hands it to the module's
//! `on_reply`, with whichever version the actor runs then.

use relive_codec::Fingerprint;

/// One port reply: the request's id, how it ended
/// (`relive_sdk::abi::port_outcome`), the response's schema (the port's, for
/// `OK`) and bytes (the response, or a message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortReply {
    pub(crate) id: u64,
    /// The incarnation of the actor that asked (`ActorCell::incarnation`):
    /// a restarted actor never sees its predecessor's replies.
    pub(crate) incarnation: u64,
    pub(crate) outcome: u32,
    pub(crate) schema: Fingerprint,
    pub(crate) bytes: Vec<u8>,
}
