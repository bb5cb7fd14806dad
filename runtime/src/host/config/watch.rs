//! issue 17: watching a configuration file — its directory, with `notify`,
//! and a debounce of our own (a few lines; a debouncer crate would add a
//! thread and a dependency for the same timer).

use super::error::ConfigError;
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::ffi::OsString;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long a configuration file must be quiet (no event for it) before it
/// is read after a change.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// How much longer a file written in place and not yet closed is given to
/// be closed before it is read anyway.
const OPEN_WRITE_GRACE: Duration = Duration::from_secs(1);

pub(super) type Changes = Receiver<notify::Result<notify::Event>>;

/// Start watching the directory of `path` (not the file: an atomic rename
/// replaces the file's inode, and a deleted file has none to watch).
pub(super) fn watch(path: &Path) -> Result<(RecommendedWatcher, Changes), ConfigError> {
    let err = |source| ConfigError::Watch { path: path.to_owned(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(tx).map_err(err)?;
    watcher.watch(dir, RecursiveMode::NonRecursive).map_err(err)?;
    Ok((watcher, rx))
}

/// What one event says about our file.
#[derive(PartialEq)]
enum Seen {
    /// Not about it.
    Other,
    /// Changed, and written to without being closed yet.
    Writing,
    /// Changed (closed after writing, renamed into place, created, deleted,
    /// or the watcher lost track and everything must be read again).
    Changed,
}

fn seen(name: &OsString, event: &notify::Result<notify::Event>) -> Seen {
    let event = match event {
        Ok(e) => e,
        // The watcher's own trouble: read the file again to be sure.
        Err(_) => return Seen::Changed,
    };
    if event.need_rescan() {
        return Seen::Changed;
    }
    if !event.paths.iter().any(|p| p.file_name() == Some(name.as_os_str())) {
        return Seen::Other;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Changed,
        EventKind::Access(_) => Seen::Other,
        EventKind::Modify(ModifyKind::Data(_)) => Seen::Writing,
        _ => Seen::Changed,
    }
}

/// Run `reload` on a thread of its own after each (debounced) change of
/// `path`, until the watcher is dropped (the channel closes) or `reload`
/// returns `false` (the configuration is gone).
pub(super) fn spawn(
    path: &Path,
    changes: Changes,
    mut reload: impl FnMut() -> bool + Send + 'static,
) -> std::io::Result<()> {
    let name = path.file_name().map(OsString::from).unwrap_or_default();
    std::thread::Builder::new().name("relive-config".into()).spawn(move || {
        loop {
            // Wait for a change of our file.
            let mut state = loop {
                match changes.recv() {
                    Ok(e) => match seen(&name, &e) {
                        Seen::Other => continue,
                        s => break s,
                    },
                    Err(_) => return,
                }
            };
            // Until it is quiet, and closed if it was being written.
            let mut grace_until = None;
            loop {
                match changes.recv_timeout(DEBOUNCE) {
                    Ok(e) => match seen(&name, &e) {
                        Seen::Other => {}
                        s => {
                            state = s;
                            grace_until = None;
                        }
                    },
                    Err(RecvTimeoutError::Timeout) => {
                        if state == Seen::Changed {
                            break;
                        }
                        let until = *grace_until.get_or_insert(Instant::now() + OPEN_WRITE_GRACE);
                        if Instant::now() >= until {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            // A change while reading is another event in the channel: the
            // next round reads again, so the last content wins.
            if !reload() {
                return;
            }
        }
    })?;
    Ok(())
}
