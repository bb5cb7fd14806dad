//! The {{name}} module's interface: the types its callers (the host) and
//! every one of its versions share. Changing one changes the interface's
//! fingerprint, and a host refuses a version built against another.
//!
//! `#[data]` derives `Serialize`, `Deserialize` and `Schema` through
//! `relive-sdk`, so this crate needs no other dependency.

use relive_sdk::prelude::*;

/// Work for a {{name}} actor.
#[data]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Add this amount to the total.
    Add(u64),
    /// Read the total.
    Get,
}

/// What a {{name}} actor answers.
#[data]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The version of the module that answered (its `Cargo.toml` version).
    pub version: String,
    /// The total so far.
    pub total: u64,
    /// How many `Add`s this actor handled.
    pub handled: u64,
}
