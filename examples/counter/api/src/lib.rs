//! What the counter's callers and every version of the counter module share.

/// A message to a counter, as release 1 defines it. Kept as it is for as
/// long as anyone may be built against it: v1's module and every caller
/// typed on it keep working through every later release.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// Add to the count.
    Add(u64),
    /// Read the count.
    Get,
}

/// A message to a counter, as release 2 defines it: release 1's variants,
/// unchanged and in order, then `Reset`. A shared crate is compiled once,
/// so one enum cannot be both releases' type; the release that adds a
/// message adds a new enum that *appends* to the old one, and keeps the old
/// one for whoever is still built against it (docs/guide.md, "Adding a
/// message in a release").
///
/// ```
/// use counter_example_api::{Msg, MsgV2};
/// use relive_codec::{Fingerprint, variants};
///
/// // Release 1's type is release 2's cut after `Get`: it reads as release 2.
/// assert_eq!(variants::prefixes::<MsgV2, 3>()[1], Fingerprint::of::<Msg>());
/// ```
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgV2 {
    /// Add to the count.
    Add(u64),
    /// Read the count.
    Get,
    /// Set the count to zero (new in release 2).
    Reset,
}

/// A counter's answer: which version answered, and the count.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// 1 for v1, 2 for v2.
    pub version: u32,
    /// The count after the message.
    pub count: u64,
}

/// v1's state. v2 keeps this copy to migrate from it and back to it.
#[relive_sdk::data]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateV1 {
    /// The count.
    pub count: u64,
}
