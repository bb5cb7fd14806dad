//! # relive-codec: the bytes that cross the module boundary
//!
//! Rust has no stable ABI, so relive never passes a Rust type between the host
//! and a module library. Everything that crosses — a message, a reply, a state
//! snapshot, init arguments — is encoded with [postcard] into a byte slice,
//! and every such type carries a [`Fingerprint`] of its schema (from
//! [`postcard_schema`]: it covers field names, variant names and types), so a
//! host and a module that disagree about a type find out at load time, not as
//! garbage at decode time.
//!
//! ```
//! use postcard_schema::Schema;
//! use relive_codec::{Buffer, Fingerprint, decode};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
//! enum Msg { Add(u64), Get }
//!
//! let mut buf = Buffer::new();
//! let bytes = buf.encode(&Msg::Add(5)).unwrap();
//! assert_eq!(decode::<Msg>(bytes).unwrap(), Msg::Add(5));
//!
//! // The fingerprint is computed at compile time and sees field and variant names.
//! const MSG: Fingerprint = Fingerprint::of::<Msg>();
//! assert_ne!(MSG, Fingerprint::of::<u64>());
//! ```
//!
//! Decoding is strict: trailing bytes are an error, so a message encoded for a
//! longer type never silently decodes as a shorter one. See also
//! [`compat`] for the "can this version read that state" rule.
#![forbid(unsafe_code)]

pub mod compat;
mod error;
mod fingerprint;
pub mod plain;
pub mod variants;
mod wire;

pub use error::CodecError;
pub use fingerprint::Fingerprint;
pub use wire::{Buffer, StateSnapshot, decode, encode_into, encode_to_sink, encode_to_slice};

/// Re-exported so that modules and hosts derive [`Schema`] against the same crate.
pub use postcard_schema::{self, Schema};
