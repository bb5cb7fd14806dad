//! The interface of the `one_dep` fixture: messages and replies derived
//! through `#[relive_sdk::data]`, in a crate that depends on `relive-sdk`
//! alone (no `serde`, no `postcard-schema`).

use relive_sdk::prelude::*;

/// A message to a tally.
#[data]
#[derive(Debug, Clone, PartialEq)]
pub enum TallyMsg {
    /// Count a named item this many times.
    Add {
        /// What is counted.
        item: String,
        /// How many.
        n: u32,
    },
    /// Read one item's count.
    Get(String),
    /// Read the total, renamed on the wire to show serde's own attributes
    /// still work beside the attribute's.
    #[serde(rename = "Sum")]
    Total,
}

/// A tally's answer.
#[data]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count(pub u64);
