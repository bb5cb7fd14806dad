//! The host's state directory: what the module table keeps across restarts
//! (docs/decisions/0004-state-dir.md).
//!
//! ```text
//! <state_dir>/            0700, ours
//!   lock                  flock'ed (exclusive) for as long as the table lives; holds its pid
//!   bad-builds.json       the bad-build marks        {"format": 2, "bad": [...], "sha256_bad": [...]}
//!   history.json          the history, oldest first  {"format": 2, "entries": [...]}
//!   lib/                  the private copies (unless the table has its own private_dir)
//! ```
//!
//! Each JSON file is replaced whole, atomically: written to `<file>.tmp` in
//! the same directory, fsynced, renamed over `<file>`, and the directory
//! fsynced. A crash leaves the old file or the new one, never half of one;
//! so a file that does not parse was damaged by something else, and the
//! table refuses to start on it ([`StateError::Corrupt`]) rather than forget
//! the marks it holds.
//!
//! Also here: removing what a crashed host left behind — the copies in the
//! state directory's `lib/`, and the default temporary private directories
//! (`relive-<pid>-*`) of processes that no longer run.

use super::bad_marks::BadMarks;
use super::history::{Action, HistoryEntry};
use super::version::BuildHash;
use rustix::fs::{FlockOperation, Mode, OFlags};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The format of the state files this code writes. It reads this one and
/// format 1, whose build hashes are SHA-256 (issue 19 made a library's
/// identity its BLAKE3 hash): the bad marks of a format-1 file are kept as
/// SHA-256 marks, and checked as such (`bad_marks.rs`); its history shows
/// the hashes it had.
pub const STATE_FORMAT: u64 = 2;

/// The oldest format of the state files this code reads.
const OLDEST_FORMAT: u64 = 1;

const BAD_FILE: &str = "bad-builds.json";
const HISTORY_FILE: &str = "history.json";
const LOCK_FILE: &str = "lock";
const LIB_DIR: &str = "lib";

/// Why a module table's directories or state files could not be used. A
/// table (and so a host) refuses to start with one rather than run without
/// the marks it should have; after the start, a failed write is returned by
/// [`mark_bad`](super::ModuleTable::mark_bad) (the mark holds in memory) or
/// logged (a history entry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A directory or file (the state directory, its lock, a state file, the
    /// private directory) could not be created, opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The state directory (or its `lib/`) exists but is not ours, or other
    /// users can enter it: it must be ours and 0700. It is left as it is.
    #[error(
        "{}: a state directory must be ours and closed to others (0700); it is mode {mode:o}, \
         owned by uid {uid}",
        dir.display()
    )]
    NotPrivate {
        /// The directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner.
        uid: u32,
    },
    /// Another host (or module table) holds the state directory's lock.
    #[error("{}: the state directory is in use by another host{}", dir.display(), holder(*pid))]
    Locked {
        /// The state directory.
        dir: PathBuf,
        /// The process holding it, as it wrote in the lock file.
        pid: Option<u32>,
    },
    /// A state file is not valid JSON of its format. The file is left as it
    /// is; repair it, or move it aside to start without what it held.
    #[error(
        "{}: corrupt state file ({source}); refusing to start without what it holds: repair it, \
         or move it aside to start without it",
        file.display()
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What the JSON parser said (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A state file of another format (written by another version of relive).
    #[error("{}: state file of format {found}; this host reads format {supported}", file.display())]
    Format {
        /// The file.
        file: PathBuf,
        /// The format it declares.
        found: u64,
        /// The format this host reads ([`STATE_FORMAT`]).
        supported: u64,
    },
}

