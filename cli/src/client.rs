//! A connection to a host's admin socket, made only after checking that the
//! socket and the process behind it belong to the user running the CLI.
//!
//! The default socket may be under `/tmp` (without `XDG_RUNTIME_DIR`), where
//! another user can create `/tmp/relive-<uid>` first and listen there. So,
//! before anything is sent (docs/cli.md, "Whom the CLI talks to"):
//!
//! - the socket's directory must be ours and closed to others (no group or
//!   other bits: 0700), as the host itself requires;
//! - every directory above it must belong to us or root and not be writable
//!   by others, unless it is sticky (`/tmp`): otherwise someone else could
//!   swap the socket's directory;
//! - the socket must be a socket and ours;
//! - after connecting, the peer's uid (`SO_PEERCRED`) must be ours. This is
//!   the check that a race against the ones above cannot get past.

use relive_runtime::admin::protocol::{Command, PROTOCOL_VERSION, Request, Response};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Why the CLI will not talk to what is at the socket path. Nothing was sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Untrusted {
    /// The socket's directory, or one above it, belongs to someone else.
    #[error("{}: owned by uid {owner}, not by you (uid {me})", path.display())]
    ForeignDirectory { path: PathBuf, owner: u32, me: u32 },
    /// The socket's directory lets other users in.
    #[error(
        "{}: open to other users (mode {mode:o}); the socket's directory must be yours alone \
         (0700), as a host makes it",
        path.display()
    )]
    OpenDirectory { path: PathBuf, mode: u32 },
    /// A directory above the socket's can be written by other users.
    #[error(
        "{}: writable by other users (mode {mode:o}), who could replace the socket's directory",
        path.display()
    )]
    WritableAncestor { path: PathBuf, mode: u32 },
    /// Not a socket.
    #[error("{}: not a socket", path.display())]
    NotASocket { path: PathBuf },
    /// The socket belongs to someone else.
    #[error("{}: socket owned by uid {owner}, not by you (uid {me})", path.display())]
    ForeignSocket { path: PathBuf, owner: u32, me: u32 },
    /// The process listening runs as another user.
    #[error("the process listening at {} runs as uid {peer}, not as you (uid {me})", path.display())]
    ForeignPeer { path: PathBuf, peer: u32, me: u32 },
    /// The peer's credentials could not be read.
    #[error("cannot tell who listens at {}", path.display())]
    PeerUnknown {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why there is no connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Not ours: refused before sending anything.
    #[error(transparent)]
    Untrusted(#[from] Untrusted),
    /// Nothing to connect to, or the connection failed.
    #[error("{}: {source}", path.display())]
    Unreachable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The socket's directory: ours, and no group or other permission bits.
fn check_socket_dir(path: &Path, owner: u32, mode: u32, me: u32) -> Result<(), Untrusted> {
    if owner != me {
        return Err(Untrusted::ForeignDirectory { path: path.to_owned(), owner, me });
    }
    if mode & 0o077 != 0 {
        return Err(Untrusted::OpenDirectory { path: path.to_owned(), mode: mode & 0o7777 });
    }
    Ok(())
}

/// A directory above the socket's: ours or root's, and not writable by
/// others unless sticky (where others cannot rename what is not theirs).
fn check_ancestor(path: &Path, owner: u32, mode: u32, me: u32) -> Result<(), Untrusted> {
    if owner != me && owner != 0 {
        return Err(Untrusted::ForeignDirectory { path: path.to_owned(), owner, me });
    }
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Untrusted::WritableAncestor { path: path.to_owned(), mode: mode & 0o7777 });
    }
    Ok(())
}

/// The socket itself: a socket, and ours.
fn check_socket(path: &Path, is_socket: bool, owner: u32, me: u32) -> Result<(), Untrusted> {
    if !is_socket {
        return Err(Untrusted::NotASocket { path: path.to_owned() });
    }
    if owner != me {
        return Err(Untrusted::ForeignSocket { path: path.to_owned(), owner, me });
    }
    Ok(())
}

/// The process at the other end: ours.
fn check_peer(path: &Path, peer: u32, me: u32) -> Result<(), Untrusted> {
    if peer != me {
        return Err(Untrusted::ForeignPeer { path: path.to_owned(), peer, me });
    }
    Ok(())
}

/// The path to connect to, once the file-system checks pass: the socket in
/// its directory with every symbolic link resolved (what was checked).
fn checked_socket(path: &Path, me: u32) -> Result<PathBuf, ConnectError> {
    let unreachable = |path: &Path, source| ConnectError::Unreachable { path: path.into(), source };
    let name = path.file_name().ok_or_else(|| {
        unreachable(path, io::Error::new(io::ErrorKind::InvalidInput, "not a socket path"))
    })?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = dir.canonicalize().map_err(|e| unreachable(path, e))?;
    let stat = |p: &Path| std::fs::metadata(p).map_err(|e| unreachable(p, e));
    let meta = stat(&dir)?;
    check_socket_dir(&dir, meta.uid(), meta.mode(), me)?;
    for ancestor in dir.ancestors().skip(1) {
        let meta = stat(ancestor)?;
        check_ancestor(ancestor, meta.uid(), meta.mode(), me)?;
    }
    let socket = dir.join(name);
    let meta = std::fs::symlink_metadata(&socket).map_err(|e| unreachable(path, e))?;
    check_socket(&socket, meta.file_type().is_socket(), meta.uid(), me)?;
    Ok(socket)
}

