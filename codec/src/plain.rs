//! issue 17: the plain form — a fixed-layout image of a small value whose
//! schema has no variable part, for the fast path of stateless functions.
//!
//! A type is **plain** when its schema is built only from `bool`, the fixed
//! integers (`u8`…`u128`, `i8`…`i128`), `f32`, `f64`, `()`, unit structs,
//! and structs, tuples, tuple structs, newtypes and fixed arrays of plain
//! types. No `Option`, enum, sequence, string, map, `char`, `usize` or
//! `isize`: their encodings vary in length or in what they may hold.
//!
//! The **image** of a plain value is its leaves in schema order, each at a
//! fixed width in little-endian (`bool` one byte, 0 or 1), with no padding
//! and no length or tag: so its size ([`size`]) and the offset of every
//! leaf are functions of the schema alone. Two types with the same
//! [`Fingerprint`] therefore have byte-identical images, whatever their
//! memory layouts (`#[repr(C)]` or not, fields reordered by rustc or not):
//! the schema check at load is the layout check. Writing and reading an
//! image is a handful of stores and loads once inlined — no varints, no
//! allocation — which is what makes it cheaper than postcard for the small
//! arguments and results it is meant for.
//!
//! ```
//! use postcard_schema::Schema;
//! use serde::{Deserialize, Serialize};
//! use relive_codec::plain;
//!
//! #[derive(Serialize, Deserialize, Schema, Debug, PartialEq)]
//! struct Req { item: u32, qty: u16, rush: bool }
//!
//! const SIZE: Option<usize> = plain::size::<Req>();
//! assert_eq!(SIZE, Some(7));
//! assert_eq!(plain::size::<Vec<u8>>(), None);
//!
//! let mut buf = [0u8; plain::MAX];
//! let n = plain::encode(&Req { item: 7, qty: 2, rush: true }, &mut buf).unwrap();
//! assert_eq!(&buf[..n], &[7, 0, 0, 0, 2, 0, 1]);
//! assert_eq!(plain::decode::<Req>(&buf[..n]).unwrap(), Req { item: 7, qty: 2, rush: true });
//! ```
//!
//! Soundness needs nothing of the schema: encoding and decoding are safe
//! serde code, so a type whose `Schema` lied about it would only fail to
//! encode or decode ([`CodecError`]), never be misread.

use crate::CodecError;
use postcard_schema::Schema;
use postcard_schema::schema::{DataModelType, NamedType};
use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Serialize, ser};
use std::sync::atomic::{Ordering, compiler_fence};

/// The largest image the plain form carries, in bytes: a plain type with a
/// larger image goes through postcard.
pub const MAX: usize = 64;

/// The version of the image format described above, carried by each
/// function's entry so that a host and a module built with different image
/// formats never read each other's images.
pub const FORMAT: u32 = 1;

/// The size of `T`'s image, when `T` is plain and its image at most
/// [`MAX`] bytes; `None` otherwise. Computed at compile time.
pub const fn size<T: Schema + ?Sized>() -> Option<usize> {
    match size_of_schema(T::SCHEMA) {
        Some(n) if n <= MAX => Some(n),
        _ => None,
    }
}

/// The image size of the type `schema` describes, when it is plain (of any
/// size); `None` when it is not.
pub const fn size_of_schema(schema: &NamedType) -> Option<usize> {
    match schema.ty {
        DataModelType::Bool | DataModelType::I8 | DataModelType::U8 => Some(1),
        DataModelType::I16 | DataModelType::U16 => Some(2),
        DataModelType::I32 | DataModelType::U32 | DataModelType::F32 => Some(4),
        DataModelType::I64 | DataModelType::U64 | DataModelType::F64 => Some(8),
        DataModelType::I128 | DataModelType::U128 => Some(16),
        DataModelType::Unit | DataModelType::UnitStruct => Some(0),
        DataModelType::NewtypeStruct(inner) => size_of_schema(inner),
        DataModelType::Tuple(items) | DataModelType::TupleStruct(items) => {
            let mut total = 0;
            let mut i = 0;
            while i < items.len() {
                match size_of_schema(items[i]) {
                    Some(n) => total += n,
                    None => return None,
                }
                i += 1;
            }
            Some(total)
        }
        DataModelType::Struct(fields) => {
            let mut total = 0;
            let mut i = 0;
            while i < fields.len() {
                match size_of_schema(fields[i].ty) {
                    Some(n) => total += n,
                    None => return None,
                }
                i += 1;
            }
            Some(total)
        }
        _ => None,
    }
}

