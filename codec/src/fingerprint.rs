use postcard_schema::{Schema, key::Key};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The fingerprint of a type's postcard schema: eight bytes that change when a
/// field or variant is added, removed, renamed, reordered or changes type.
///
/// Computed at compile time from [`postcard_schema::Schema`]. It cannot see
/// serde attributes that change the encoding (`#[serde(skip)]`, custom
/// `Serialize` impls): round-trip tests cover those.
///
/// `#[repr(transparent)]` over `[u8; 8]`: the module ABI carries lists of
/// fingerprints as arrays of eight bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(transparent)]
pub struct Fingerprint(pub [u8; 8]);

/// The path every relive fingerprint is keyed under (part of the hash input).
pub(crate) const PATH: &str = "relive/v1";

/// `T`'s fingerprint as an associated constant: evaluated once, when the
/// compiler instantiates it, never at run time.
struct Of<T: ?Sized>(std::marker::PhantomData<T>);

impl<T: Schema + ?Sized> Of<T> {
    const FINGERPRINT: Fingerprint = Fingerprint(Key::for_path::<T>(PATH).to_bytes());
}

impl Fingerprint {
    /// The fingerprint of `T`'s schema.
    ///
    /// A compile-time constant wherever it is called: a `const fn` called
    /// outside a const context runs at run time, and hashing the schema
    /// took ~10 % of a module's sends in the ping-pong bench, so this reads
    /// an associated constant instead.
    pub const fn of<T: Schema + ?Sized>() -> Self {
        Of::<T>::FINGERPRINT
    }

    /// The fingerprint as a little-endian integer (how the ABI carries it).
    pub const fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.0)
    }

    /// The inverse of [`Fingerprint::to_u64`].
    pub const fn from_u64(v: u64) -> Self {
        Fingerprint(v.to_le_bytes())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Schema)]
    #[allow(dead_code)]
    struct A {
        count: u64,
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    struct B {
        total: u64,
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    struct C {
        count: u64,
        last: u32,
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum E1 {
        Add(u64),
    }
    #[derive(Schema)]
    #[allow(dead_code)]
    enum E2 {
        Sub(u64),
    }

    #[test]
    fn field_and_variant_names_change_the_fingerprint() {
        assert_ne!(Fingerprint::of::<A>(), Fingerprint::of::<B>());
        assert_ne!(Fingerprint::of::<A>(), Fingerprint::of::<C>());
        assert_ne!(Fingerprint::of::<E1>(), Fingerprint::of::<E2>());
        assert_eq!(Fingerprint::of::<A>(), Fingerprint::of::<A>());
    }

    #[test]
    fn u64_round_trip_and_display() {
        let f = Fingerprint::of::<C>();
        assert_eq!(Fingerprint::from_u64(f.to_u64()), f);
        assert_eq!(f.to_string().len(), 16);
    }
}
