//! One message in a mailbox: its encoded bytes and where the reply goes.

use super::ExitReason;
use crate::code_server::ModuleCallError;

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
    Handler(ModuleCallError),
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
