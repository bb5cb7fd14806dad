//! The variants of a type, for interfaces that grow.
//!
//! postcard encodes an enum value as its variant's index (a varint) and then
//! the variant's fields, so a type whose newer version only *appends*
//! variants still reads every value of the older one byte for byte. To check
//! that cheaply, relive describes a type by the fingerprints of its
//! **variant prefixes**: entry `i` is the [`Fingerprint`] of the same enum
//! cut after variant `i` (its name and its fields included). The last entry
//! is the type's own fingerprint, and because the hash runs over the
//! variants in order, two types agree on entry `i` exactly when they agree
//! on variants `0..=i`: type `A` is a prefix of type `B` when `B`'s entry
//! `len(A) - 1` is `A`'s last one.
//!
//! A type that is not an enum (a struct, `u64`, `()`…) is a one-entry list,
//! its own fingerprint: it can only stay equal.
//!
//! ```
//! use postcard_schema::Schema;
//! use relive_codec::{Fingerprint, variants};
//!
//! #[derive(Schema)]
//! enum V1 { Add(u64), Get }
//! #[derive(Schema)]
//! enum V2 { Add(u64), Get, Reset }
//!
//! // Computed at compile time, like `Fingerprint::of`.
//! const V2_PREFIXES: [Fingerprint; 3] = variants::prefixes::<V2, 3>();
//! assert_eq!(variants::count::<V2>(), 3);
//! assert_eq!(V2_PREFIXES[1], Fingerprint::of::<V1>()); // V1 is V2 cut after `Get`
//! assert_eq!(V2_PREFIXES[2], Fingerprint::of::<V2>());
//! assert_eq!(variants::name(V2::SCHEMA, 2), "Reset");
//! // The encoded value starts with its variant index.
//! let bytes = postcard::to_allocvec(&2u32).unwrap();
//! assert_eq!(variants::index(&bytes), Some(2));
//! ```
//!
//! The hash is postcard-schema's own (FNV-1a over the schema tree, keyed by
//! relive's path), re-done here step by step because postcard-schema hashes
//! only whole types; a test checks that the last prefix of every shape of
//! type is exactly [`Fingerprint::of`].

use crate::Fingerprint;
use crate::fingerprint::PATH;
use postcard_schema::Schema;
use postcard_schema::schema::{
    DataModelType, DataModelVariant, NamedType, NamedValue, NamedVariant,
};

const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// How many variants `T` has (1 for a type that is not an enum).
pub const fn count<T: Schema + ?Sized>() -> usize {
    count_of(T::SCHEMA)
}

/// How many variants the type `schema` describes has (1 for a type that is
/// not an enum, or an enum without variants).
pub const fn count_of(schema: &NamedType) -> usize {
    match schema.ty {
        DataModelType::Enum(vs) if !vs.is_empty() => vs.len(),
        _ => 1,
    }
}

/// The fingerprint of `schema` cut after variant `i` (its own fingerprint
/// for a type that is not an enum, or for `i` past its last variant).
pub const fn prefix_of(schema: &NamedType, i: usize) -> Fingerprint {
    match schema.ty {
        DataModelType::Enum(vs) if !vs.is_empty() => {
            let mut state = hash(hash(BASIS, PATH.as_bytes()), &[0xE9]);
            let mut j = 0;
            while j <= i && j < vs.len() {
                state = named_variant(state, vs[j]);
                j += 1;
            }
            Fingerprint(state.to_le_bytes())
        }
        _ => Fingerprint(hash_type(hash(BASIS, PATH.as_bytes()), schema).to_le_bytes()),
    }
}

/// The `N` variant-prefix fingerprints of `T` (`N` must be [`count::<T>()`](count)).
///
/// # Panics
/// At compile time (in a `const`) when `N` is not `T`'s variant count.
pub const fn prefixes<T: Schema + ?Sized, const N: usize>() -> [Fingerprint; N] {
    assert!(N == count::<T>(), "N must be the type's variant count");
    let mut out = [Fingerprint([0; 8]); N];
    match T::SCHEMA.ty {
        DataModelType::Enum(vs) if !vs.is_empty() => {
            let mut state = hash(hash(BASIS, PATH.as_bytes()), &[0xE9]);
            let mut i = 0;
            while i < N {
                state = named_variant(state, vs[i]);
                out[i] = Fingerprint(state.to_le_bytes());
                i += 1;
            }
        }
        _ => out[0] = Fingerprint::of::<T>(),
    }
    out
}