/// Write the image of `value` at the start of `buf`; returns its length.
///
/// # Errors
/// [`CodecError::Encode`] when `value` is not plain (its `Serialize` asks
/// for a part the image has none for) or its image is longer than `buf`.
#[inline]
pub fn encode<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, CodecError> {
    let cap = buf.len();
    let mut w = Writer { rest: buf };
    value.serialize(&mut w).map_err(|e| CodecError::Encode(*e.0))?;
    Ok(cap - w.rest.len())
}

/// Read a `T` from its image, which must be all of `bytes`.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes end early, a `bool` is neither 0
/// nor 1, or `T` is not plain; [`CodecError::TrailingBytes`] when bytes
/// are left over.
#[inline]
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    let mut r = Reader { rest: bytes };
    let value = T::deserialize(&mut r).map_err(|e| CodecError::Decode(*e.0))?;
    if r.rest.is_empty() {
        Ok(value)
    } else {
        Err(CodecError::TrailingBytes { extra: r.rest.len() })
    }
}

/// Why an image could not be written or read (becomes a [`CodecError`]).
/// Boxed so that a `Result<(), Error>` is one pointer (null when `Ok`):
/// every leaf returns one, and a small result keeps the serde impls
/// inlinable.
#[derive(Debug)]
#[allow(clippy::box_collection, reason = "one pointer, where a String is three")]
struct Error(Box<String>);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    #[cold]
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(Box::new(msg.to_string()))
    }
}

impl de::Error for Error {
    #[cold]
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(Box::new(msg.to_string()))
    }
}

#[cold]
fn not_plain(what: &str) -> Error {
    Error(Box::new(format!("{what} has no plain image")))
}

#[cold]
fn too_long() -> Error {
    Error(Box::new("the image is longer than its buffer".to_owned()))
}

#[cold]
fn ended() -> Error {
    Error(Box::new("the image ended early".to_owned()))
}

#[cold]
fn not_bool(b: u8) -> Error {
    Error(Box::new(format!("{b} is not a bool")))
}

/// Writes leaves at the front of `rest`, which then starts after them.
///
/// issue 17: one slice that shrinks, not a buffer and a position: each leaf
/// is then one length check (`split_first_chunk_mut`), which a caller
/// whose buffer length is a constant sees through entirely once inlined.
struct Writer<'a> {
    rest: &'a mut [u8],
}

impl Writer<'_> {
    #[inline]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) -> Result<(), Error> {
        match std::mem::take(&mut self.rest).split_first_chunk_mut::<N>() {
            Some((dst, rest)) => {
                *dst = bytes;
                self.rest = rest;
                // issue 17: each leaf is loaded from the value at its own
                // width (see `Reader::take`): the value was typically just
                // stored field by field by the caller, and a merged load of
                // two fields would span two of its stores.
                compiler_fence(Ordering::SeqCst);
                Ok(())
            }
            None => Err(too_long()),
        }
    }
}

macro_rules! put_le {
    ($($f:ident: $t:ty),* $(,)?) => {$(
        #[inline]
        fn $f(self, v: $t) -> Result<(), Error> {
            self.put(v.to_le_bytes())
        }
    )*};
}

macro_rules! refuse_ser {
    ($($f:ident($($arg:ty),*) -> $ok:ty: $what:literal),* $(,)?) => {$(
        fn $f(self, $(_: $arg),*) -> Result<$ok, Error> {
            Err(not_plain($what))
        }
    )*};
}

impl ser::Serializer for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.put([u8::from(v)])
    }

    put_le!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64,
    );

    refuse_ser!(
        serialize_char(char) -> (): "a char",
        serialize_str(&str) -> (): "a string",
        serialize_bytes(&[u8]) -> (): "a byte array",
        serialize_none() -> (): "an Option",
        serialize_unit_variant(&'static str, u32, &'static str) -> (): "an enum",
        serialize_seq(Option<usize>) -> Self::SerializeSeq: "a sequence",
        serialize_map(Option<usize>) -> Self::SerializeMap: "a map",
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeTupleVariant: "an enum",
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> Self::SerializeStructVariant: "an enum",
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(not_plain("an Option"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(not_plain("an enum"))
    }

    #[inline]
    fn serialize_unit(self) -> Result<(), Error> {
        Ok(())
    }

    #[inline]
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Ok(())
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }

    #[inline]
    fn serialize_tuple(self, _: usize) -> Result<Self, Error> {
        Ok(self)
    }

    #[inline]
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }

    #[inline]
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        Ok(self)
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeTuple for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    #[inline]
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Writer<'_> {
    type Ok = ();
    type Error = Error;
    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// Reads leaves from the front of `rest`, which then starts after them
