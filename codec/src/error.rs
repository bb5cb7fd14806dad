use crate::Fingerprint;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be serialized (a serde error in its `Serialize` impl).
    #[error("encode failed: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected type.
    #[error("decode failed: {0}")]
    Decode(String),
    /// The bytes held a valid value followed by `extra` more bytes.
    #[error("decode failed: {extra} trailing byte(s) after the value")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// The bytes were written for another schema than the one asked for.
    #[error("schema mismatch: bytes have schema {found}, expected {expected}")]
    SchemaMismatch {
        /// The schema the reader expected.
        expected: Fingerprint,
        /// The schema the bytes were written with.
        found: Fingerprint,
    },
}
