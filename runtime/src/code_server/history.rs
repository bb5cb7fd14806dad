//! What the code server did, in order: the upgrade history.

use super::version::BuildHash;
use std::time::{Duration, SystemTime};

/// What was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// First load of a module.
    Load,
    /// A new current version.
    Upgrade,
    /// The same build again: nothing changed.
    Unchanged,
    /// `old` became `current` again.
    Rollback,
    /// `old` was dropped.
    Purge,
    /// A build was marked bad.
    MarkBad,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When it finished.
    pub at: SystemTime,
    /// The module.
    pub module: String,
    /// What was attempted.
    pub action: Action,
    /// The version that was current before, if any.
    pub from: Option<String>,
    /// The version concerned (the new one for loads, the target for rollbacks).
    pub to: Option<String>,
    /// The build concerned, when known.
    pub hash: Option<BuildHash>,
    // issue 20: cli
    /// The file concerned (`static` for a module linked into the host),
    /// when known: the library a load or a refused load was asked for, the
    /// file of the version rolled back to, purged or marked bad.
    pub source: Option<String>,
    /// `None` on success, else why it was refused.
    pub refused: Option<String>,
    /// How long it took.
    pub duration: Duration,
}
