//! The `grow` module's message and reply types as the releases define
//! them (issue 15, interfaces that grow). Each release is its own module
//! here, as each would be its own copy of an api crate: a caller built
//! against release 1 keeps `v1::Msg` while the module moves on.

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// The state every release keeps (so migrations decode it as it is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct GrowState {
    /// The count.
    pub count: u64,
}

/// Release 1.
pub mod v1 {
    use super::*;

    /// A message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Msg {
        /// Add to the count.
        Add(u64),
        /// Read the count.
        Get,
    }

    /// A reply.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Reply {
        /// The count after the message, and the release that answered.
        Count {
            /// The count.
            count: u64,
            /// 1, 2, …
            release: u32,
        },
    }
}

/// Release 2: appends `Reset` to the messages and `Cleared` to the replies.
pub mod v2 {
    use super::*;

    /// A message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Msg {
        /// Add to the count.
        Add(u64),
        /// Read the count.
        Get,
        /// Set the count to zero (new in release 2).
        Reset,
    }

    /// A reply.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Reply {
        /// As in release 1.
        Count {
            /// The count.
            count: u64,
            /// 1, 2, …
            release: u32,
        },
        /// The answer to `Reset`: what the count was (new in release 2).
        Cleared {
            /// The count before the reset.
            was: u64,
        },
    }
}

/// Release 3: appends `Double` to release 2's messages (replies as in
/// release 2), so three releases are loaded in turn.
pub mod v3 {
    pub use super::v2::Reply;
    use super::*;

    /// A message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Msg {
        /// Add to the count.
        Add(u64),
        /// Read the count.
        Get,
        /// Set the count to zero (new in release 2).
        Reset,
        /// Double the count (new in release 3).
        Double,
    }
}

/// A bad release: `Reset` inserted before `Get`, so index 1 changes meaning.
pub mod bad {
    use super::*;

    /// A message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Msg {
        /// Add to the count.
        Add(u64),
        /// Inserted, not appended: index 1 was `Get`.
        Reset,
        /// Read the count.
        Get,
    }
}

/// A forked release 2: release 1 plus `Clear`, where release 2 put `Reset`
/// (it extends release 1, but gives index 2 another meaning).
pub mod fork {
    use super::*;

    /// A message.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
    pub enum Msg {
        /// Add to the count.
        Add(u64),
        /// Read the count.
        Get,
        /// Not release 2's `Reset`.
        Clear,
    }
}