/// The name of variant `i` of `schema` (the type's own name for a type that
/// is not an enum; `""` past the last variant).
pub const fn name(schema: &NamedType, i: usize) -> &'static str {
    match schema.ty {
        DataModelType::Enum(vs) if !vs.is_empty() => {
            if i < vs.len() {
                vs[i].name
            } else {
                ""
            }
        }
        _ => schema.name,
    }
}

/// The variant index an encoded enum value starts with (postcard's leading
/// varint), or `None` when `bytes` do not start with a valid one.
pub const fn index(bytes: &[u8]) -> Option<u32> {
    let mut value: u64 = 0;
    let mut i = 0;
    while i < bytes.len() && i < 5 {
        let b = bytes[i];
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            if value > u32::MAX as u64 {
                return None;
            }
            return Some(value as u32);
        }
        i += 1;
    }
    None
}

/// A type's variants held as a list: what a module's declaration carries,
/// copied into host memory, or what [`VariantList::of`] computes for a type
/// the host knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantList {
    prefixes: Vec<Fingerprint>,
    names: Vec<String>,
}

impl VariantList {
    /// A list from its prefix fingerprints and the names of the variants
    /// (a missing name is empty). `None` when `prefixes` is empty.
    pub fn new(prefixes: Vec<Fingerprint>, mut names: Vec<String>) -> Option<Self> {
        if prefixes.is_empty() {
            return None;
        }
        names.resize(prefixes.len(), String::new());
        Some(VariantList { prefixes, names })
    }

    /// The list of `T`.
    pub fn of<T: Schema + ?Sized>() -> Self {
        Self::of_schema(T::SCHEMA)
    }

    /// The list of the type `schema` describes.
    pub fn of_schema(schema: &NamedType) -> Self {
        let n = count_of(schema);
        let mut prefixes = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        match schema.ty {
            DataModelType::Enum(vs) if !vs.is_empty() => {
                let mut state = hash(hash(BASIS, PATH.as_bytes()), &[0xE9]);
                for v in vs.iter() {
                    state = named_variant(state, v);
                    prefixes.push(Fingerprint(state.to_le_bytes()));
                    names.push(v.name.to_owned());
                }
            }
            _ => {
                prefixes.push(prefix_of(schema, 0));
                names.push(schema.name.to_owned());
            }
        }
        VariantList { prefixes, names }
    }

    /// How many variants.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Never: a list has at least one entry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The fingerprint of the type cut after variant `i`.
    pub fn prefix(&self, i: usize) -> Option<Fingerprint> {
        self.prefixes.get(i).copied()
    }

    /// The prefix fingerprints, in order.
    pub fn prefixes(&self) -> &[Fingerprint] {
        &self.prefixes
    }

    /// The name of variant `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    /// The fingerprint of the whole type (its last prefix).
    pub fn fingerprint(&self) -> Fingerprint {
        self.prefixes[self.prefixes.len() - 1]
    }

    /// Whether a type with whole fingerprint `whole` is this one cut after
    /// one of its variants (or this one): a value of it reads as this type.
    pub fn has_prefix(&self, whole: Fingerprint) -> bool {
        self.prefixes.contains(&whole)
    }

    /// This list cut after the variant whose prefix fingerprint is `whole`:
    /// the list of the older type a bare fingerprint names, when it is one
    /// of this type's prefixes (`None` otherwise).
    pub fn cut_at(&self, whole: Fingerprint) -> Option<VariantList> {
        let end = self.prefixes.iter().position(|p| *p == whole)? + 1;
        Some(VariantList {
            prefixes: self.prefixes[..end].to_vec(),
            names: self.names[..end].to_vec(),
        })
    }

