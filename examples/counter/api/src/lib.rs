//! What the counter's callers and every version of the counter module share.

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// A message to a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum Msg {
    /// Add to the count.
    Add(u64),
    /// Read the count.
    Get,
}

/// A counter's answer: which version answered, and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Reply {
    /// 1 for v1, 2 for v2.
    pub version: u32,
    /// The count after the message.
    pub count: u64,
}

/// v1's state. v2 keeps this copy to migrate from it and back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct StateV1 {
    /// The count.
    pub count: u64,
}
