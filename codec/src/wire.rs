//! postcard encode/decode into reusable buffers.

use crate::{CodecError, Fingerprint};
use postcard::ser_flavors::Flavor;
use serde::{Deserialize, Serialize};

/// Encode `value` into `buf`, replacing its contents and reusing its capacity.
///
/// # Errors
/// [`CodecError::Encode`] when the value's `Serialize` impl fails.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    buf.clear();
    let taken = std::mem::take(buf);
    match postcard::to_extend(value, taken) {
        Ok(filled) => {
            *buf = filled;
            Ok(())
        }
        Err(e) => Err(CodecError::Encode(e.to_string())),
    }
}

/// Encode `value` into `buf` if it fits: `Ok(Some(len))` with the first
/// `len` bytes written, `Ok(None)` when the encoding is longer than `buf`
/// (encode it with [`encode_into`] instead).
///
/// # Errors
/// [`CodecError::Encode`] when the value's `Serialize` impl fails.
pub fn encode_to_slice<T: Serialize + ?Sized>(
    value: &T,
    buf: &mut [u8],
) -> Result<Option<usize>, CodecError> {
    match postcard::to_slice(value, buf) {
        Ok(used) => Ok(Some(used.len())),
        Err(postcard::Error::SerializeBufferFull) => Ok(None),
        Err(e) => Err(CodecError::Encode(e.to_string())),
    }
}

/// Decode a `T` that must use every byte of `bytes`.
///
/// # Errors
/// [`CodecError::Decode`] for bytes that are not a `T`,
/// [`CodecError::TrailingBytes`] when bytes are left over after the value.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| CodecError::Decode(e.to_string()))?;
    if rest.is_empty() { Ok(value) } else { Err(CodecError::TrailingBytes { extra: rest.len() }) }
}

/// Encode `value` through `sink` in chunks of at most 256 bytes, without
/// allocating: a value of up to 256 bytes reaches the sink in one call.
///
/// This is how a module hands bytes to the host: the sink is the host's
/// write callback, so the bytes go straight into host-owned memory.
///
/// # Errors
/// [`CodecError::Encode`] when the value's `Serialize` impl fails.
pub fn encode_to_sink<T, F>(value: &T, sink: F) -> Result<(), CodecError>
where
    T: Serialize + ?Sized,
    F: FnMut(&[u8]),
{
    let flavor = ChunkFlavor { chunk: [0; CHUNK], len: 0, sink };
    postcard::serialize_with_flavor(value, flavor).map_err(|e| CodecError::Encode(e.to_string()))
}

const CHUNK: usize = 256;

struct ChunkFlavor<F: FnMut(&[u8])> {
    chunk: [u8; CHUNK],
    len: usize,
    sink: F,
}

impl<F: FnMut(&[u8])> ChunkFlavor<F> {
    fn flush(&mut self) {
        if self.len > 0 {
            (self.sink)(&self.chunk[..self.len]);
            self.len = 0;
        }
    }
}

impl<F: FnMut(&[u8])> Flavor for ChunkFlavor<F> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        if self.len == CHUNK {
            self.flush();
        }
        self.chunk[self.len] = byte;
        self.len += 1;
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.len + data.len() <= CHUNK {
            self.chunk[self.len..self.len + data.len()].copy_from_slice(data);
            self.len += data.len();
        } else {
            self.flush();
            if data.len() <= CHUNK {
                self.chunk[..data.len()].copy_from_slice(data);
                self.len = data.len();
            } else {
                (self.sink)(data);
            }
        }
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<()> {
        self.flush();
        Ok(())
    }
}

/// A reusable encode buffer: one allocation that grows to the largest value
/// encoded and is then reused, so steady-state encoding allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encode `value`, returning the encoded bytes (valid until the next call).
    ///
    /// # Errors
    /// [`CodecError::Encode`] when the value's `Serialize` impl fails.
    pub fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<&[u8], CodecError> {
        encode_into(value, &mut self.bytes)?;
        Ok(&self.bytes)
    }

    /// The underlying vector, for callers that fill it another way.
    pub fn as_mut_vec(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// The bytes currently held.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }
}

/// A state as bytes, tagged with who wrote it: the module, its version and the
/// fingerprint of the state schema. This is what an upgrade snapshot holds and
/// what `code_change` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// The module name.
    pub module: String,
    /// The semver version string of the version that exported the state.
    pub version: String,
    /// The schema the bytes were written with.
    pub schema: Fingerprint,
    /// The postcard-encoded state.
    pub bytes: Vec<u8>,
}

impl StateSnapshot {
    /// Decode the state as a `T`, checking first that `T` has the schema the
    /// bytes were written with.
    ///
    /// # Errors
    /// [`CodecError::SchemaMismatch`] when `T` is not the writer's schema, or a
    /// decode error.
    pub fn decode<'a, T>(&'a self) -> Result<T, CodecError>
    where
        T: Deserialize<'a> + postcard_schema::Schema,
    {
        let expected = Fingerprint::of::<T>();
        if expected != self.schema {
            return Err(CodecError::SchemaMismatch { expected, found: self.schema });
        }
        decode(&self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postcard_schema::Schema;

    #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
    struct Order {
        id: u64,
        amount: i64,
        tag: String,
    }

    #[test]
    fn round_trip_and_buffer_reuse() {
        let mut buf = Buffer::new();
        let o = Order { id: 7, amount: -3, tag: "sixteen-bytes..!".into() };
        let bytes = buf.encode(&o).unwrap().to_vec();
        assert_eq!(decode::<Order>(&bytes).unwrap(), o);
        let cap = buf.as_mut_vec().capacity();
        buf.encode(&o).unwrap();
        assert_eq!(buf.as_mut_vec().capacity(), cap, "buffer is reused");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = postcard::to_allocvec(&5u32).unwrap();
        bytes.push(0);
        assert_eq!(decode::<u32>(&bytes), Err(CodecError::TrailingBytes { extra: 1 }));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(decode::<Order>(&[0xff, 0xff]), Err(CodecError::Decode(_))));
        assert!(matches!(decode::<Order>(&[]), Err(CodecError::Decode(_))));
    }

    #[test]
    fn sink_matches_vec_encoding_for_small_and_large_values() {
        for len in [0usize, 10, 255, 256, 257, 1000, 5000] {
            let o = Order { id: 1, amount: 2, tag: "x".repeat(len) };
            let mut via_sink = Vec::new();
            let mut calls = 0;
            encode_to_sink(&o, |b| {
                calls += 1;
                via_sink.extend_from_slice(b)
            })
            .unwrap();
            assert_eq!(via_sink, postcard::to_allocvec(&o).unwrap());
            if len < 200 {
                assert_eq!(calls, 1, "a small value is one sink call");
            }
        }
    }

    #[test]
    fn snapshot_checks_the_schema() {
        let o = Order { id: 1, amount: 2, tag: "t".into() };
        let snap = StateSnapshot {
            module: "m".into(),
            version: "1.0.0".into(),
            schema: Fingerprint::of::<Order>(),
            bytes: postcard::to_allocvec(&o).unwrap(),
        };
        assert_eq!(snap.decode::<Order>().unwrap(), o);
        assert!(matches!(snap.decode::<u64>(), Err(CodecError::SchemaMismatch { .. })));
    }
}