    /// Whether every variant of `self` is in `other`, unchanged and at the
    /// same index (`other` may append more).
    pub fn is_prefix_of(&self, other: &VariantList) -> bool {
        other.prefix(self.len() - 1) == Some(self.fingerprint())
    }

    /// The first index at which `self` and `other` differ: a variant that
    /// changed, or the end of the shorter list. `None` when they are equal.
    pub fn first_difference(&self, other: &VariantList) -> Option<usize> {
        let i = self.prefixes.iter().zip(&other.prefixes).take_while(|(a, b)| a == b).count();
        if i == self.len() && i == other.len() { None } else { Some(i) }
    }
}

const fn hash(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(PRIME);
        i += 1;
    }
    state
}

const fn hash_list(mut state: u64, nts: &[&NamedType]) -> u64 {
    let mut i = 0;
    while i < nts.len() {
        state = hash_type(state, nts[i]);
        i += 1;
    }
    state
}

const fn hash_values(mut state: u64, nvs: &[&NamedValue]) -> u64 {
    let mut i = 0;
    while i < nvs.len() {
        state = hash_type(hash(state, nvs[i].name.as_bytes()), nvs[i].ty);
        i += 1;
    }
    state
}

/// postcard-schema's `hash_named_type` (the type's name is not hashed).
const fn hash_type(state: u64, nt: &NamedType) -> u64 {
    use DataModelType as D;
    match nt.ty {
        D::Bool => hash(state, &[0x11]),
        D::I8 => hash(state, &[0xC5]),
        D::U8 => hash(state, &[0x3D]),
        D::I16 => hash(state, &[0x1D]),
        D::I32 => hash(state, &[0x0D]),
        D::I64 => hash(state, &[0x0B]),
        D::I128 => hash(state, &[0x02]),
        D::U16 => hash(state, &[0x83]),
        D::U32 => hash(state, &[0xD3]),
        D::U64 => hash(state, &[0x13]),
        D::U128 => hash(state, &[0x8B]),
        D::Usize => hash(state, &[0x6B]),
        D::Isize => hash(state, &[0xAD]),
        D::F32 => hash(state, &[0xEF]),
        D::F64 => hash(state, &[0x71]),
        D::Char => hash(state, &[0xC1]),
        D::String => hash(state, &[0x25]),
        D::ByteArray => hash(state, &[0x65]),
        D::Option(nt) => hash_type(hash(state, &[0x6D]), nt),
        D::Unit => hash(state, &[0x47]),
        D::UnitStruct => hash(state, &[0xBF]),
        D::NewtypeStruct(nt) => hash_type(hash(state, &[0x9D]), nt),
        D::Seq(nt) => hash_type(hash(state, &[0x03]), nt),
        D::Tuple(nts) => hash_list(hash(state, &[0xA7]), nts),
        D::TupleStruct(nts) => hash_list(hash(state, &[0x05]), nts),
        D::Map { key, val } => hash_type(hash_type(hash(state, &[0x4F]), key), val),
        D::Struct(nvs) => hash_values(hash(state, &[0x7F]), nvs),
        D::Enum(vs) => {
            let mut state = hash(state, &[0xE9]);
            let mut i = 0;
            while i < vs.len() {
                state = named_variant(state, vs[i]);
                i += 1;
            }
            state
        }
        D::Schema => hash(state, &[0xB3]),
    }
}