fn holder(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

impl From<StateError> for io::Error {
    /// For callers that propagate I/O errors: the kind says what happened,
    /// the `StateError` is kept inside (`get_ref`, `downcast`).
    fn from(e: StateError) -> Self {
        let kind = match &e {
            StateError::Io { source, .. } => source.kind(),
            StateError::NotPrivate { .. } => io::ErrorKind::PermissionDenied,
            StateError::Locked { .. } => io::ErrorKind::ResourceBusy,
            StateError::Corrupt { .. } | StateError::Format { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_owned(), source }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `dir`, created 0700 (with any missing parents) if missing; refused if it
/// is not a directory of ours closed to others. An existing directory is
/// never `chmod`ed: whoever made it open meant something by it.
pub(crate) fn private_dir(dir: &Path) -> Result<(), StateError> {
    let io = io_error(dir);
    if fs::symlink_metadata(dir).is_err() {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(&io)?;
    }
    let meta = fs::metadata(dir).map_err(&io)?;
    if !meta.is_dir() {
        return Err(io(io::Error::new(io::ErrorKind::NotADirectory, "not a directory")));
    }
    let mode = meta.mode() & 0o7777;
    if meta.uid() != euid() || mode & 0o077 != 0 {
        return Err(StateError::NotPrivate { dir: dir.to_owned(), mode, uid: meta.uid() });
    }
    Ok(())
}

/// What the state files held.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// The bad builds, each with the module it was marked for.
    pub(crate) bad: BadMarks,
    /// The history, oldest first.
    pub(crate) history: VecDeque<HistoryEntry>,
}

/// A state directory whose lock this table holds.
#[derive(Debug)]
pub(crate) struct StateDir {
    dir: PathBuf,
}

/// The lock of a state directory: held until dropped.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: fs::File,
}

impl StateDir {
    /// Open `dir` (created 0700 if missing), take its lock, remove what a
    /// crashed write left, and read the state files (a missing one is empty).
    pub(crate) fn open(dir: &Path) -> Result<(StateDir, StateLock, Stored), StateError> {
        private_dir(dir)?;
        let lock = lock(dir)?;
        for name in [BAD_FILE, HISTORY_FILE] {
            let tmp = temp_name(dir, name);
            match fs::remove_file(&tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error(&tmp)(e)),
                _ => {}
            }
        }
        let mut stored = Stored::default();
        if let Some(file) = read::<BadFile>(&dir.join(BAD_FILE))? {
            let marks = |v: Vec<BadMark>| v.into_iter().map(|m| (m.hash.0, m.module)).collect();
            if file.format == 1 {
                // Made when a build's identity was its SHA-256.
                stored.bad.sha256 = marks(file.bad);
            } else {
                stored.bad.marks = marks(file.bad);
                stored.bad.sha256 = marks(file.sha256_bad);
            }
        }
        if let Some(file) = read::<HistoryFile<'static>>(&dir.join(HISTORY_FILE))? {
            stored.history = file.entries.into_iter().map(StoredEntry::into_entry).collect();
        }
        Ok((StateDir { dir: dir.to_owned() }, lock, stored))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/lib`, created 0700 if missing and emptied: with the lock
    /// held, whatever is in it was left by a host that is gone.
    pub(crate) fn lib_dir(&self) -> Result<PathBuf, StateError> {
        let lib = self.dir.join(LIB_DIR);
        private_dir(&lib)?;
        let mut removed = 0usize;
        for entry in fs::read_dir(&lib).map_err(io_error(&lib))? {
            let entry = entry.map_err(io_error(&lib))?;
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                tracing::warn!(path = %path.display(), "not a private copy; left alone");
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot remove a leftover copy");
                }
            }
        }
        if removed > 0 {
            tracing::info!(dir = %lib.display(), removed, "removed private copies left by an earlier host");
        }
        Ok(lib)
    }

    /// Replace `bad-builds.json` with `bad`.
    pub(crate) fn write_bad(&self, bad: &BadMarks) -> Result<(), StateError> {
        let marks = |m: &BTreeMap<BuildHash, String>| {
            m.iter().map(|(h, m)| BadMark { hash: Hash(*h), module: m.clone() }).collect()
        };
        let file = BadFile {
            format: STATE_FORMAT,
            bad: marks(&bad.marks),
            sha256_bad: marks(&bad.sha256),
        };
        let path = self.dir.join(BAD_FILE);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io_error(&path)(e.into()))?;
        write_atomically(&self.dir, &path, &bytes)
    }

    /// Replace `history.json` with `history`.
    pub(crate) fn write_history(&self, history: &VecDeque<HistoryEntry>) -> Result<(), StateError> {
        let file = HistoryFile {
            format: STATE_FORMAT,
            entries: history.iter().map(StoredEntry::of).collect(),
        };
        let path = self.dir.join(HISTORY_FILE);
        let bytes = serde_json::to_vec(&file).map_err(|e| io_error(&path)(e.into()))?;
        write_atomically(&self.dir, &path, &bytes)
    }
}

/// Take `<dir>/lock` (exclusive, non-blocking) and write our pid in it. The
/// file is never removed: a host waiting to lock it could otherwise lock a
/// file that another one is about to replace.
fn lock(dir: &Path) -> Result<StateLock, StateError> {
    let path = dir.join(LOCK_FILE);
    let io = io_error(&path);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .map_err(&io)?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let pid = fs::read_to_string(&path).ok().and_then(|s| s.trim().parse().ok());
            return Err(StateError::Locked { dir: dir.to_owned(), pid });
        }
        Err(e) => return Err(io(e.into())),
    }
    file.set_len(0).map_err(&io)?;
    writeln!(file, "{}", std::process::id()).map_err(&io)?;
    Ok(StateLock { _file: file })
}

fn temp_name(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

/// Write `bytes` as `path` (in `dir`) so that a crash leaves the old file or
/// the new one: a temporary file in the same directory, fsynced, renamed
/// over `path`, then the directory fsynced (so the rename itself is on disk).
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = temp_name(dir, name);
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)?;
        f.write_all(bytes)?;
        rustix::fs::fsync(&f)?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(path)(e));
    }
    let d =
        rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_error(dir)(e.into()))?;
    rustix::fs::fsync(&d).map_err(|e| io_error(dir)(e.into()))
}

/// Read a state file: `None` if it does not exist.
fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    #[derive(Deserialize)]
    struct Head {
        format: u64,
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let corrupt = |source| StateError::Corrupt { file: path.to_owned(), source };
    let head: Head = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if !(OLDEST_FORMAT..=STATE_FORMAT).contains(&head.format) {
        return Err(StateError::Format {
            file: path.to_owned(),
            found: head.format,
            supported: STATE_FORMAT,
        });
    }
    serde_json::from_slice(&bytes).map(Some).map_err(corrupt)
}

/// A build hash in a state file: its 64 hex digits.
#[derive(Debug, Clone, Copy)]
struct Hash(BuildHash);

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(d)?;
        let mut raw = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut raw)
            .map_err(|e| serde::de::Error::custom(format!("build hash {text:?}: {e}")))?;
        Ok(Hash(BuildHash(raw)))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct BadFile {
    format: u64,
    /// Under the build's identity (format 1: SHA-256, format 2: BLAKE3).
    bad: Vec<BadMark>,
    // issue 19: format 2 — the marks a format-1 file held, still SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sha256_bad: Vec<BadMark>,
}

#[derive(Debug, Serialize, Deserialize)]
struct BadMark {
    hash: Hash,
    /// The module it was marked for (for whoever reads the file).
    module: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct HistoryFile<'a> {
    format: u64,
    entries: Vec<StoredEntry<'a>>,
}

/// [`Action`] as a state file spells it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredAction {
    Load,
    Upgrade,
    Unchanged,
    Rollback,
    Purge,
    MarkBad,
}

/// A [`HistoryEntry`] in `history.json`: times as whole seconds and
/// nanoseconds since the Unix epoch, durations in nanoseconds, so that an
/// entry reads back exactly as it was.
#[derive(Debug, Serialize, Deserialize)]
struct StoredEntry<'a> {
    at_secs: u64,
    at_nanos: u32,
    module: Cow<'a, str>,
    action: StoredAction,
    from: Option<Cow<'a, str>>,
    to: Option<Cow<'a, str>>,
    hash: Option<Hash>,
    // issue 20: cli — absent in a history written before it: `None`.
    #[serde(default)]
    source: Option<Cow<'a, str>>,
    refused: Option<Cow<'a, str>>,
    duration_ns: u64,
}

impl<'a> StoredEntry<'a> {
    fn of(h: &'a HistoryEntry) -> Self {
        let at = h.at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        StoredEntry {
            at_secs: at.as_secs(),
            at_nanos: at.subsec_nanos(),
            module: Cow::Borrowed(&h.module),
            action: match h.action {
                Action::Load => StoredAction::Load,
                Action::Upgrade => StoredAction::Upgrade,
                Action::Unchanged => StoredAction::Unchanged,
                Action::Rollback => StoredAction::Rollback,
                Action::Purge => StoredAction::Purge,
                Action::MarkBad => StoredAction::MarkBad,
            },
            from: h.from.as_deref().map(Cow::Borrowed),
            to: h.to.as_deref().map(Cow::Borrowed),
            hash: h.hash.map(Hash),
            source: h.source.as_deref().map(Cow::Borrowed),
            refused: h.refused.as_deref().map(Cow::Borrowed),
            duration_ns: u64::try_from(h.duration.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    fn into_entry(self) -> HistoryEntry {
        HistoryEntry {
            at: SystemTime::UNIX_EPOCH + Duration::new(self.at_secs, self.at_nanos),
            module: self.module.into_owned(),
            action: match self.action {
                StoredAction::Load => Action::Load,
                StoredAction::Upgrade => Action::Upgrade,
                StoredAction::Unchanged => Action::Unchanged,
                StoredAction::Rollback => Action::Rollback,
                StoredAction::Purge => Action::Purge,
                StoredAction::MarkBad => Action::MarkBad,
            },
            from: self.from.map(Cow::into_owned),
            to: self.to.map(Cow::into_owned),
            hash: self.hash.map(|h| h.0),
            source: self.source.map(Cow::into_owned),
            refused: self.refused.map(Cow::into_owned),
            duration: Duration::from_nanos(self.duration_ns),
        }
    }
}

/// The prefix of a default private directory: `relive-<pid>-` and
/// `tempfile`'s random suffix.
pub(crate) fn temp_prefix() -> String {
    format!("relive-{}-", std::process::id())
}

/// The pid in the name of a default private directory, `relive-<pid>-<suffix>`.
fn temp_dir_pid(name: &str) -> Option<u32> {
    let (pid, suffix) = name.strip_prefix("relive-")?.split_once('-')?;
    if pid.is_empty() || suffix.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` may still run. What cannot be judged (a pid that
/// is not one) counts as alive: nothing is removed on a guess.
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
        return true;
    };
    // kill(pid, 0): ESRCH means no such process; EPERM, another user's.
    rustix::process::test_kill_process(pid) != Err(rustix::io::Errno::SRCH)
}

/// Remove the default private directories (`relive-<pid>-*` in `parent`, the
/// system temp directory) that crashed hosts left: directories — not
/// symbolic links — owned by us, named with the pid of a process that no
/// longer runs. Anything else is left alone; a failure is logged, never
/// fatal.
pub(crate) fn remove_stale_temp_dirs(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    let (me, own) = (euid(), std::process::id());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_dir_pid) else { continue };
        if pid == own {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else { continue };
        if !meta.is_dir() || meta.uid() != me || alive(pid) {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                dir = %path.display(), pid,
                "removed the private directory of a host that no longer runs"
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(
                dir = %path.display(), %error, "cannot remove a stale private directory"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dir_names() {
        assert_eq!(temp_dir_pid("relive-123-AbC"), Some(123));
        assert_eq!(temp_dir_pid("relive-123-"), None);
        assert_eq!(temp_dir_pid("relive-AbC123"), None);
        assert_eq!(temp_dir_pid("relive--x"), None);
        assert_eq!(temp_dir_pid("relive-+1-x"), None);
        assert_eq!(temp_dir_pid("other-123-x"), None);
        assert!(temp_prefix().starts_with("relive-"));
        assert_eq!(temp_dir_pid(&format!("{}x", temp_prefix())), Some(std::process::id()));
    }

    #[test]
    fn we_are_alive() {
        assert!(alive(std::process::id()));
        assert!(alive(0), "not a pid: not judged dead");
    }
}