/// (issue 17: one slice that shrinks, as [`Writer`]).
struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.rest = rest;
                let leaf = *head;
                // issue 17: each leaf is loaded at its own width, as the
                // writer stored it. An image is written on the other side
                // of a call (a function's module or its host) just before
                // it is read; without this barrier LLVM merges adjacent
                // leaf loads into wider ones (two `u32`s into a `u64`),
                // which span two of the writer's stores, and store
                // forwarding fails (~40 % of a call's cycles on that load,
                // perf annotate). No instruction is emitted.
                compiler_fence(Ordering::SeqCst);
                Ok(leaf)
            }
            None => Err(ended()),
        }
    }
}

macro_rules! take_le {
    ($($f:ident => $visit:ident: $t:ty),* $(,)?) => {$(
        #[inline]
        fn $f<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(<$t>::from_le_bytes(self.take()?))
        }
    )*};
}

macro_rules! refuse_de {
    ($($f:ident: $what:literal),* $(,)?) => {$(
        fn $f<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(not_plain($what))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = Error;

    take_le!(
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128, deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16, deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64, deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32, deserialize_f64 => visit_f64: f64,
    );

    refuse_de!(
        deserialize_any: "a self-describing value",
        deserialize_char: "a char",
        deserialize_str: "a string",
        deserialize_string: "a string",
        deserialize_bytes: "a byte array",
        deserialize_byte_buf: "a byte array",
        deserialize_option: "an Option",
        deserialize_seq: "a sequence",
        deserialize_map: "a map",
        deserialize_identifier: "an identifier",
        deserialize_ignored_any: "an ignored value",
    );

    #[inline]
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.take::<1>()? {
            [0] => visitor.visit_bool(false),
            [1] => visitor.visit_bool(true),
            [b] => Err(not_bool(b)),
        }
    }

    #[inline]
    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    #[inline]
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    #[inline]
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Fields { reader: self, left: len })
    }

    #[inline]
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Fields { reader: self, left: len })
    }

    #[inline]
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_seq(Fields { reader: self, left: fields.len() })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(not_plain("an enum"))
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The fields of a struct or tuple being read, in order.
struct Fields<'r, 'de> {
    reader: &'r mut Reader<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Fields<'_, 'de> {
    type Error = Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postcard_schema::Schema;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Schema, Debug, PartialEq, Clone, Copy)]
    struct Leaves {
        a: bool,
        b: i8,
        c: u16,
        d: i32,
        e: u64,
        f: f32,
        g: f64,
        h: [u8; 3],
        i: (u8, i16),
        j: Wrap,
        k: (),
        l: i128,
    }

    #[derive(Serialize, Deserialize, Schema, Debug, PartialEq, Clone, Copy)]
    struct Wrap(u32);

    const LEAVES: Leaves = Leaves {
        a: true,
        b: -2,
        c: 0x0102,
        d: -3,
        e: u64::MAX - 1,
        f: 1.5,
        g: -0.25,
        h: [9, 8, 7],
        i: (5, -6),
        j: Wrap(0xAABB_CCDD),
        k: (),
        l: -7,
    };

    #[test]
    fn every_plain_leaf_round_trips_at_the_size_the_schema_says() {
        let size = size::<Leaves>().unwrap();
        assert_eq!(size, 1 + 1 + 2 + 4 + 8 + 4 + 8 + 3 + 3 + 4 + 16);
        let mut buf = [0u8; MAX];
        assert_eq!(encode(&LEAVES, &mut buf).unwrap(), size);
        assert_eq!(decode::<Leaves>(&buf[..size]).unwrap(), LEAVES);
        // Little-endian at fixed offsets: `c` after `a` and `b`.
        assert_eq!(&buf[2..4], &[0x02, 0x01]);
    }

    #[test]
    fn types_with_a_variable_part_are_not_plain() {
        assert_eq!(size::<Option<u8>>(), None);
        assert_eq!(size::<Vec<u8>>(), None);
        assert_eq!(size::<String>(), None);
        assert_eq!(size::<char>(), None);
        assert_eq!(size::<Result<u8, u8>>(), None);
        assert_eq!(size::<[u64; 9]>(), None, "72 bytes is past MAX");
        assert_eq!(size::<[u64; 8]>(), Some(64));
    }

    #[test]
    fn a_value_that_is_not_plain_or_too_long_is_an_error_not_a_misread() {
        let mut buf = [0u8; MAX];
        assert!(matches!(encode(&Some(1u8), &mut buf), Err(CodecError::Encode(_))));
        assert!(matches!(encode(&[0u64; 9], &mut buf), Err(CodecError::Encode(_))));
        assert!(matches!(decode::<Option<u8>>(&[1, 1]), Err(CodecError::Decode(_))));
        assert!(matches!(decode::<u32>(&[1, 2, 3]), Err(CodecError::Decode(_))));
        assert!(matches!(decode::<bool>(&[2]), Err(CodecError::Decode(_))));
        assert_eq!(decode::<u8>(&[1, 2]), Err(CodecError::TrailingBytes { extra: 1 }));
    }
}