/// One connection.
pub(crate) struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connect to the host at `path`, after the checks in the module docs;
    /// nothing is sent unless they all pass.
    pub(crate) fn connect(path: &Path) -> Result<Self, ConnectError> {
        let me = rustix::process::geteuid().as_raw();
        let socket = checked_socket(path, me)?;
        let unreachable = |source| ConnectError::Unreachable { path: path.to_owned(), source };
        let stream = UnixStream::connect(&socket).map_err(unreachable)?;
        let peer = rustix::net::sockopt::socket_peercred(&stream).map_err(|e| {
            Untrusted::PeerUnknown { path: socket.clone(), source: io::Error::from(e) }
        })?;
        check_peer(&socket, peer.uid.as_raw(), me)?;
        let writer = stream.try_clone().map_err(unreachable)?;
        Ok(Client { writer, reader: BufReader::new(stream) })
    }

    /// Send `command`; call `progress(done, total)` for each progress line;
    /// return the final answer.
    pub(crate) fn request(
        &mut self,
        command: Command,
        mut progress: impl FnMut(usize, usize),
    ) -> io::Result<Response> {
        let mut line = serde_json::to_vec(&Request { version: PROTOCOL_VERSION, command })
            .map_err(io::Error::other)?;
        line.push(b'\n');
        // A host that refuses us (another user) answers and closes at once,
        // possibly before our request is written: a failed write is then
        // not the end, the host's answer may be waiting to be read.
        let written = self.writer.write_all(&line).and_then(|()| self.writer.flush());
        loop {
            let mut answer = String::new();
            let read = self.reader.read_line(&mut answer);
            if matches!(read, Ok(0) | Err(_)) {
                // Nothing to read: report the write's error if it failed.
                written?;
                read?;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the host closed the connection",
                ));
            }
            match serde_json::from_str::<Response>(&answer) {
                Ok(Response::Progress { done, total }) => progress(done, total),
                Ok(other) => return Ok(other),
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad answer: {e}"),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;

    fn p() -> &'static Path {
        Path::new("/run/user/1000/relive")
    }

    #[test]
    fn a_peer_of_another_uid_is_refused() {
        assert!(check_peer(p(), ME, ME).is_ok());
        let e = check_peer(p(), 1001, ME).unwrap_err();
        assert!(matches!(e, Untrusted::ForeignPeer { peer: 1001, me: ME, .. }), "{e:?}");
        assert!(e.to_string().contains("runs as uid 1001, not as you (uid 1000)"), "{e}");
        // Root's host is not ours either, unless we are root.
        assert!(check_peer(p(), 0, ME).is_err());
        assert!(check_peer(p(), 0, 0).is_ok());
    }

    #[test]
    fn the_socket_directory_must_be_ours_alone() {
        assert!(check_socket_dir(p(), ME, 0o40700, ME).is_ok());
        for mode in [0o40701, 0o40710, 0o40750, 0o40755, 0o40777] {
            assert!(
                matches!(check_socket_dir(p(), ME, mode, ME), Err(Untrusted::OpenDirectory { .. })),
                "{mode:o}"
            );
        }
        assert!(matches!(
            check_socket_dir(p(), 0, 0o40700, ME),
            Err(Untrusted::ForeignDirectory { owner: 0, .. })
        ));
    }

    #[test]
    fn directories_above_must_not_be_anyone_elses_to_change() {
        for (owner, mode) in [(ME, 0o40755), (0, 0o40755), (0, 0o41777), (ME, 0o40700)] {
            assert!(check_ancestor(p(), owner, mode, ME).is_ok(), "{owner} {mode:o}");
        }
        assert!(matches!(
            check_ancestor(p(), ME, 0o40777, ME),
            Err(Untrusted::WritableAncestor { .. })
        ));
        assert!(matches!(
            check_ancestor(p(), 0, 0o40775, ME),
            Err(Untrusted::WritableAncestor { .. })
        ));
        // Someone else's, even closed, even sticky: they may rename in it.
        assert!(matches!(
            check_ancestor(p(), 1001, 0o41777, ME),
            Err(Untrusted::ForeignDirectory { owner: 1001, .. })
        ));
    }

    #[test]
    fn the_socket_must_be_a_socket_of_ours() {
        assert!(check_socket(p(), true, ME, ME).is_ok());
        assert!(matches!(check_socket(p(), false, ME, ME), Err(Untrusted::NotASocket { .. })));
        assert!(matches!(
            check_socket(p(), true, 1001, ME),
            Err(Untrusted::ForeignSocket { owner: 1001, .. })
        ));
    }
}