/// postcard-schema's `hash_named_variant`.
const fn named_variant(state: u64, v: &NamedVariant) -> u64 {
    let state = hash(state, v.name.as_bytes());
    match v.ty {
        DataModelVariant::UnitVariant => hash(state, &[0xB5]),
        DataModelVariant::NewtypeVariant(nt) => hash_type(hash(state, &[0xDF]), nt),
        DataModelVariant::TupleVariant(nts) => hash_list(hash(state, &[0xC7]), nts),
        DataModelVariant::StructVariant(nvs) => hash_values(hash(state, &[0x67]), nvs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Schema)]
    #[allow(dead_code)]
    struct Inner {
        a: Option<u8>,
        b: Vec<(i16, String)>,
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum Every {
        Unit,
        New(Inner),
        Tuple(u32, i64, bool),
        Struct { x: f32, y: f64, m: BTreeMap<u16, char> },
        Nested(Option<Box<Every2>>),
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum Every2 {
        A(u128, i128, u16, i8, i32),
        B(Vec<u8>),
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum Cut {
        Unit,
        New(Inner),
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum Renamed {
        Unit,
        Other(Inner),
    }

    #[test]
    fn the_last_prefix_is_the_types_own_fingerprint() {
        assert_eq!(prefixes::<Every, 5>()[4], Fingerprint::of::<Every>());
        assert_eq!(prefixes::<Every2, 2>()[1], Fingerprint::of::<Every2>());
        assert_eq!(prefixes::<Inner, 1>()[0], Fingerprint::of::<Inner>());
        assert_eq!(prefixes::<u64, 1>()[0], Fingerprint::of::<u64>());
        assert_eq!(prefixes::<(), 1>()[0], Fingerprint::of::<()>());
        assert_eq!(prefix_of(Every::SCHEMA, 99), Fingerprint::of::<Every>());
        assert_eq!(prefix_of(Inner::SCHEMA, 0), Fingerprint::of::<Inner>());
    }

    #[test]
    fn a_prefix_is_the_fingerprint_of_the_enum_cut_there() {
        let all = prefixes::<Every, 5>();
        assert_eq!(all[1], Fingerprint::of::<Cut>());
        assert_ne!(prefixes::<Renamed, 2>()[1], all[1], "a renamed variant differs");
        assert_eq!(prefixes::<Renamed, 2>()[0], all[0], "up to the renamed one they agree");
        for (i, p) in all.iter().enumerate() {
            assert_eq!(prefix_of(Every::SCHEMA, i), *p);
        }
    }

    #[test]
    fn counts_names_and_indexes() {
        assert_eq!(count::<Every>(), 5);
        assert_eq!(count::<Inner>(), 1);
        assert_eq!(name(Every::SCHEMA, 3), "Struct");
        assert_eq!(name(Every::SCHEMA, 5), "");
        assert_eq!(name(Inner::SCHEMA, 0), "Inner");
        for i in [0u32, 1, 127, 128, 300, u32::MAX] {
            assert_eq!(index(&postcard::to_allocvec(&i).unwrap()), Some(i));
        }
        assert_eq!(index(&[]), None);
        assert_eq!(index(&[0x80]), None);
        assert_eq!(index(&[0xff, 0xff, 0xff, 0xff, 0x7f]), None, "past u32");
    }

    #[test]
    fn a_list_knows_its_prefixes_and_where_another_differs() {
        let every = VariantList::of::<Every>();
        let cut = VariantList::of::<Cut>();
        let renamed = VariantList::of::<Renamed>();
        assert_eq!(every.prefixes(), &prefixes::<Every, 5>());
        assert_eq!(every.fingerprint(), Fingerprint::of::<Every>());
        assert!(cut.is_prefix_of(&every) && !every.is_prefix_of(&cut));
        assert!(every.has_prefix(Fingerprint::of::<Cut>()));
        assert!(!renamed.is_prefix_of(&every));
        assert_eq!(renamed.first_difference(&every), Some(1));
        assert_eq!(cut.first_difference(&every), Some(2));
        assert_eq!(every.first_difference(&every), None);
        assert_eq!(every.name(3), Some("Struct"));
        let inner = VariantList::of::<Inner>();
        assert_eq!((inner.len(), inner.name(0)), (1, Some("Inner")));
        assert_eq!(VariantList::new(Vec::new(), Vec::new()), None);
    }

    #[test]
    fn a_list_cut_at_one_of_its_prefixes_is_the_older_types_list() {
        let every = VariantList::of::<Every>();
        assert_eq!(every.cut_at(Fingerprint::of::<Cut>()), Some(VariantList::of::<Cut>()));
        assert_eq!(every.cut_at(every.fingerprint()), Some(every.clone()));
        assert_eq!(every.cut_at(Fingerprint::of::<Renamed>()), None, "not a prefix");
    }
}
