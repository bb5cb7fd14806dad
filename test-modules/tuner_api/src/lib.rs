//! issue 17: the types of the `tuner` test module: its configuration
//! section, messages and replies (shared by the module versions and the
//! tests, so the schema fingerprints agree).

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// The section of the host's configuration the `tuner` module reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct TunerSection {
    /// A limit each version bounds differently in its `on_config`.
    pub limit: u32,
    /// `"panic"`: `on_config` panics; `"slow"`: it sleeps past the host's
    /// bound.
    pub label: String,
}

/// The module's messages.
#[derive(Debug, Serialize, Deserialize, Schema)]
pub enum TunerMsg {
    /// The section applied in the version running the actor.
    Get,
}

/// The answer to `Get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct TunerReply {
    /// The major version that answered.
    pub version: u32,
    /// The section it reads (`ctx.config`).
    pub section: Option<TunerSection>,
}
